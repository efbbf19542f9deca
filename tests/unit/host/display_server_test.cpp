// DisplayServer against a real TLS WebSocket client on loopback and fake sessions: ticket checks,
// refusals, input routing, frames to the viewer, isolation between connections, view-only
// viewers (shadows), connection limits, accept back-off and clients that stop reading.
#include "session-host/net/display_server.hpp"
#include "common/crypto.hpp"
#include "common/tls.hpp"
#include "common/wss_stream.hpp"
#include "protocol/display.hpp"
#include "protocol/ticket.hpp"

#include <boost/asio/connect.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <thread>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using namespace portico;
using namespace std::chrono_literals;

namespace {

class FakeTarget final : public host::DisplayTarget {
public:
    explicit FakeTarget(std::string id) : id_(std::move(id)) {}
    const std::string& id() const override { return id_; }
    int width() const override { return 640; }
    int height() const override { return 480; }
    void attach(std::shared_ptr<host::ViewerSink> v) override {
        update([&] {
            viewer = v;
            ++attaches;
        });
    }
    bool attach_view_only(std::shared_ptr<host::ViewerSink> v) override {
        update([&] { shadows.push_back(v); });
        return true;
    }
    void detach(const host::ViewerSink* v) override {
        update([&] {
            if (viewer.get() == v) viewer.reset();
            ++detaches;
        });
    }
    void key(std::uint16_t code, bool down) override {
        update([&] { keys.emplace_back(code, down); });
    }
    void pointer(int x, int y, std::uint8_t b) override {
        update([&] { pointers.push_back({x, y, b}); });
    }
    void pointer_relative(int dx, int dy, std::uint8_t b) override {
        update([&] { relative.push_back({dx, dy, b}); });
    }
    void wheel(int, int dy) override {
        update([&] { wheel_dy += dy; });
    }
    void frame_ack(const host::ViewerSink*, std::uint32_t id, std::uint32_t) override {
        update([&] { last_ack = id; });
    }
    void keyframe_request() override {
        update([&] { ++keyframe_requests; });
    }
    void logoff() override {
        update([&] { ++logoffs; });
    }
    void resize(const protocol::ResizeRequest& r) override {
        update([&] {
            resizes.push_back({r.width, r.height});
            layouts.push_back(r.monitors);
        });
    }
    void key_char(std::uint32_t cp, std::uint16_t, bool down) override {
        update([&] { chars.emplace_back(cp, down); });
    }
    void clipboard(const std::string& text, bool more, bool png) override {
        update([&] {
            clip.emplace_back(text, more);
            clip_png.push_back(png);
        });
    }

    template <class P>
    bool wait(P pred) {
        std::unique_lock lk(mu);
        return cv.wait_for(lk, 5s, pred);
    }
    std::shared_ptr<host::ViewerSink> current_viewer() {
        std::lock_guard lk(mu);
        return viewer;
    }

    std::mutex mu;
    std::condition_variable cv;
    std::shared_ptr<host::ViewerSink> viewer;
    std::vector<std::shared_ptr<host::ViewerSink>> shadows;
    int attaches = 0, detaches = 0, keyframe_requests = 0, logoffs = 0, wheel_dy = 0;
    std::uint32_t last_ack = 0;
    std::vector<std::pair<std::uint16_t, bool>> keys;
    std::vector<std::array<int, 3>> pointers;
    std::vector<std::array<int, 3>> relative;
    std::vector<std::array<int, 2>> resizes;
    std::vector<std::vector<protocol::MonitorRect>> layouts;
    std::vector<std::pair<std::uint32_t, bool>> chars;
    std::vector<std::pair<std::string, bool>> clip;
    std::vector<bool> clip_png;  // per piece: an image's

private:
    template <class F>
    void update(F f) {
        std::lock_guard lk(mu);
        f();
        cv.notify_all();
    }
    std::string id_;
};

class FakeDirectory final : public host::SessionDirectory {
public:
    std::shared_ptr<host::DisplayTarget> find_session(const std::string& id) override {
        std::lock_guard lk(mu);
        auto it = sessions.find(id);
        return it == sessions.end() ? nullptr : it->second;
    }
    std::mutex mu;
    std::map<std::string, std::shared_ptr<FakeTarget>> sessions;
};

std::int64_t now_unix() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

template <class P>
bool wait_until(P pred, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

struct Fixture {
    std::filesystem::path dir;
    std::string cert, key;
    std::unique_ptr<ssl::context> server_ctx;
    net::io_context ioc{2};
    FakeDirectory sessions;
    std::unique_ptr<host::DisplayServer> server;
    crypto::Ed25519Key broker_key = crypto::Ed25519Key::generate();
    std::vector<std::thread> threads;
    std::optional<net::executor_work_guard<net::io_context::executor_type>> guard;

    explicit Fixture(host::DisplayServer::Limits limits = {}) {
        char tmpl[] = "/tmp/hostnet-test-XXXXXX";
        dir = ::mkdtemp(tmpl);
        cert = (dir / "cert.pem").string();
        key = (dir / "key.pem").string();
        tls::generate_self_signed(cert, key, "localhost", {"IP:127.0.0.1", "DNS:localhost"});
        server_ctx = std::make_unique<ssl::context>(tls::make_server_context(cert, key));
        sessions.sessions["s1"] = std::make_shared<FakeTarget>("s1");
        sessions.sessions["s2"] = std::make_shared<FakeTarget>("s2");
        server = std::make_unique<host::DisplayServer>(ioc, *server_ctx, sessions, limits);
        server->listen("127.0.0.1", 0);
        auto pub = crypto::Ed25519Key::from_public_raw(broker_key.public_raw());
        server->set_verifier(std::make_shared<protocol::TicketVerifier>(std::move(*pub), "host-1"));
        guard.emplace(ioc.get_executor());
        for (int i = 0; i < 2; ++i) threads.emplace_back([this] { ioc.run(); });
    }
    ~Fixture() {
        server->stop();
        // A connection and its session hold each other until the connection has seen its client
        // go; let those whose clients are gone finish before the io threads stop, or they outlive
        // the test in that cycle (LeakSanitizer reports them in the ASan build).
        wait_until([&] { return server->open_connections() == 0; });
        guard.reset();
        ioc.stop();
        for (auto& t : threads) t.join();
        std::filesystem::remove_all(dir);
    }

    std::string ticket(const std::string& sid, std::int64_t exp_offset = 60, const std::string& host = "host-1",
                       const crypto::Ed25519Key* signer = nullptr) {
        protocol::TicketClaims c{crypto::random_token(12), sid, "alice", host, "app:xterm", now_unix() + exp_offset};
        return protocol::sign_ticket(c, signer ? *signer : broker_key);
    }
    // A view-only (shadow) ticket, as the broker mints for staff: `user` is the session's owner.
    std::string shadow_ticket(const std::string& sid, const std::string& viewer) {
        protocol::TicketClaims c{crypto::random_token(12), sid, "alice", "host-1", "app:xterm", now_unix() + 60};
        c.view_only = true;
        c.viewer = viewer;
        return protocol::sign_ticket(c, broker_key);
    }
    FakeTarget& target(const std::string& id) { return *sessions.sessions.at(id); }
};

// A display client with its own io_context; every operation has a 5 s deadline.
class Client {
public:
    explicit Client(std::uint16_t port, const std::string& pin)
        : ctx_(tls::make_client_context(tls::ClientTrust{{}, pin, false})),
          ws_(ioc_.get_executor(), ctx_),
          port_(port) {}

    beast::error_code connect(const std::string& path = "/display") {
        auto ec = run([&](auto h) { ws_.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), h); });
        if (!ec) ec = run([&](auto h) { ws_.async_tls_handshake(ssl::stream_base::client, h); });
        if (!ec) ec = run([&](auto h) { ws_.async_handshake("127.0.0.1", path, h); });
        ws_.binary(true);
        return ec;
    }
    beast::error_code send(const protocol::Message& m) { return send_raw(protocol::encode(m)); }
    beast::error_code send_raw(const std::vector<std::uint8_t>& bytes) {
        return run([&](auto h) { ws_.async_write(net::buffer(bytes), h); });
    }
    // Next message, or nullopt on close/timeout.
    std::optional<protocol::Message> receive() {
        beast::flat_buffer buf;
        auto ec = run([&](auto h) { ws_.async_read(buf, h); });
        if (ec) {
            last_error = ec;
            return std::nullopt;
        }
        auto d = buf.cdata();
        auto m = protocol::decode({static_cast<const std::uint8_t*>(d.data()), d.size()});
        REQUIRE(m.ok());
        return m.value();
    }
    void drop() {
        beast::error_code ec;
        ws_.tcp().socket().close(ec);
    }
    // Plain HTTPS GET, returns the status code.
    int http_get(const std::string& target) {
        auto ec = run([&](auto h) { ws_.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), h); });
        if (!ec) ec = run([&](auto h) { ws_.async_tls_handshake(ssl::stream_base::client, h); });
        REQUIRE_FALSE(ec);
        WssStream::Request req{http::verb::get, target, 11};
        req.set(http::field::host, "127.0.0.1");
        ec = run([&](auto h) { ws_.async_write_request(req, h); });
        REQUIRE_FALSE(ec);
        beast::flat_buffer buf;
        WssStream::Response res;
        ec = run([&](auto h) { ws_.async_read_response(buf, res, h); });
        REQUIRE_FALSE(ec);
        return res.result_int();
    }

    beast::error_code last_error;

private:
    template <class Start>
    beast::error_code run(Start start) {
        beast::error_code result = net::error::timed_out;
        bool done = false;
        start([&](beast::error_code ec, auto&&...) {
            result = ec;
            done = true;
        });
        ioc_.restart();
        ioc_.run_for(5s);
        if (!done) {
            drop();
            ioc_.restart();
            ioc_.run_for(1s);
            return net::error::timed_out;
        }
        return result;
    }

    net::io_context ioc_;
    ssl::context ctx_;
    WssStream ws_;  // the stream type of the real clients, compiled once (common/wss_stream.cpp)
    std::uint16_t port_;
};

template <class T>
const T& as(const std::optional<protocol::Message>& m) {
    REQUIRE(m.has_value());
    REQUIRE(std::holds_alternative<T>(*m));
    return std::get<T>(*m);
}

void expect_refusal(Client& c, protocol::ErrorCode code) {
    auto err = as<protocol::ErrorMsg>(c.receive());
    CHECK(err.code == code);
    CHECK_FALSE(c.receive().has_value());  // then the host closes
}

}  // namespace

TEST_CASE("display server: a client of an older version is served at its version") {
    // Clients of versions 3 and 4 (before the compact palette tile, before its columns) keep working:
    // the host answers with their version and the session, which asks the viewer, sends them only
    // what that version reads.
    Fixture f;
    const auto version =
        GENERATE(protocol::kMinDisplayVersion, protocol::kCompactPaletteVersion, protocol::kDisplayVersion);
    Client c(f.server->port(), tls::cert_sha256_hex(f.cert));
    REQUIRE_FALSE(c.connect());
    REQUIRE_FALSE(c.send(protocol::Hello{version, f.ticket("s1")}));
    CHECK(as<protocol::ServerHello>(c.receive()).version == version);
    auto& t = f.target("s1");
    REQUIRE(t.wait([&] { return t.attaches == 1 && t.viewer; }));
    CHECK(t.viewer->version() == version);
}

TEST_CASE("display server: a valid ticket attaches the viewer and routes input and frames") {
    Fixture f;
    Client c(f.server->port(), tls::cert_sha256_hex(f.cert));
    REQUIRE_FALSE(c.connect());
    REQUIRE_FALSE(c.send(protocol::Hello{protocol::kDisplayVersion, f.ticket("s1")}));
    auto hello = as<protocol::ServerHello>(c.receive());
    CHECK(hello.width == 640);
    CHECK(hello.height == 480);
    CHECK(hello.session_id == "s1");
    auto& t = f.target("s1");
    REQUIRE(t.wait([&] { return t.attaches == 1 && t.viewer; }));

    REQUIRE_FALSE(c.send(protocol::Key{true, 30}));
    REQUIRE_FALSE(c.send(protocol::Pointer{10, 20, 1}));
    REQUIRE_FALSE(c.send(protocol::RelativePointer{-3, 4, 2}));
    REQUIRE_FALSE(c.send(protocol::Wheel{0, 2}));
    REQUIRE_FALSE(c.send(protocol::FrameAck{7}));
    REQUIRE_FALSE(c.send(protocol::KeyframeRequest{}));
    REQUIRE(t.wait([&] { return t.keyframe_requests == 1; }));
    CHECK(t.keys == std::vector<std::pair<std::uint16_t, bool>>{{30, true}});
    CHECK(t.pointers.size() == 1);
    CHECK(t.relative == std::vector<std::array<int, 3>>{{-3, 4, 2}});
    CHECK(t.wheel_dy == 2);
    CHECK(t.last_ack == 7);

    // Frames the session sends arrive in order.
    auto viewer = t.current_viewer();
    protocol::TileFrame tf{1, 640, 480, {}, {{0, 0, 8, 8, protocol::TileEncoding::jpeg, {1, 2, 3}}}};
    REQUIRE(viewer->send(std::make_shared<const std::vector<std::uint8_t>>(protocol::encode(tf))));
    CHECK(as<protocol::TileFrame>(c.receive()).frame_id == 1);

    // The session ending closes the connection after SessionEnded.
    viewer->close(std::make_shared<const std::vector<std::uint8_t>>(
        protocol::encode(protocol::SessionEnded{protocol::EndReason::app_exited, "bye"})));
    CHECK(as<protocol::SessionEnded>(c.receive()).reason == protocol::EndReason::app_exited);
    CHECK_FALSE(c.receive().has_value());
}

TEST_CASE("display server: refuses forged, expired, replayed, misaddressed and unknown-session tickets") {
    Fixture f;
    auto pin = tls::cert_sha256_hex(f.cert);
    auto forger = crypto::Ed25519Key::generate();

    SECTION("forged signature") {
        Client c(f.server->port(), pin);
        REQUIRE_FALSE(c.connect());
        REQUIRE_FALSE(c.send(protocol::Hello{protocol::kDisplayVersion, f.ticket("s1", 60, "host-1", &forger)}));
        expect_refusal(c, protocol::ErrorCode::ticket_invalid);
    }
    SECTION("garbage ticket") {
        Client c(f.server->port(), pin);
        REQUIRE_FALSE(c.connect());
        REQUIRE_FALSE(c.send(protocol::Hello{protocol::kDisplayVersion, "not-a-ticket"}));
        expect_refusal(c, protocol::ErrorCode::ticket_invalid);
    }
    SECTION("expired") {
        Client c(f.server->port(), pin);
        REQUIRE_FALSE(c.connect());
        REQUIRE_FALSE(c.send(protocol::Hello{protocol::kDisplayVersion, f.ticket("s1", -5)}));
        expect_refusal(c, protocol::ErrorCode::ticket_expired);
    }
    SECTION("for another host") {
        Client c(f.server->port(), pin);
        REQUIRE_FALSE(c.connect());
        REQUIRE_FALSE(c.send(protocol::Hello{protocol::kDisplayVersion, f.ticket("s1", 60, "host-2")}));
        expect_refusal(c, protocol::ErrorCode::ticket_invalid);
    }
    SECTION("unknown session") {
        Client c(f.server->port(), pin);
        REQUIRE_FALSE(c.connect());
        REQUIRE_FALSE(c.send(protocol::Hello{protocol::kDisplayVersion, f.ticket("nope")}));
        expect_refusal(c, protocol::ErrorCode::session_not_found);
    }
    SECTION("replayed") {
        auto t = f.ticket("s1");
        Client a(f.server->port(), pin);
        REQUIRE_FALSE(a.connect());
        REQUIRE_FALSE(a.send(protocol::Hello{protocol::kDisplayVersion, t}));
        as<protocol::ServerHello>(a.receive());
        Client b(f.server->port(), pin);
        REQUIRE_FALSE(b.connect());
        REQUIRE_FALSE(b.send(protocol::Hello{protocol::kDisplayVersion, t}));
        expect_refusal(b, protocol::ErrorCode::ticket_replayed);
        CHECK(f.target("s1").attaches == 1);
    }
    SECTION("wrong protocol version") {
        Client c(f.server->port(), pin);
        REQUIRE_FALSE(c.connect());
        REQUIRE_FALSE(
            c.send(protocol::Hello{static_cast<std::uint16_t>(protocol::kDisplayVersion + 1), f.ticket("s1")}));
        expect_refusal(c, protocol::ErrorCode::unsupported_version);
    }
    SECTION("a version older than the oldest served") {
        Client c(f.server->port(), pin);
        REQUIRE_FALSE(c.connect());
        REQUIRE_FALSE(
            c.send(protocol::Hello{static_cast<std::uint16_t>(protocol::kMinDisplayVersion - 1), f.ticket("s1")}));
        expect_refusal(c, protocol::ErrorCode::unsupported_version);
    }
    SECTION("first message is not Hello") {
        Client c(f.server->port(), pin);
        REQUIRE_FALSE(c.connect());
        REQUIRE_FALSE(c.send(protocol::Key{true, 30}));
        expect_refusal(c, protocol::ErrorCode::expected_hello);
    }
    CHECK(f.target("s1").keys.empty());
}

TEST_CASE("display server: a host without a broker key refuses every ticket") {
    Fixture f;
    f.server->set_verifier(nullptr);
    Client c(f.server->port(), tls::cert_sha256_hex(f.cert));
    REQUIRE_FALSE(c.connect());
    REQUIRE_FALSE(c.send(protocol::Hello{protocol::kDisplayVersion, f.ticket("s1")}));
    expect_refusal(c, protocol::ErrorCode::ticket_invalid);
}

TEST_CASE("display server: malformed input closes only that connection") {
    Fixture f;
    auto pin = tls::cert_sha256_hex(f.cert);
    Client good(f.server->port(), pin), bad(f.server->port(), pin);
    REQUIRE_FALSE(good.connect());
    REQUIRE_FALSE(good.send(protocol::Hello{protocol::kDisplayVersion, f.ticket("s1")}));
    as<protocol::ServerHello>(good.receive());
    REQUIRE_FALSE(bad.connect());
    REQUIRE_FALSE(bad.send(protocol::Hello{protocol::kDisplayVersion, f.ticket("s2")}));
    as<protocol::ServerHello>(bad.receive());

    REQUIRE_FALSE(bad.send_raw({0x02, 0x01}));  // Key cut short
    expect_refusal(bad, protocol::ErrorCode::malformed);
    auto& s2 = f.target("s2");
    REQUIRE(s2.wait([&] { return s2.detaches == 1; }));

    REQUIRE_FALSE(good.send(protocol::Key{true, 31}));
    auto& s1 = f.target("s1");
    REQUIRE(s1.wait([&] { return s1.keys.size() == 1; }));
    CHECK(s1.detaches == 0);
}

TEST_CASE("display server: a bad RelativePointer or a PointerMode from a client is refused") {
    Fixture f;
    auto pin = tls::cert_sha256_hex(f.cert);
    // dx -32768 (QEMU cannot carry it), an unknown button bit, one cut short, and a host->client
    // message sent by a client.
    for (const auto& bytes :
         {std::vector<std::uint8_t>{0x0C, 0x00, 0x80, 0, 0, 0}, std::vector<std::uint8_t>{0x0C, 1, 0, 1, 0, 8},
          std::vector<std::uint8_t>{0x0C, 1, 0, 1}, protocol::encode(protocol::PointerMode{true})}) {
        Client c(f.server->port(), pin);
        REQUIRE_FALSE(c.connect());
        REQUIRE_FALSE(c.send(protocol::Hello{protocol::kDisplayVersion, f.ticket("s1")}));
        as<protocol::ServerHello>(c.receive());
        REQUIRE_FALSE(c.send_raw(bytes));
        expect_refusal(c, protocol::ErrorCode::malformed);
    }
    auto& s1 = f.target("s1");
    std::lock_guard lk(s1.mu);
    CHECK(s1.relative.empty());
}

TEST_CASE("display server: a vanished client is detached, the session stays") {
    Fixture f;
    Client c(f.server->port(), tls::cert_sha256_hex(f.cert));
    REQUIRE_FALSE(c.connect());
    REQUIRE_FALSE(c.send(protocol::Hello{protocol::kDisplayVersion, f.ticket("s1")}));
    as<protocol::ServerHello>(c.receive());
    c.drop();
    auto& t = f.target("s1");
    REQUIRE(t.wait([&] { return t.detaches == 1; }));
    CHECK(t.logoffs == 0);
}

TEST_CASE("display server: Logoff reaches the session") {
    Fixture f;
    Client c(f.server->port(), tls::cert_sha256_hex(f.cert));
    REQUIRE_FALSE(c.connect());
    REQUIRE_FALSE(c.send(protocol::Hello{protocol::kDisplayVersion, f.ticket("s1")}));
    as<protocol::ServerHello>(c.receive());
    REQUIRE_FALSE(c.send(protocol::Logoff{}));
    auto& t = f.target("s1");
    REQUIRE(t.wait([&] { return t.logoffs == 1; }));
}

TEST_CASE("display server: ResizeRequest reaches the session and its Resize reaches the client") {
    Fixture f;
    Client c(f.server->port(), tls::cert_sha256_hex(f.cert));
    REQUIRE_FALSE(c.connect());
    REQUIRE_FALSE(c.send(protocol::Hello{protocol::kDisplayVersion, f.ticket("s1")}));
    as<protocol::ServerHello>(c.receive());
    REQUIRE_FALSE(c.send(protocol::ResizeRequest{1001, 777}));
    auto& t = f.target("s1");
    REQUIRE(t.wait([&] { return t.resizes.size() == 1 && t.viewer; }));
    CHECK(t.resizes[0] == std::array<int, 2>{1001, 777});  // rounding is the session's business
    t.current_viewer()->send(
        std::make_shared<const std::vector<std::uint8_t>>(protocol::encode(protocol::Resize{1000, 776})));
    auto r = as<protocol::Resize>(c.receive());
    CHECK(r.width == 1000);
    CHECK(r.height == 776);
}

TEST_CASE("display server: a monitor layout reaches the session, a bad one is refused and harms nothing") {
    Fixture f;
    Client c(f.server->port(), tls::cert_sha256_hex(f.cert));
    REQUIRE_FALSE(c.connect());
    REQUIRE_FALSE(c.send(protocol::Hello{protocol::kDisplayVersion, f.ticket("s1")}));
    as<protocol::ServerHello>(c.receive());
    const std::vector<protocol::MonitorRect> two{{0, 0, 1024, 768}, {1024, 0, 800, 600}};
    REQUIRE_FALSE(c.send(protocol::ResizeRequest{1824, 768, two, 1}));
    auto& t = f.target("s1");
    REQUIRE(t.wait([&] { return t.layouts.size() == 1; }));
    CHECK(t.layouts[0] == two);

    // Overlapping monitors: Error(malformed) naming the fault, the connection closes, and the
    // session saw nothing of it (it keeps running for the next connection).
    REQUIRE_FALSE(c.send(protocol::ResizeRequest{1824, 768, {{0, 0, 1024, 768}, {1000, 0, 800, 600}}, 0}));
    auto e = as<protocol::ErrorMsg>(c.receive());
    CHECK(e.code == protocol::ErrorCode::malformed);
    CHECK_THAT(e.message, Catch::Contains("monitor 1 overlaps monitor 0"));
    CHECK(t.layouts.size() == 1);
    Client again(f.server->port(), tls::cert_sha256_hex(f.cert));
    REQUIRE_FALSE(again.connect());
    REQUIRE_FALSE(again.send(protocol::Hello{protocol::kDisplayVersion, f.ticket("s1")}));
    as<protocol::ServerHello>(again.receive());
    REQUIRE_FALSE(again.send(protocol::ResizeRequest{800, 600}));
    REQUIRE(t.wait([&] { return t.layouts.size() == 2; }));
    CHECK(t.layouts[1].empty());
}

TEST_CASE("display server: Ping is answered with Pong, KeyChar and Clipboard reach the session") {
    Fixture f;
    Client c(f.server->port(), tls::cert_sha256_hex(f.cert));
    REQUIRE_FALSE(c.connect());
    REQUIRE_FALSE(c.send(protocol::Hello{protocol::kDisplayVersion, f.ticket("s1")}));
    as<protocol::ServerHello>(c.receive());
    REQUIRE_FALSE(c.send(protocol::Ping{77, 123456789}));
    auto pong = as<protocol::Pong>(c.receive());
    CHECK(pong.id == 77);
    CHECK(pong.client_time == 123456789);
    REQUIRE_FALSE(c.send(protocol::KeyChar{true, 0x20ac, 18}));
    REQUIRE_FALSE(c.send(protocol::Clipboard{"part one ", true}));
    REQUIRE_FALSE(c.send(protocol::Clipboard{"part two", false}));
    auto& t = f.target("s1");
    REQUIRE(t.wait([&] { return t.chars.size() == 1 && t.clip.size() == 2; }));
    CHECK(t.chars[0] == std::pair<std::uint32_t, bool>{0x20ac, true});
    CHECK(t.clip[0] == std::pair<std::string, bool>{"part one ", true});
    CHECK(t.clip[1] == std::pair<std::string, bool>{"part two", false});
    // An image's pieces reach the session flagged as such, bytes untouched.
    const std::string png("\x89PNG\r\n\x1a\n\xff\x00", 10);
    REQUIRE_FALSE(c.send(protocol::Clipboard{png, false, true}));
    REQUIRE(t.wait([&] { return t.clip.size() == 3; }));
    CHECK(t.clip[2].first == png);
    CHECK((t.clip_png == std::vector<bool>{false, false, true}));
}

TEST_CASE("display server: other paths and plain HTTP are refused") {
    Fixture f;
    auto pin = tls::cert_sha256_hex(f.cert);
    {
        Client c(f.server->port(), pin);
        CHECK(c.http_get("/elsewhere") == 404);
    }
    {
        Client c(f.server->port(), pin);
        CHECK(c.http_get("/display") == 426);
    }
    {
        Client c(f.server->port(), pin);
        CHECK(c.connect("/api/v1/gateway/s1"));  // the WebSocket upgrade fails
    }
}

TEST_CASE("display server: oversized client messages close the connection") {
    Fixture f;
    Client c(f.server->port(), tls::cert_sha256_hex(f.cert));
    REQUIRE_FALSE(c.connect());
    REQUIRE_FALSE(c.send(protocol::Hello{protocol::kDisplayVersion, f.ticket("s1")}));
    as<protocol::ServerHello>(c.receive());
    std::vector<std::uint8_t> big(host::DisplayServer::kReadMessageMax + 10, 0x05);
    c.send_raw(big);
    CHECK_FALSE(c.receive().has_value());
    auto& t = f.target("s1");
    REQUIRE(t.wait([&] { return t.detaches == 1; }));
}

namespace {

// Connects and presents `ticket`; the ServerHello must come back.
void attach(Client& c, const std::string& ticket) {
    REQUIRE_FALSE(c.connect());
    REQUIRE_FALSE(c.send(protocol::Hello{protocol::kDisplayVersion, ticket}));
    as<protocol::ServerHello>(c.receive());
}

}  // namespace

TEST_CASE("display server: a shadow's KeyChar, Clipboard and other input reach nothing, the owner's still do") {
    Fixture f;
    auto pin = tls::cert_sha256_hex(f.cert);
    auto& t = f.target("s1");
    Client owner(f.server->port(), pin), shadow(f.server->port(), pin);
    attach(owner, f.ticket("s1"));
    attach(shadow, f.shadow_ticket("s1", "hd-bob"));
    REQUIRE(t.wait([&] { return t.shadows.size() == 1; }));

    // Everything a client can send after Hello, from the shadow.
    REQUIRE_FALSE(shadow.send(protocol::KeyChar{true, 'x', 45}));
    REQUIRE_FALSE(shadow.send(protocol::KeyChar{false, 'x', 45}));
    REQUIRE_FALSE(shadow.send(protocol::Clipboard{"rm -rf ~\n", false}));
    REQUIRE_FALSE(shadow.send(protocol::Clipboard{std::string("\x89PNG\r\n\x1a\n", 8), false, true}));  // an image
    REQUIRE_FALSE(shadow.send(protocol::Key{true, 28}));
    REQUIRE_FALSE(shadow.send(protocol::Pointer{10, 10, 1}));
    REQUIRE_FALSE(shadow.send(protocol::RelativePointer{5, 5, 1}));
    REQUIRE_FALSE(shadow.send(protocol::Wheel{0, 3}));
    REQUIRE_FALSE(shadow.send(protocol::ResizeRequest{800, 600}));
    REQUIRE_FALSE(shadow.send(protocol::Logoff{}));
    // ... and what concerns only its own stream, which it may send.
    REQUIRE_FALSE(shadow.send(protocol::FrameAck{5, 1000}));
    REQUIRE_FALSE(shadow.send(protocol::KeyframeRequest{}));
    REQUIRE_FALSE(shadow.send(protocol::Ping{9, 42}));
    // A connection's messages are handled in order: once the Pong is back, all of them were.
    CHECK(as<protocol::Pong>(shadow.receive()).id == 9);
    {
        std::lock_guard lk(t.mu);
        CHECK(t.chars.empty());
        CHECK(t.clip.empty());
        CHECK(t.keys.empty());
        CHECK(t.pointers.empty());
        CHECK(t.relative.empty());
        CHECK(t.wheel_dy == 0);
        CHECK(t.resizes.empty());
        CHECK(t.logoffs == 0);
        CHECK(t.last_ack == 5);
        CHECK(t.keyframe_requests == 1);
    }
    CHECK(f.server->shadow_messages_dropped() == 10);

    // The owner's typing and clipboard still reach the session.
    REQUIRE_FALSE(owner.send(protocol::KeyChar{true, 'y', 21}));
    REQUIRE_FALSE(owner.send(protocol::Clipboard{"mine", false}));
    REQUIRE(t.wait([&] { return t.chars.size() == 1 && t.clip.size() == 1; }));
    CHECK(t.chars[0] == std::pair<std::uint32_t, bool>{'y', true});
    CHECK(t.clip[0].first == "mine");
    CHECK(f.server->shadow_messages_dropped() == 10);
}

TEST_CASE("display server: the owner is told who watches when a shadow attaches and leaves") {
    Fixture f;
    auto pin = tls::cert_sha256_hex(f.cert);
    Client owner(f.server->port(), pin);
    attach(owner, f.ticket("s1"));

    Client shadow(f.server->port(), pin);
    attach(shadow, f.shadow_ticket("s1", "hd-bob"));
    auto on = as<protocol::ShadowNotice>(owner.receive());
    CHECK(on.count == 1);
    CHECK(on.names == std::vector<std::string>{"hd-bob"});

    // A ticket that does not name the watcher still tells the user someone watches.
    Client anonymous(f.server->port(), pin);
    attach(anonymous, f.shadow_ticket("s1", ""));
    auto two = as<protocol::ShadowNotice>(owner.receive());
    CHECK(two.count == 2);
    CHECK(two.names == std::vector<std::string>{"hd-bob", "an administrator"});
    REQUIRE_FALSE(shadow.send(protocol::Ping{2, 2}));
    CHECK(as<protocol::Pong>(shadow.receive()).id == 2);  // shadows are not told about each other

    // A user who reconnects while being watched learns it right after ServerHello.
    Client again(f.server->port(), pin);
    attach(again, f.ticket("s1"));
    CHECK(as<protocol::ShadowNotice>(again.receive()).count == 2);

    // Another session's owner is told nothing.
    Client other(f.server->port(), pin);
    attach(other, f.ticket("s2"));

    anonymous.drop();
    auto one = as<protocol::ShadowNotice>(again.receive());
    CHECK(one.count == 1);
    CHECK(one.names == std::vector<std::string>{"hd-bob"});
    shadow.drop();
    auto none = as<protocol::ShadowNotice>(again.receive());
    CHECK(none.count == 0);
    CHECK(none.names.empty());

    REQUIRE_FALSE(other.send(protocol::Ping{1, 1}));
    CHECK(as<protocol::Pong>(other.receive()).id == 1);  // the first thing s2's owner hears
}

TEST_CASE("display server: connections over the total or per-address limit are closed at once") {
    SECTION("per address") {
        Fixture f(host::DisplayServer::Limits{100, 2});
        auto pin = tls::cert_sha256_hex(f.cert);
        Client a(f.server->port(), pin), b(f.server->port(), pin), c(f.server->port(), pin);
        REQUIRE_FALSE(a.connect());
        REQUIRE_FALSE(b.connect());
        CHECK(f.server->open_connections() == 2);
        CHECK(c.connect());  // closed before the TLS handshake
        CHECK(f.server->refused_connections() == 1);
        a.drop();
        REQUIRE(wait_until([&] { return f.server->open_connections() == 1; }));
        Client d(f.server->port(), pin);
        REQUIRE_FALSE(d.connect());
        REQUIRE_FALSE(d.send(protocol::Hello{protocol::kDisplayVersion, f.ticket("s1")}));
        as<protocol::ServerHello>(d.receive());
    }
    SECTION("in total") {
        Fixture f(host::DisplayServer::Limits{3, 64});
        auto pin = tls::cert_sha256_hex(f.cert);
        Client a(f.server->port(), pin), b(f.server->port(), pin), c(f.server->port(), pin), d(f.server->port(), pin);
        REQUIRE_FALSE(a.connect());
        REQUIRE_FALSE(b.connect());
        REQUIRE_FALSE(c.connect());
        CHECK(d.connect());
        CHECK(f.server->refused_connections() == 1);
        b.drop();
        REQUIRE(wait_until([&] { return f.server->open_connections() == 2; }));
        Client e(f.server->port(), pin);
        CHECK_FALSE(e.connect());
    }
}

TEST_CASE("display server: out of file descriptors, accept backs off instead of spinning, then recovers") {
    Fixture f;
    // A connection the kernel completes into the listen backlog while this process cannot take
    // another descriptor: every accept() fails with EMFILE until one is free.
    int sock = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(sock >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(f.server->port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    rlimit saved{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
    std::vector<int> fillers;
    {
        // Restores the limit and frees the descriptors whatever happens below.
        struct Restore {
            rlimit& saved;
            std::vector<int>& fillers;
            ~Restore() {
                ::setrlimit(RLIMIT_NOFILE, &saved);
                for (int fd : fillers) ::close(fd);
            }
        } restore{saved, fillers};
        rlimit low = saved;
        low.rlim_cur = 256;  // well above what this test process has open
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
        for (;;) {  // fill every free descriptor below the limit
            int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (fd < 0) break;
            fillers.push_back(fd);
        }
        REQUIRE(errno == EMFILE);
        REQUIRE(::connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        std::this_thread::sleep_for(1200ms);
        // Backing off 100, 200, 400, 800 ms: 4 or 5 attempts; a busy loop makes thousands.
        const auto failures = f.server->accept_failures();
        INFO("accept failures in 1.2 s: " << failures);
        CHECK(failures >= 1);
        CHECK(failures <= 6);
        CHECK(f.server->open_connections() == 0);
    }
    // Descriptors are free again: the waiting connection is accepted within the longest back-off.
    CHECK(wait_until([&] { return f.server->open_connections() == 1; }, 3s));
    ::close(sock);
    Client c(f.server->port(), tls::cert_sha256_hex(f.cert));
    attach(c, f.ticket("s1"));
}

TEST_CASE("display server: a client that stops reading holds a bounded queue, then is refused more") {
    Fixture f;
    Client c(f.server->port(), tls::cert_sha256_hex(f.cert));
    attach(c, f.ticket("s1"));
    auto& t = f.target("s1");
    REQUIRE(t.wait([&] { return t.viewer != nullptr; }));
    auto viewer = t.current_viewer();
    // 1 MiB frames, at a pace the socket could take if the client read them: the client never
    // does, so the kernel's buffers fill, then the connection's queue, then send() says no (and a
    // session drops that viewer). Host memory for it stays at a few queued messages.
    protocol::TileFrame tf{
        1, 640, 480, {}, {{0, 0, 8, 8, protocol::TileEncoding::jpeg, std::vector<std::uint8_t>(1 << 20, 7)}}};
    auto frame = std::make_shared<const std::vector<std::uint8_t>>(protocol::encode(tf));
    int accepted = 0;
    bool refused = false;
    for (int i = 0; i < 200 && !refused; ++i) {
        if (viewer->send(frame))
            ++accepted;
        else
            refused = true;
        std::this_thread::sleep_for(5ms);
    }
    INFO("messages accepted before the first refusal: " << accepted);
    CHECK(refused);
    // The connection's own queue (16) plus what the kernel's socket buffers on both ends took.
    CHECK(accepted >= static_cast<int>(host::DisplayServer::kSendQueueMax));
    CHECK(accepted <= 64);
}

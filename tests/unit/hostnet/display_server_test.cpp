// DisplayServer against a real TLS WebSocket client on loopback and fake sessions: ticket checks,
// refusals, input routing, frames to the viewer, and isolation between connections.
#include "common/crypto.hpp"
#include "common/tls.hpp"
#include "protocol/display.hpp"
#include "protocol/ticket.hpp"
#include "session-host/display_server.hpp"

#include <boost/asio/connect.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <catch2/catch.hpp>

#include <condition_variable>
#include <filesystem>
#include <map>
#include <thread>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
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
    void attach(std::shared_ptr<host::ViewerSink> v) override { update([&] { viewer = v; ++attaches; }); }
    void detach(const host::ViewerSink* v) override { update([&] { if (viewer.get() == v) viewer.reset(); ++detaches; }); }
    void key(std::uint16_t code, bool down) override { update([&] { keys.emplace_back(code, down); }); }
    void pointer(int x, int y, std::uint8_t b) override { update([&] { pointers.push_back({x, y, b}); }); }
    void wheel(int, int dy) override { update([&] { wheel_dy += dy; }); }
    void frame_ack(const host::ViewerSink*, std::uint32_t id, std::uint32_t) override { update([&] { last_ack = id; }); }
    void keyframe_request() override { update([&] { ++keyframe_requests; }); }
    void logoff() override { update([&] { ++logoffs; }); }
    void resize(int w, int h) override { update([&] { resizes.push_back({w, h}); }); }
    void key_char(std::uint32_t cp, std::uint16_t, bool down) override { update([&] { chars.emplace_back(cp, down); }); }
    void clipboard(const std::string& text, bool more) override { update([&] { clip.emplace_back(text, more); }); }

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
    int attaches = 0, detaches = 0, keyframe_requests = 0, logoffs = 0, wheel_dy = 0;
    std::uint32_t last_ack = 0;
    std::vector<std::pair<std::uint16_t, bool>> keys;
    std::vector<std::array<int, 3>> pointers;
    std::vector<std::array<int, 2>> resizes;
    std::vector<std::pair<std::uint32_t, bool>> chars;
    std::vector<std::pair<std::string, bool>> clip;

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
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
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

    Fixture() {
        char tmpl[] = "/tmp/hostnet-test-XXXXXX";
        dir = ::mkdtemp(tmpl);
        cert = (dir / "cert.pem").string();
        key = (dir / "key.pem").string();
        tls::generate_self_signed(cert, key, "localhost", {"IP:127.0.0.1", "DNS:localhost"});
        server_ctx = std::make_unique<ssl::context>(tls::make_server_context(cert, key));
        sessions.sessions["s1"] = std::make_shared<FakeTarget>("s1");
        sessions.sessions["s2"] = std::make_shared<FakeTarget>("s2");
        server = std::make_unique<host::DisplayServer>(ioc, *server_ctx, sessions);
        server->listen("127.0.0.1", 0);
        auto pub = crypto::Ed25519Key::from_public_raw(broker_key.public_raw());
        server->set_verifier(std::make_shared<protocol::TicketVerifier>(std::move(*pub), "host-1"));
        guard.emplace(ioc.get_executor());
        for (int i = 0; i < 2; ++i) threads.emplace_back([this] { ioc.run(); });
    }
    ~Fixture() {
        server->stop();
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
    FakeTarget& target(const std::string& id) { return *sessions.sessions.at(id); }
};

// A display client with its own io_context; every operation has a 5 s deadline.
class Client {
public:
    explicit Client(std::uint16_t port, const std::string& pin)
        : ctx_(tls::make_client_context(tls::ClientTrust{{}, pin, false})), ws_(ioc_, ctx_), port_(port) {}

    beast::error_code connect(const std::string& path = "/display") {
        auto ec = run([&](auto h) { beast::get_lowest_layer(ws_).async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), h); });
        if (!ec) ec = run([&](auto h) { ws_.next_layer().async_handshake(ssl::stream_base::client, h); });
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
        beast::get_lowest_layer(ws_).socket().close(ec);
    }
    // Plain HTTPS GET, returns the status code.
    int http_get(const std::string& target) {
        auto ec = run([&](auto h) { beast::get_lowest_layer(ws_).async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), h); });
        if (!ec) ec = run([&](auto h) { ws_.next_layer().async_handshake(ssl::stream_base::client, h); });
        REQUIRE_FALSE(ec);
        http::request<http::empty_body> req{http::verb::get, target, 11};
        req.set(http::field::host, "127.0.0.1");
        ec = run([&](auto h) { http::async_write(ws_.next_layer(), req, h); });
        REQUIRE_FALSE(ec);
        beast::flat_buffer buf;
        http::response<http::string_body> res;
        ec = run([&](auto h) { http::async_read(ws_.next_layer(), buf, res, h); });
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
    websocket::stream<ssl::stream<beast::tcp_stream>> ws_;
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
    REQUIRE_FALSE(c.send(protocol::Wheel{0, 2}));
    REQUIRE_FALSE(c.send(protocol::FrameAck{7}));
    REQUIRE_FALSE(c.send(protocol::KeyframeRequest{}));
    REQUIRE(t.wait([&] { return t.keyframe_requests == 1; }));
    CHECK(t.keys == std::vector<std::pair<std::uint16_t, bool>>{{30, true}});
    CHECK(t.pointers.size() == 1);
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
        REQUIRE_FALSE(c.send(protocol::Hello{static_cast<std::uint16_t>(protocol::kDisplayVersion + 1), f.ticket("s1")}));
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
    t.current_viewer()->send(std::make_shared<const std::vector<std::uint8_t>>(protocol::encode(protocol::Resize{1000, 776})));
    auto r = as<protocol::Resize>(c.receive());
    CHECK(r.width == 1000);
    CHECK(r.height == 776);
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

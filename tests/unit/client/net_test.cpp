// The headless client end to end against a fake broker + host on loopback: real TLS (a fresh
// self-signed certificate), real HTTP and WebSocket, real JPEG tiles. The fake serves one connection
// at a time on its own thread, through the same WssStream as the broker (each operation waited for
// in turn), which is all the client needs.
#include "client/native/headless.hpp"
#include "codec/jpeg_tile.hpp"
#include "common/tls.hpp"
#include "common/wss_stream.hpp"
#include "protocol/display.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/system/system_error.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <png.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace proto = portico::protocol;
using net::ip::tcp;
using json = nlohmann::json;
using portico::WssStream;
using portico::client::Options;

namespace {

struct Certs {
    std::string dir, cert, key, fp;
    explicit Certs(std::vector<std::string> sans = {"DNS:localhost", "IP:127.0.0.1"}) {
        static int n = 0;
        dir = (std::filesystem::temp_directory_path() /
               ("portico-client-test-" + std::to_string(getpid()) + "-" + std::to_string(++n)))
                  .string();
        std::filesystem::create_directories(dir);
        cert = dir + "/c.pem";
        key = dir + "/k.pem";
        portico::tls::generate_self_signed(cert, key, "localhost", sans);
        fp = portico::tls::cert_sha256_hex(cert);
    }
    ~Certs() { std::filesystem::remove_all(dir); }
};

class FakeBroker {
public:
    std::string ticket = "ticket-123";
    bool refuse_ticket = false;

    explicit FakeBroker(const Certs& c)
        : certs_(c),
          ctx_(portico::tls::make_server_context(c.cert, c.key)),
          acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0}) {
        port_ = acceptor_.local_endpoint().port();
        thread_ = std::thread([this] { loop(); });
    }
    ~FakeBroker() {
        stop_ = true;
        beast::error_code ec;
        net::io_context wake;
        tcp::socket s(wake);
        s.connect({net::ip::make_address("127.0.0.1"), port_}, ec);
        thread_.join();
    }
    std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

    std::vector<std::pair<int, bool>> keys() {
        std::lock_guard l(m_);
        return keys_;
    }
    int acks() {
        std::lock_guard l(m_);
        return acks_;
    }
    std::vector<std::string> requests() {
        std::lock_guard l(m_);
        return requests_;
    }
    std::string ws_path() {
        std::lock_guard l(m_);
        return ws_path_;
    }

private:
    void loop() {
        while (!stop_) {
            tcp::socket s(ioc_);
            beast::error_code ec;
            acceptor_.accept(s, ec);
            if (stop_ || ec) continue;
            try {
                serve(std::move(s));
            } catch (const std::exception&) {
                // A client that hangs up mid-way is fine for the fake.
            }
        }
    }

    // Runs one operation of the stream (`start(handler)`) to its end on this thread.
    template <class Start>
    beast::error_code wait(Start start) {
        beast::error_code result;
        bool done = false;
        start([&](beast::error_code ec, auto&&...) {
            result = ec;
            done = true;
        });
        ioc_.restart();
        while (!done && ioc_.run_one()) {
        }
        return result;
    }
    template <class Start>
    void wait_or_throw(Start start) {
        if (auto ec = wait(std::move(start))) throw boost::system::system_error(ec);
    }

    void serve(tcp::socket s) {
        WssStream ws(std::move(s), ctx_);
        wait_or_throw([&](auto h) { ws.async_tls_handshake(net::ssl::stream_base::server, h); });
        beast::flat_buffer buf;
        WssStream::RequestParser parser;
        wait_or_throw([&](auto h) { ws.async_read_request(buf, parser, h); });
        auto req = parser.release();
        if (websocket::is_upgrade(req)) {
            {
                std::lock_guard l(m_);
                ws_path_ = std::string(req.target());
            }
            wait_or_throw([&](auto h) { ws.async_accept(req, h); });
            display(ws);
            return;
        }
        std::string line = std::string(req.method_string()) + " " + std::string(req.target());
        {
            std::lock_guard l(m_);
            requests_.push_back(line);
        }
        auto answer = std::make_shared<WssStream::Response>(http::status::ok, 11);
        auto& res = *answer;
        res.set(http::field::content_type, "application/json");
        const bool authed = req[http::field::cookie] == "portico_session=abc";
        const bool json_ct = req[http::field::content_type] == "application/json";
        auto error = [&](http::status s, const char* code, const char* msg) {
            res.result(s);
            res.body() = json{{"error", {{"code", code}, {"message", msg}}}}.dump();
        };
        if (line == "POST /api/v1/login") {
            auto j = json::parse(req.body());
            if (json_ct && j["username"] == "demo" && j["password"] == "pw") {
                res.set(http::field::set_cookie, "portico_session=abc; Path=/; HttpOnly; Secure; SameSite=Strict");
                res.body() = R"({"user":"demo"})";
            } else {
                error(http::status::unauthorized, "unauthorized", "wrong user name or password");
            }
        } else if (!authed) {
            error(http::status::unauthorized, "unauthorized", "log in first");
        } else if (line == "GET /api/v1/resources") {
            res.body() = R"([{"id":"terminal","name":"Terminal","type":"app"}])";
        } else if (line == "POST /api/v1/launch" && json_ct) {
            auto j = json::parse(req.body());
            if (j["resource"] != "terminal") {
                error(http::status::not_found, "not_found", "no such resource");
            } else {
                res.body() = json{
                    {"session_id", "s1"},
                    {"ticket", ticket},
                    {"gateway_path", "/api/v1/gateway/s1"},
                    {"direct_url", "wss://127.0.0.1:" + std::to_string(port_) + "/display"},
                    {"host_cert_sha256", pin_override.empty() ? certs_.fp : pin_override},
                    {"width", 64},
                    {"height",
                     48}}.dump();
            }
        } else if (line == "DELETE /api/v1/sessions/s1" && json_ct) {
            res.body() = "{}";
        } else {
            error(http::status::not_found, "not_found", "no route");
        }
        res.keep_alive(false);
        res.prepare_payload();
        wait_or_throw([&](auto h) { ws.async_write_response(answer, h); });
    }

    void send(WssStream& ws, const proto::Message& m) {
        auto b = proto::encode(m);
        ws.binary(true);
        wait_or_throw([&](auto h) { ws.async_write(net::buffer(b), h); });
    }

    void display(WssStream& ws) {
        beast::flat_buffer buf;
        wait_or_throw([&](auto h) { ws.async_read(buf, h); });
        auto d = buf.cdata();
        auto hello = proto::decode({static_cast<const std::uint8_t*>(d.data()), d.size()});
        auto* h = hello ? std::get_if<proto::Hello>(&hello.value()) : nullptr;
        if (!h || h->ticket != ticket || refuse_ticket) {
            send(ws, proto::ErrorMsg{proto::ErrorCode::ticket_invalid, "bad ticket signature"});
            wait_or_throw([&](auto h) { ws.async_close(websocket::close_code::policy_error, h); });
            return;
        }
        send(ws, proto::ServerHello{proto::kDisplayVersion, 64, 48, "s1"});
        portico::capture::Frame red(16, 16);
        for (int y = 0; y < 16; ++y)
            for (int x = 0; x < 16; ++x) red.at(x, y)[2] = 255;
        portico::codec::JpegTileEncoder enc;
        proto::TileFrame tf;
        tf.frame_id = 7;
        tf.width = 64;
        tf.height = 48;
        proto::Tile t;
        t.x = 8;
        t.y = 8;
        t.w = 16;
        t.h = 16;
        t.data = enc.encode(red, {0, 0, 16, 16}, 90, true);
        tf.tiles.push_back(t);
        send(ws, tf);
        for (;;) {
            buf.clear();
            if (wait([&](auto h) { ws.async_read(buf, h); })) return;
            auto dd = buf.cdata();
            auto m = proto::decode({static_cast<const std::uint8_t*>(dd.data()), dd.size()});
            if (!m) return;
            std::lock_guard l(m_);
            if (auto* k = std::get_if<proto::Key>(&m.value())) keys_.emplace_back(k->code, k->down);
            if (std::get_if<proto::FrameAck>(&m.value())) ++acks_;
            if (std::get_if<proto::Logoff>(&m.value())) {
                send(ws, proto::SessionEnded{proto::EndReason::logged_off, "bye"});
                wait([&](auto h) { ws.async_close(websocket::close_code::normal, h); });
                return;
            }
        }
    }

public:
    std::string pin_override;

private:
    const Certs& certs_;
    net::io_context ioc_;
    net::ssl::context ctx_;
    tcp::acceptor acceptor_;
    unsigned short port_ = 0;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::mutex m_;
    std::vector<std::pair<int, bool>> keys_;
    int acks_ = 0;
    std::vector<std::string> requests_;
    std::string ws_path_;
};

Options options_for(const FakeBroker& b, const Certs& c) {
    Options o;
    o.headless = true;
    o.broker = b.url();
    o.user = "demo";
    o.password = "pw";
    o.resource = "Terminal";
    o.ca_file = c.cert;
    o.duration_s = 0.3;
    o.json = true;
    return o;
}

json run(const Options& o, int& code) {
    std::ostringstream out;
    code = portico::client::run_headless(o, out);
    auto text = out.str();
    REQUIRE(std::count(text.begin(), text.end(), '\n') == 1);
    return json::parse(text);
}

}  // namespace

TEST_CASE("headless run through the gateway: login, launch by name, tiles, typing, PNG, logoff") {
    Certs certs;
    FakeBroker broker(certs);
    auto o = options_for(broker, certs);
    o.type_text = "Hi!\n";
    o.type_delay_ms = 5;
    o.logoff = true;
    o.png_path = certs.dir + "/out.png";
    int code = -1;
    auto j = run(o, code);
    INFO(j.dump());
    CHECK(code == 0);
    CHECK(j["session_id"] == "s1");
    CHECK(j["width"] == 64);
    CHECK(j["height"] == 48);
    CHECK(j["frames"] == 1);
    CHECK(j["tile_frames"] == 1);
    CHECK(j["video_frames"] == 0);
    CHECK(j["decoded_frames"] == 1);
    CHECK(j["decode_errors"] == 0);
    CHECK(j["bytes"].get<int>() > 100);
    CHECK(j["first_frame_ms"].is_number());
    CHECK(j["ended"] == "logged_off");
    CHECK(j["error"].is_null());
    CHECK(j["keys_sent"] == 12);
    CHECK(broker.ws_path() == "/api/v1/gateway/s1");
    CHECK(broker.acks() == 1);
    std::vector<std::pair<int, bool>> want = {{42, true}, {35, true},  {35, false}, {42, false},  // H
                                              {23, true}, {23, false},                            // i
                                              {42, true}, {2, true},   {2, false},  {42, false},  // !
                                              {28, true}, {28, false}};                           // Enter
    CHECK(broker.keys() == want);
    auto reqs = broker.requests();
    CHECK(reqs == std::vector<std::string>{"POST /api/v1/login", "GET /api/v1/resources", "POST /api/v1/launch"});

    png_image img;
    std::memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    REQUIRE(png_image_begin_read_from_file(&img, o.png_path.c_str()));
    img.format = PNG_FORMAT_RGB;
    std::vector<png_byte> rgb(PNG_IMAGE_SIZE(img));
    REQUIRE(png_image_finish_read(&img, nullptr, rgb.data(), 0, nullptr));
    CHECK(img.width == 64);
    auto px = [&](int x, int y) { return &rgb[(static_cast<std::size_t>(y) * 64 + x) * 3]; };
    CHECK(px(15, 15)[0] > 230);  // inside the red tile
    CHECK(px(15, 15)[1] < 25);
    CHECK(px(30, 30)[0] == 0);  // outside: black
}

TEST_CASE("headless run direct to the host pins the certificate the broker names") {
    Certs certs;
    FakeBroker broker(certs);
    auto o = options_for(broker, certs);
    o.direct = true;
    int code = -1;
    auto j = run(o, code);
    INFO(j.dump());
    CHECK(code == 0);
    CHECK(broker.ws_path() == "/display");
    CHECK(j["decoded_frames"] == 1);
    CHECK(j["ended"].is_null());

    // A pin that does not match the host's certificate fails the TLS handshake: exit 4.
    broker.pin_override = std::string(64, 'a');
    j = run(o, code);
    CHECK(code == 4);
    CHECK(j["error"].get<std::string>().find("TLS") != std::string::npos);
    CHECK(j["frames"] == 0);
}

TEST_CASE("refusals exit 3 with the server's reason") {
    Certs certs;
    FakeBroker broker(certs);
    int code = -1;

    auto o = options_for(broker, certs);
    o.password = "wrong";
    auto j = run(o, code);
    CHECK(code == 3);
    CHECK(j["error"].get<std::string>().find("401") != std::string::npos);
    CHECK(j["session_id"].is_null());

    o = options_for(broker, certs);
    o.resource = "Nonexistent";
    j = run(o, code);
    CHECK(code == 3);
    CHECK(j["error"].get<std::string>().find("no such resource") != std::string::npos);

    broker.refuse_ticket = true;
    o = options_for(broker, certs);
    j = run(o, code);
    CHECK(code == 3);
    CHECK(j["error"].get<std::string>().find("ticket_invalid") != std::string::npos);
    CHECK(j["session_id"] == "s1");
}

TEST_CASE("trust failures and unreachable brokers exit 4, --insecure connects anyway") {
    Certs certs;
    FakeBroker broker(certs);
    int code = -1;

    // No --ca: the system store does not know our self-signed certificate.
    auto o = options_for(broker, certs);
    o.ca_file.clear();
    auto j = run(o, code);
    CHECK(code == 4);
    CHECK(j["error"].get<std::string>().find("TLS") != std::string::npos);

    o.insecure = true;
    j = run(o, code);
    CHECK(code == 0);
    CHECK(j["decoded_frames"] == 1);

    // Names are checked under --ca: "localhost" is in the certificate, so it works too...
    o = options_for(broker, certs);
    o.broker = "https://localhost:" + broker.url().substr(broker.url().rfind(':') + 1);
    j = run(o, code);
    CHECK(code == 0);

    // ...but a trusted certificate for another name is refused.
    Certs other({"DNS:other.example"});
    FakeBroker wrong_name(other);
    o = options_for(wrong_name, other);
    j = run(o, code);
    CHECK(code == 4);
    CHECK(j["error"].get<std::string>().find("TLS") != std::string::npos);

    o = options_for(broker, certs);
    o.broker = "https://127.0.0.1:1";
    j = run(o, code);
    CHECK(code == 4);
    CHECK(j["error"].get<std::string>().find("connecting") != std::string::npos);
}

#include "support.hpp"

#include "common/crypto.hpp"
#include "common/tls.hpp"

#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <fstream>
#include <random>
#include <stdexcept>

namespace test {

namespace fs = std::filesystem;
using json = nlohmann::json;

TempDir::TempDir() {
    path = fs::temp_directory_path() / ("portico-broker-test-" + portico::crypto::random_token(8));
    fs::create_directories(path);
}
TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
}

BrokerFixture::BrokerFixture(int launch_timeout_seconds, std::function<void(portico::broker::BrokerConfig&)> tweak,
                             std::string database) {
    state = (dir.path / "state").string();
    web_root = (dir.path / "web").string();
    fs::create_directories(web_root + "/sub");
    std::ofstream(web_root + "/index.html") << "<!doctype html><title>portal</title>";
    std::ofstream(web_root + "/app.js") << "export const x = 1;";
    std::ofstream(web_root + "/sub/style.css") << "body{}";
    std::ofstream(dir.path / "secret.txt") << "outside the web root";

    portico::broker::InitOptions o;
    o.state_dir = state;
    o.database = database;
    o.demo_password = kPassword;
    o.admin_password = kPassword;
    auto r = portico::broker::init_state(o);
    if (!r.created) throw std::runtime_error("state dir was not created");

    this->database = database;
    start(launch_timeout_seconds, tweak);
}

BrokerFixture::BrokerFixture(const BrokerFixture& first, const std::string& broker_id,
                             std::function<void(portico::broker::BrokerConfig&)> tweak)
    : state(first.state), web_root(first.web_root), database(first.database) {
    start(20, [&](portico::broker::BrokerConfig& c) {
        c.broker_id = broker_id;
        if (tweak) tweak(c);
    });
}

void BrokerFixture::start(int launch_timeout_seconds,
                          const std::function<void(portico::broker::BrokerConfig&)>& tweak) {
    portico::broker::BrokerConfig c;
    c.state_dir = state;
    c.database = database;
    c.listen_address = "127.0.0.1";
    c.port = 0;
    c.web_root = web_root;
    c.launch_timeout_seconds = launch_timeout_seconds;
    c.register_timeout_seconds = 2;
    // Most tests register fake hosts with the legacy shared secret for brevity; the default
    // (mutual TLS required) has its own tests, which set it back.
    c.require_mtls = false;
    if (tweak) tweak(c);
    broker = std::make_unique<portico::broker::Broker>(c);
    port = broker->start();
    broker_cert_sha256 = portico::tls::cert_sha256_hex(state + "/tls/broker.crt");
    enrollment_secret = portico::broker::read_enrollment_secret(portico::broker::StatePaths::in(state));
}

BrokerFixture::~BrokerFixture() { broker.reset(); }

HttpReply request(const BrokerFixture& b, http::verb method, const std::string& target, const std::string& body,
                  const std::string& cookie, const std::string& content_type,
                  const std::map<std::string, std::string>& headers) {
    net::io_context ioc;
    auto ctx = portico::tls::make_client_context(portico::tls::ClientTrust{"", b.broker_cert_sha256, false});
    beast::ssl_stream<tcp::socket> s(ioc, ctx);
    s.next_layer().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), b.port));
    s.handshake(ssl::stream_base::client);
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!cookie.empty()) req.set(http::field::cookie, cookie);
    for (const auto& [name, value] : headers) req.set(name, value);
    if (!content_type.empty() && (method != http::verb::get || !body.empty()))
        req.set(http::field::content_type, content_type);
    req.body() = body;
    req.prepare_payload();
    // The broker may answer (413) and close before it has read an oversized body: the write can
    // fail with a broken pipe while the answer is already waiting to be read.
    beast::error_code write_ec;
    http::write(s, req, write_ec);
    beast::flat_buffer buf;
    http::response_parser<http::string_body> p;
    p.body_limit(64 * 1024 * 1024);
    http::read(s, buf, p);
    auto res = p.release();
    HttpReply out;
    out.status = static_cast<int>(res.result_int());
    for (auto& f : res) {
        std::string name(f.name_string());
        for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        out.headers[name] = std::string(f.value());
    }
    out.body = res.body();
    beast::error_code ec;
    s.shutdown(ec);
    return out;
}

int upgrade_status(const BrokerFixture& b, const std::string& target) {
    net::io_context ioc;
    auto ctx = portico::tls::make_client_context(portico::tls::ClientTrust{"", b.broker_cert_sha256, false});
    beast::ssl_stream<tcp::socket> s(ioc, ctx);
    s.next_layer().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), b.port));
    s.handshake(ssl::stream_base::client);
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::connection, "Upgrade");
    req.set(http::field::upgrade, "websocket");
    req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    req.set(http::field::sec_websocket_version, "13");
    http::write(s, req);
    beast::flat_buffer buf;
    http::response_parser<http::string_body> p;
    p.skip(false);
    http::read_header(s, buf, p);
    return static_cast<int>(p.get().result_int());
}

HttpReply post(const BrokerFixture& b, const std::string& path, const nlohmann::json& body, const std::string& cookie) {
    return request(b, http::verb::post, path, body.dump(), cookie);
}

void check_error(const HttpReply& r, int status, const std::string& code) {
    INFO(r.body);
    CHECK(r.status == status);
    CHECK(r.headers.count("content-type"));
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    REQUIRE(j.is_object());
    REQUIRE(j.contains("error"));
    CHECK(j["error"]["code"] == code);
    CHECK(j["error"]["message"].is_string());
}

std::string csr_for(const std::string& host_id, const std::filesystem::path& key_path) {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
    std::unique_ptr<X509_REQ, decltype(&X509_REQ_free)> req(X509_REQ_new(), X509_REQ_free);
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(host_id.c_str()), -1, -1, 0);
    X509_REQ_set_pubkey(req.get(), key.get());
    X509_REQ_sign(req.get(), key.get(), EVP_sha256());
    FILE* f = std::fopen(key_path.c_str(), "w");
    PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    std::unique_ptr<BIO, decltype(&BIO_free)> b(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_X509_REQ(b.get(), req.get());
    char* data = nullptr;
    long n = BIO_get_mem_data(b.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

std::string login(const BrokerFixture& b) { return login_as(b, "demo", kPassword); }

std::string login_as(const BrokerFixture& b, const std::string& user, const std::string& password) {
    auto r = request(b, http::verb::post, "/api/v1/login", json{{"username", user}, {"password", password}}.dump());
    if (r.status != 200) throw std::runtime_error("login failed: " + r.body);
    auto cookie = r.headers.at("set-cookie");
    return cookie.substr(0, cookie.find(';'));
}

std::unique_ptr<WssStream> ws_connect(net::io_context& ioc, std::uint16_t port, const std::string& pinned_sha256,
                                      const std::string& target, websocket::response_type* res) {
    // The context must outlive the stream; keep one per pin for the test process.
    static std::mutex mu;
    static std::map<std::string, std::unique_ptr<ssl::context>> contexts;
    ssl::context* ctx;
    {
        std::lock_guard lk(mu);
        auto& slot = contexts[pinned_sha256];
        if (!slot)
            slot = std::make_unique<ssl::context>(
                portico::tls::make_client_context(portico::tls::ClientTrust{"", pinned_sha256, false}));
        ctx = slot.get();
    }
    auto ws = std::make_unique<WssStream>(ioc, *ctx);
    beast::get_lowest_layer(*ws).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    ws->next_layer().handshake(ssl::stream_base::client);
    websocket::response_type local;
    ws->handshake(res ? *res : local, "127.0.0.1:" + std::to_string(port), target);
    return ws;
}

// ---- FakeHost ----

FakeHost::FakeHost(const BrokerFixture& b, std::string host_id, std::string display_url, std::string cert_sha256,
                   Mode mode, std::string secret, std::string client_cert, std::string client_key, int max_sessions,
                   std::optional<std::vector<std::string>> running)
    : mode_(mode) {
    if (client_cert.empty()) {
        ws_ = ws_connect(ioc_, b.port, b.broker_cert_sha256, "/api/v1/control");
    } else {
        mtls_ctx_ = std::make_unique<ssl::context>(
            portico::tls::make_client_context(portico::tls::ClientTrust{"", b.broker_cert_sha256, false}));
        mtls_ctx_->use_certificate_chain_file(client_cert);
        mtls_ctx_->use_private_key_file(client_key, ssl::context::pem);
        ws_ = std::make_unique<WssStream>(ioc_, *mtls_ctx_);
        beast::get_lowest_layer(*ws_).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), b.port));
        ws_->next_layer().handshake(ssl::stream_base::client);
        ws_->handshake("127.0.0.1:" + std::to_string(b.port), "/api/v1/control");
    }
    ws_->text(true);
    json reg = {{"type", "register"},
                {"version", 1},
                {"host_id", host_id},
                {"name", host_id + " name"},
                {"secret", !client_cert.empty() ? std::string()
                           : secret.empty()     ? b.enrollment_secret
                                                : secret},
                {"display_url", display_url},
                {"cert_sha256", cert_sha256},
                {"apps", json::array({"*"})},
                {"max_sessions", max_sessions}};
    if (running) reg["sessions"] = *running;
    ws_->write(net::buffer(reg.dump()));
    beast::flat_buffer buf;
    ws_->read(buf);
    registered = json::parse(beast::buffers_to_string(buf.data()));
    if (registered.value("type", "") != "registered") return;  // tests inspect the refusal
    thread_ = std::thread([this] {
        try {
            for (;;) {
                beast::flat_buffer in;
                ws_->read(in);
                auto m = json::parse(beast::buffers_to_string(in.data()));
                auto type = m.value("type", "");
                if (type == "start_session") {
                    {
                        std::lock_guard lk(mu_);
                        start_msgs_.push_back(m);
                    }
                    ++starts;
                    if (mode_ == Mode::ready)
                        send({{"type", "session_ready"},
                              {"request_id", m["request_id"]},
                              {"session_id", m["session_id"]}});
                    else if (mode_ == Mode::fail)
                        send({{"type", "session_failed"},
                              {"request_id", m["request_id"]},
                              {"session_id", m["session_id"]},
                              {"message", "xterm: not found"}});
                } else if (type == "thumbnail_request") {
                    const int n = ++thumbnail_requests;
                    {
                        std::lock_guard lk(mu_);
                        thumbnail_msgs_.push_back(m);
                    }
                    if (thumbnails == Thumbnails::answer) {
                        const std::uint8_t jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0, static_cast<std::uint8_t>(n), 0xFF, 0xD9};
                        send({{"type", "thumbnail"},
                              {"request_id", m["request_id"]},
                              {"session_id", m["session_id"]},
                              {"jpeg_base64", portico::crypto::base64_encode(jpeg)}});
                    } else if (thumbnails == Thumbnails::fail) {
                        send({{"type", "thumbnail_failed"},
                              {"request_id", m["request_id"]},
                              {"session_id", m["session_id"]},
                              {"message", "the session has no picture yet"}});
                    }
                } else if (type == "end_session") {
                    {
                        std::lock_guard lk(mu_);
                        ends_.push_back(m["session_id"]);
                    }
                    if (answer_ends)
                        send({{"type", "session_ended"}, {"session_id", m["session_id"]}, {"reason", "logged_off"}});
                }
            }
        } catch (const std::exception&) {
        }
    });
}

FakeHost::~FakeHost() {
    ::shutdown(beast::get_lowest_layer(*ws_).native_handle(), SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
}

std::vector<json> FakeHost::thumbnail_request_msgs() const {
    std::lock_guard lk(mu_);
    return thumbnail_msgs_;
}

void FakeHost::send(const json& j) {
    std::lock_guard lk(mu_);
    ws_->text(true);
    ws_->write(net::buffer(j.dump()));
}

std::vector<std::string> FakeHost::end_requests() const {
    std::lock_guard lk(mu_);
    return ends_;
}

std::vector<json> FakeHost::start_requests() const {
    std::lock_guard lk(mu_);
    return start_msgs_;
}

// ---- FakeDisplay ----

namespace {
ssl::context display_context(const fs::path& dir, std::string& fingerprint) {
    auto cert = (dir / "display.crt").string(), key = (dir / "display.key").string();
    portico::tls::generate_self_signed(cert, key, "fake-host", {"DNS:localhost", "IP:127.0.0.1"});
    fingerprint = portico::tls::cert_sha256_hex(cert);
    return portico::tls::make_server_context(cert, key);
}
}  // namespace

FakeDisplay::FakeDisplay(const fs::path& dir)
    : ctx_(display_context(dir, cert_sha256)), acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { serve(); });
}

FakeDisplay::~FakeDisplay() {
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    int fd = current_fd_.load();
    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
}

std::string FakeDisplay::big_payload() {
    std::string big(3 * 1024 * 1024, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
    return big;
}

std::string FakeDisplay::url() const {
    return "wss://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/display";
}

void FakeDisplay::serve() {
    for (;;) {
        tcp::socket sock(ioc_);
        beast::error_code ec;
        acceptor_.accept(sock, ec);
        if (ec) return;
        ++connections;
        current_fd_ = sock.native_handle();
        try {
            WssStream ws(std::move(sock), ctx_);
            ws.next_layer().handshake(ssl::stream_base::server);
            ws.read_message_max(32 * 1024 * 1024);
            ws.accept();
            for (;;) {
                beast::flat_buffer in;
                ws.read(in);
                auto data = beast::buffers_to_string(in.data());
                if (data == "bye") {
                    ws.close(websocket::close_code::normal);
                    break;
                }
                std::string reply = data == "big" ? big_payload() : std::string(data.rbegin(), data.rend());
                ws.binary(true);
                ws.write(net::buffer(reply));
            }
        } catch (const std::exception&) {
            // the peer went away; wait for the next connection
        }
        current_fd_ = -1;
        ++closed;
    }
}

std::pair<int, std::string> run_broker(const std::string& args) {
    std::string command = std::string(PORTICO_BROKER_BIN) + " " + args + " 2>&1";
    FILE* p = popen(command.c_str(), "r");
    REQUIRE(p);
    std::string out;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    int status = pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace test

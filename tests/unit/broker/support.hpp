#pragma once
// Test helpers for the broker: a temporary initialised state dir, an in-process broker on
// 127.0.0.1:0, a blocking HTTPS client, a fake session host (control channel) and a fake host
// display server (TLS WebSocket echo). All over real TLS on loopback.

#include "broker/broker.hpp"
#include "broker/state_dir.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using WssStream = websocket::stream<beast::ssl_stream<tcp::socket>>;

inline const std::string kPassword = "correct horse battery";

// Polls f every 50 ms until it is true or `timeout` passes (the broker's state follows a host's
// messages asynchronously); the last answer.
template <class F>
bool eventually(F f, std::chrono::milliseconds timeout = std::chrono::milliseconds(8000)) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (f()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return f();
}

struct TempDir {
    TempDir();
    ~TempDir();
    std::filesystem::path path;
};

// A freshly initialised state dir and a broker serving it; its store is the state dir's SQLite
// file, or `database` (e.g. a PostgreSQL URL from PgServer::new_database()), which init fills.
struct BrokerFixture {
    explicit BrokerFixture(int launch_timeout_seconds = 20,
                           std::function<void(portico::broker::BrokerConfig&)> tweak = {}, std::string database = {});
    // Another broker of `first`'s estate (several brokers on one PostgreSQL database): its state
    // directory (keys, CA, certificate) and database, with `broker_id`.
    BrokerFixture(const BrokerFixture& first, const std::string& broker_id,
                  std::function<void(portico::broker::BrokerConfig&)> tweak = {});
    ~BrokerFixture();
    TempDir dir;
    std::string state;
    std::string database;
    std::string web_root;
    std::unique_ptr<portico::broker::Broker> broker;
    std::uint16_t port = 0;
    std::string broker_cert_sha256;
    std::string enrollment_secret;

private:
    void start(int launch_timeout_seconds, const std::function<void(portico::broker::BrokerConfig&)>& tweak);
};

struct HttpReply {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    nlohmann::json json() const { return nlohmann::json::parse(body); }
};

// One request on a fresh TLS connection (pinned to the broker's certificate); `headers` are added as given.
HttpReply request(const BrokerFixture& b, http::verb method, const std::string& target, const std::string& body = "",
                  const std::string& cookie = "", const std::string& content_type = "application/json",
                  const std::map<std::string, std::string>& headers = {});

// POST of a JSON body on a fresh connection (request() with the body's text).
HttpReply post(const BrokerFixture& b, const std::string& path, const nlohmann::json& body,
               const std::string& cookie = "");
// Checks that r is an API error: this status, a JSON body whose error has this code and a message.
void check_error(const HttpReply& r, int status, const std::string& code);

// What fake hosts register: a display URL nothing listens on, and a certificate pin.
inline const std::string kDisplay = "wss://127.0.0.1:1/display";
inline const std::string kPin = std::string(64, 'a');

// A PEM certificate signing request for host_id (CN), its new P-256 key written to key_path.
std::string csr_for(const std::string& host_id, const std::filesystem::path& key_path);

// Runs the built portico-broker with `args` (shell words): its exit code and its output (both streams).
std::pair<int, std::string> run_broker(const std::string& args);

// Sends a WebSocket upgrade request by hand and returns the HTTP status of the answer (101 when
// accepted), so refusals can be checked by status code.
int upgrade_status(const BrokerFixture& b, const std::string& target);

// Logs in as demo and returns the "portico_session=..." cookie pair.
std::string login(const BrokerFixture& b);
// Logs in as any user (the fixture's admin is "admin" with kPassword).
std::string login_as(const BrokerFixture& b, const std::string& user, const std::string& password = kPassword);

// Opens a TLS WebSocket to the broker; throws on failure (the HTTP response is stored in *res).
std::unique_ptr<WssStream> ws_connect(net::io_context& ioc, std::uint16_t port, const std::string& pinned_sha256,
                                      const std::string& target, websocket::response_type* res = nullptr);

// A session host's control connection, answering start_session on its own thread.
class FakeHost {
public:
    enum class Mode { ready, fail, ignore };
    // client_cert/client_key: register over mutual TLS with this certificate (and no secret).
    FakeHost(const BrokerFixture& b, std::string host_id, std::string display_url, std::string cert_sha256,
             Mode mode = Mode::ready, std::string secret = "", std::string client_cert = "",
             std::string client_key = "", int max_sessions = 4,
             std::optional<std::vector<std::string>> running = std::nullopt);
    ~FakeHost();
    nlohmann::json registered;  // the broker's reply to register
    std::atomic<int> starts{0};
    std::vector<std::string> end_requests() const;
    // end_session: answered with session_ended at once, or (false) left for the test to answer.
    std::atomic<bool> answer_ends{true};
    std::vector<nlohmann::json> start_requests() const;  // every start_session received, in order
    void send(const nlohmann::json& j);
    // thumbnail_request: answered with a tiny JPEG-looking picture whose 5th byte counts the
    // answers (so a test can tell a cached picture from a new one), with thumbnail_failed, or not at all.
    enum class Thumbnails { answer, fail, ignore };
    std::atomic<Thumbnails> thumbnails{Thumbnails::answer};
    std::atomic<int> thumbnail_requests{0};
    std::vector<nlohmann::json> thumbnail_request_msgs() const;

private:
    net::io_context ioc_;
    std::unique_ptr<ssl::context> mtls_ctx_;
    std::unique_ptr<WssStream> ws_;
    std::thread thread_;
    Mode mode_;
    mutable std::mutex mu_;
    std::vector<std::string> ends_;
    std::vector<nlohmann::json> start_msgs_;
    std::vector<nlohmann::json> thumbnail_msgs_;
};

// A host display endpoint: accepts TLS WebSocket connections and answers each binary message
// with the same bytes reversed (so the test can tell the host actually saw it); "big" is answered
// with big_payload(), "bye" makes it close the connection.
class FakeDisplay {
public:
    explicit FakeDisplay(const std::filesystem::path& dir);
    ~FakeDisplay();
    std::string url() const;
    std::string cert_sha256;
    std::atomic<int> connections{0};
    std::atomic<int> closed{0};
    static std::string big_payload();

private:
    void serve();
    net::io_context ioc_;
    ssl::context ctx_;
    tcp::acceptor acceptor_;
    std::atomic<int> current_fd_{-1};
    std::thread thread_;
};

}  // namespace test

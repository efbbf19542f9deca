// HTTPS connection: TLS handshake, then one request at a time (the REST API, static files, or a
// WebSocket upgrade handed to the control or gateway session). Runs on its own strand and never
// touches the store there: every API request that needs it (authentication included) is handed
// to the store executor (or, for a password, to the password workers) and its answer comes back
// onto the strand, where the response is built and written.
// Failures stay inside the connection: a store failure is a 503 + Retry-After (busy) or a 500 JSON
// error from the executor boundary; an exception on the strand is answered with a 500, logged
// once, and the connection closed; it never reaches the io thread.

#include "broker/core.hpp"
#include "broker/net.hpp"
#include "broker/rest_api.hpp"
#include "broker/rest_views.hpp"
#include "common/log.hpp"
#include "common/utf8.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

namespace portico::broker {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kCookieName = "portico_session";
constexpr const char* kApiPrefix = "/api/v1/";
constexpr std::string_view kControlPath = "/api/v1/control";
constexpr std::string_view kGatewayPrefix = "/api/v1/gateway/";

std::string_view path_of(std::string_view target) {
    auto q = target.find_first_of("?#");
    return q == std::string_view::npos ? target : target.substr(0, q);
}

// The WebSocket routes: the hosts' control channel and the display gateway (/gateway/<session id>).
bool is_websocket_path(std::string_view path) {
    return path == kControlPath || (path.rfind(kGatewayPrefix, 0) == 0 && path.size() > kGatewayPrefix.size());
}

// The checks Beast's accept makes beyond websocket::is_upgrade() (which saw GET, HTTP/1.1,
// Connection: upgrade, Upgrade: websocket), made first so that a refused handshake gets a JSON
// error like every other API answer; Beast answers these in plain text without a content type.
Result<void, ApiErrorCode> check_handshake(const Request& req) {
    if (req.count(http::field::host) == 0)
        return ApiError{ApiErrorCode::bad_request, "the upgrade request has no Host"};
    auto key = req.find(http::field::sec_websocket_key);
    if (key == req.end() || key->value().size() > 24)  // 24: base64 of the 16-byte nonce (RFC 6455 4.1)
        return ApiError{ApiErrorCode::bad_request, "the upgrade request needs a Sec-WebSocket-Key"};
    if (req[http::field::sec_websocket_version] != "13")
        return ApiError{ApiErrorCode::upgrade_required, "only WebSocket version 13 is spoken here"};
    return {};
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string trim(std::string_view s) {
    auto b = s.find_first_not_of(" \t");
    if (b == std::string_view::npos) return {};
    auto e = s.find_last_not_of(" \t");
    return std::string(s.substr(b, e - b + 1));
}

std::string cookie_token(const Request& req) {
    auto it = req.find(http::field::cookie);
    if (it == req.end()) return {};
    std::string_view all = it->value();
    while (!all.empty()) {
        auto semi = all.find(';');
        auto part = trim(all.substr(0, semi));
        auto eq = part.find('=');
        if (eq != std::string::npos && part.substr(0, eq) == kCookieName) return part.substr(eq + 1);
        if (semi == std::string_view::npos) break;
        all.remove_prefix(semi + 1);
    }
    return {};
}

bool is_json_content(const Request& req) {
    auto it = req.find(http::field::content_type);
    if (it == req.end()) return false;
    std::string_view v = it->value();
    return lower(trim(v.substr(0, v.find(';')))) == "application/json";
}

std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
            !std::isxdigit(static_cast<unsigned char>(s[i + 2])))
            return std::nullopt;
        out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
        i += 2;
    }
    return out;
}

std::map<std::string, std::string> query_of(std::string_view target) {
    std::map<std::string, std::string> out;
    auto q = target.find('?');
    if (q == std::string_view::npos) return out;
    auto rest = target.substr(q + 1);
    if (auto h = rest.find('#'); h != std::string_view::npos) rest = rest.substr(0, h);
    while (!rest.empty()) {
        auto amp = rest.find('&');
        auto part = rest.substr(0, amp);
        auto eq = part.find('=');
        auto k = percent_decode(part.substr(0, eq));
        auto v = percent_decode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1));
        if (k && v && !k->empty()) out[*k] = *v;
        if (amp == std::string_view::npos) break;
        rest.remove_prefix(amp + 1);
    }
    return out;
}

const char* content_type_for(const fs::path& p) {
    auto ext = lower(p.extension().string());
    if (ext == ".html") return "text/html; charset=utf-8";
    if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
    if (ext == ".css") return "text/css; charset=utf-8";
    if (ext == ".png") return "image/png";
    if (ext == ".svg") return "image/svg+xml";
    if (ext == ".ico") return "image/x-icon";
    if (ext == ".json") return "application/json";
    return nullptr;
}

// Maps a URL path into the web root, or nothing. Only plain names: no "..", no hidden files,
// no backslashes or NULs, after percent-decoding (so "%2e%2e" is caught too).
std::optional<fs::path> static_file(const std::string& web_root, std::string_view url_path) {
    if (web_root.empty()) return std::nullopt;
    auto decoded = percent_decode(url_path);
    if (!decoded || decoded->empty() || (*decoded)[0] != '/') return std::nullopt;
    if (*decoded == "/") decoded = "/index.html";
    if (decoded->find('\0') != std::string::npos || decoded->find('\\') != std::string::npos) return std::nullopt;
    fs::path rel;
    std::string_view rest(*decoded);
    rest.remove_prefix(1);
    while (true) {
        auto slash = rest.find('/');
        auto seg = rest.substr(0, slash);
        if (seg.empty() || seg[0] == '.') return std::nullopt;
        rel /= std::string(seg);
        if (slash == std::string_view::npos) break;
        rest.remove_prefix(slash + 1);
    }
    std::error_code ec;
    auto root = fs::canonical(web_root, ec);
    if (ec) return std::nullopt;
    auto full = fs::canonical(root / rel, ec);
    if (ec || !fs::is_regular_file(full, ec)) return std::nullopt;
    // Symlinks inside the web root must not lead out of it.
    auto [r, f] = std::mismatch(root.begin(), root.end(), full.begin(), full.end());
    if (r != root.end()) return std::nullopt;
    if (!content_type_for(full)) return std::nullopt;
    return full;
}

class HttpSession : public std::enable_shared_from_this<HttpSession> {
public:
    HttpSession(tcp::socket socket, Core& core, ConnectionSlot slot, std::string client)
        : stream_(std::move(socket), core.server_tls()), core_(core), slot_(std::move(slot)), peer_(std::move(client)) {
        if (!peer_.empty()) return;
        boost::system::error_code ec;
        auto ep = stream_.tcp().socket().remote_endpoint(ec);
        peer_ = ec ? std::string("?") : ep.address().to_string();
    }

    void run() {
        net::dispatch(stream_.get_executor(),
                      beast::bind_front_handler(&HttpSession::do_handshake, shared_from_this()));
    }

private:
    void do_handshake() {
        stream_.tcp().expires_after(std::chrono::seconds(10));
        stream_.async_tls_handshake(ssl::stream_base::server,
                                    beast::bind_front_handler(&HttpSession::on_handshake, shared_from_this()));
    }

    void on_handshake(beast::error_code ec) {
        if (ec) {
            log::debug("TLS handshake from ", peer_, " failed: ", ec.message());
            return;
        }
        do_read();
    }

    void do_read() {
        head_ = false;  // until handle() sees this request's method
        parser_.emplace();
        parser_->body_limit(kMaxHttpBody);
        parser_->header_limit(16 * 1024);
        stream_.tcp().expires_after(std::chrono::seconds(60));
        stream_.async_read_request(buffer_, *parser_,
                                   beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec == http::error::end_of_stream) return do_close();
        if (ec == http::error::body_limit) {
            keep_alive_ = false;
            // The client is still sending the body. Closing with unread data makes TCP reset the
            // connection, and the client may lose our answer; so read and discard what it declared
            // (bounded) before closing, like a web server's lingering close.
            auto declared = parser_->content_length().value_or(0);
            linger_bytes_ = std::min<std::uint64_t>(declared, kMaxLingerBytes);
            linger_bytes_ -= std::min<std::uint64_t>(linger_bytes_, buffer_.size());
            buffer_.consume(buffer_.size());
            return send(error_response(ApiError{ApiErrorCode::too_large, "request body larger than 64 KiB"}, true));
        }
        if (ec) return;  // timeouts, resets, garbage: nothing useful to answer
        Request req = parser_->release();
        keep_alive_ = req.keep_alive();
        version_ = req.version();

        const std::string target = utf8_prefix(req.target(), 200);
        try {
            if (websocket::is_upgrade(req)) return upgrade(std::move(req));
            handle(std::move(req));
        } catch (const StoreBusy& e) {
            log::error("request ", target, " from ", peer_, ": ", e.what());
            fail_request(ApiError{ApiErrorCode::busy, "the broker's database is busy; try again"});
        } catch (const std::exception& e) {
            log::error("request ", target, " from ", peer_, " failed: ", e.what());
            fail_request(ApiError{ApiErrorCode::internal, "internal error"});
        }
    }

    // The last answer of a connection whose request failed unexpectedly. Nothing is sent if the
    // connection was handed to a WebSocket session or an answer is already being written.
    void fail_request(const ApiError& e) {
        if (upgraded_ || res_) return;
        keep_alive_ = false;
        try {
            send(error_response(e, true));
        } catch (const std::exception& again) {
            log::error("cannot answer ", peer_, ": ", again.what());
        }
    }

    void upgrade(Request req) {
        auto path = std::string(path_of(req.target()));
        keep_alive_ = false;  // for the refusals below: the client expected another protocol
        if (!is_websocket_path(path))
            return send(error_response(ApiError{ApiErrorCode::not_found, "no WebSocket endpoint here"}, true));
        if (auto ok = check_handshake(req); !ok) return send(websocket_refusal(ok.error()));
        if (path == kControlPath) {
            stream_.tcp().expires_never();
            upgraded_ = true;
            return start_control_session(std::move(stream_), std::move(req), core_, peer_, std::move(slot_));
        }
        auto sid = path.substr(kGatewayPrefix.size());
        on_store<HostInfo>(
            "gateway", [core = &core_, sid] { return core->hosts().gateway_target(sid); },
            [sid, req = std::move(req)](HttpSession& self, Result<HostInfo, ApiErrorCode> target) mutable {
                if (!target) return self.send(self.error_response(target.error(), true));
                self.stream_.tcp().expires_never();
                self.upgraded_ = true;
                start_gateway_session(std::move(self.stream_), std::move(req), self.core_, std::move(target.value()),
                                      sid, std::move(self.slot_));
            });
    }

    // Runs `work` (store work, -> Result<T, ApiErrorCode>) on the store executor and then
    // `done(*this, result)` back on this connection's strand.
    template <class T, class Work, class Done>
    void on_store(const char* what, Work work, Done done) {
        core_.store_jobs().run<T>(what, stream_.get_executor(), std::move(work), answer_with<T>(std::move(done)));
    }

    // The same through the password workers (work that hashes a password).
    template <class T, class Work, class Done>
    void on_password_worker(const char* what, Work work, Done done) {
        run_guarded_on<T>(core_.identity().password_workers(), what, stream_.get_executor(), std::move(work),
                          answer_with<T>(std::move(done)));
    }

    // Wraps a completion that runs on the strand: it keeps the connection alive, and an exception
    // from it ends this request with a 500 instead of reaching the io thread.
    template <class T, class Done>
    auto answer_with(Done done) {
        return [self = shared_from_this(), done = std::move(done)](Result<T, ApiErrorCode> r) mutable {
            try {
                done(*self, std::move(r));
            } catch (const std::exception& e) {
                log::error("answering ", self->peer_, " failed: ", e.what());
                self->fail_request(ApiError{ApiErrorCode::internal, "internal error"});
            }
        };
    }

    // An API answer: a JSON body, or the error's status and body.
    void answer(Result<json, ApiErrorCode> r, http::status status = http::status::ok) {
        send(r ? json_response(status, r.value()) : error_response(r.error(), true));
    }

    // For results computed on other threads (a launch's callback): `done(*this, r)` back on this
    // connection's strand, where the response is built.
    template <class T, class Done>
    void deliver(Result<T, ApiErrorCode> r, Done done) {
        net::post(stream_.get_executor(),
                  [handler = answer_with<T>(std::move(done)), r = std::move(r)]() mutable { handler(std::move(r)); });
    }

    void answer_later(Result<json, ApiErrorCode> r) {
        deliver<json>(std::move(r), [](HttpSession& self, Result<json, ApiErrorCode> r) { self.answer(std::move(r)); });
    }

    // A refused WebSocket handshake; a 426 names the protocol and version to use (RFC 9110 15.5.22,
    // RFC 6455 4.4).
    Response websocket_refusal(const ApiError& e) {
        auto res = error_response(e, true);
        if (e.code == ApiErrorCode::upgrade_required) {
            res.set(http::field::upgrade, "websocket");
            res.set(http::field::sec_websocket_version, "13");
            res.set(http::field::connection, "upgrade");  // a server sending Upgrade lists it in Connection
            res.keep_alive(keep_alive_);                  // and adds "close" when it closes
        }
        return res;
    }

    // ---- responses ----

    Response make_response(http::status status, bool api) {
        Response res{status, version_};
        res.set(http::field::server, "portico-broker");
        add_security_headers(res);
        if (api) res.set(http::field::cache_control, "no-store");
        res.keep_alive(keep_alive_);
        return res;
    }

    Response json_response(http::status status, const json& body) {
        auto res = make_response(status, true);
        res.set(http::field::content_type, "application/json");
        res.body() = json_text(body);
        res.prepare_payload();
        return res;
    }

    // retry_after_seconds: for 429/503 answers (at least 1 s is sent when not given).
    Response error_response(const ApiError& e, bool api, int retry_after_seconds = 0) {
        auto res = make_response(http_status(e.code), api);
        res.set(http::field::content_type, "application/json");
        if (wants_retry_after(e.code))
            res.set(http::field::retry_after, std::to_string(std::max(1, retry_after_seconds)));
        res.body() = error_body(e);
        res.prepare_payload();
        return res;
    }

    Response download_response(const TextDownload& d) {
        auto res = make_response(http::status::ok, true);
        res.set(http::field::content_type, d.content_type);
        res.set(http::field::content_disposition, "attachment; filename=\"" + d.filename + "\"");
        res.body() = d.text;
        res.prepare_payload();
        return res;
    }

    Response no_content() {
        auto res = make_response(http::status::no_content, true);
        res.prepare_payload();
        return res;
    }

    void send(Response res) {
        // The answer to HEAD is the GET answer's status and headers (Content-Length included)
        // without its body: a body there would be read as the start of the next response.
        if (head_) res.body().clear();
        res_ = std::make_shared<Response>(std::move(res));
        stream_.async_write_response(res_, beast::bind_front_handler(&HttpSession::on_write, shared_from_this()));
    }

    void on_write(beast::error_code ec, std::size_t) {
        if (ec) return;
        bool close = res_->need_eof();
        res_.reset();
        if (close) return linger_bytes_ > 0 ? do_linger() : do_close();
        do_read();
    }

    void do_linger() {
        stream_.tcp().expires_after(std::chrono::seconds(5));
        auto chunk = std::min<std::uint64_t>(linger_bytes_, sizeof(scratch_));
        stream_.async_read_some(net::buffer(scratch_, chunk),
                                [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                                    self->linger_bytes_ -= std::min<std::uint64_t>(self->linger_bytes_, n);
                                    if (ec || self->linger_bytes_ == 0) return self->do_close();
                                    self->do_linger();
                                });
    }

    void do_close() {
        stream_.tcp().expires_after(std::chrono::seconds(5));
        stream_.async_tls_shutdown([self = shared_from_this()](beast::error_code) {});
    }

    // ---- routing ----

    void handle(Request req) {
        // HEAD is GET without the body (RFC 9110 9.3.2): routed as GET; send() drops the body.
        head_ = req.method() == http::verb::head;
        if (head_) req.method(http::verb::get);
        auto path = std::string(path_of(req.target()));
        if (path.rfind("/api/", 0) == 0) return handle_api(std::move(req), path);
        if (path == "/metrics") return handle_metrics(req);
        if (req.method() != http::verb::get)
            return send(error_response(ApiError{ApiErrorCode::method_not_allowed, "only GET here"}, false));
        if (path == "/console") {
            auto res = make_response(http::status::moved_permanently, false);
            res.set(http::field::location, "/console/");
            res.prepare_payload();
            return send(std::move(res));
        }
        // The admin console has its own root; it imports the display client from the web root.
        auto file = path.rfind("/console/", 0) == 0
                        ? static_file(core_.config().console_root, std::string_view(path).substr(8))
                        : static_file(core_.config().web_root, path);
        if (!file) return send(error_response(ApiError{ApiErrorCode::not_found, "not found"}, false));
        std::ifstream in(*file, std::ios::binary);
        std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (!in.good() && !in.eof())
            return send(error_response(ApiError{ApiErrorCode::internal, "cannot read file"}, false));
        auto res = make_response(http::status::ok, false);
        res.set(http::field::content_type, content_type_for(*file));
        res.set(http::field::cache_control, "no-cache");
        res.body() = std::move(body);
        res.prepare_payload();
        send(std::move(res));
    }

    void handle_api(Request req, const std::string& path) {
        auto fail = [this](ApiErrorCode c, std::string msg) {
            send(error_response(ApiError{c, std::move(msg)}, true));
        };
        const auto method = req.method();
        const bool changes_state = method == http::verb::post || method == http::verb::delete_ ||
                                   method == http::verb::put || method == http::verb::patch;
        // Cross-site HTML forms cannot send this content type without a CORS preflight we never grant.
        if (changes_state && !is_json_content(req))
            return fail(ApiErrorCode::csrf, "state-changing requests must be sent as application/json");

        if (path.rfind(kApiPrefix, 0) != 0) return fail(ApiErrorCode::not_found, "no such API endpoint");
        std::vector<std::string> segments;
        {
            std::string_view rest(path);
            rest.remove_prefix(std::string_view(kApiPrefix).size());
            while (true) {
                auto slash = rest.find('/');
                auto seg = percent_decode(rest.substr(0, slash));
                if (!seg || seg->empty() || seg->size() > 256)
                    return fail(ApiErrorCode::not_found, "no such API endpoint");
                segments.push_back(std::move(*seg));
                if (slash == std::string_view::npos) break;
                rest.remove_prefix(slash + 1);
            }
        }
        auto want = [&](http::verb v) {
            if (method == v) return true;
            fail(ApiErrorCode::method_not_allowed, "method not allowed");
            return false;
        };
        if (is_websocket_path(path)) {  // a plain request to a WebSocket route (upgrades went to upgrade())
            if (!want(http::verb::get)) return;
            return send(websocket_refusal(ApiError{ApiErrorCode::upgrade_required,
                                                   "this is a WebSocket endpoint: send a WebSocket upgrade request"}));
        }
        const auto& route = segments[0];
        if (segments.size() == 1 && route == "health") {
            if (!want(http::verb::get)) return;
            return health();
        }
        if (segments.size() == 1 && route == "login") {
            if (want(http::verb::post)) do_login(req);
            return;
        }
        if (segments.size() == 1 && route == "logout") {
            if (!want(http::verb::post)) return;
            return on_store<bool>(
                "logout",
                [core = &core_, token = cookie_token(req), peer = peer_] {
                    core->identity().logout(token, peer);
                    return Result<bool, ApiErrorCode>(true);
                },
                [](HttpSession& self, Result<bool, ApiErrorCode> r) {
                    if (!r) return self.send(self.error_response(r.error(), true));
                    auto res = self.no_content();
                    res.set(http::field::set_cookie,
                            std::string(kCookieName) + "=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0");
                    self.send(std::move(res));
                });
        }
        if (segments.size() == 1 && route == "enroll") {
            if (!want(http::verb::post)) return;
            auto body = parse_body(req.body(), {{"token", FieldType::string, true},
                                                {"host_id", FieldType::string, true},
                                                {"csr_pem", FieldType::string, true}});
            if (!body) return send(error_response(body.error(), true));
            auto host_id = body.value()["host_id"].get<std::string>();
            if (!valid_name(host_id, 128))
                return fail(ApiErrorCode::bad_request, "field 'host_id' must be a valid host id");
            return on_store<json>(
                "enroll",
                [core = &core_, token = body.value()["token"].get<std::string>(), host_id,
                 csr = body.value()["csr_pem"].get<std::string>(), peer = peer_]() -> Result<json, ApiErrorCode> {
                    auto r = core->enrollment().enroll(token, host_id, csr, peer);
                    if (!r) return r.error();
                    return enrolled_json(r.value());
                },
                [](HttpSession& self, Result<json, ApiErrorCode> r) { self.answer(std::move(r)); });
        }
        if (segments.size() == 3 && route == "sessions" && segments[2] == "thumbnail")
            return thumbnail(cookie_token(req), method, segments[1]);
        if (segments.size() == 2 && route == "launch-files" && segments[1] == "redeem") {
            if (!want(http::verb::post)) return;
            return redeem_launch_file(std::move(req));
        }
        const bool is_launch = segments.size() == 1 && route == "launch";
        if (!is_launch && !is_rest_route(segments)) return fail(ApiErrorCode::not_found, "no such API endpoint");
        if (is_launch) return launch(std::move(req));

        RestRequest rr{method, std::move(segments), query_of(req.target()), std::move(req.body()),
                       std::string(req[http::field::host])};
        const bool hashes = rest_hashes_password(rr);
        auto work = [core = &core_, token = cookie_token(req), peer = peer_,
                     rr = std::move(rr)]() -> Result<RestReply, ApiErrorCode> {
            auto principal = core->identity().authenticate(token);
            if (!principal) return Error<ApiErrorCode>{ApiErrorCode::unauthenticated, "log in first"};
            return handle_rest(*core, Caller{principal->name, principal->role, peer}, rr);
        };
        auto done = [](HttpSession& self, Result<RestReply, ApiErrorCode> r) {
            if (!r) return self.send(self.error_response(r.error(), true));
            if (r.value().download) return self.send(self.download_response(*r.value().download));
            if (!r.value().body) return self.send(self.no_content());
            self.send(self.json_response(r.value().status, *r.value().body));
        };
        if (hashes) return on_password_worker<RestReply>("REST", std::move(work), std::move(done));
        on_store<RestReply>("REST", std::move(work), std::move(done));
    }

    // The screen a launch asks for (width, height, scale of a /launch or /launch-files/redeem
    // body), checked against the broker's policy.
    struct ScreenAsked {
        int width = 1280, height = 800;
        double scale = 1.0;
    };
    static Result<ScreenAsked, ApiErrorCode> screen_asked(Core& core, const json& b) {
        auto width = b.value("width", std::int64_t{1280}), height = b.value("height", std::int64_t{800});
        if (width < 64 || height < 64)
            return ApiError{ApiErrorCode::bad_request, "width and height must be at least 64"};
        // The broker's policy caps the screen: Xvfb allocates the whole framebuffer up front.
        if (auto ok = core.launches().check_screen(width, height); !ok) return ok.error();
        const double scale = b.value("scale", 1.0);
        if (!(scale >= protocol::control::kMinScale && scale <= protocol::control::kMaxScale))
            return ApiError{ApiErrorCode::bad_request, "scale must be within 1..4"};
        return ScreenAsked{static_cast<int>(width), static_cast<int>(height), scale};
    }

    // POST /launch: authentication, the body and the screen policy are checked in that order (a
    // caller who is not logged in hears 401 whatever the body), then the launch starts; its answer
    // comes when the host has started the session (or at once for a reconnect or a refusal).
    // Authentication and the launch's reads run where Core::post_launch_read puts them (a launch
    // reader on PostgreSQL, the store thread on SQLite); the launch decides on the store thread.
    void launch(Request req) {
        core_.post_launch_read([self = shared_from_this(), token = cookie_token(req), method = req.method(),
                                body = std::move(req.body())]() mutable {
            auto& core = self->core_;
            try {
                auto principal = core.identity().authenticate(token);
                if (!principal) return self->answer_later(ApiError{ApiErrorCode::unauthenticated, "log in first"});
                if (method != http::verb::post)
                    return self->answer_later(ApiError{ApiErrorCode::method_not_allowed, "method not allowed"});
                auto parsed = parse_body(body, {{"resource", FieldType::string, true},
                                                {"width", FieldType::integer},
                                                {"height", FieldType::integer},
                                                {"scale", FieldType::number}});
                if (!parsed) return self->answer_later(parsed.error());
                auto screen = screen_asked(core, parsed.value());
                if (!screen) return self->answer_later(screen.error());
                Caller caller{principal->name, principal->role, self->peer_};
                auto read = core.launches().read_launch(caller, parsed.value()["resource"].get<std::string>());
                const bool here = core.store_jobs().on_store_thread();
                read.read_on_store_thread = here;  // (SQLite) then nothing runs between the halves
                auto decide = [self, caller, read = std::move(read), screen = *screen]() mutable {
                    // launch() contains its own failures and calls back exactly once.
                    self->core_.launches().launch(caller, std::move(read), screen.width, screen.height, screen.scale,
                                                  [self](Result<LaunchTicket, ApiErrorCode> r) {
                                                      self->deliver<LaunchTicket>(
                                                          std::move(r),
                                                          [](HttpSession& s, Result<LaunchTicket, ApiErrorCode> t) {
                                                              if (!t) return s.answer(t.error());
                                                              s.answer(launch_json(t.value()));
                                                          });
                                                  });
                };
                if (here)
                    decide();
                else
                    core.store_jobs().post("launch", std::move(decide));
            } catch (const StoreBusy& e) {
                log::error("launch: the store is busy: ", e.what());
                self->answer_later(ApiError{ApiErrorCode::busy, "the broker's database is busy; try again"});
            } catch (const std::exception& e) {
                log::error("launch: ", e.what());
                self->answer_later(ApiError{ApiErrorCode::internal, "internal error"});
            }
        });
    }

    // POST /launch-files/redeem: a launch file's token instead of a login. The body is checked
    // first, then the token is used up (LaunchFiles::redeem), then a login session is opened for
    // the file's user and the launch runs as that user, exactly as POST /launch does; the answer
    // is the launch's, with the resource id and the session cookie (for the client's later
    // reconnects and log off).
    void redeem_launch_file(Request req) {
        auto parsed = parse_body(req.body(), {{"token", FieldType::string, true},
                                              {"width", FieldType::integer},
                                              {"height", FieldType::integer},
                                              {"scale", FieldType::number}});
        if (!parsed) return send(error_response(parsed.error(), true));
        core_.store_jobs().post("redeem", [self = shared_from_this(), b = std::move(parsed.value())]() mutable {
            auto& core = self->core_;
            try {
                auto screen = screen_asked(core, b);
                if (!screen) return self->answer_later(screen.error());
                auto redeemed = core.launch_files().redeem(b["token"].get<std::string>(), self->peer_);
                if (!redeemed) return self->answer_later(redeemed.error());
                auto login = core.identity().open_session(redeemed->user);
                Caller caller{redeemed->user.name, redeemed->user.role, self->peer_};
                core.launches().launch(
                    caller, redeemed->resource, screen->width, screen->height, screen->scale, redeemed->session_id,
                    [self, cookie = login.token, resource = redeemed->resource](Result<LaunchTicket, ApiErrorCode> r) {
                        self->deliver<LaunchTicket>(std::move(r), [cookie, resource](HttpSession& s, auto t) {
                            if (!t) return s.answer(t.error());
                            auto j = launch_json(t.value());
                            j["resource"] = resource;
                            auto res = s.json_response(http::status::ok, j);
                            res.set(http::field::set_cookie, login_cookie(cookie));
                            s.send(std::move(res));
                        });
                    });
            } catch (const StoreBusy& e) {
                log::error("redeem: the store is busy: ", e.what());
                self->answer_later(ApiError{ApiErrorCode::busy, "the broker's database is busy; try again"});
            } catch (const std::exception& e) {
                log::error("redeem: ", e.what());
                self->answer_later(ApiError{ApiErrorCode::internal, "internal error"});
            }
        });
    }

    static std::string login_cookie(const std::string& token) {
        return std::string(kCookieName) + "=" + token +
               "; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=" + std::to_string(Identity::kLoginSessionSeconds);
    }

    // GET /sessions/{id}/thumbnail: a JPEG of the session's screen, asked of its host (Thumbnails:
    // shared with other requests within a short time, 504 when the host is silent).
    void thumbnail(std::string token, http::verb method, std::string session_id) {
        core_.store_jobs().post("thumbnail", [self = shared_from_this(), token = std::move(token), method,
                                              sid = std::move(session_id)] {
            auto& core = self->core_;
            try {
                auto principal = core.identity().authenticate(token);
                if (!principal) return self->answer_later(ApiError{ApiErrorCode::unauthenticated, "log in first"});
                if (method != http::verb::get)
                    return self->answer_later(ApiError{ApiErrorCode::method_not_allowed, "method not allowed"});
                core.thumbnails().get(Caller{principal->name, principal->role, self->peer_}, sid,
                                      [self](Result<Thumbnails::Jpeg, ApiErrorCode> r) {
                                          self->deliver<Thumbnails::Jpeg>(std::move(r), [](HttpSession& s, auto jpeg) {
                                              if (!jpeg) return s.answer(jpeg.error());
                                              auto res = s.make_response(http::status::ok, true);  // no-store
                                              res.set(http::field::content_type, "image/jpeg");
                                              res.body() = *jpeg.value();
                                              res.prepare_payload();
                                              s.send(std::move(res));
                                          });
                                      });
            } catch (const StoreBusy& e) {
                log::error("thumbnail: the store is busy: ", e.what());
                self->answer_later(ApiError{ApiErrorCode::busy, "the broker's database is busy; try again"});
            } catch (const std::exception& e) {
                log::error("thumbnail: ", e.what());
                self->answer_later(ApiError{ApiErrorCode::internal, "internal error"});
            }
        });
    }

    // For load balancers (deploy/haproxy): 200 while this broker answers and its store does.
    // Unauthenticated, and it says nothing an outsider could use beyond the broker's name.
    void health() {
        on_store<json>(
            "health",
            [core = &core_]() -> Result<json, ApiErrorCode> {
                core->store().schema_version();  // a round trip to the database
                return json{{"status", "ok"}, {"broker_id", core->cluster().broker_id()}};
            },
            [](HttpSession& self, Result<json, ApiErrorCode> r) {
                if (!r) {
                    // Whatever failed, the answer to a balancer is "not now".
                    return self.send(self.error_response(ApiError{ApiErrorCode::busy, r.error().message}, true, 1));
                }
                auto res = self.json_response(http::status::ok, r.value());
                res.set(http::field::cache_control, "no-store");
                self.send(std::move(res));
            });
    }

    void handle_metrics(const Request& req) {
        if (req.method() != http::verb::get)
            return send(error_response(ApiError{ApiErrorCode::method_not_allowed, "only GET here"}, true));
        on_store<std::string>(
            "metrics",
            [core = &core_, authorization = std::string(req[http::field::authorization]),
             token = cookie_token(req)]() -> Result<std::string, ApiErrorCode> {
                if (auto ok = core->identity().metrics_access(authorization, token); !ok) return ok.error();
                return core->metrics_text();
            },
            [](HttpSession& self, Result<std::string, ApiErrorCode> text) {
                if (!text) {
                    auto res = self.error_response(text.error(), true);
                    if (text.error().code == ApiErrorCode::unauthenticated)
                        res.set(http::field::www_authenticate, "Bearer realm=\"portico-metrics\"");
                    return self.send(std::move(res));
                }
                auto res = self.make_response(http::status::ok, true);
                res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
                res.body() = std::move(text.value());
                res.prepare_payload();
                self.send(std::move(res));
            });
    }

    void do_login(const Request& req) {
        auto body =
            parse_body(req.body(), {{"username", FieldType::string, true}, {"password", FieldType::string, true}});
        auto str_field = [&](const char* k) {
            const auto& v = body.value()[k].get_ref<const std::string&>();
            return !v.empty() && v.size() <= 1024;
        };
        if (!body || !str_field("username") || !str_field("password"))
            return send(error_response(
                ApiError{ApiErrorCode::bad_request, "expected {\"username\": string, \"password\": string}"}, true));
        auto user = body.value()["username"].get<std::string>();
        // Called at once (refused) or from a password worker: the response is built on the strand.
        core_.identity().login(
            user, body.value()["password"].get<std::string>(), peer_,
            [self = shared_from_this(), user](Result<Identity::LoginOk, ApiErrorCode> r, int retry_after) {
                net::post(self->stream_.get_executor(), [self, user, r = std::move(r), retry_after] {
                    if (!r) return self->send(self->error_response(r.error(), true, retry_after));
                    auto res =
                        self->json_response(http::status::ok, {{"user", user}, {"role", to_string(r.value().role)}});
                    res.set(http::field::set_cookie, login_cookie(r.value().token));
                    self->send(std::move(res));
                });
            });
    }

    WssStream stream_;  // TLS for HTTP requests; a WebSocket once upgraded (then moved to its session)
    Core& core_;
    ConnectionSlot slot_;    // counts this connection against the broker's caps until it ends
    bool upgraded_ = false;  // stream_ now belongs to a WebSocket session
    std::string peer_;
    beast::flat_buffer buffer_;
    std::optional<WssStream::RequestParser> parser_;
    std::shared_ptr<Response> res_;
    bool keep_alive_ = true;
    bool head_ = false;  // the request being answered is a HEAD
    unsigned version_ = 11;
    // Lingering close after refusing an oversized body: at most this much is read and dropped.
    static constexpr std::uint64_t kMaxLingerBytes = 1 << 20;
    std::uint64_t linger_bytes_ = 0;
    char scratch_[16 * 1024];
};

}  // namespace

void add_security_headers(Response& res) {
    res.set("Content-Security-Policy",
            "default-src 'self'; img-src 'self' blob:; connect-src 'self' wss:; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'; form-action 'self'");
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Referrer-Policy", "no-referrer");
    res.set("X-Frame-Options", "DENY");
    res.set(http::field::strict_transport_security, kHstsValue);
}

void start_http_session(tcp::socket socket, Core& core, ConnectionSlot slot, std::string client) {
    std::make_shared<HttpSession>(std::move(socket), core, std::move(slot), std::move(client))->run();
}

}  // namespace portico::broker

#include "session-host/net/display_server.hpp"

#include "common/crypto.hpp"
#include "common/log.hpp"
#include "common/ws_write_queue.hpp"
#include "common/wss_stream.hpp"
#include "protocol/display.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <openssl/crypto.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <string_view>

namespace portico::host {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

// A connection as the server's presence bookkeeping sees it (so the broker and the session's
// owner can be told).
class PresenceMember {
public:
    virtual ~PresenceMember() = default;
    virtual void kick() = 0;  // close the connection, any thread
    // Queues a message that is not a frame (a ShadowNotice) on an owner's connection; any thread,
    // never blocks. A connection too backed up to take it is closed: its user must not be watched
    // without being told.
    virtual void notify(Bytes message) = 0;
};

struct DisplayServer::Shared {
    Shared(ssl::context& c, SessionDirectory& s, Limits l) : ssl_ctx(c), sessions(s), limits(l) {}
    ssl::context& ssl_ctx;
    SessionDirectory& sessions;
    const Limits limits;
    std::mutex mu;
    std::shared_ptr<protocol::TicketVerifier> verifier;
    std::function<void(const std::string&, bool)> on_presence;
    std::string metrics_token;  // empty: GET /metrics is not served
    std::function<std::string()> metrics_render;

    std::atomic<std::uint64_t> refused{0}, accept_failures{0}, shadow_dropped{0};

    // Open connections, in total and by peer address (guarded by conn_mu).
    std::mutex conn_mu;
    std::size_t open = 0;
    std::map<std::string, std::size_t> per_address;
    std::uint64_t refused_unlogged = 0;  // refusals since the last log line (they come in floods)
    std::chrono::steady_clock::time_point refusal_logged{};

    // Takes a connection slot for `address`; false (and the refusal counted) over a limit.
    bool admit(const std::string& address) {
        std::lock_guard lk(conn_mu);
        auto& mine = per_address[address];
        if (open >= limits.max_connections || mine >= limits.max_per_address) {
            const bool total = open >= limits.max_connections;
            if (mine == 0) per_address.erase(address);
            ++refused;
            ++refused_unlogged;
            auto now = std::chrono::steady_clock::now();
            if (now - refusal_logged >= std::chrono::seconds(10)) {
                log::warn("display: refused ", refused_unlogged, " connection(s) in the last 10 s; latest from ",
                          address,
                          total ? ": " + std::to_string(open) + " connections open (limit " +
                                      std::to_string(limits.max_connections) + ")"
                                : ": that address has " + std::to_string(mine) + " open (limit " +
                                      std::to_string(limits.max_per_address) + ")");
                refusal_logged = now;
                refused_unlogged = 0;
            }
            return false;
        }
        ++open;
        ++mine;
        return true;
    }
    void release(const std::string& address) {
        std::lock_guard lk(conn_mu);
        --open;
        auto it = per_address.find(address);
        if (it != per_address.end() && --it->second == 0) per_address.erase(it);
    }

    struct Member {
        std::weak_ptr<PresenceMember> conn;
        const PresenceMember* id = nullptr;
        bool owner = false;
        std::string name;  // who watches, for shadows
    };
    struct Presence {
        int owners = 0;
        std::chrono::steady_clock::time_point last_input = std::chrono::steady_clock::now();
        std::vector<Member> members;  // owners and shadows
    };
    std::map<std::string, Presence> presence;  // guarded by mu

    std::shared_ptr<protocol::TicketVerifier> get_verifier() {
        std::lock_guard lk(mu);
        return verifier;
    }
    std::pair<std::string, std::function<std::string()>> metrics() {
        std::lock_guard lk(mu);
        return {metrics_token, metrics_render};
    }

    // Who watches the session now, as its owner is told. Caller holds mu.
    static Bytes shadow_notice_locked(const Presence& p) {
        protocol::ShadowNotice n;
        for (const auto& m : p.members) {
            if (m.owner) continue;
            if (n.count < 0xffff) ++n.count;
            // One name per connection (clients say a repeated name once), the first 16 of them.
            if (n.names.size() < protocol::kMaxShadowNames) n.names.push_back(m.name);
        }
        return std::make_shared<const std::vector<std::uint8_t>>(protocol::encode(n));
    }
    // Tells every owner of the session who watches. Caller holds mu, so notices leave in the order
    // the changes happened (notify only posts to each connection's strand).
    static void tell_owners_locked(const Presence& p) {
        auto notice = shadow_notice_locked(p);
        for (const auto& m : p.members)
            if (m.owner)
                if (auto c = m.conn.lock()) c->notify(notice);
    }

    void joined(const std::string& sid, const std::shared_ptr<PresenceMember>& m, bool owner, const std::string& name) {
        bool first = false;
        std::function<void(const std::string&, bool)> fn;
        {
            std::lock_guard lk(mu);
            auto& p = presence[sid];
            p.members.push_back(Member{m, m.get(), owner, name});
            if (owner) {
                first = ++p.owners == 1;
                p.last_input = std::chrono::steady_clock::now();
                // A user who (re)connects while someone watches learns it at once.
                if (p.members.size() > static_cast<std::size_t>(p.owners)) m->notify(shadow_notice_locked(p));
            } else {
                tell_owners_locked(p);
            }
            fn = on_presence;
        }
        if (first && fn) fn(sid, true);
    }

    void left(const std::string& sid, const PresenceMember* m, bool owner) {
        bool last = false;
        std::function<void(const std::string&, bool)> fn;
        {
            std::lock_guard lk(mu);
            auto it = presence.find(sid);
            if (it == presence.end()) return;
            auto& members = it->second.members;
            const auto before = members.size();
            members.erase(std::remove_if(members.begin(), members.end(),
                                         [&](const Member& w) { return w.id == m || w.conn.expired(); }),
                          members.end());
            if (owner) last = --it->second.owners == 0;
            if (!owner && members.size() != before) tell_owners_locked(it->second);
            if (it->second.owners <= 0 && members.empty()) presence.erase(it);
            fn = on_presence;
        }
        if (last && fn) fn(sid, false);
    }

    void input(const std::string& sid) {
        std::lock_guard lk(mu);
        auto it = presence.find(sid);
        if (it != presence.end()) it->second.last_input = std::chrono::steady_clock::now();
    }
};

namespace {

Bytes encoded(const protocol::Message& m) {
    return std::make_shared<const std::vector<std::uint8_t>>(protocol::encode(m));
}

// Whether an Authorization header carries `token` as a Bearer token. The digests are compared in
// constant time, so neither the token nor its length leaks through the answer's timing.
bool bearer_matches(std::string_view authorization, const std::string& token) {
    constexpr std::string_view prefix = "Bearer ";
    if (token.empty() || authorization.size() <= prefix.size() || authorization.substr(0, prefix.size()) != prefix)
        return false;
    const auto a = crypto::sha256_hex(crypto::bytes_of(authorization.substr(prefix.size())));
    const auto b = crypto::sha256_hex(crypto::bytes_of(token));
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// One display client. All handlers run on the connection's strand; send()/close() may be called
// from a session's capture thread and only post to it.
class DisplayConnection final : public ViewerSink,
                                public PresenceMember,
                                public std::enable_shared_from_this<DisplayConnection> {
public:
    // `address` holds one of the server's connection slots (Shared::admit), given back on destruction.
    DisplayConnection(tcp::socket socket, std::shared_ptr<DisplayServer::Shared> shared, std::string address)
        : shared_(std::move(shared)),
          ws_(std::move(socket), shared_->ssl_ctx),
          hello_timer_(ws_.get_executor()),
          address_(std::move(address)) {
        beast::error_code ec;
        auto ep = ws_.tcp().socket().remote_endpoint(ec);
        peer_ = ec ? std::string("unknown") : ep.address().to_string() + ":" + std::to_string(ep.port());
    }
    ~DisplayConnection() override { shared_->release(address_); }

    void start() {
        net::dispatch(ws_.get_executor(), [self = shared_from_this()] { self->do_handshake(); });
    }

    bool send(Bytes message) override {
        if (closing_.load()) return false;
        if (queued_.fetch_add(1) >= DisplayServer::kSendQueueMax) {
            queued_.fetch_sub(1);
            return false;
        }
        net::post(ws_.get_executor(),
                  [self = shared_from_this(), m = std::move(message)]() mutable { self->enqueue(std::move(m)); });
        return true;
    }

    void close(Bytes last) override {
        net::post(ws_.get_executor(), [self = shared_from_this(), m = std::move(last)]() mutable {
            self->detach_target();  // the session let go of us; do not report back to it
            if (m) {
                self->queued_.fetch_add(1);
                self->enqueue(std::move(m));
            }
            self->begin_close();
        });
    }

    std::string peer() const override { return peer_; }
    std::uint16_t version() const override { return version_; }

    void kick() override {
        net::post(ws_.get_executor(), [self = shared_from_this()] {
            log::info("display: disconnecting ", self->peer_, " (asked by the broker)");
            // A close code of its own, so the client knows not to reconnect by itself.
            self->close_reason_ = {static_cast<websocket::close_code>(protocol::kCloseDisconnectedByAdmin),
                                   "disconnected by an administrator"};
            self->detach_target(true);
            self->begin_close();
        });
    }

    void notify(Bytes message) override {
        if (closing_.load()) return;
        // Like a Pong, a notice may use a few slots beyond the frames' limit.
        if (queued_.fetch_add(1) >= DisplayServer::kSendQueueMax + 4) {
            queued_.fetch_sub(1);
            net::post(ws_.get_executor(), [self = shared_from_this()] {
                log::warn("display: ", self->peer_,
                          " is too far behind to be told who watches its session; disconnecting it");
                self->detach_target(true);
                self->begin_close();
            });
            return;
        }
        net::post(ws_.get_executor(),
                  [self = shared_from_this(), m = std::move(message)]() mutable { self->enqueue(std::move(m)); });
    }

private:
    void do_handshake() {
        ws_.tcp().expires_after(std::chrono::seconds(10));
        ws_.async_tls_handshake(ssl::stream_base::server,
                                beast::bind_front_handler(&DisplayConnection::on_handshake, shared_from_this()));
    }

    void on_handshake(beast::error_code ec) {
        if (ec) return log::debug("display: TLS handshake with ", peer_, " failed: ", ec.message());
        parser_.emplace();
        parser_->header_limit(8 * 1024);
        parser_->body_limit(1024);
        ws_.async_read_request(buffer_, *parser_,
                               beast::bind_front_handler(&DisplayConnection::on_http_read, shared_from_this()));
    }

    void on_http_read(beast::error_code ec, std::size_t) {
        if (ec) return log::debug("display: bad HTTP request from ", peer_, ": ", ec.message());
        auto req = parser_->release();
        std::string_view target = req.target();
        std::string_view path = target.substr(0, target.find('?'));
        if (path == "/metrics" && !websocket::is_upgrade(req)) return serve_metrics(req);
        if (path != "/display" || !websocket::is_upgrade(req)) {
            bool wrong_path = path != "/display";
            log::warn("display: refused plain HTTP request for ", std::string(path), " from ", peer_);
            auto res = std::make_shared<http::response<http::string_body>>(
                wrong_path ? http::status::not_found : http::status::upgrade_required, req.version());
            res->set(http::field::content_type, "text/plain");
            res->set(http::field::connection, "close");
            if (!wrong_path) res->set(http::field::upgrade, "websocket");
            res->body() = wrong_path ? "not found\n" : "this endpoint speaks WebSocket only\n";
            res->prepare_payload();
            ws_.async_write_response(res, [self = shared_from_this()](beast::error_code, std::size_t) {
                self->ws_.async_tls_shutdown([self](beast::error_code) {});
            });
            return;
        }
        ws_.tcp().expires_never();
        ws_.set_timeouts(beast::role_type::server);
        ws_.read_message_max(DisplayServer::kReadMessageMax);
        ws_.binary(true);
        ws_.async_accept(req, beast::bind_front_handler(&DisplayConnection::on_accept, shared_from_this()));
    }

    // GET /metrics (DisplayServer::set_metrics): one answer, then the connection closes. On the strand.
    void serve_metrics(const http::request<http::string_body>& req) {
        auto [token, render] = shared_->metrics();
        auto res = std::make_shared<http::response<http::string_body>>(http::status::ok, req.version());
        res->set(http::field::content_type, "text/plain; charset=utf-8");
        res->set(http::field::connection, "close");
        res->set(http::field::cache_control, "no-store");
        if (token.empty() || !render) {
            // Not configured: the same answer as any path this endpoint does not serve.
            log::warn("display: refused plain HTTP request for /metrics from ", peer_, " (no --metrics-token-file)");
            res->result(http::status::not_found);
            res->body() = "not found\n";
        } else if (req.method() != http::verb::get) {
            res->result(http::status::method_not_allowed);
            res->set(http::field::allow, "GET");
            res->body() = "only GET here\n";
        } else if (!bearer_matches(req[http::field::authorization], token)) {
            log::warn("display: refused GET /metrics from ", peer_, ": no or a wrong bearer token");
            res->result(http::status::unauthorized);
            res->set(http::field::www_authenticate, "Bearer realm=\"portico-host-metrics\"");
            res->body() = "metrics need the scrape token (Authorization: Bearer)\n";
        } else {
            try {
                res->body() = render();
                res->set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
            } catch (const std::exception& e) {
                log::error("display: rendering /metrics failed: ", e.what());
                res->result(http::status::internal_server_error);
                res->body() = "internal error\n";
            }
        }
        res->prepare_payload();
        ws_.async_write_response(res, [self = shared_from_this(), res](beast::error_code, std::size_t) {
            self->ws_.async_tls_shutdown([self](beast::error_code) {});
        });
    }

    void on_accept(beast::error_code ec) {
        if (ec) return log::debug("display: WebSocket handshake with ", peer_, " failed: ", ec.message());
        accepted_ = true;
        hello_timer_.expires_after(DisplayServer::kHelloTimeout);
        hello_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
            if (ec || self->hello_done_ || self->closing_) return;
            self->refuse(protocol::ErrorCode::expected_hello, "no Hello within 10 s");
        });
        do_read();
    }

    void do_read() { ws_.async_read(in_, beast::bind_front_handler(&DisplayConnection::on_read, shared_from_this())); }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec) {
            if (ec == websocket::error::message_too_big)
                log::warn("display: message over ", DisplayServer::kReadMessageMax, " bytes from ", peer_);
            else if (ec != websocket::error::closed && ec != net::error::operation_aborted)
                log::debug("display: connection from ", peer_, " lost: ", ec.message());
            finished();
            return;
        }
        if (closing_) return;  // draining: ignore anything else the client says
        if (ws_.got_text()) return refuse(protocol::ErrorCode::malformed, "text messages are not part of the protocol");
        auto data = in_.cdata();
        auto msg = protocol::decode({static_cast<const std::uint8_t*>(data.data()), data.size()});
        const auto type = data.size() ? static_cast<const std::uint8_t*>(data.data())[0] : 0;
        in_.consume(in_.size());
        if (!msg) return refuse(msg.error().code, msg.error().message);
        try {
            if (!hello_done_)
                on_hello(msg.value());
            else
                on_message(msg.value(), type);
        } catch (const std::exception& e) {
            // A session that throws ends this connection, never the network thread.
            log::error("display: handling a message from ", peer_, " failed: ", e.what());
            return refuse(protocol::ErrorCode::internal, "the host could not handle that message");
        }
        if (!closing_) do_read();  // once closing, async_close drains the rest
    }

    void on_hello(const protocol::Message& m) {
        auto* hello = std::get_if<protocol::Hello>(&m);
        if (!hello) return refuse(protocol::ErrorCode::expected_hello, "the first message must be Hello");
        if (hello->version < protocol::kMinDisplayVersion || hello->version > protocol::kDisplayVersion)
            return refuse(protocol::ErrorCode::unsupported_version,
                          "protocol version " + std::to_string(hello->version) +
                              " is not supported (this host speaks " + std::to_string(protocol::kMinDisplayVersion) +
                              " to " + std::to_string(protocol::kDisplayVersion) + ")");
        auto verifier = shared_->get_verifier();
        if (!verifier) return refuse(protocol::ErrorCode::ticket_invalid, "host is not registered with a broker yet");
        auto claims = verifier->verify(hello->ticket, unix_now());
        if (!claims) return refuse(claims.error().code, claims.error().message);
        auto target = shared_->sessions.find_session(claims->session_id);
        if (!target) return refuse(protocol::ErrorCode::session_not_found, "no live session " + claims->session_id);

        hello_done_ = true;
        hello_timer_.cancel();
        version_ = hello->version;
        target_ = target;
        view_only_ = claims->view_only;
        if (view_only_) watcher_ = claims->viewer.empty() ? std::string("an administrator") : claims->viewer;
        // The name is shown to the user: cut on a character boundary to what ShadowNotice carries.
        if (watcher_.size() > protocol::kMaxShadowNameBytes || !protocol::valid_utf8(watcher_)) {
            std::size_t n = std::min(watcher_.size(), protocol::kMaxShadowNameBytes);
            while (n > 0 && !protocol::valid_utf8(std::string_view(watcher_).substr(0, n))) --n;
            watcher_.resize(n);
            if (watcher_.empty()) watcher_ = "an administrator";
        }
        log::info("display: ", peer_, " attached to session ", target->id(), " (user ", claims->user,
                  view_only_ ? ", view only, watched by " + watcher_ + ")" : std::string(")"));
        queued_.fetch_add(1);
        // The version both speak (the client's: it is no newer than ours).
        enqueue(encoded(protocol::ServerHello{version_, static_cast<std::uint16_t>(target->width()),
                                              static_cast<std::uint16_t>(target->height()), target->id()}));
        if (view_only_) {
            // A shadow joins next to the owner instead of replacing it.
            if (!target->attach_view_only(shared_from_this())) {
                target_.reset();
                return refuse(protocol::ErrorCode::internal, "this session cannot be shadowed");
            }
        } else {
            target->attach(shared_from_this());
        }
        session_id_ = target->id();
        shared_->joined(session_id_, shared_from_this(), !view_only_, watcher_);
    }

    void on_message(const protocol::Message& m, std::uint8_t type) {
        auto target = target_;
        if (!target) return;  // replaced by a newer connection; close is on its way
        if (view_only_ && !DisplayServer::view_only_may_send(m)) {
            // A shadow watches: its keys, characters, clipboard, resizes and logoffs go nowhere.
            shared_->shadow_dropped.fetch_add(1);
            if (shadow_dropped_++ == 0) {
                char hex[8];
                std::snprintf(hex, sizeof hex, "0x%02x", type);
                log::warn("display: dropping input (message type ", hex, ") from view-only viewer ", peer_, " (",
                          watcher_, ") of session ", session_id_, "; further drops on this connection are not logged");
            }
            return;
        }
        const bool input =
            std::holds_alternative<protocol::Key>(m) || std::holds_alternative<protocol::Pointer>(m) ||
            std::holds_alternative<protocol::RelativePointer>(m) || std::holds_alternative<protocol::Wheel>(m) ||
            std::holds_alternative<protocol::ResizeRequest>(m) || std::holds_alternative<protocol::Logoff>(m) ||
            std::holds_alternative<protocol::KeyChar>(m) || std::holds_alternative<protocol::Clipboard>(m);
        if (input) shared_->input(session_id_);
        std::visit(
            [&](const auto& x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, protocol::Key>)
                    target->key(x.code, x.down);
                else if constexpr (std::is_same_v<T, protocol::Pointer>)
                    target->pointer(x.x, x.y, x.buttons);
                else if constexpr (std::is_same_v<T, protocol::RelativePointer>)
                    target->pointer_relative(x.dx, x.dy, x.buttons);
                else if constexpr (std::is_same_v<T, protocol::Wheel>)
                    target->wheel(x.dx, x.dy);
                else if constexpr (std::is_same_v<T, protocol::FrameAck>)
                    target->frame_ack(this, x.frame_id, x.paint_us);
                else if constexpr (std::is_same_v<T, protocol::KeyframeRequest>)
                    target->keyframe_request();
                else if constexpr (std::is_same_v<T, protocol::ResizeRequest>)
                    target->resize(x);
                else if constexpr (std::is_same_v<T, protocol::KeyChar>)
                    target->key_char(x.codepoint, x.code, x.down);
                else if constexpr (std::is_same_v<T, protocol::Clipboard>)
                    target->clipboard(x.text, x.more, x.png);
                else if constexpr (std::is_same_v<T, protocol::Ping>) {
                    // Answered here, on the network thread, so the RTT measures only the path.
                    if (queued_.fetch_add(1) >= DisplayServer::kSendQueueMax + 4) {
                        queued_.fetch_sub(1);  // a flooding client gets no more pongs
                        return;
                    }
                    enqueue(encoded(protocol::Pong{x.id, x.client_time}));
                } else if constexpr (std::is_same_v<T, protocol::Logoff>) {
                    log::info("display: ", peer_, " logged off session ", target->id());
                    target->logoff();
                } else
                    refuse(protocol::ErrorCode::malformed, "unexpected message type from a client");
            },
            m);
    }

    // Sends Error, logs why, and closes. On the strand.
    void refuse(protocol::ErrorCode code, const std::string& why) {
        if (closing_) return;
        log::warn("display: refusing ", peer_, ": ", protocol::to_string(code), ": ", why);
        detach_target(true);
        queued_.fetch_add(1);
        enqueue(encoded(protocol::ErrorMsg{code, why}));
        begin_close();
    }

    void enqueue(Bytes m) {
        // send() and notify() admitted the message by queued_ (any thread); the queue's own limit
        // sits above every admission path and is never the one that refuses.
        if (!accepted_ || close_sent_ || !out_.push(std::move(m), shared_from_this())) queued_.fetch_sub(1);
    }

    void on_written(beast::error_code ec) {
        if (ec) {
            closing_ = true;
            queued_.fetch_sub(out_.size());
            out_.clear();
            finished();
            return;
        }
        queued_.fetch_sub(1);
        if (closing_ && out_.idle()) do_close();
    }

    void begin_close() {
        closing_ = true;
        hello_timer_.cancel();
        if (!accepted_) {
            beast::error_code ec;
            ws_.tcp().socket().close(ec);
            return;
        }
        if (out_.idle()) do_close();
    }

    void do_close() {
        if (close_sent_) return;
        close_sent_ = true;
        ws_.async_close(close_reason_, [self = shared_from_this()](beast::error_code) { self->finished(); });
    }

    // The connection is over (read failed, write failed or closed): let the session know.
    void finished() {
        closing_ = true;
        hello_timer_.cancel();
        detach_target(true);
    }

    void detach_target(bool notify = false) {
        auto t = std::move(target_);
        target_.reset();
        if (t && notify) t->detach(this);
        if (!session_id_.empty()) {
            shared_->left(session_id_, this, !view_only_);
            session_id_.clear();
        }
    }

    std::shared_ptr<DisplayServer::Shared> shared_;
    WssStream ws_;
    websocket::close_reason close_reason_{websocket::close_code::normal};  // sent when this side closes
    net::steady_timer hello_timer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    beast::flat_buffer buffer_;
    beast::flat_buffer in_;
    std::string peer_;
    std::shared_ptr<DisplayTarget> target_;
    WsWriteQueue<WssStream, Bytes> out_{ws_, DisplayServer::kSendQueueMax + 16,
                                        [this](beast::error_code ec) { on_written(ec); }};
    std::atomic<std::size_t> queued_{0};
    std::atomic<bool> closing_{false};
    bool accepted_ = false, hello_done_ = false, close_sent_ = false;
    bool view_only_ = false;
    std::atomic<std::uint16_t> version_{protocol::kDisplayVersion};  // the Hello's; read by the capture thread
    std::string watcher_;               // view-only: who watches (shown to the session's user)
    std::uint64_t shadow_dropped_ = 0;  // view-only: messages dropped by the allow-list
    std::string session_id_;            // set while counted in the server's presence bookkeeping
    const std::string address_;         // the peer's address, for the per-address connection limit
};

}  // namespace

DisplayServer::DisplayServer(net::io_context& ioc, ssl::context& ssl_ctx, SessionDirectory& sessions, Limits limits)
    : ioc_(ioc),
      acceptor_(net::make_strand(ioc)),
      accept_backoff_timer_(acceptor_.get_executor()),
      shared_(std::make_shared<Shared>(ssl_ctx, sessions, limits)) {}

DisplayServer::DisplayServer(net::io_context& ioc, ssl::context& ssl_ctx, SessionDirectory& sessions)
    : DisplayServer(ioc, ssl_ctx, sessions, Limits{}) {}

bool DisplayServer::view_only_may_send(const protocol::Message& m) {
    // An allow-list, so a message type added later is dropped from shadows until someone decides
    // otherwise. A keyframe request repaints every viewer, but it is what a shadow whose decoder
    // failed needs, and costs the owner no more than its own requests do.
    return std::holds_alternative<protocol::FrameAck>(m) || std::holds_alternative<protocol::KeyframeRequest>(m) ||
           std::holds_alternative<protocol::Ping>(m);
}

std::size_t DisplayServer::open_connections() const {
    std::lock_guard lk(shared_->conn_mu);
    return shared_->open;
}
std::uint64_t DisplayServer::refused_connections() const { return shared_->refused.load(); }
std::uint64_t DisplayServer::accept_failures() const { return shared_->accept_failures.load(); }
std::uint64_t DisplayServer::shadow_messages_dropped() const { return shared_->shadow_dropped.load(); }

DisplayServer::~DisplayServer() = default;

void DisplayServer::listen(const std::string& address, std::uint16_t port) {
    beast::error_code ec;
    auto addr = net::ip::make_address(address, ec);
    if (ec) throw std::runtime_error("bad listen address '" + address + "'");
    tcp::endpoint ep(addr, port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on " + address + ":" + std::to_string(port) + ": " + ec.message());
    port_ = acceptor_.local_endpoint().port();
    do_accept();
}

void DisplayServer::set_presence_callback(std::function<void(const std::string&, bool)> fn) {
    std::lock_guard lk(shared_->mu);
    shared_->on_presence = std::move(fn);
}

std::vector<std::pair<std::string, int>> DisplayServer::idle_seconds() {
    std::lock_guard lk(shared_->mu);
    std::vector<std::pair<std::string, int>> out;
    auto now = std::chrono::steady_clock::now();
    for (auto& [sid, p] : shared_->presence)
        if (p.owners > 0)
            out.emplace_back(
                sid, static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(now - p.last_input).count()));
    return out;
}

void DisplayServer::disconnect(const std::string& session_id) {
    std::vector<std::shared_ptr<PresenceMember>> members;
    {
        std::lock_guard lk(shared_->mu);
        auto it = shared_->presence.find(session_id);
        if (it == shared_->presence.end()) return;
        for (auto& w : it->second.members)
            if (auto m = w.conn.lock()) members.push_back(std::move(m));
    }
    for (auto& m : members) m->kick();
}

void DisplayServer::stop() {
    net::post(acceptor_.get_executor(), [this] {
        beast::error_code ec;
        acceptor_.close(ec);
        accept_backoff_timer_.cancel();
    });
}

void DisplayServer::set_metrics(std::string token, std::function<std::string()> render) {
    std::lock_guard lk(shared_->mu);
    shared_->metrics_token = std::move(token);
    shared_->metrics_render = std::move(render);
}

void DisplayServer::set_verifier(std::shared_ptr<protocol::TicketVerifier> verifier) {
    std::lock_guard lk(shared_->mu);
    shared_->verifier = std::move(verifier);
}

void DisplayServer::do_accept() {
    acceptor_.async_accept(net::make_strand(ioc_),
                           [this](beast::error_code ec, tcp::socket socket) { on_accept(ec, std::move(socket)); });
}

// On the acceptor's strand.
void DisplayServer::on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec) {
        if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
        ++shared_->accept_failures;
        // A peer that gave up before we took its connection says nothing about us: accept the next.
        if (ec == net::error::connection_aborted || ec == net::error::connection_reset ||
            ec == beast::error_code(EPROTO, boost::system::system_category())) {
            log::debug("display: accept failed: ", ec.message());
            return do_accept();
        }
        // Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) or anything else: the
        // pending connection stays queued and accepting again at once fails again, a busy loop.
        const bool first = accept_backoff_.count() == 0;
        accept_backoff_ = first ? kAcceptBackoffFirst : std::min(accept_backoff_ * 2, kAcceptBackoffMax);
        if (first) log::warn("display: accept failed: ", ec.message(), "; retrying with back-off (at most 1 s)");
        accept_backoff_timer_.expires_after(accept_backoff_);
        accept_backoff_timer_.async_wait([this](beast::error_code wait_ec) {
            if (wait_ec || !acceptor_.is_open()) return;
            do_accept();
        });
        return;
    }
    if (accept_backoff_.count() != 0) {
        log::info("display: accepting connections again");
        accept_backoff_ = std::chrono::milliseconds(0);
    }
    beast::error_code ep_ec;
    auto ep = socket.remote_endpoint(ep_ec);
    std::string address = ep_ec ? std::string("unknown") : ep.address().to_string();
    if (!shared_->admit(address)) {
        // Over a limit: closed before any TLS work, so a flood costs us one accept each.
        socket.close(ep_ec);
        return do_accept();
    }
    // A frame's last segment must not wait for the previous one's ACK (Nagle + delayed ACK: up to
    // 40 ms per frame).
    socket.set_option(tcp::no_delay(true), ep_ec);
    std::make_shared<DisplayConnection>(std::move(socket), shared_, std::move(address))->start();
    do_accept();
}

}  // namespace portico::host

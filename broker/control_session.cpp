// Control channel from one session host (docs/protocol.md): WebSocket over TLS, text JSON.
// The first message must be a valid `register` within the register timeout; afterwards the host
// reports session events. One writer with a bounded queue; a host that lets it fill up is cut off.
// Messages are parsed on this connection's strand; what they mean for the broker (authorization,
// registration, session events) is store work, handed to the store executor in arrival order
// (its one thread keeps that order). A store failure there ends this host's connection.

#include "broker/core.hpp"
#include "broker/net.hpp"
#include "common/log.hpp"
#include "common/ws_write_queue.hpp"
#include "common/wss_stream.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>

namespace portico::broker {

namespace control = protocol::control;

namespace {

constexpr std::size_t kMaxQueued = 256;

class ControlSession : public ControlLink, public std::enable_shared_from_this<ControlSession> {
public:
    ControlSession(WssStream stream, Core& core, std::string peer, ConnectionSlot slot)
        : ws_(std::move(stream)),
          out_(ws_, kMaxQueued, [this](beast::error_code ec) { on_written(ec); }),
          core_(core),
          peer_(std::move(peer)),
          slot_(std::move(slot)),
          register_timer_(ws_.get_executor()) {}

    ~ControlSession() override {
        // Memory only here; the store work of a host going down runs on the store executor.
        if (registered_) forget_host(core_, host_id_, this);
    }

    void run(Request req) {
        ws_.set_timeouts(beast::role_type::server);
        ws_.set_server_header("portico-broker", kHstsValue);
        ws_.read_message_max(kMaxControlMessage);
        ws_.text(true);
        req_ = std::move(req);
        ws_.async_accept(req_, beast::bind_front_handler(&ControlSession::on_accept, shared_from_this()));
    }

    // ControlLink: any thread.
    void send(std::string text) override {
        net::post(ws_.get_executor(),
                  [self = shared_from_this(), text = std::move(text)]() mutable { self->enqueue(std::move(text)); });
    }
    void close() override {
        net::post(ws_.get_executor(), [self = shared_from_this()] { self->fail_and_close(""); });
    }

private:
    void on_accept(beast::error_code ec) {
        if (ec) {
            log::warn("control channel handshake from ", peer_, " failed: ", ec.message());
            return;
        }
        register_timer_.expires_after(std::chrono::seconds(core_.config().register_timeout_seconds));
        register_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
            if (ec || self->registered_ || self->closing_) return;
            log::warn("host at ", self->peer_, " did not register in time");
            self->fail_and_close("register first");
        });
        do_read();
    }

    void do_read() { ws_.async_read(buffer_, beast::bind_front_handler(&ControlSession::on_read, shared_from_this())); }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec) {
            if (ec != websocket::error::closed && !closing_)
                log::info("control channel ", registered_ ? host_id_ : peer_, " closed: ", ec.message());
            read_failed_ = true;
            drop_registration();
            return;
        }
        if (closing_) return;
        if (!ws_.got_text()) return fail_and_close("control messages are text");
        auto text = beast::buffers_to_string(buffer_.data());
        buffer_.consume(buffer_.size());
        auto msg = control::parse(text);
        if (!msg) {
            log::warn("malformed control message from ", registered_ ? host_id_ : peer_, ": ", msg.error().message);
            return fail_and_close(msg.error().message);
        }
        bool go_on = false;
        try {
            go_on = handle(msg.value());
        } catch (const std::exception& e) {
            // A bug or no memory: this host's connection ends, never the io thread.
            log::error("control channel ", registered_ ? host_id_ : peer_, ": ", e.what(), "; closing it");
            fail_and_close("internal error in the broker");
        }
        if (go_on) do_read();
    }

    // Returns false when reading must not go on now (the connection is closing, or a registration
    // is being decided: its answer resumes reading).
    bool handle(const control::Message& m) {
        if (!registered_) {
            const auto* reg = std::get_if<control::Register>(&m);
            if (!reg) {
                fail_and_close("the first message must be register");
                return false;
            }
            register_host(*reg);
            return false;
        }
        const std::string host_id = host_id_;
        const ControlLink* link = this;
        return std::visit(
            [&](const auto& msg) -> bool {
                using T = std::decay_t<decltype(msg)>;
                if constexpr (std::is_same_v<T, control::SessionReady> || std::is_same_v<T, control::SessionFailed> ||
                              std::is_same_v<T, control::SessionEnded> || std::is_same_v<T, control::Heartbeat> ||
                              std::is_same_v<T, control::SessionState> || std::is_same_v<T, control::SessionStats> ||
                              std::is_same_v<T, control::Thumbnail> || std::is_same_v<T, control::ThumbnailFailed>) {
                    on_store([host_id, link, msg](Core& core) { apply(core, host_id, link, msg); });
                    return true;
                } else if constexpr (std::is_same_v<T, control::ErrorMsg>) {
                    log::warn("host ", host_id_, " reported an error: ", msg.message);
                    fail_and_close("");
                    return false;
                } else {
                    fail_and_close("unexpected message from a host");
                    return false;
                }
            },
            m);
    }

    // What a host's report means for the broker (store thread).
    // Answers to a request: the broker that made it may be another one (cluster.hpp).
    template <class Answer>
    requires std::is_same_v<Answer, control::SessionReady> || std::is_same_v<Answer, control::SessionFailed> ||
        std::is_same_v<Answer, control::Thumbnail> || std::is_same_v<Answer, control::ThumbnailFailed>
    static void apply(Core& core, const std::string& host_id, const ControlLink*, const Answer& m) {
        core.host_answered(host_id, m);
    }
    static void apply(Core& core, const std::string& host_id, const ControlLink*, const control::SessionEnded& m) {
        core.launches().session_ended(host_id, m);
    }
    static void apply(Core& core, const std::string& host_id, const ControlLink* link, const control::Heartbeat& m) {
        core.hosts().heartbeat(host_id, link, m.sessions, m.cpu, m.mem);
        core.launches().idle_report(host_id, m.idle);
    }
    static void apply(Core& core, const std::string& host_id, const ControlLink*, const control::SessionState& m) {
        // The protocol admits only "active" and "disconnected" (protocol/control.cpp).
        if (auto state = parse_session_state(m.state)) core.launches().session_state(host_id, m.session_id, *state);
    }
    static void apply(Core& core, const std::string& host_id, const ControlLink*, const control::SessionStats& m) {
        core.live_stats().update(host_id, m, unix_now());
    }
    // Runs `f(core)` on the store executor; a failure there ends this host's connection with an
    // error message, logged once (the executor boundary keeps it off every thread).
    template <class F>
    void on_store(F f) {
        core_.store_jobs().run<bool>(
            "control channel", ws_.get_executor(),
            [core = &core_, f = std::move(f)]() mutable {
                f(*core);
                return Result<bool, ApiErrorCode>(true);
            },
            [self = shared_from_this()](Result<bool, ApiErrorCode> r) {
                if (!r) self->fail_and_close("internal error in the broker");
            });
    }

    // Authorization and registration on the store thread; the answer (registered and the pool
    // list, or why not) comes back here, and reading resumes only then: nothing a host sends
    // after `register` is handled before it is registered.
    void register_host(const control::Register& reg) {
        HostInfo info;
        info.host_id = reg.host_id;
        info.name = reg.name;
        info.display_url = reg.display_url;
        info.cert_sha256 = reg.cert_sha256;
        for (auto& c : info.cert_sha256) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        info.apps = reg.apps;
        info.images = reg.images;
        info.vm_accel = reg.vm_accel;
        info.isolation = reg.isolation;
        info.max_sessions = reg.max_sessions;
        auto cert = peer_certificate();
        info.client_cert_sha256 = cert.sha256;
        info.link = shared_from_this();
        const bool well_formed = reg.version == control::kVersion && !reg.host_id.empty() && reg.max_sessions >= 0 &&
                                 reg.display_url.rfind("wss://", 0) == 0 && reg.cert_sha256.size() == 64;
        core_.store_jobs().run<std::vector<std::string>>(
            "register", ws_.get_executor(),
            [core = &core_, reg, cert, peer = peer_, info = std::move(info),
             well_formed]() mutable -> Result<std::vector<std::string>, ApiErrorCode> {
                auto auth = core->enrollment().authorize_host(reg, cert, peer);
                if (!auth) {
                    log::warn("host '", reg.host_id, "' at ", peer, " refused: ", auth.error().message);
                    return Error<ApiErrorCode>{auth.error().code, "registration refused: " + auth.error().message};
                }
                if (!well_formed)
                    return Error<ApiErrorCode>{
                        ApiErrorCode::bad_request,
                        "unsupported registration (version, host_id, display_url or cert_sha256)"};
                if (reg.isolation != "per-user")
                    log::warn("host ", reg.host_id,
                              " does not run app sessions as their users (isolation: ", reg.isolation, ")");
                info.auth = auth.value();
                log::info("host ", reg.host_id, " (", reg.name, ") registered from ", peer, ": ", reg.display_url,
                          ", max ", reg.max_sessions, " sessions, authenticated by ", auth.value());
                // Known to the broker before the host hears it is registered, so a launch that
                // follows the reply (as in tests, or a quick user) finds the host.
                // After `registered`: the pools, then the ends of sessions it runs that are over here.
                auto follow_up = core->hosts().registered(std::move(info), reg.sessions);
                follow_up.insert(follow_up.begin(), core->desktops().pools_message());
                return follow_up;
            },
            [self = shared_from_this(), host_id = reg.host_id](Result<std::vector<std::string>, ApiErrorCode> then) {
                self->on_registered(host_id, std::move(then));
            });
    }

    void on_registered(const std::string& host_id, Result<std::vector<std::string>, ApiErrorCode> then) {
        if (!then) {
            if (then.error().code != ApiErrorCode::enrollment_refused && then.error().code != ApiErrorCode::bad_request)
                return fail_and_close("internal error in the broker");
            return fail_and_close(then.error().message);
        }
        host_id_ = host_id;
        registered_ = true;
        if (closing_ || read_failed_) {
            // The connection ended while the registration was decided: it must not stay registered.
            drop_registration();
            return;
        }
        register_timer_.cancel();
        enqueue(control::serialize(control::Registered{core_.ticket_public_key_b64()}));
        for (auto& message : then.value()) enqueue(std::move(message));
        do_read();
    }

    // The client certificate of this TLS connection, if it chains to the broker CA.
    PeerCert peer_certificate() {
        PeerCert out;
        SSL* ssl = ws_.tls().native_handle();
        X509* cert = SSL_get1_peer_certificate(ssl);
        if (!cert) return out;
        out.verified = SSL_get_verify_result(ssl) == X509_V_OK;
        out.common_name = x509_common_name(cert);
        out.sha256 = x509_sha256_hex(cert);
        X509_free(cert);
        return out;
    }

    void enqueue(std::string text) {
        if (closing_) return;
        if (!out_.push(std::move(text), shared_from_this())) {
            log::warn("control channel to ", host_id_, " is not draining; disconnecting it");
            fail_and_close("");
        }
    }

    void on_written(beast::error_code ec) {
        if (ec) {
            out_.clear();
            drop_registration();
            return;
        }
        if (closing_ && out_.idle()) do_ws_close();
    }

    // Sends `error` (if a message is given) after what is queued, then closes, and forgets the
    // registration.
    void fail_and_close(const std::string& message) {
        if (closing_) return;
        closing_ = true;
        register_timer_.cancel();
        drop_registration();
        if (!message.empty()) out_.push(control::serialize(control::ErrorMsg{message}), shared_from_this(), 1);
        if (out_.idle()) do_ws_close();
    }

    void do_ws_close() {
        if (close_sent_) return;
        close_sent_ = true;
        ws_.async_close(websocket::close_code::policy_error, [self = shared_from_this()](beast::error_code) {});
    }

    void drop_registration() {
        if (!registered_) return;
        registered_ = false;
        forget_host(core_, host_id_, this);
    }

    // The registry forgets this connection now (memory, any thread); if it was still the host's
    // current one, the host goes down on the store thread (its launches fail, its sessions are lost).
    static void forget_host(Core& core, const std::string& host_id, const ControlLink* link) {
        if (core.hosts().disconnected(host_id, link))
            core.store_jobs().post("host down",
                                   [&core, host_id] { core.hosts().down(host_id, "control connection closed"); });
    }

    WssStream ws_;
    WsWriteQueue<WssStream, std::string> out_;
    Core& core_;
    std::string peer_;
    ConnectionSlot slot_;  // counts this connection against the broker's caps until it ends
    Request req_;
    net::steady_timer register_timer_;
    beast::flat_buffer buffer_;
    std::string host_id_;
    bool registered_ = false;
    bool read_failed_ = false;  // the read loop ended (closed or failed)
    bool closing_ = false;
    bool close_sent_ = false;
};

}  // namespace

void start_control_session(WssStream stream, Request req, Core& core, std::string peer, ConnectionSlot slot) {
    std::make_shared<ControlSession>(std::move(stream), core, std::move(peer), std::move(slot))->run(std::move(req));
}

}  // namespace portico::broker

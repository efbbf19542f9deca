#include "session-host/net/broker_link.hpp"

#include "common/crypto.hpp"
#include "common/log.hpp"
#include "common/tls.hpp"
#include "common/ws_write_queue.hpp"
#include "common/wss_stream.hpp"
#include "session-host/session_manager.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <algorithm>
#include <deque>
#include <fstream>
#include <stdexcept>

namespace portico::host {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace ssl = net::ssl;
namespace ctl = protocol::control;
using tcp = net::ip::tcp;

Url parse_broker_url(const std::string& url) {
    auto parsed = parse_url(url, "wss");
    if (!parsed) throw std::invalid_argument("broker " + parsed.error().message);
    return std::move(*parsed);
}

struct BrokerLink::Conn {
    using Stream = WssStream;
    // A write in flight keeps both the link and this connection.
    using Keep = std::pair<std::shared_ptr<Impl>, std::shared_ptr<Conn>>;

    Conn(net::strand<net::io_context::executor_type> strand, ssl::context& ctx, Impl* link);
    Stream ws;
    beast::flat_buffer in;
    WsWriteQueue<Stream, std::string, Keep> out;
    bool registered = false;
    bool close_after_write = false;  // an error message is on its way; then reconnect
};

struct BrokerLink::Impl : std::enable_shared_from_this<BrokerLink::Impl> {
    Impl(net::io_context& ioc, Options o, SessionManager& s, RegisteredFn r)
        : ioc(ioc),
          strand(net::make_strand(ioc)),
          options(std::move(o)),
          url(parse_broker_url(options.url)),
          ssl_ctx(tls::make_client_context(tls::ClientTrust{options.ca_file, {}, false})),
          sessions(s),
          on_registered(std::move(r)),
          resolver(strand),
          retry_timer(strand),
          heartbeat_timer(strand) {
        if (!options.client_cert.empty()) {
            ssl_ctx.use_certificate_chain_file(options.client_cert);
            ssl_ctx.use_private_key_file(options.client_key, ssl::context::pem);
        }
    }

    net::io_context& ioc;
    net::strand<net::io_context::executor_type> strand;
    Options options;
    Url url;
    ssl::context ssl_ctx;
    SessionManager& sessions;
    RegisteredFn on_registered;
    tcp::resolver resolver;
    net::steady_timer retry_timer, heartbeat_timer;
    std::shared_ptr<Conn> conn;
    std::chrono::seconds backoff{1};
    bool registered_once = false;
    bool stopping = false;
    std::function<void()> stop_done;
    std::deque<std::string> pending_ended;  // session_ended reports waiting for a registered link
    std::vector<std::uint8_t> ticket_key;
    std::shared_ptr<protocol::TicketVerifier> verifier;

    void connect() {
        if (stopping) return;
        auto c = std::make_shared<Conn>(strand, ssl_ctx, this);
        conn = c;
        resolver.async_resolve(
            url.host, url.port, [self = shared_from_this(), c](beast::error_code ec, tcp::resolver::results_type r) {
                if (c != self->conn) return;
                if (ec) return self->fail(c, "cannot resolve " + self->url.host + ": " + ec.message());
                c->ws.tcp().expires_after(std::chrono::seconds(10));
                c->ws.async_connect(r,
                                    [self, c](beast::error_code ec, const tcp::endpoint&) { self->on_connect(c, ec); });
            });
    }

    void on_connect(const std::shared_ptr<Conn>& c, beast::error_code ec) {
        if (c != conn) return;
        if (ec) return fail(c, "cannot connect to " + url.host + ":" + url.port + ": " + ec.message());
        auto* ssl_handle = c->ws.tls().native_handle();
        if (!SSL_set_tlsext_host_name(ssl_handle, url.host.c_str())) return fail(c, "cannot set TLS server name");
        c->ws.tls().set_verify_callback(ssl::host_name_verification(url.host));
        c->ws.async_tls_handshake(ssl::stream_base::client, [self = shared_from_this(), c](beast::error_code ec) {
            if (c != self->conn) return;
            if (ec) return self->fail(c, "TLS handshake with the broker failed: " + ec.message());
            c->ws.tcp().expires_never();
            c->ws.set_timeouts(beast::role_type::client, std::chrono::seconds(30), true);
            c->ws.read_message_max(kReadMessageMax);
            c->ws.text(true);
            c->ws.async_handshake(self->url.host_port(), self->url.target,
                                  [self, c](beast::error_code ec) { self->on_ws_handshake(c, ec); });
        });
    }

    void on_ws_handshake(const std::shared_ptr<Conn>& c, beast::error_code ec) {
        if (c != conn) return;
        if (ec) return fail(c, "WebSocket handshake with the broker failed: " + ec.message());
        log::info("broker: connected to ", options.url, "; registering as ", options.registration.host_id);
        auto reg = options.registration;
        reg.sessions = sessions.running_ids();  // so a broker that lost them revives them
        write(c, ctl::serialize(reg));
        do_read(c);
    }

    void do_read(const std::shared_ptr<Conn>& c) {
        c->ws.async_read(c->in, [self = shared_from_this(), c](beast::error_code ec, std::size_t) {
            if (c != self->conn) return;
            if (ec) return self->fail(c, "broker connection lost: " + ec.message());
            std::string text = beast::buffers_to_string(c->in.data());
            c->in.consume(c->in.size());
            self->on_message(c, text);
            if (c == self->conn && !c->close_after_write) self->do_read(c);
        });
    }

    void protocol_error(const std::shared_ptr<Conn>& c, const std::string& why) {
        log::error("broker: ", why, "; reconnecting");
        c->close_after_write = true;
        write(c, ctl::serialize(ctl::ErrorMsg{why}));
    }

    void on_message(const std::shared_ptr<Conn>& c, const std::string& text) {
        auto parsed = ctl::parse(text);
        if (!parsed) return protocol_error(c, "malformed control message: " + parsed.error().message);
        auto& m = parsed.value();
        if (!c->registered) {
            if (auto* e = std::get_if<ctl::ErrorMsg>(&m)) return fail(c, "broker refused registration: " + e->message);
            auto* r = std::get_if<ctl::Registered>(&m);
            if (!r) return protocol_error(c, "expected 'registered'");
            return on_registered_msg(c, *r);
        }
        if (auto* s = std::get_if<ctl::StartSession>(&m)) {
            if (s->desktop)
                log::info("broker: start_session ", s->session_id, " (desktop pool ", s->desktop->pool, ", image ",
                          s->desktop->image, ", ", s->desktop->mode, ", user ", s->user, ")");
            else
                log::info("broker: start_session ", s->session_id, " (app ", s->app.name, ", user ", s->user, ", ",
                          s->width, "x", s->height, ")");
            auto req = *s;
            sessions.start_session(req, [self = shared_from_this(), req](const std::string& error) {
                net::post(self->strand, [self, req, error] {
                    if (error.empty())
                        self->send_if_registered(ctl::serialize(ctl::SessionReady{req.request_id, req.session_id}));
                    else
                        self->send_if_registered(
                            ctl::serialize(ctl::SessionFailed{req.request_id, req.session_id, error}));
                });
            });
        } else if (auto* t = std::get_if<ctl::ThumbnailRequest>(&m)) {
            // Answered from the session's capture thread; back on the strand to write. The sizes
            // were bounded by parse(); an unknown session is answered with thumbnail_failed.
            const auto request_id = t->request_id;
            const auto sid = t->session_id;
            sessions.thumbnail(
                sid, t->max_width, t->max_height,
                [self = shared_from_this(), request_id, sid](Result<std::vector<std::uint8_t>, std::string> r) {
                    std::string text =
                        r ? ctl::serialize(ctl::Thumbnail{request_id, sid, crypto::base64_encode(r.value())})
                          : ctl::serialize(ctl::ThumbnailFailed{request_id, sid, r.error().message});
                    // Not queued while the link is down: the broker has given up on it.
                    net::post(self->strand, [self, text = std::move(text)]() mutable {
                        if (self->conn && self->conn->registered && !self->conn->close_after_write)
                            self->write(self->conn, std::move(text));
                    });
                });
        } else if (auto* d = std::get_if<ctl::DisconnectSession>(&m)) {
            log::info("broker: disconnect_session ", d->session_id);
            if (options.disconnect_viewers) options.disconnect_viewers(d->session_id);
        } else if (auto* e = std::get_if<ctl::EndSession>(&m)) {
            log::info("broker: end_session ", e->session_id);
            sessions.end_session(e->session_id, protocol::EndReason::logged_off);
        } else if (auto* p = std::get_if<ctl::Pools>(&m)) {
            log::info("broker: ", p->pools.size(), " desktop pool(s)");
            sessions.set_pools(p->pools);
        } else if (auto* err = std::get_if<ctl::ErrorMsg>(&m)) {
            fail(c, "broker reported an error: " + err->message);
        } else {
            protocol_error(c, "unexpected control message from the broker");
        }
    }

    void on_registered_msg(const std::shared_ptr<Conn>& c, const ctl::Registered& r) {
        auto raw = crypto::base64_decode(r.ticket_key);
        std::optional<crypto::Ed25519Key> key;
        if (raw && raw->size() == 32) key = crypto::Ed25519Key::from_public_raw(*raw);
        if (!key) return protocol_error(c, "registered: ticket_key is not a base64 Ed25519 public key");
        // Keep the verifier (and its memory of used tickets) across reconnects while the key is the same.
        if (!verifier || *raw != ticket_key) {
            verifier = std::make_shared<protocol::TicketVerifier>(std::move(*key), options.registration.host_id);
            ticket_key = *raw;
        }
        c->registered = true;
        backoff = std::chrono::seconds(1);
        bool first = !registered_once;
        registered_once = true;
        log::info("broker: registered as ", options.registration.host_id);
        if (on_registered) on_registered(verifier, first);
        while (!pending_ended.empty()) {
            write(c, std::move(pending_ended.front()));
            pending_ended.pop_front();
        }
        schedule_heartbeat(c);
    }

    // CPU use since the previous sample (from /proc/stat) and used memory (from /proc/meminfo).
    std::uint64_t cpu_busy = 0, cpu_total = 0;
    double sample_cpu() {
        std::ifstream f("/proc/stat");
        std::string label;
        std::uint64_t v[8] = {0};
        if (!(f >> label) || label != "cpu") return 0;
        for (auto& x : v) f >> x;
        std::uint64_t idle = v[3] + v[4], total = 0;
        for (auto x : v) total += x;
        std::uint64_t busy = total - idle;
        double out = 0;
        if (cpu_total && total > cpu_total)
            out = static_cast<double>(busy - cpu_busy) / static_cast<double>(total - cpu_total);
        cpu_busy = busy;
        cpu_total = total;
        return std::clamp(out, 0.0, 1.0);
    }
    static double sample_mem() {
        std::ifstream f("/proc/meminfo");
        std::string key;
        std::uint64_t value = 0, total = 0, available = 0;
        std::string unit;
        while (f >> key >> value >> unit) {
            if (key == "MemTotal:")
                total = value;
            else if (key == "MemAvailable:")
                available = value;
        }
        if (!total || available > total) return 0;
        return static_cast<double>(total - available) / static_cast<double>(total);
    }

    void schedule_heartbeat(const std::shared_ptr<Conn>& c) {
        heartbeat_timer.expires_after(kHeartbeatInterval);
        heartbeat_timer.async_wait([self = shared_from_this(), c](beast::error_code ec) {
            if (ec || c != self->conn || !c->registered || self->stopping) return;
            ctl::Heartbeat hb{self->sessions.count(), self->sample_cpu(), sample_mem(), {}};
            if (self->options.idle_report) hb.idle = self->options.idle_report();
            self->write(c, ctl::serialize(hb));
            if (self->options.stats_report) {
                ctl::SessionStats stats{self->options.stats_report()};
                if (!stats.stats.empty() && c == self->conn) self->write(c, ctl::serialize(stats));
            }
            self->schedule_heartbeat(c);
        });
    }

    void send_if_registered(std::string text) {
        if (conn && conn->registered && !conn->close_after_write)
            write(conn, std::move(text));
        else
            log::warn("broker: not connected; dropped ", text);
    }

    void write(const std::shared_ptr<Conn>& c, std::string text) {
        if (!c->out.push(std::move(text), {shared_from_this(), c})) fail(c, "broker is not reading; write queue full");
    }

    void on_written(Conn* written, beast::error_code ec) {
        if (!conn || conn.get() != written) return;  // a connection already given up
        auto c = conn;
        if (ec) return fail(c, "writing to the broker failed: " + ec.message());
        if (!c->out.idle()) return;
        if (c->close_after_write) return fail(c, "closed after a protocol error");
        if (stopping) close_for_stop(c);
    }

    void close_for_stop(const std::shared_ptr<Conn>& c) {
        c->ws.async_close(websocket::close_code::going_away, [self = shared_from_this(), c](beast::error_code) {
            self->conn.reset();
            self->finish_stop();
        });
    }

    void finish_stop() {
        if (auto d = std::move(stop_done)) {
            stop_done = nullptr;
            d();
        }
    }

    void fail(const std::shared_ptr<Conn>& c, const std::string& why) {
        if (c != conn) return;
        conn.reset();
        heartbeat_timer.cancel();
        beast::error_code ignored;
        c->ws.tcp().socket().close(ignored);
        if (stopping) return finish_stop();
        // Keep unsent session_ended reports for the next connection.
        if (c->registered)
            for (auto& t : c->out.waiting())
                if (t.find("\"session_ended\"") != std::string::npos) pending_ended.push_back(t);
        log::warn("broker: ", why, "; retrying in ", backoff.count(), " s");
        retry_timer.expires_after(backoff);
        backoff = std::min(backoff * 2, std::chrono::seconds(10));
        retry_timer.async_wait([self = shared_from_this()](beast::error_code ec) {
            if (!ec) self->connect();
        });
    }
};

BrokerLink::Conn::Conn(net::strand<net::io_context::executor_type> strand, ssl::context& ctx, Impl* link)
    : ws(strand, ctx), out(ws, kWriteQueueMax, [link, this](beast::error_code ec) { link->on_written(this, ec); }) {}

BrokerLink::BrokerLink(net::io_context& ioc, Options options, SessionManager& sessions, RegisteredFn on_registered)
    : impl_(std::make_shared<Impl>(ioc, std::move(options), sessions, std::move(on_registered))) {}

BrokerLink::~BrokerLink() = default;

void BrokerLink::start() {
    net::post(impl_->strand, [i = impl_] { i->connect(); });
}

void BrokerLink::session_ended(const std::string& session_id, const std::string& reason) {
    net::post(impl_->strand,
              [i = impl_, session_id, reason, text = ctl::serialize(ctl::SessionEnded{session_id, reason})]() mutable {
                  log::info("broker: reporting session ", session_id, " ended (", reason, ")");
                  if (i->conn && i->conn->registered && !i->conn->close_after_write)
                      i->write(i->conn, std::move(text));
                  else if (i->pending_ended.size() < kWriteQueueMax)
                      i->pending_ended.push_back(std::move(text));
              });
}

void BrokerLink::session_state(const std::string& session_id, const std::string& state) {
    net::post(impl_->strand, [i = impl_, text = ctl::serialize(ctl::SessionState{session_id, state})]() mutable {
        if (i->conn && i->conn->registered && !i->conn->close_after_write) i->write(i->conn, std::move(text));
    });
}

void BrokerLink::stop(std::function<void()> done) {
    net::post(impl_->strand, [i = impl_, done = std::move(done)]() mutable {
        i->stopping = true;
        i->stop_done = std::move(done);
        i->retry_timer.cancel();
        i->heartbeat_timer.cancel();
        i->resolver.cancel();
        auto c = i->conn;
        if (!c) return i->finish_stop();
        if (c->registered && c->out.idle()) return i->close_for_stop(c);
        if (!c->registered) {
            i->fail(c, "stopping");
        }
        // else: do_write closes once the queue is empty
    });
}

}  // namespace portico::host

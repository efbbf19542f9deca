// Display gateway: relays one browser's display WebSocket to the session's host, so browsers only
// ever talk to the broker. Connects to the host first (TLS pinned to the certificate fingerprint
// the host registered), then accepts the client's upgrade; a host that cannot be reached is a 502.
// Each direction moves one message at a time (read -> write -> read): a slow side stalls its
// sender instead of growing a buffer. Both streams share this session's strand.

#include "broker/core.hpp"
#include "broker/net.hpp"
#include "common/log.hpp"
#include "common/tls.hpp"
#include "common/url.hpp"
#include "common/wss_stream.hpp"

#include <boost/asio/dispatch.hpp>

#include <memory>

namespace portico::broker {

namespace {

class GatewaySession : public std::enable_shared_from_this<GatewaySession> {
public:
    GatewaySession(WssStream stream, Core& core, HostInfo host, std::string sid, ConnectionSlot slot)
        : client_(std::move(stream)),
          slot_(std::move(slot)),
          host_(std::move(host)),
          sid_(std::move(sid)),
          upstream_tls_(tls::make_client_context(tls::ClientTrust{"", host_.cert_sha256, false})),
          resolver_(client_.get_executor()),
          upstream_(client_.get_executor(), upstream_tls_) {
        host_.link.reset();  // the gateway never talks on the control channel; don't extend its life
    }

    void run(Request req) {
        req_ = std::move(req);
        client_.set_server_header("portico-broker", kHstsValue);
        auto ep = parse_url(host_.display_url, "wss");
        if (!ep) return refuse("the host's display URL is not usable: " + ep.error().message);
        ep_ = std::move(*ep);
        // Contained here: a failure starting the relay is this browser's 502, not the io thread's end.
        try {
            resolver_.async_resolve(ep_.host, ep_.port,
                                    beast::bind_front_handler(&GatewaySession::on_resolve, shared_from_this()));
        } catch (const std::exception& e) {
            refuse(std::string("internal error: ") + e.what());
        }
    }

private:
    void on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
        if (ec) return refuse("cannot resolve the host: " + ec.message());
        upstream_.tcp().expires_after(std::chrono::seconds(10));
        upstream_.async_connect(results, beast::bind_front_handler(&GatewaySession::on_connect, shared_from_this()));
    }

    void on_connect(beast::error_code ec, tcp::endpoint) {
        if (ec) return refuse("cannot connect to the host: " + ec.message());
        upstream_.tcp().socket().set_option(tcp::no_delay(true), ec);  // relay without Nagle delays
        if (!SSL_set_tlsext_host_name(upstream_.tls().native_handle(), ep_.host.c_str()))
            return refuse("cannot set SNI");
        upstream_.tcp().expires_after(std::chrono::seconds(10));
        upstream_.async_tls_handshake(ssl::stream_base::client,
                                      beast::bind_front_handler(&GatewaySession::on_tls, shared_from_this()));
    }

    void on_tls(beast::error_code ec) {
        if (ec) {
            log::warn("gateway ", sid_, ": TLS to host ", host_.host_id, " refused (certificate pin?): ", ec.message());
            return refuse("the host's certificate does not match");
        }
        upstream_.tcp().expires_never();
        upstream_.set_timeouts(beast::role_type::client);
        upstream_.read_message_max(kMaxHostDisplayMessage);
        upstream_.async_handshake(ep_.host_port(), ep_.target,
                                  beast::bind_front_handler(&GatewaySession::on_upstream, shared_from_this()));
    }

    void on_upstream(beast::error_code ec) {
        if (ec) return refuse("the host refused the display connection: " + ec.message());
        client_.set_timeouts(beast::role_type::server);
        client_.read_message_max(kMaxClientDisplayMessage);
        client_.binary(true);
        client_.async_accept(req_, beast::bind_front_handler(&GatewaySession::on_accept, shared_from_this()));
    }

    void on_accept(beast::error_code ec) {
        if (ec) {
            log::info("gateway ", sid_, ": client handshake failed: ", ec.message());
            return close_both();
        }
        log::info("gateway ", sid_, ": open (host ", host_.host_id, ")");
        open_ = true;
        read_client();
        read_host();
    }

    // ---- client -> host ----
    void read_client() {
        client_.async_read(from_client_,
                           beast::bind_front_handler(&GatewaySession::on_client_read, shared_from_this()));
    }
    void on_client_read(beast::error_code ec, std::size_t) {
        if (ec == websocket::error::closed) return close_gracefully(upstream_, client_.reason());
        if (ec) return close_both();
        upstream_.binary(client_.got_binary());
        upstream_.async_write(from_client_.data(),
                              beast::bind_front_handler(&GatewaySession::on_host_written, shared_from_this()));
    }
    void on_host_written(beast::error_code ec, std::size_t) {
        if (ec) return close_both();
        from_client_.consume(from_client_.size());
        read_client();
    }

    // ---- host -> client ----
    void read_host() {
        upstream_.async_read(from_host_, beast::bind_front_handler(&GatewaySession::on_host_read, shared_from_this()));
    }
    void on_host_read(beast::error_code ec, std::size_t) {
        if (ec == websocket::error::closed) return close_gracefully(client_, upstream_.reason());
        if (ec) return close_both();
        client_.binary(upstream_.got_binary());
        client_.async_write(from_host_.data(),
                            beast::bind_front_handler(&GatewaySession::on_client_written, shared_from_this()));
    }
    void on_client_written(beast::error_code ec, std::size_t) {
        if (ec) return close_both();
        from_host_.consume(from_host_.size());
        read_host();
    }

    // One side closed cleanly: pass its close frame (code and reason) on to the other side, so a
    // browser sees why its session ended instead of an abnormal closure. Only one message is
    // relayed at a time per direction, so no write is in flight on `other` here.
    void close_gracefully(WssStream& other, const websocket::close_reason& reason) {
        if (closed_) return;
        closed_ = true;
        log::info("gateway ", sid_, ": closed");
        other.async_close(reason, [self = shared_from_this()](beast::error_code) { self->shut_sockets(); });
    }

    // Either side failing ends both. Closing a stream with a write in flight is not allowed, so
    // the lowest layer is shut instead, which fails every pending operation.
    void close_both() {
        if (closed_) return;
        closed_ = true;
        if (open_) log::info("gateway ", sid_, ": closed");
        shut_sockets();
    }

    void shut_sockets() {
        beast::error_code ignored;
        client_.tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
        client_.tcp().close();
        upstream_.tcp().close();
    }

    void refuse(const std::string& why) {
        log::warn("gateway ", sid_, ": ", why);
        auto res = std::make_shared<Response>(http::status::bad_gateway, req_.version());
        add_security_headers(*res);
        res->set(http::field::content_type, "application/json");
        res->set(http::field::cache_control, "no-store");
        res->body() = error_body(ApiError{ApiErrorCode::launch_failed, why});
        res->keep_alive(false);
        res->prepare_payload();
        client_.async_write_response(res, [self = shared_from_this()](beast::error_code, std::size_t) {
            self->client_.tcp().expires_after(std::chrono::seconds(5));
            self->client_.async_tls_shutdown([self](beast::error_code) {});
        });
        upstream_.tcp().close();
    }

    WssStream client_;
    ConnectionSlot slot_;  // counts this connection against the broker's caps until it ends
    HostInfo host_;
    std::string sid_;
    ssl::context upstream_tls_;
    tcp::resolver resolver_;
    WssStream upstream_;
    Url ep_;
    Request req_;
    beast::flat_buffer from_client_, from_host_;
    bool open_ = false, closed_ = false;
};

}  // namespace

void start_gateway_session(WssStream stream, Request req, Core& core, HostInfo host, std::string session_id,
                           ConnectionSlot slot) {
    std::make_shared<GatewaySession>(std::move(stream), core, std::move(host), std::move(session_id), std::move(slot))
        ->run(std::move(req));
}

}  // namespace portico::broker

#pragma once
// DisplayServer: the host's display endpoint, wss://<host>:<port>/display. Accepts TLS
// WebSocket connections, checks the launch ticket in the first message (Hello), attaches the
// client to its session and feeds its input to it. A view-only (shadow) viewer may send only what
// concerns its own stream (view_only_may_send); the session's owner is told who watches
// (ShadowNotice). With set_metrics, the same listener also answers GET /metrics (Prometheus text)
// to a scraper that bears the token. Runs on the network threads of the io_context it is given;
// nothing here blocks.

#include "protocol/display.hpp"
#include "protocol/ticket.hpp"
#include "session-host/stream/viewer.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace portico::host {

class DisplayServer {
public:
    static constexpr std::size_t kReadMessageMax = 64 * 1024;
    static constexpr std::chrono::seconds kHelloTimeout{10};
    static constexpr std::size_t kSendQueueMax = 16;  // messages; frames are paced by FrameAck anyway
    // Accept failing for want of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) would fail
    // again at once: wait, doubling from the first to the last delay, before accepting again.
    static constexpr std::chrono::milliseconds kAcceptBackoffFirst{100};
    static constexpr std::chrono::milliseconds kAcceptBackoffMax{1000};

    // Connections over a limit are closed as soon as they are accepted, before any TLS work. Both
    // count every open connection (handshaking, waiting for Hello or attached). A host serves a few
    // hundred viewers at most; one address behind NAT may carry a whole office's, hence 64.
    struct Limits {
        std::size_t max_connections = 1024;
        std::size_t max_per_address = 64;
    };

    // `ssl_ctx` and `sessions` must outlive the server and every connection (i.e. the io_context run).
    DisplayServer(boost::asio::io_context& ioc, boost::asio::ssl::context& ssl_ctx, SessionDirectory& sessions,
                  Limits limits);
    DisplayServer(boost::asio::io_context& ioc, boost::asio::ssl::context& ssl_ctx, SessionDirectory& sessions);
    ~DisplayServer();

    // The messages a view-only viewer may send: only what concerns its own stream (acks, keyframe
    // requests, pings). Anything else from a shadow is dropped here and never reaches the session.
    static bool view_only_may_send(const protocol::Message& m);

    // Binds and starts accepting; port 0 picks a free port. Throws std::runtime_error on failure.
    void listen(const std::string& address, std::uint16_t port);
    std::uint16_t port() const { return port_; }
    void stop();  // stops accepting; open connections continue

    // The verifier comes from the broker's registration; until then every Hello is refused.
    void set_verifier(std::shared_ptr<protocol::TicketVerifier> verifier);

    // Called (from network threads) when a session's first owner viewer attaches (true) or its
    // last one leaves (false); view-only (shadow) viewers do not count. Set before listen().
    void set_presence_callback(std::function<void(const std::string& session_id, bool has_viewer)> fn);
    // Seconds since the last input, for every session with an owner viewer. Any thread.
    std::vector<std::pair<std::string, int>> idle_seconds();
    // Closes every viewer of the session (owner and shadows); the session keeps running. Any thread.
    void disconnect(const std::string& session_id);

    // GET /metrics on this endpoint (Prometheus text from `render`, called on a network thread) for
    // a request that carries `Authorization: Bearer <token>`; anyone else gets 401. Without a call
    // (no --metrics-token-file), /metrics is 404 like any other path: never open. `token` must not
    // be empty. Set before listen().
    void set_metrics(std::string token, std::function<std::string()> render);

    // Figures for tests and metrics (any thread): connections open now; connections closed at once
    // for a limit; accept failures; messages from view-only viewers that were dropped.
    std::size_t open_connections() const;
    std::uint64_t refused_connections() const;
    std::uint64_t accept_failures() const;
    std::uint64_t shadow_messages_dropped() const;

    struct Shared;  // state shared with connections (defined in the .cpp)

private:
    void do_accept();
    void on_accept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);

    boost::asio::io_context& ioc_;
    boost::asio::ip::tcp::acceptor acceptor_;  // its handlers run on its own strand
    boost::asio::steady_timer accept_backoff_timer_;
    std::chrono::milliseconds accept_backoff_{0};  // 0: not backing off (acceptor strand only)
    std::shared_ptr<Shared> shared_;
    std::uint16_t port_ = 0;
};

}  // namespace portico::host

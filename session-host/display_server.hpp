#pragma once
// DisplayServer: the host's display endpoint, wss://<host>:<port>/display. Accepts TLS
// WebSocket connections, checks the launch ticket in the first message (Hello), attaches the
// client to its session and feeds its input to it. Runs on the network threads of the
// io_context it is given; nothing here blocks.

#include "protocol/ticket.hpp"
#include "session-host/viewer.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>
#include <mutex>
#include <string>

namespace portico::host {

class DisplayServer {
public:
    static constexpr std::size_t kReadMessageMax = 64 * 1024;
    static constexpr std::chrono::seconds kHelloTimeout{10};
    static constexpr std::size_t kSendQueueMax = 16;  // messages; frames are paced by FrameAck anyway

    // `ssl_ctx` and `sessions` must outlive the server and every connection (i.e. the io_context run).
    DisplayServer(boost::asio::io_context& ioc, boost::asio::ssl::context& ssl_ctx, SessionDirectory& sessions);
    ~DisplayServer();

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

    struct Shared;  // state shared with connections (defined in the .cpp)

private:
    void do_accept();

    boost::asio::io_context& ioc_;
    boost::asio::ip::tcp::acceptor acceptor_;
    std::shared_ptr<Shared> shared_;
    std::uint16_t port_ = 0;
};

}  // namespace portico::host

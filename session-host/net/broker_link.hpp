#pragma once
// BrokerLink: the host's control channel. Dials the broker (TLS, trusting only the broker CA),
// registers, receives the ticket key, starts and ends sessions on request, reports session
// ends and heartbeats, and reconnects with backoff when the link drops (sessions keep running).
// Runs on its own strand of the network io_context; the public methods may be called from any
// thread and never block.

#include "common/url.hpp"
#include "protocol/control.hpp"
#include "protocol/ticket.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace portico::host {

class SessionManager;

// The broker's wss:// control URL (common/url.hpp); throws std::invalid_argument saying what is wrong.
Url parse_broker_url(const std::string& url);

class BrokerLink : public std::enable_shared_from_this<BrokerLink> {
public:
    struct Options {
        std::string url;
        std::string ca_file;
        // Mutual TLS: this host's enrolled certificate and key (empty = shared-secret registration).
        std::string client_cert, client_key;
        protocol::control::Register registration;  // everything sent in `register`
        // Optional: seconds since the last input per session with a viewer (sent in heartbeats).
        std::function<std::vector<std::pair<std::string, int>>()> idle_report;
        // Optional: per-session stream figures, sent as session_stats next to each heartbeat.
        std::function<std::vector<protocol::control::StreamStats>()> stats_report;
        // Optional: the broker asked to disconnect a session's viewers (on the link's strand).
        std::function<void(const std::string& session_id)> disconnect_viewers;
    };
    // Called on the link's strand after each successful registration with the broker's key.
    using RegisteredFn = std::function<void(std::shared_ptr<protocol::TicketVerifier> verifier, bool first)>;

    BrokerLink(boost::asio::io_context& ioc, Options options, SessionManager& sessions, RegisteredFn on_registered);
    ~BrokerLink();

    void start();
    // Reports an ended session (queued while disconnected and sent after re-registering).
    void session_ended(const std::string& session_id, const std::string& reason);
    // Reports that a session's first viewer attached ("active") or its last one left
    // ("disconnected"). Dropped while the link is down (the broker then sees the host as down).
    void session_state(const std::string& session_id, const std::string& state);
    // Stops reconnecting, sends what is queued, closes the link, then calls `done` (on the strand).
    void stop(std::function<void()> done);

    static constexpr std::size_t kWriteQueueMax = 1024;
    static constexpr std::size_t kReadMessageMax = 1024 * 1024;
    static constexpr std::chrono::seconds kHeartbeatInterval{2};

private:
    struct Conn;
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace portico::host

#pragma once
// Broker internals shared by the HTTP, control and gateway sessions: state, policies and the
// launch state machine. All methods are thread-safe and non-blocking except login(), which hands
// the Argon2 work to the worker pool and calls back from there. Not part of the public API.

#include "broker/api_error.hpp"
#include "broker/desktop_pools.hpp"
#include "broker/broker.hpp"
#include "broker/host_registry.hpp"
#include "broker/state_dir.hpp"
#include "broker/store.hpp"
#include "common/crypto.hpp"
#include "protocol/control.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace portico::broker {

std::int64_t unix_now();

// Sliding-window counter of failed logins per key (username, client IP).
class LoginLimiter {
public:
    LoginLimiter(int max_failures, std::chrono::seconds window) : max_(max_failures), window_(window) {}
    bool blocked(const std::string& key);
    void record_failure(const std::string& key);
    void clear(const std::string& key);

private:
    void prune(std::deque<std::chrono::steady_clock::time_point>& q, std::chrono::steady_clock::time_point now);
    std::mutex mu_;
    int max_;
    std::chrono::seconds window_;
    std::map<std::string, std::deque<std::chrono::steady_clock::time_point>> failures_;
};

class Core {
public:
    using LoginCallback = std::function<void(Result<std::string, ApiErrorCode>)>;  // cookie token
    using LaunchCallback = std::function<void(Result<nlohmann::json, ApiErrorCode>)>;

    Core(const BrokerConfig& config, boost::asio::io_context& ioc);
    ~Core();

    const BrokerConfig& config() const { return config_; }
    boost::asio::ssl::context& server_tls() { return server_tls_; }
    Store& store() { return store_; }
    HostRegistry& hosts() { return hosts_; }
    DesktopPools& desktops() { return *desktops_; }

    // ---- users ----
    void login(const std::string& user, const std::string& password, const std::string& client_ip,
               LoginCallback done);
    std::optional<std::string> authenticate(const std::string& cookie_token);
    void logout(const std::string& cookie_token);

    // ---- sessions ----
    void launch(const std::string& user, const std::string& resource_id, LaunchCallback done);
    nlohmann::json live_sessions(const std::string& user);
    std::optional<ApiError> end_session(const std::string& user, const std::string& session_id);

    // ---- control channel events (from ControlSession) ----
    bool enrollment_secret_matches(const std::string& secret) const;
    const std::string& ticket_public_key_b64() const { return ticket_pub_b64_; }
    void host_registered(HostInfo info);
    void host_gone(const std::string& host_id, const ControlLink* link);
    void session_ready(const std::string& host_id, const protocol::control::SessionReady& m);
    void session_failed(const std::string& host_id, const protocol::control::SessionFailed& m);
    void session_ended(const std::string& host_id, const protocol::control::SessionEnded& m);

    // ---- gateway: the connected host of a live session, or why not ----
    Result<HostInfo, ApiErrorCode> gateway_target(const std::string& session_id);

    // Stops the worker pool and drops pending launches (their timers); before the io_context dies.
    void shutdown();

private:
    struct PendingLaunch {
        std::uint64_t request_id = 0;
        SessionRecord session;
        LaunchCallback done;
        std::unique_ptr<boost::asio::steady_timer> timer;
    };
    std::shared_ptr<PendingLaunch> take_pending(std::uint64_t request_id, const std::string& host_id);
    nlohmann::json launch_answer(const SessionRecord& s, const HostInfo& h);
    void fail_pending_of_host(const std::string& host_id, const std::string& why);

    BrokerConfig config_;
    boost::asio::io_context& ioc_;
    StatePaths paths_;
    Store store_;
    crypto::Ed25519Key ticket_key_;
    std::string ticket_pub_b64_;
    std::string enrollment_secret_;
    std::string dummy_hash_;  // verified against when the user does not exist, for even timing
    boost::asio::ssl::context server_tls_;
    HostRegistry hosts_;
    std::unique_ptr<DesktopPools> desktops_;  // after store_ (its tables) and hosts_
    std::optional<boost::asio::thread_pool> workers_;
    LoginLimiter user_limiter_{5, std::chrono::seconds(60)};
    LoginLimiter ip_limiter_{5, std::chrono::seconds(60)};

    std::mutex pending_mu_;
    std::uint64_t next_request_id_ = 1;
    std::map<std::uint64_t, std::shared_ptr<PendingLaunch>> pending_;
};

}  // namespace portico::broker

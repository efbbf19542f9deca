#pragma once
// Broker internals shared by the HTTP, control and gateway sessions: state, policies, the launch
// state machine, host liveness, enrollment, audit and metrics. All methods are thread-safe and
// non-blocking except login(), which hands the Argon2 work to the worker pool and calls back from
// there. Not part of the public API.

#include "broker/api_error.hpp"
#include "broker/desktop_pools.hpp"
#include "broker/broker.hpp"
#include "broker/host_registry.hpp"
#include "broker/live_stats.hpp"
#include "broker/metrics.hpp"
#include "broker/pki.hpp"
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
#include <set>
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

// Who is calling the REST API.
struct Caller {
    std::string name, role, ip;
    bool admin() const { return role == "admin"; }
    bool staff() const { return role == "admin" || role == "helpdesk"; }  // read everything, act on sessions
};

// What a host proved about itself on the control channel's TLS connection.
struct PeerCert {
    bool verified = false;  // chained to the broker CA
    std::string common_name, sha256;
};

class Core {
public:
    struct LoginOk {
        std::string token, role;
    };
    using LoginCallback = std::function<void(Result<LoginOk, ApiErrorCode>)>;
    using LaunchCallback = std::function<void(Result<nlohmann::json, ApiErrorCode>)>;

    Core(const BrokerConfig& config, boost::asio::io_context& ioc);
    ~Core();

    const BrokerConfig& config() const { return config_; }
    boost::asio::ssl::context& server_tls() { return server_tls_; }
    Store& store() { return *store_; }
    HostRegistry& hosts() { return hosts_; }
    DesktopPools& desktops() { return *desktops_; }
    Metrics& metrics() { return metrics_; }

    // Starts the liveness timer (heartbeat loss, timeouts, restart grace). Called by Broker::start.
    void start();

    // ---- users ----
    void login(const std::string& user, const std::string& password, const std::string& client_ip,
               LoginCallback done);
    std::optional<Principal> authenticate(const std::string& cookie_token);
    void logout(const std::string& cookie_token, const std::string& client_ip);

    // ---- sessions ----
    // scale: the client's device pixel ratio (1..4), used only when a new session starts.
    void launch(const Caller& caller, const std::string& resource, int width, int height, double scale, LaunchCallback done);
    Result<nlohmann::json, ApiErrorCode> shadow(const Caller& caller, const std::string& session_id);
    std::optional<ApiError> logoff_session(const Caller& caller, const std::string& session_id);
    std::optional<ApiError> disconnect_session(const Caller& caller, const std::string& session_id);
    // The session if the caller may see it (owner or staff).
    std::optional<SessionRecord> visible_session(const Caller& caller, const std::string& session_id);
    nlohmann::json session_json(const SessionRecord& s);
    // A list of sessions as JSON, their resources' names looked up once for all of them.
    nlohmann::json sessions_json(const std::vector<SessionRecord>& sessions);

    // ---- hosts ----
    nlohmann::json hosts_json();
    std::optional<nlohmann::json> host_json(const std::string& id);
    std::optional<ApiError> set_drain(const Caller& caller, const std::string& id, bool drain);
    std::optional<ApiError> remove_host(const Caller& caller, const std::string& id);
    nlohmann::json create_enrollment_token(const std::string& actor, const std::string& from, const std::string& host_id,
                                           int ttl_seconds);
    Result<nlohmann::json, ApiErrorCode> enroll(const std::string& token, const std::string& host_id,
                                                const std::string& csr_pem, const std::string& from);

    // ---- audit and metrics ----
    void audit(const std::string& actor, const std::string& action, const std::string& target, const std::string& from,
               const std::string& detail = "");
    std::string metrics_text();

    // ---- control channel events (from ControlSession) ----
    // Decides whether a registering host is who it says: mutual TLS (certificate from our CA
    // with CN = host_id, still enrolled) or, unless require_mtls, the shared enrollment secret.
    // Returns the method ("mtls" or "secret") or why not.
    Result<std::string, int> authorize_host(const protocol::control::Register& reg, const PeerCert& cert);
    const std::string& ticket_public_key_b64() const { return ticket_pub_b64_; }
    void host_registered(HostInfo info);
    void host_gone(const std::string& host_id, const ControlLink* link);
    void host_heartbeat(const std::string& host_id, const ControlLink* link, const protocol::control::Heartbeat& m);
    void session_ready(const std::string& host_id, const protocol::control::SessionReady& m);
    void session_failed(const std::string& host_id, const protocol::control::SessionFailed& m);
    void session_ended(const std::string& host_id, const protocol::control::SessionEnded& m);
    void session_state(const std::string& host_id, const protocol::control::SessionState& m);
    void session_stats(const std::string& host_id, const protocol::control::SessionStats& m);
    LiveStats& live_stats() { return live_stats_; }

    // ---- gateway: the connected host of a live session, or why not ----
    Result<HostInfo, ApiErrorCode> gateway_target(const std::string& session_id);

    // Stops the worker pool, the timer and drops pending launches; before the io_context dies.
    void shutdown();

private:
    // resource_name: the resource's display name (its id again once the resource is deleted).
    nlohmann::json session_json(const SessionRecord& s, const std::string& resource_name);
    struct PendingLaunch {
        std::uint64_t request_id = 0;
        SessionRecord session;
        LaunchCallback done;
        std::unique_ptr<boost::asio::steady_timer> timer;
        std::chrono::steady_clock::time_point started;
    };
    std::shared_ptr<PendingLaunch> take_pending(std::uint64_t request_id, const std::string& host_id);
    nlohmann::json launch_answer(const SessionRecord& s, const HostInfo& h, bool reconnected, bool view_only);
    std::string session_notice(const SessionRecord& s, const HostInfo& h);
    void fail_pending_of_host(const std::string& host_id, const std::string& why);
    void host_down(const std::string& host_id, const std::string& why);
    void end_session_now(const SessionRecord& s, const std::string& actor, const std::string& action,
                         const std::string& from);
    void tick();
    void schedule_tick();

    BrokerConfig config_;
    boost::asio::io_context& ioc_;
    StatePaths paths_;
    std::unique_ptr<Store> store_;
    crypto::Ed25519Key ticket_key_;
    std::string ticket_pub_b64_;
    std::string enrollment_secret_;
    std::string dummy_hash_;  // verified against when the user does not exist, for even timing
    std::unique_ptr<BrokerCa> ca_;
    boost::asio::ssl::context server_tls_;
    HostRegistry hosts_;
    Metrics metrics_;
    LiveStats live_stats_;
    std::unique_ptr<DesktopPools> desktops_;  // after store_ and hosts_
    std::optional<boost::asio::thread_pool> workers_;
    LoginLimiter user_limiter_{5, std::chrono::seconds(60)};
    LoginLimiter ip_limiter_{5, std::chrono::seconds(60)};

    std::mutex pending_mu_;
    std::uint64_t next_request_id_ = 1;
    std::map<std::uint64_t, std::shared_ptr<PendingLaunch>> pending_;

    // Liveness timer state (only touched by tick(), which runs one at a time).
    std::unique_ptr<boost::asio::steady_timer> tick_timer_;
    std::chrono::steady_clock::time_point started_at_;
    bool grace_done_ = false;
    int ticks_ = 0;
    std::mutex idle_mu_;
    std::map<std::string, int> idle_seconds_;  // session -> seconds without input (from heartbeats)
};

}  // namespace portico::broker

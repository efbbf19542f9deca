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

// Progressive delays against password guessing, per key (a user name or a client address). The
// first `free_attempts` failures cost nothing; after that each further attempt must wait
// base_delay * 2^(failures - free_attempts), at most max_delay, after the previous one finished.
// An attempt is counted when it is admitted, before any hashing, and while counted attempts are
// still being checked nothing more is admitted past the free ones, so a burst of parallel guesses
// cannot slip past the limit however slow the hashing is. There is no lockout: the most anyone can
// do to someone else's account is make its owner wait max_delay. Failures are forgotten after
// forget_after without attempts. Thread-safe; called from network threads and password workers.
class LoginThrottle {
public:
    using Clock = std::chrono::steady_clock;
    struct Policy {
        int free_attempts = 5;
        std::chrono::milliseconds base_delay{1000};
        std::chrono::milliseconds max_delay{60000};
        std::chrono::seconds forget_after{900};
    };
    static Policy per_user(const BrokerConfig& c);
    static Policy per_address(const BrokerConfig& c);  // more free attempts: many people may share a NAT address
    explicit LoginThrottle(Policy p) : policy_(p) {}
    // How long until `key` may try again (zero: now).
    std::chrono::milliseconds wait_time(const std::string& key, Clock::time_point now = Clock::now());
    // Counts an admitted attempt (as a failure unless finished() says it succeeded).
    void count(const std::string& key, Clock::time_point now = Clock::now());
    // The attempt's check is done. ok && clear_on_success: the key starts afresh; otherwise the
    // delay runs from now.
    void finished(const std::string& key, bool ok, bool clear_on_success, Clock::time_point now = Clock::now());
    std::size_t keys();  // tracked keys (tests: memory stays bounded)

private:
    struct Entry {
        int failures = 0;   // counted attempts, including those still being checked
        int in_flight = 0;  // counted attempts whose check has not finished
        Clock::time_point last;
    };
    void prune(Clock::time_point now);
    std::mutex mu_;
    Policy policy_;
    std::map<std::string, Entry> entries_;
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
    // retry_after_seconds: with rate_limited, when the client may try again.
    using LoginCallback = std::function<void(Result<LoginOk, ApiErrorCode>, int retry_after_seconds)>;
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
    // The broker's screen size policy (max width, height, pixels): an error naming the limit, or nothing.
    std::optional<ApiError> check_screen(std::int64_t width, std::int64_t height) const;
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

    // Why a GET /metrics with this Authorization header value and login cookie may not read them,
    // or nothing when it may: the scrape token (serve --metrics-token-file) as a Bearer token, or an
    // admin's login. Neither: unauthenticated; a valid login of another role: forbidden.
    std::optional<ApiError> metrics_refusal(const std::string& authorization, const std::string& cookie_token);

    // ---- audit and metrics ----
    void audit(const std::string& actor, const std::string& action, const std::string& target, const std::string& from,
               const std::string& detail = "");
    std::string metrics_text();

    // ---- control channel events (from ControlSession) ----
    // Decides whether a registering host is who it says: mutual TLS (certificate from our CA
    // with CN = host_id, still enrolled) or, unless require_mtls, the shared enrollment secret.
    // Returns the method ("mtls" or "secret") or why not.
    // A shared-secret registration for a host id with a certificate on record is refused and audited.
    Result<std::string, int> authorize_host(const protocol::control::Register& reg, const PeerCert& cert,
                                            const std::string& from = "");
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
    // viewer: for a view-only ticket, who watches (the host tells the session's user).
    nlohmann::json launch_answer(const SessionRecord& s, const HostInfo& h, bool reconnected, bool view_only,
                                 const std::string& viewer = {});
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
    LoginThrottle user_throttle_{LoginThrottle::per_user(config_)};
    LoginThrottle ip_throttle_{LoginThrottle::per_address(config_)};
    std::mutex login_mu_;  // admission: both throttles and the queue are checked and counted together
    int queued_logins_ = 0;  // password checks queued or running on workers_ (under login_mu_)
    std::mutex launch_mu_;
    std::map<std::string, int> launching_;  // user -> launches between the cap check and their session row

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

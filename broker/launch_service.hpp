#pragma once
// LaunchService: display sessions from the broker's side. The launch state machine (reconnect to
// a running session, or check entitlement and the per-user cap, place it on a host, send
// start_session and wait for session_ready / session_failed / the launch timeout), the hosts'
// reports on their sessions, log off / disconnect / shadow, the timeouts that end sessions (idle,
// disconnected too long, hosts that did not come back after a restart), and the views of sessions
// the REST API shows. Signs the display tickets.
//
// Threads: every method runs on the store thread (store_executor.hpp), and so do the launch
// timers (created on the `timers` context). A launch's callback is called once, from there.

#include "broker/api_error.hpp"
#include "broker/audit_log.hpp"
#include "broker/broker.hpp"
#include "broker/caller.hpp"
#include "broker/desktop_pools.hpp"
#include "broker/host_registry.hpp"
#include "broker/live_stats.hpp"
#include "broker/metrics.hpp"
#include "broker/session_ends.hpp"
#include "broker/store.hpp"
#include "common/crypto.hpp"
#include "common/result.hpp"
#include "protocol/control.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace portico::broker {

// What a client needs to open a session's display: the signed ticket and where to present it.
struct LaunchTicket {
    std::string session_id, ticket, gateway_path, direct_url, host_cert_sha256;
    int width = 0, height = 0;
    std::string notice;  // what the user should know first (e.g. a desktop without KVM); empty if nothing
    bool reconnected = false, view_only = false;
};

// A session as the REST API shows it.
struct SessionView {
    SessionRecord session;
    std::string resource_name;                // the resource's id again once it was deleted
    std::optional<LiveStats::Figures> stats;  // live sessions whose host reports figures
    std::string notice;
};

class LaunchService {
public:
    using LaunchCallback = std::function<void(Result<LaunchTicket, ApiErrorCode>)>;

    // The first half of a launch, which only reads the store (read_launch): on PostgreSQL it runs
    // on a launch reader (core.hpp), beside the store thread, so launches wait on the database
    // side by side; the second half (launch(caller, LaunchRead, ...)) decides on the store thread.
    struct LaunchRead {
        std::string resource_ref;
        std::optional<Error<ApiErrorCode>> failed;  // the store failed (busy / internal): nothing read
        LaunchFacts facts;  // facts.resource empty: no such resource (by id or by entitled name)
        std::chrono::steady_clock::time_point started;
        // The user's launch changes (admitted, or their session row written) before the facts
        // were read: when the count has moved by the second half, facts.live_sessions may miss a
        // session and is read again there (per-user cap).
        std::uint64_t changes_before = 0;
        bool read_on_store_thread = false;  // nothing can have changed since: no re-checks
        std::string session_id;             // reconnect to exactly this session (a launch file's); empty: any
        std::shared_ptr<void> mark;         // keeps the user's launch counts while the read travels
    };

    LaunchService(const BrokerConfig& config, Store& store, HostRegistry& hosts, DesktopPools& desktops,
                  LiveStats& live_stats, SessionEnds& ends, Metrics& metrics, AuditLog& audit,
                  const crypto::Ed25519Key& ticket_key, boost::asio::io_context& timers);
    ~LaunchService();
    LaunchService(const LaunchService&) = delete;
    LaunchService& operator=(const LaunchService&) = delete;

    // The broker's screen size policy (max width, height, pixels): an error naming the limit. Pure.
    Result<void, ApiErrorCode> check_screen(std::int64_t width, std::int64_t height) const;
    // scale: the client's device pixel ratio (1..4), used only when a new session starts.
    // session_id: reconnect to exactly this running session of the caller's (a launch file's
    // reconnect) rather than the newest one of the resource; empty: any. `done` is called exactly
    // once (now, or when the host answers or the launch times out).
    void launch(const Caller& caller, const std::string& resource, int width, int height, double scale,
                const std::string& session_id, LaunchCallback done);
    // The two halves of launch(): read_launch on any thread (a store failure is kept in the read
    // and answered by the second half), launch(read) on the store thread.
    LaunchRead read_launch(const Caller& caller, const std::string& resource);
    void launch(const Caller& caller, LaunchRead read, int width, int height, double scale, LaunchCallback done);
    Result<LaunchTicket, ApiErrorCode> shadow(const Caller& caller, const std::string& session_id);
    Result<void, ApiErrorCode> logoff(const Caller& caller, const std::string& session_id);
    Result<void, ApiErrorCode> disconnect(const Caller& caller, const std::string& session_id);
    // The session if the caller may see it (owner or staff).
    std::optional<SessionRecord> visible_session(const Caller& caller, const std::string& session_id);
    SessionView view(const SessionRecord& s);
    // Views of many sessions, their resources' names looked up once for all of them.
    std::vector<SessionView> views(const std::vector<SessionRecord>& sessions);

    // ---- what hosts report on the control channel ----
    void session_ready(const std::string& host_id, const protocol::control::SessionReady& m);
    void session_failed(const std::string& host_id, const protocol::control::SessionFailed& m);
    void session_ended(const std::string& host_id, const protocol::control::SessionEnded& m);
    void session_state(const std::string& host_id, const std::string& session_id, SessionState state);
    // Seconds without input per session (from heartbeats): sessions idle past idle_timeout end.
    void idle_report(const std::string& host_id, const std::vector<std::pair<std::string, int>>& idle);
    // The host is gone or replaced: its launches still waiting fail with `why`.
    void fail_pending_of_host(const std::string& host_id, const std::string& why);

    // Once a second (the liveness tick): restart grace, disconnect timeouts, ticket purge.
    void tick(int tick_number);
    // Drops the pending launches (their callbacks are not called) and their timers.
    void shutdown();
    // Where a ready session's answer (its ticket, Store::launch_answered, the callback) is
    // written: by default on the calling thread (the store thread); Core gives the launch readers
    // on PostgreSQL, so the store thread waits on one round trip per launch (the session row)
    // instead of two. Safe out of order with what the store thread does next to the session: the
    // write only moves a starting session to active, and the client, whose connection is what
    // the host reports on, gets its ticket only once the write is done. Set before start.
    void answer_writes_on(std::function<void(std::function<void()>)> run) { answer_writer_ = std::move(run); }

private:
    struct PendingLaunch {
        std::uint64_t request_id = 0;
        SessionRecord session;
        LaunchCallback done;
        std::unique_ptr<boost::asio::steady_timer> timer;
        std::chrono::steady_clock::time_point started;
        std::string from;  // the launching client's address, for the audit
    };
    void start_new(const Caller& caller, const LaunchRead& read, int width, int height, double scale,
                   LaunchCallback done);
    std::shared_ptr<PendingLaunch> take_pending(std::uint64_t request_id, const std::string& host_id);
    void answer_ready(const std::shared_ptr<PendingLaunch>& p, const std::string& host_id);
    std::shared_ptr<PendingLaunch> take_reported(const std::string& host_id, std::uint64_t request_id,
                                                 const std::string& session_id, const char* what);
    void launch_timed_out(std::uint64_t request_id, const std::string& host_id);
    // viewer: for a view-only ticket, who watches (the host tells the session's user).
    LaunchTicket ticket_for(const SessionRecord& s, const HostInfo& h, bool reconnected, bool view_only,
                            const std::string& viewer = {});
    // The same, without recording it: `issued` is what the caller records (launch_answered).
    LaunchTicket make_ticket(const SessionRecord& s, const HostInfo& h, bool reconnected, bool view_only,
                             const std::string& viewer, IssuedTicket& issued);
    std::string session_notice(const SessionRecord& s, const HostInfo& h);
    SessionView view(const SessionRecord& s, const std::string& resource_name);
    // actor "-": a timeout. reason: end_reason:: of session_ends.hpp.
    void end_session_now(const SessionRecord& s, const std::string& actor, const std::string& action,
                         const std::string& from, const char* reason);
    void count_failure(ApiErrorCode code);

    const BrokerConfig& config_;
    Store& store_;
    HostRegistry& hosts_;
    DesktopPools& desktops_;
    LiveStats& live_stats_;
    SessionEnds& ends_;
    Metrics& metrics_;
    AuditLog& audit_;
    const crypto::Ed25519Key& ticket_key_;
    boost::asio::io_context& timers_;

    // Per user with launches on their way: for the per-user cap, which counts live sessions plus
    // launches between the cap check and their session row.
    struct UserLaunches {
        int reading = 0;            // reads (read_launch) whose second half has not finished
        int launching = 0;          // admitted by the cap, session row not yet written
        std::uint64_t changes = 0;  // admissions and rows written, ever
    };
    std::mutex launch_mu_;
    std::map<std::string, UserLaunches> users_;  // erased when nothing is reading or launching

    std::mutex pending_mu_;
    std::uint64_t next_request_id_;  // random start: brokers sharing hosts never reuse one (cluster.hpp)
    std::map<std::uint64_t, std::shared_ptr<PendingLaunch>> pending_;

    std::function<void(std::function<void()>)> answer_writer_;  // empty: the calling thread
    const std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
    bool grace_done_ = false;  // tick() only
};

}  // namespace portico::broker

#pragma once
// HostDirectory: the session hosts, as connected now (HostRegistry, in memory) and as on record
// (the store). Registration, heartbeats and liveness (a host silent too long is down), drain,
// removal, the views the REST API shows, and the gateway's target for a session.
//
// A host that goes down or is removed takes its sessions with it (marked lost). Whoever waits on
// such a host (the launch service's pending launches) is told first through on_host_down, so this
// service depends on nobody above it. With several brokers on one store (cluster.hpp) a host is
// down only when the broker that held it lets it go and no other has taken it over meanwhile
// (Store::release_host), or when its broker stopped writing heartbeats (the sweep).
// Threads: methods that touch the store run on the store thread; registry() and disconnected()
// are memory only (any thread).

#include "broker/api_error.hpp"
#include "broker/audit_log.hpp"
#include "broker/broker.hpp"
#include "broker/caller.hpp"
#include "broker/cluster.hpp"
#include "broker/host_registry.hpp"
#include "broker/live_stats.hpp"
#include "broker/metrics.hpp"
#include "broker/session_ends.hpp"
#include "broker/store.hpp"
#include "common/result.hpp"
#include "protocol/control.hpp"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace portico::broker {

// A host as the admin sees it: its row, its live connection, or both.
struct HostView {
    std::optional<HostRecord> record;
    std::optional<HostInfo> live;
};

class HostDirectory {
public:
    using HostDownHook = std::function<void(const std::string& host_id, const std::string& why)>;

    HostDirectory(const BrokerConfig& config, Store& store, HostRegistry& registry, const Cluster& cluster,
                  LiveStats& live_stats, SessionEnds& ends, Metrics& metrics, AuditLog& audit);

    // Set once while wiring, before any host connects.
    void on_host_down(HostDownHook hook) { on_host_down_ = std::move(hook); }
    HostRegistry& registry() { return registry_; }

    // At start: nobody is connected yet (hosts that come back within the grace period keep their
    // sessions). With a shared store other brokers' hosts stay up; the sweep finds the silent ones.
    void mark_all_down();
    // A host passed authorization on its control channel: recorded and made available for
    // placement. `running`: the sessions it says it runs (absent from older hosts): lost ones are
    // revived, live ones it no longer runs end; returned are the end_session messages for the
    // sessions it runs that are over here, to send once it is told it is registered.
    std::vector<std::string> registered(HostInfo info, const std::optional<std::vector<std::string>>& running);
    // Its control connection closed: forgets it if `link` is still the host's current connection
    // (memory only, any thread). True when it was: then call down() on the store thread.
    bool disconnected(const std::string& host_id, const ControlLink* link);
    // The host's connection here is gone: its pending launches fail (on_host_down), and unless
    // another broker has taken it over meanwhile, it is down and its sessions are lost.
    void down(const std::string& host_id, const std::string& why);
    void heartbeat(const std::string& host_id, const ControlLink* link, int sessions, double cpu, double mem);
    // Hosts without a heartbeat for heartbeat_timeout_seconds: down, their connections closed.
    // With a shared store, also the hosts of brokers that stopped writing heartbeats (they died),
    // once this broker has run for lost_grace_seconds (its own hosts had time to come back).
    // First writes the heartbeats that arrived since the last call (write_heartbeats).
    void check_liveness();

    Result<void, ApiErrorCode> set_drain(const Caller& caller, const std::string& id, bool drain);
    Result<void, ApiErrorCode> remove(const Caller& caller, const std::string& id);
    std::vector<HostView> list();
    std::optional<HostView> get(const std::string& id);

    struct Counts {
        int up = 0, draining = 0, down = 0;
    };
    Counts counts();  // for the metrics

    // The connected host of a live session (the display gateway relays to it), or why not.
    Result<HostInfo, ApiErrorCode> gateway_target(const std::string& session_id);

private:
    // With a shared store, the heartbeats kept since the last call, written in one store call
    // (one round trip on PostgreSQL) rather than one write per heartbeat: hosts connected at once
    // beat at once, and 200 writes in a row would hold every launch queued behind them on the
    // store thread. A host another broker has taken over meanwhile loses its connection here.
    void write_heartbeats();
    HostInfo shown(HostInfo h) const;
    std::vector<std::string> reconcile(const std::string& host_id, const std::vector<std::string>& running);
    // Down for good (the store says so already): launches fail, sessions lost, audited.
    void gone(const std::string& host_id, const std::string& why, std::int64_t now);

    const BrokerConfig& config_;
    Store& store_;
    HostRegistry& registry_;
    const Cluster& cluster_;
    const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    LiveStats& live_stats_;
    SessionEnds& ends_;
    Metrics& metrics_;
    AuditLog& audit_;
    HostDownHook on_host_down_;
    std::map<std::string, const ControlLink*> beats_;  // hosts that beat since write_heartbeats (store thread)
};

}  // namespace portico::broker

#pragma once
// The latest live stream figures of each session, as its host reports them (session_stats, every
// 2 s): in memory only, never in SQLite. Written from the hosts' control events, read for the
// REST API's session views and /metrics, pruned by the liveness tick; thread-safe.
// Also what each session's stream used so far (bytes from kbit/s times the time between reports,
// time-weighted average fps and RTT): kept until the session ends, when SessionEnds takes it into
// the session's history row. Figures of a session without viewers stop, and so does its usage.

#include "broker/store.hpp"
#include "protocol/control.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace portico::broker {

class LiveStats {
public:
    // Figures older than max_age_seconds are not shown and are pruned: the host stopped sending
    // them (no viewer any more, or the host is gone).
    explicit LiveStats(std::int64_t max_age_seconds = 10) : max_age_(max_age_seconds) {}

    void update(const std::string& host_id, const protocol::control::SessionStats& m, std::int64_t now);
    struct Figures {
        protocol::control::StreamStats stats;  // unknown figures are empty optionals
        std::int64_t updated_at = 0;
    };
    // The session's figures, if its own host reported them recently.
    std::optional<Figures> get(const std::string& session_id, const std::string& host_id, std::int64_t now) const;
    void drop(const std::string& session_id);    // its current figures; its usage stays until taken
    void drop_host(const std::string& host_id);  // figures and usage of the host's sessions

    // What the session's stream used so far; take_usage also forgets it (the session ended).
    SessionUsage usage(const std::string& session_id) const;
    SessionUsage take_usage(const std::string& session_id);
    // Forgets the usage of sessions not in `live` (a report that came after its session ended).
    void retain_usage(const std::set<std::string>& live);
    void prune(std::int64_t now);

    // ---- several brokers (cluster.hpp) ----
    // A session's fresh figures with what it used so far: what the broker holding its host shares
    // with the others through the host's row.
    struct Shared {
        protocol::control::StreamStats stats;
        std::int64_t updated_at = 0;
        SessionUsage usage;
    };
    // Every host's, in one pass (the heartbeat write covers all the hosts held here at once).
    std::map<std::string, std::vector<Shared>> by_host(std::int64_t now) const;
    // The figures of sessions on hosts held by other brokers, read from their rows (host id ->
    // its sessions), replacing the previous read. They answer get() and usage() for sessions
    // with no figures here; totals(), this broker's /metrics, counts only its own hosts.
    void set_remote(const std::map<std::string, std::vector<Shared>>& by_host);

    struct Totals {
        std::size_t sessions = 0;  // sessions with fresh figures
        std::int64_t viewers = 0;  // sum of their viewers
    };
    Totals totals(std::int64_t now) const;

private:
    struct Entry {
        std::string host_id;
        protocol::control::StreamStats stats;
        std::int64_t updated_at = 0;
    };
    bool fresh(const Entry& e, std::int64_t now) const { return now - e.updated_at <= max_age_; }

    // Sums over the reports of one session; each report's figures count for the time since the
    // previous one.
    struct Accumulated {
        std::string host_id;
        double bytes = 0;
        double fps_seconds = 0, fps_weight = 0;
        double rtt_seconds = 0, rtt_weight = 0;
        std::int64_t last_report = 0;
    };
    void accumulate(const std::string& host_id, const protocol::control::StreamStats& st, std::int64_t now);
    static SessionUsage usage_of(const Accumulated& a);

    std::int64_t max_age_;
    mutable std::mutex mu_;
    std::map<std::string, Entry> by_session_;
    std::map<std::string, Accumulated> usage_;
    struct Remote {
        std::string host_id;
        Shared shared;
    };
    std::map<std::string, Remote> remote_;  // by session id
};

}  // namespace portico::broker

#pragma once
// The latest live stream figures of each session, as its host reports them (session_stats, every
// 2 s): in memory only, never in SQLite. Written from the hosts' control events, read for the
// REST API's session views and /metrics, pruned by the liveness tick; thread-safe.

#include "protocol/control.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

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
    void drop(const std::string& session_id);
    void drop_host(const std::string& host_id);
    void prune(std::int64_t now);

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

    std::int64_t max_age_;
    mutable std::mutex mu_;
    std::map<std::string, Entry> by_session_;
};

}  // namespace portico::broker

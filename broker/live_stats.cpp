#include "broker/live_stats.hpp"

namespace portico::broker {

void LiveStats::update(const std::string& host_id, const protocol::control::SessionStats& m, std::int64_t now) {
    std::lock_guard lk(mu_);
    for (const auto& st : m.stats) {
        auto it = by_session_.find(st.session_id);
        // A host reports only its own sessions; another host's figures for the same id lose to
        // the session's own host (get() checks the host too).
        if (it != by_session_.end() && it->second.host_id != host_id && fresh(it->second, now)) continue;
        by_session_[st.session_id] = Entry{host_id, st, now};
    }
}

std::optional<LiveStats::Figures> LiveStats::get(const std::string& session_id, const std::string& host_id,
                                                 std::int64_t now) const {
    std::lock_guard lk(mu_);
    auto it = by_session_.find(session_id);
    if (it == by_session_.end() || it->second.host_id != host_id || !fresh(it->second, now)) return std::nullopt;
    return Figures{it->second.stats, it->second.updated_at};
}

void LiveStats::drop(const std::string& session_id) {
    std::lock_guard lk(mu_);
    by_session_.erase(session_id);
}

void LiveStats::drop_host(const std::string& host_id) {
    std::lock_guard lk(mu_);
    std::erase_if(by_session_, [&](const auto& kv) { return kv.second.host_id == host_id; });
}

void LiveStats::prune(std::int64_t now) {
    std::lock_guard lk(mu_);
    std::erase_if(by_session_, [&](const auto& kv) { return !fresh(kv.second, now); });
}

LiveStats::Totals LiveStats::totals(std::int64_t now) const {
    std::lock_guard lk(mu_);
    Totals t;
    for (const auto& [_, e] : by_session_) {
        if (!fresh(e, now)) continue;
        t.sessions++;
        t.viewers += e.stats.viewers.value_or(0);
    }
    return t;
}

}  // namespace portico::broker

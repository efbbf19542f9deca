#include "broker/live_stats.hpp"

#include <algorithm>

namespace portico::broker {

namespace {
// Hosts report every 2 s (control.hpp, SessionStats): a session's first report covers that much.
constexpr std::int64_t kReportPeriodSeconds = 2;
}  // namespace

void LiveStats::accumulate(const std::string& host_id, const protocol::control::StreamStats& st, std::int64_t now) {
    auto& a = usage_[st.session_id];
    if (!a.host_id.empty() && a.host_id != host_id) return;  // another host's report of this id
    a.host_id = host_id;
    // The time this report stands for: since the previous one (whole seconds, as the clock is), or
    // one report period after a gap longer than max_age (no viewer then, so nothing was sent).
    const std::int64_t since = now - a.last_report;
    const double seconds = static_cast<double>(a.last_report && since <= max_age_ ? std::max<std::int64_t>(since, 0)
                                                                                  : kReportPeriodSeconds);
    a.last_report = now;
    if (st.kbps) a.bytes += *st.kbps * 1000.0 / 8.0 * seconds;
    if (st.fps) {
        a.fps_seconds += *st.fps * seconds;
        a.fps_weight += seconds;
    }
    if (st.rtt_ms) {
        a.rtt_seconds += *st.rtt_ms * seconds;
        a.rtt_weight += seconds;
    }
}

SessionUsage LiveStats::usage_of(const Accumulated& a) {
    SessionUsage u;
    u.bytes_sent = static_cast<std::int64_t>(a.bytes);
    if (a.fps_weight > 0) u.avg_fps = a.fps_seconds / a.fps_weight;
    if (a.rtt_weight > 0) u.avg_rtt_ms = a.rtt_seconds / a.rtt_weight;
    return u;
}

SessionUsage LiveStats::usage(const std::string& session_id) const {
    std::lock_guard lk(mu_);
    if (auto it = usage_.find(session_id); it != usage_.end()) return usage_of(it->second);
    if (auto r = remote_.find(session_id); r != remote_.end()) return r->second.shared.usage;
    return {};
}

SessionUsage LiveStats::take_usage(const std::string& session_id) {
    std::lock_guard lk(mu_);
    auto it = usage_.find(session_id);
    if (it == usage_.end()) return {};
    auto u = usage_of(it->second);
    usage_.erase(it);
    return u;
}

void LiveStats::retain_usage(const std::set<std::string>& live) {
    std::lock_guard lk(mu_);
    std::erase_if(usage_, [&](const auto& kv) { return !live.count(kv.first); });
}

void LiveStats::update(const std::string& host_id, const protocol::control::SessionStats& m, std::int64_t now) {
    std::lock_guard lk(mu_);
    for (const auto& st : m.stats) {
        auto it = by_session_.find(st.session_id);
        // A host reports only its own sessions; another host's figures for the same id lose to
        // the session's own host (get() checks the host too).
        if (it != by_session_.end() && it->second.host_id != host_id && fresh(it->second, now)) continue;
        by_session_[st.session_id] = Entry{host_id, st, now};
        accumulate(host_id, st, now);
    }
}

std::optional<LiveStats::Figures> LiveStats::get(const std::string& session_id, const std::string& host_id,
                                                 std::int64_t now) const {
    std::lock_guard lk(mu_);
    if (auto it = by_session_.find(session_id);
        it != by_session_.end() && it->second.host_id == host_id && fresh(it->second, now))
        return Figures{it->second.stats, it->second.updated_at};
    if (auto r = remote_.find(session_id);
        r != remote_.end() && r->second.host_id == host_id && now - r->second.shared.updated_at <= max_age_)
        return Figures{r->second.shared.stats, r->second.shared.updated_at};
    return std::nullopt;
}

std::map<std::string, std::vector<LiveStats::Shared>> LiveStats::by_host(std::int64_t now) const {
    std::lock_guard lk(mu_);
    std::map<std::string, std::vector<Shared>> out;
    for (const auto& [id, e] : by_session_) {
        if (!fresh(e, now)) continue;
        auto u = usage_.find(id);
        out[e.host_id].push_back(
            Shared{e.stats, e.updated_at, u == usage_.end() ? SessionUsage{} : usage_of(u->second)});
    }
    return out;
}

void LiveStats::set_remote(const std::map<std::string, std::vector<Shared>>& by_host) {
    std::lock_guard lk(mu_);
    remote_.clear();
    for (const auto& [host_id, sessions] : by_host)
        for (const auto& s : sessions) remote_[s.stats.session_id] = Remote{host_id, s};
}

void LiveStats::drop(const std::string& session_id) {
    std::lock_guard lk(mu_);
    by_session_.erase(session_id);
}

void LiveStats::drop_host(const std::string& host_id) {
    std::lock_guard lk(mu_);
    std::erase_if(by_session_, [&](const auto& kv) { return kv.second.host_id == host_id; });
    std::erase_if(usage_, [&](const auto& kv) { return kv.second.host_id == host_id; });
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

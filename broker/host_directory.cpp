#include "broker/host_directory.hpp"

#include "common/log.hpp"

#include <map>
#include <set>

namespace portico::broker {

HostDirectory::HostDirectory(const BrokerConfig& config, Store& store, HostRegistry& registry, const Cluster& cluster,
                             LiveStats& live_stats, SessionEnds& ends, Metrics& metrics, AuditLog& audit)
    : config_(config),
      store_(store),
      registry_(registry),
      cluster_(cluster),
      live_stats_(live_stats),
      ends_(ends),
      metrics_(metrics),
      audit_(audit) {}

void HostDirectory::mark_all_down() {
    if (!cluster_.shared()) store_.mark_all_hosts_down(unix_now());
}

std::vector<std::string> HostDirectory::registered(HostInfo info,
                                                   const std::optional<std::vector<std::string>>& running) {
    auto id = info.host_id;
    auto rec = store_.host(id);
    info.drain = rec && rec->drain;
    HostRecord r = rec.value_or(HostRecord{});
    r.id = id;
    r.name = info.name;
    r.state = "up";
    r.last_seen = unix_now();
    r.display_url = info.display_url;
    r.auth = info.auth;
    r.apps = info.apps;
    r.max_sessions = info.max_sessions;
    r.broker_id = cluster_.broker_id();
    r.live = Cluster::live_json(info);
    store_.upsert_host(r);
    auto old = registry_.add(std::move(info));
    if (old) {
        // Its previous connection, here or (a remote entry's link) at the broker that held it.
        log::info("host ", id, " re-registered; closing its previous control connection");
        if (on_host_down_) on_host_down_(id, "the host reconnected while starting the session");
        old->close();
    }
    return running ? reconcile(id, *running) : std::vector<std::string>{};
}

std::vector<std::string> HostDirectory::reconcile(const std::string& host_id, const std::vector<std::string>& running) {
    const auto now = unix_now();
    std::vector<std::string> end_now;
    std::set<std::string> runs(running.begin(), running.end());
    for (const auto& id : running) {
        auto s = store_.session(id);
        if (s && s->host_id == host_id && s->state == SessionState::lost) {
            if (store_.revive_session(id, host_id, now)) {
                audit_.record("-", "session.revive", id, "", "its host " + host_id + " came back with it running");
                log::info("session ", id, " of host ", host_id, " is back (the host still runs it)");
            }
        } else if (!s || s->host_id != host_id || !is_live(s->state)) {
            end_now.push_back(protocol::control::serialize(protocol::control::EndSession{id}));
        }
    }
    // What the store has running there that the host no longer runs (it restarted meanwhile).
    for (const auto& s : store_.live_sessions()) {
        if (s.host_id != host_id || runs.count(s.id) || s.state == SessionState::starting) continue;
        const bool logging_off = s.state == SessionState::ending;
        ends_.finish(s.id, logging_off ? SessionState::ended : SessionState::lost,
                     logging_off ? end_reason::user_logoff : end_reason::host_lost, now);
    }
    if (!end_now.empty())
        log::info("host ", host_id, " runs ", end_now.size(), " session(s) that are over here; ending them");
    return end_now;
}

bool HostDirectory::disconnected(const std::string& host_id, const ControlLink* link) {
    return registry_.remove(host_id, link);
}

void HostDirectory::down(const std::string& host_id, const std::string& why) {
    auto now = unix_now();
    if (!store_.release_host(host_id, cluster_.broker_id(), now)) {
        if (on_host_down_) on_host_down_(host_id, "the host disconnected");
        log::info("host ", host_id, " left this broker (", why, "); another broker holds it now");
        return;
    }
    gone(host_id, why, now);
}

void HostDirectory::gone(const std::string& host_id, const std::string& why, std::int64_t now) {
    if (on_host_down_) on_host_down_(host_id, "the host disconnected");
    auto lost = ends_.lose_host(host_id, now);  // takes their usage before the figures go
    live_stats_.drop_host(host_id);
    metrics_.sessions_lost += lost.size();
    audit_.record("-", "host.down", host_id, "",
                  why + (lost.empty() ? "" : "; " + std::to_string(lost.size()) + " sessions lost"));
    log::warn("host ", host_id, " is down (", why, "); ", lost.size(), " sessions lost");
}

void HostDirectory::heartbeat(const std::string& host_id, const ControlLink* link, int sessions, double cpu,
                              double mem) {
    registry_.heartbeat(host_id, link, sessions, cpu, mem);
    // One broker alone (SQLite) holds every host: nobody else reads the row between registrations,
    // and a write per heartbeat would only queue before launches on the store thread.
    if (cluster_.shared()) beats_[host_id] = link;
}

void HostDirectory::write_heartbeats() {
    if (beats_.empty()) return;  // a lone broker (SQLite) queues none
    std::vector<Store::HostBeat> beats;
    std::vector<HostInfo> hosts;
    auto streams = live_stats_.by_host(unix_now());
    for (const auto& [host_id, link] : beats_) {
        auto h = registry_.get(host_id);
        if (!h || h->link.get() != link) continue;  // gone or registered again since (that wrote its row)
        beats.push_back({host_id, Cluster::live_json(*h, streams[host_id])});
        hosts.push_back(std::move(*h));
    }
    beats_.clear();
    if (beats.empty()) return;
    // Written for the other brokers (placement, the gateway) and as proof this broker still holds
    // them; refused when another broker has taken a host over, so this connection is stale.
    auto written = store_.host_heartbeats(beats, cluster_.broker_id(), unix_now());
    for (std::size_t i = 0; i < written.size() && i < hosts.size(); ++i) {
        if (written[i]) continue;
        const auto& h = hosts[i];
        log::warn("host ", h.host_id, " is held by another broker or was removed; closing its connection here");
        if (registry_.remove(h.host_id, h.link.get())) h.link->close();
    }
}

void HostDirectory::check_liveness() {
    try {
        write_heartbeats();
    } catch (const std::exception& e) {  // the liveness check below still runs
        log::error("writing the hosts' heartbeats: ", e.what());
    }
    for (auto& h : registry_.take_stale(std::chrono::seconds(config_.heartbeat_timeout_seconds))) {
        down(h.host_id, "no heartbeat for " + std::to_string(config_.heartbeat_timeout_seconds) + " s");
        if (h.link) h.link->close();
    }
    if (!cluster_.shared() ||
        std::chrono::steady_clock::now() - started_ < std::chrono::seconds(config_.lost_grace_seconds))
        return;
    const auto now = unix_now();
    for (const auto& id : store_.take_silent_hosts(now - config_.heartbeat_timeout_seconds, now))
        gone(id, "its broker wrote no heartbeat for " + std::to_string(config_.heartbeat_timeout_seconds) + " s", now);
}

Result<void, ApiErrorCode> HostDirectory::set_drain(const Caller& caller, const std::string& id, bool drain) {
    bool known = store_.set_host_drain(id, drain);
    known = registry_.set_drain(id, drain) || known;
    if (!known) return Error<ApiErrorCode>{ApiErrorCode::not_found, "no such host"};
    audit_.record(caller.name, drain ? "host.drain" : "host.undrain", id, caller.ip);
    log::info(caller.name, drain ? " drained host " : " undrained host ", id);
    return {};
}

Result<void, ApiErrorCode> HostDirectory::remove(const Caller& caller, const std::string& id) {
    auto live = registry_.get(id);
    bool known = store_.delete_host(id);
    if (!known && !live) return Error<ApiErrorCode>{ApiErrorCode::not_found, "no such host"};
    if (live && registry_.remove(id, nullptr)) {
        if (on_host_down_) on_host_down_(id, "the host was removed");
        auto lost = ends_.lose_host(id, unix_now());
        live_stats_.drop_host(id);
        metrics_.sessions_lost += lost.size();
        live->link->close();
    }
    audit_.record(caller.name, "host.remove", id, caller.ip);
    log::info(caller.name, " removed host ", id);
    return {};
}

std::vector<HostView> HostDirectory::list() {
    auto rows = store_.hosts();
    std::map<std::string, HostInfo> live;
    for (auto& h : registry_.snapshot()) {
        auto id = h.host_id;  // before h is moved: argument order is unspecified
        live.emplace(std::move(id), shown(std::move(h)));
    }
    std::vector<HostView> out;
    for (auto& r : rows) {
        auto it = live.find(r.id);
        if (it == live.end()) {
            out.push_back(HostView{std::move(r), std::nullopt});
        } else {
            out.push_back(HostView{std::move(r), std::move(it->second)});
            live.erase(it);
        }
    }
    for (auto& [id, h] : live)
        out.push_back(HostView{std::nullopt, std::move(h)});  // registered since the rows were read
    return out;
}

std::optional<HostView> HostDirectory::get(const std::string& id) {
    auto rec = store_.host(id);
    auto live = registry_.get(id);
    if (!rec && !live) return std::nullopt;
    if (live) live = shown(std::move(*live));
    return HostView{std::move(rec), std::move(live)};
}

HostInfo HostDirectory::shown(HostInfo h) const {
    if (h.broker_id.empty()) h.broker_id = cluster_.broker_id();  // the views name the holder, this one too
    return h;
}

HostDirectory::Counts HostDirectory::counts() {
    Counts c;
    std::set<std::string> live_ids;
    for (auto& h : registry_.snapshot()) {
        live_ids.insert(h.host_id);
        (h.drain ? c.draining : c.up)++;
    }
    for (auto& r : store_.hosts())
        if (!live_ids.count(r.id)) c.down++;
    return c;
}

Result<HostInfo, ApiErrorCode> HostDirectory::gateway_target(const std::string& session_id) {
    auto s = store_.session(session_id);
    if (!s || !is_live(s->state)) return Error<ApiErrorCode>{ApiErrorCode::not_found, "no such session"};
    auto h = registry_.get(s->host_id);
    if (!h) return Error<ApiErrorCode>{ApiErrorCode::no_host, "the session's host is not connected"};
    return *h;
}

}  // namespace portico::broker

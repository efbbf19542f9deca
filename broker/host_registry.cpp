#include "broker/host_registry.hpp"

#include "broker/placement.hpp"
#include "common/crypto.hpp"

#include <algorithm>

namespace portico::broker {

std::uint64_t random_request_id_base() {
    std::uint64_t v = 0;
    for (auto b : crypto::random_bytes(8)) v = (v << 8) | b;
    return (v & ((std::uint64_t{1} << 52) - 1)) | 1;
}

std::shared_ptr<ControlLink> HostRegistry::add(HostInfo info) {
    std::lock_guard lk(mu_);
    info.last_heartbeat = std::chrono::steady_clock::now();
    std::shared_ptr<ControlLink> old;
    auto it = hosts_.find(info.host_id);
    if (it != hosts_.end()) {
        old = std::move(it->second.link);
        it->second = std::move(info);
    } else {
        auto id = info.host_id;
        hosts_.emplace(std::move(id), std::move(info));
    }
    return old;
}

bool HostRegistry::remove(const std::string& host_id, const ControlLink* link) {
    std::lock_guard lk(mu_);
    auto it = hosts_.find(host_id);
    if (it == hosts_.end() || (link && it->second.link.get() != link)) return false;
    hosts_.erase(it);
    return true;
}

std::optional<HostInfo> HostRegistry::get(const std::string& host_id) const {
    std::lock_guard lk(mu_);
    auto it = hosts_.find(host_id);
    if (it == hosts_.end()) return std::nullopt;
    return it->second;
}

std::optional<HostInfo> HostRegistry::pick_and_reserve(const PlacementRequest& request) {
    std::lock_guard lk(mu_);
    std::vector<const HostInfo*> candidates;
    candidates.reserve(hosts_.size());
    for (auto& [_, h] : hosts_) candidates.push_back(&h);
    auto* chosen = choose_host(candidates, request);
    if (!chosen) return std::nullopt;
    auto& h = hosts_.at(chosen->host_id);
    ++h.starting;
    recount(h);
    return h;
}

void HostRegistry::release_reservation(const std::string& host_id) {
    std::lock_guard lk(mu_);
    auto it = hosts_.find(host_id);
    if (it == hosts_.end()) return;
    it->second.starting = std::max(0, it->second.starting - 1);
    recount(it->second);
}

void HostRegistry::reservation_started(const std::string& host_id) {
    std::lock_guard lk(mu_);
    auto it = hosts_.find(host_id);
    if (it == hosts_.end()) return;
    it->second.starting = std::max(0, it->second.starting - 1);
    it->second.started_unseen.push_back(std::chrono::steady_clock::now());
    recount(it->second);
}

void HostRegistry::recount(HostInfo& h) {
    const auto old = std::chrono::steady_clock::now() - kStartsCounted;
    std::erase_if(h.started_unseen, [&](auto t) { return t < old; });
    h.sessions = h.reported_sessions + h.starting + static_cast<int>(h.started_unseen.size());
}

void HostRegistry::heartbeat(const std::string& host_id, const ControlLink* link, int sessions, double cpu,
                             double mem) {
    std::lock_guard lk(mu_);
    auto it = hosts_.find(host_id);
    if (it == hosts_.end() || it->second.link.get() != link) return;
    it->second.reported_sessions = std::max(0, sessions);
    it->second.started_unseen.clear();  // sent after their session_ready: it counts them
    recount(it->second);
    it->second.cpu = cpu;
    it->second.mem = mem;
    it->second.last_heartbeat = std::chrono::steady_clock::now();
}

bool HostRegistry::set_drain(const std::string& host_id, bool drain) {
    std::lock_guard lk(mu_);
    auto it = hosts_.find(host_id);
    if (it == hosts_.end()) return false;
    it->second.drain = drain;
    return true;
}

std::vector<HostInfo> HostRegistry::take_stale(std::chrono::steady_clock::duration timeout) {
    std::lock_guard lk(mu_);
    std::vector<HostInfo> out;
    auto now = std::chrono::steady_clock::now();
    for (auto it = hosts_.begin(); it != hosts_.end();) {
        if (it->second.broker_id.empty() && now - it->second.last_heartbeat > timeout) {
            out.push_back(std::move(it->second));
            it = hosts_.erase(it);
        } else {
            ++it;
        }
    }
    return out;
}

void HostRegistry::set_remote(std::vector<HostInfo> remote) {
    std::vector<std::shared_ptr<ControlLink>> dropped;  // released outside the lock
    std::lock_guard lk(mu_);
    std::unordered_map<std::string, HostInfo> listed;
    for (auto& h : remote) {
        auto id = h.host_id;
        listed.emplace(std::move(id), std::move(h));
    }
    for (auto it = hosts_.begin(); it != hosts_.end();) {
        if (!it->second.broker_id.empty() && !listed.count(it->first)) {
            dropped.push_back(std::move(it->second.link));
            it = hosts_.erase(it);
        } else {
            ++it;
        }
    }
    for (auto& [id, h] : listed) {
        auto it = hosts_.find(id);
        if (it == hosts_.end()) {
            recount(h);
            hosts_.emplace(id, std::move(h));
        } else if (!it->second.broker_id.empty()) {
            // Its holder's figure does not know what this broker placed there just now.
            h.starting = it->second.starting;
            h.started_unseen = std::move(it->second.started_unseen);
            recount(h);
            it->second = std::move(h);
        }
    }
}

std::vector<HostInfo> HostRegistry::local_snapshot() const {
    std::lock_guard lk(mu_);
    std::vector<HostInfo> out;
    for (auto& [_, h] : hosts_)
        if (h.broker_id.empty()) out.push_back(h);
    return out;
}

std::vector<HostInfo> HostRegistry::snapshot() const {
    std::lock_guard lk(mu_);
    std::vector<HostInfo> out;
    out.reserve(hosts_.size());
    for (auto& [_, h] : hosts_) out.push_back(h);
    return out;
}

void HostRegistry::clear() {
    std::unordered_map<std::string, HostInfo> gone;
    {
        std::lock_guard lk(mu_);
        gone.swap(hosts_);
    }
}

std::size_t HostRegistry::size() const {
    std::lock_guard lk(mu_);
    return hosts_.size();
}

}  // namespace portico::broker

#include "broker/host_registry.hpp"

#include <algorithm>

namespace portico::broker {

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
    if (it == hosts_.end() || it->second.link.get() != link) return false;
    hosts_.erase(it);
    return true;
}

std::optional<HostInfo> HostRegistry::get(const std::string& host_id) const {
    std::lock_guard lk(mu_);
    auto it = hosts_.find(host_id);
    if (it == hosts_.end()) return std::nullopt;
    return it->second;
}

std::optional<HostInfo> HostRegistry::pick_and_reserve(const std::string& id, const std::string& name) {
    std::lock_guard lk(mu_);
    HostInfo* best = nullptr;
    for (auto& [_, h] : hosts_) {
        bool offers = std::any_of(h.apps.begin(), h.apps.end(),
                                  [&](const std::string& a) { return a == "*" || a == id || a == name; });
        if (!offers || h.sessions >= h.max_sessions) continue;
        if (!best || h.sessions < best->sessions) best = &h;
    }
    if (!best) return std::nullopt;
    ++best->sessions;
    return *best;
}

std::optional<HostInfo> HostRegistry::pick_and_reserve_image(const std::string& image, const std::string& only_host) {
    std::lock_guard lk(mu_);
    HostInfo* best = nullptr;
    for (auto& [_, h] : hosts_) {
        if (!only_host.empty() && h.host_id != only_host) continue;
        if (std::find(h.images.begin(), h.images.end(), image) == h.images.end()) continue;
        if (h.sessions >= h.max_sessions) continue;
        if (!best || h.sessions < best->sessions) best = &h;
    }
    if (!best) return std::nullopt;
    ++best->sessions;
    return *best;
}

std::vector<std::shared_ptr<ControlLink>> HostRegistry::links() const {
    std::lock_guard lk(mu_);
    std::vector<std::shared_ptr<ControlLink>> out;
    for (const auto& [_, h] : hosts_)
        if (h.link) out.push_back(h.link);
    return out;
}

void HostRegistry::adjust_sessions(const std::string& host_id, int delta) {
    std::lock_guard lk(mu_);
    auto it = hosts_.find(host_id);
    if (it != hosts_.end()) it->second.sessions = std::max(0, it->second.sessions + delta);
}

void HostRegistry::heartbeat(const std::string& host_id, const ControlLink* link, int sessions) {
    std::lock_guard lk(mu_);
    auto it = hosts_.find(host_id);
    if (it == hosts_.end() || it->second.link.get() != link) return;
    it->second.sessions = std::max(0, sessions);
    it->second.last_heartbeat = std::chrono::steady_clock::now();
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

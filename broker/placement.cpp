#include "broker/placement.hpp"

#include <algorithm>

namespace portico::broker {

bool offers(const HostInfo& h, const PlacementRequest& r) {
    if (!r.only_host.empty() && h.host_id != r.only_host) return false;
    if (!r.image.empty()) return std::find(h.images.begin(), h.images.end(), r.image) != h.images.end();
    return std::any_of(h.apps.begin(), h.apps.end(), [&](const std::string& a) {
        if (!r.host_group.empty()) return a == "*" || a == r.host_group;
        return a == "*" || a == r.resource_id || a == r.resource_name;
    });
}

double load_index(const HostInfo& h) {
    double fill = h.max_sessions > 0 ? static_cast<double>(h.sessions) / h.max_sessions : 1.0;
    return std::max({fill, std::clamp(h.cpu, 0.0, 1.0), std::clamp(h.mem, 0.0, 1.0)});
}

bool accepts_new_sessions(const HostInfo& h) { return !h.drain && h.sessions < h.max_sessions; }

const HostInfo* choose_host(const std::vector<const HostInfo*>& candidates, const PlacementRequest& r) {
    const HostInfo* best = nullptr;
    double best_load = 0;
    for (const auto* h : candidates) {
        if (!h || !accepts_new_sessions(*h) || !offers(*h, r)) continue;
        double l = load_index(*h);
        if (!best || l < best_load ||
            (l == best_load &&
             (h->sessions < best->sessions || (h->sessions == best->sessions && h->host_id < best->host_id)))) {
            best = h;
            best_load = l;
        }
    }
    return best;
}

}  // namespace portico::broker

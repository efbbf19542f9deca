#pragma once
// Host placement policy for new sessions, as pure functions over candidate hosts so other
// resource kinds (desktop pools) can filter candidates their own way and reuse the choice.
// Called under the HostRegistry lock (must not block).

#include "broker/host_registry.hpp"

#include <string>
#include <vector>

namespace portico::broker {

struct PlacementRequest {
    std::string resource_id, resource_name;
    std::string host_group;  // when set, only hosts offering this name qualify
    std::string image;       // a desktop pool's golden image: only hosts that have it qualify
    std::string only_host;   // when set, only this host (where a dedicated desktop's disk lives)
};

// Whether the host offers the resource: for a desktop, it has the image (and is `only_host` when
// given); for an app, its `apps` contains "*", the id or the name (or, when the resource has a
// host group, that group's name).
bool offers(const HostInfo& h, const PlacementRequest& r);

// 0 = idle … 1 = full: the highest of session fill, CPU and memory use.
double load_index(const HostInfo& h);

// Whether a host may take a new session at all: not draining, below its session limit.
bool accepts_new_sessions(const HostInfo& h);

// The least-loaded eligible candidate (ties: fewer sessions, then host id), or nullptr.
const HostInfo* choose_host(const std::vector<const HostInfo*>& candidates, const PlacementRequest& r);

}  // namespace portico::broker

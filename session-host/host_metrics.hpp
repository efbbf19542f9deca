#pragma once
// The session host's GET /metrics (Prometheus text, common/prometheus_text.hpp): its sessions by
// kind and state, viewers, display connections, what it streamed (StreamCounters), its VMs, and
// what the machine and the process use (SystemFigures). Every name is in docs/metrics.md, and
// the test observability_metrics checks that the two agree. Pure; any thread.

#include "session-host/session_manager.hpp"
#include "session-host/stream/stream_counters.hpp"
#include "session-host/system_figures.hpp"
#include "session-host/vm/vm_desktops.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace portico::host {

// The gauges read when /metrics is scraped.
struct HostGauges {
    std::string host_id;
    SessionManager::Census sessions;
    int session_limit = 0;  // --max-sessions
    std::size_t display_connections = 0;
    std::uint64_t display_connections_refused = 0;  // closed at once for a connection limit
    VmDesktops::Census vms;                         // zeros on a host without VM desktops
    SystemFigures system;
};

std::string render_host_metrics(const StreamCounters& streamed, const HostGauges& gauges);

// The version this host was built as (CMake's project version).
const char* host_version();

}  // namespace portico::host

#pragma once
// The one place the broker's figures become Prometheus text (GET /metrics, text format 0.0.4):
// the counters and histogram of Metrics plus the gauges read at scrape time. Pure; any thread.

#include "broker/metrics.hpp"

#include <cstdint>
#include <string>

namespace portico::broker {

// Gauges read when /metrics is scraped.
struct MetricsGauges {
    int sessions_starting = 0, sessions_active = 0, sessions_disconnected = 0;
    int hosts_up = 0, hosts_draining = 0, hosts_down = 0;
    std::int64_t session_viewers = 0;    // viewers of live sessions, as their hosts last reported
    std::size_t sessions_streaming = 0;  // sessions whose hosts report live figures
};

std::string render_prometheus(const Metrics& counters, const MetricsGauges& gauges);

}  // namespace portico::broker

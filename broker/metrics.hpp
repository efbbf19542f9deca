#pragma once
// Counters and the launch-latency histogram behind GET /metrics (rendered by prometheus.hpp).
// Lock-free (atomics); updated from network and worker threads, read by the scrape.

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace portico::broker {

struct Metrics {
    static constexpr std::array<double, 13> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                        0.25,  0.5,    1,     2.5,  5,     20};
    std::atomic<std::uint64_t> launches_ok{0}, launches_reconnect{0}, launches_failed{0}, launches_no_host{0},
        launches_denied{0};
    std::atomic<std::uint64_t> logins_ok{0}, logins_failed{0}, logins_rate_limited{0};
    std::atomic<std::uint64_t> sessions_ended{0}, sessions_lost{0};
    std::array<std::atomic<std::uint64_t>, kBuckets.size()> latency_buckets{};
    std::atomic<std::uint64_t> latency_count{0}, latency_sum_us{0};

    void observe_launch(double seconds) {
        for (std::size_t i = 0; i < kBuckets.size(); ++i)
            if (seconds <= kBuckets[i]) latency_buckets[i].fetch_add(1, std::memory_order_relaxed);
        latency_count.fetch_add(1, std::memory_order_relaxed);
        latency_sum_us.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
    }
};

}  // namespace portico::broker

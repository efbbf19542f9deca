#pragma once
// StreamCounters: what every session of this host has streamed since the host started, for GET
// /metrics (host_metrics.hpp). StreamSession feeds it from account_frame, the one place a frame
// that went out is counted (the same call feeds the session's 2 s RollingStats for the console),
// and from its capture loop. Lock-free; any thread.

#include "common/prometheus_text.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

namespace portico::host {

struct StreamCounters {
    // What a frame carried, as its FramePlan (or refinement) named it: H.264 (whole or reduced
    // motion), image tiles (including the refinement of lossy parts), or tiles that only move what
    // the client shows (scrolls and window moves, with any tiles they uncover).
    enum class FrameKind { video, tiles, copy };
    static constexpr std::array<FrameKind, 3> kFrameKinds{FrameKind::video, FrameKind::tiles, FrameKind::copy};
    static const char* name(FrameKind k) {
        switch (k) {
            case FrameKind::video: return "video";
            case FrameKind::tiles: return "tiles";
            case FrameKind::copy: return "copy";
        }
        return "tiles";
    }
    // The frame log's plan names (frame_planner.hpp) mapped to the kinds above.
    static FrameKind kind_of(std::string_view plan_name) {
        if (plan_name.rfind("h264", 0) == 0) return FrameKind::video;
        if (plan_name == "scroll" || plan_name == "move") return FrameKind::copy;
        return FrameKind::tiles;
    }

    // Capture to send, per frame: a frame interval at 30 fps is 33 ms.
    static constexpr std::array<double, 10> kEncodeBuckets{0.001, 0.0025, 0.005, 0.01, 0.02, 0.033, 0.05, 0.1, 0.25, 1};

    std::array<std::atomic<std::uint64_t>, kFrameKinds.size()> frames{};  // by FrameKind
    std::atomic<std::uint64_t> frame_bytes{0};  // each frame's size times the viewers it went to
    prometheus::Histogram<kEncodeBuckets.size()> encode_seconds{kEncodeBuckets};
    // Capture failures: temporary (retried on the next turn) and the display lost for good (the
    // session then ends).
    std::atomic<std::uint64_t> capture_retried{0}, capture_lost{0};

    void frame_sent(std::string_view plan_name, std::size_t bytes, int receivers, double encode) {
        frames[static_cast<std::size_t>(kind_of(plan_name))].fetch_add(1, std::memory_order_relaxed);
        frame_bytes.fetch_add(static_cast<std::uint64_t>(bytes) * static_cast<std::uint64_t>(receivers),
                              std::memory_order_relaxed);
        encode_seconds.observe(encode);
    }
};

}  // namespace portico::host

#pragma once
// MotionScale: whether full-motion H.264 goes out at full or half resolution, decided from how
// long the viewers take to paint video frames (FrameAck.paint_us). A client that decodes in
// software (a browser without a GPU, a thin client) may need 15-20 ms for a 1080p frame: then a
// half-size picture, scaled up by the client, paints in a fraction of that, so motion stays fluid
// and latency low (KasmVNC's video-mode scaling does the same). Text is not hurt for long: the
// host refines to lossless at full resolution as soon as the motion stops. Not thread-safe: the
// owner serializes reports (network threads) and decisions (capture thread).

#include <cstdint>
#include <deque>

namespace portico::host {

class MotionScale {
public:
    // The per-frame arrival-to-painted budget (the web client's target, issue 6).
    static constexpr double kBudgetMs = 10.0;
    // Half resolution has a quarter of the pixels; go back to full only when that would clearly
    // fit (estimated full cost = 4 x half cost < this share of the budget).
    static constexpr double kUpshiftShare = 0.6;
    static constexpr std::size_t kWindow = 9;      // reports a decision looks at (median)
    static constexpr std::size_t kMinReports = 5;  // before any change

    // A video frame went out (at half resolution or not).
    void on_sent(std::uint32_t frame_id, bool half);
    // A viewer painted it in paint_us (0 = not reported: ignored; unknown frames too).
    void on_painted(std::uint32_t frame_id, std::uint32_t paint_us);
    // What the next full-motion frame should be.
    bool half() const { return half_; }

private:
    struct Sent {
        std::uint32_t id;
        bool half;
    };
    static constexpr std::size_t kSentKept = 64;
    std::deque<Sent> sent_;       // recent video frames, to tell which mode a report is about
    std::deque<double> reports_;  // paint ms of frames sent in the current mode, newest last
    bool half_ = false;
};

}  // namespace portico::host

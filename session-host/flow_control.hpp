#pragma once
// FlowControl: one viewer's bookkeeping of frames sent but not yet acknowledged (FrameAck), so the
// capture loop can pause for a slow client instead of queueing, and drop one that stays stuck.
// Besides a frame count, the bytes in flight are bounded by what the viewer's link delivers in
// kTargetDelay (its delivery rate measured from the acks, the largest of the last 2 s): on a slow
// link only about one frame is on its way, so the newest picture is never seconds behind.
// Not thread-safe; the owning AppSession guards it with its viewer mutex.

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>

namespace portico::host {

class FlowControl {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::size_t kMaxUnacked = 4;
    static constexpr std::chrono::seconds kStallLimit{10};
    static constexpr auto kTargetDelay = std::chrono::milliseconds(150);
    static constexpr std::size_t kMinBudgetBytes = 16 * 1024;
    // Smaller deliveries say more about the round trip than about the link's rate.
    static constexpr std::size_t kMinSampleBytes = 16 * 1024;
    static constexpr auto kRateWindow = std::chrono::seconds(2);

    void on_sent(std::uint32_t frame_id, Clock::time_point now, std::size_t bytes = 0);
    // Frames arrive in order, so an ack covers every earlier frame too. Acks of frames never sent
    // only release what was really sent. Returns the round trip of the newest frame it released
    // (send -> ack arrival), none if it released nothing.
    std::optional<Clock::duration> on_ack(std::uint32_t frame_id, Clock::time_point now);

    std::size_t unacked() const { return pending_.size(); }
    std::size_t bytes_in_flight() const { return in_flight_bytes_; }
    // Bytes per second the viewer's link delivered at best over the last 2 s (0 = not measured).
    double delivery_rate() const;
    // Pause capture: too many frames, or too many bytes for the link, on their way. One frame may
    // always be in flight, whatever its size.
    bool blocked() const;
    // True once the viewer has been blocked continuously for longer than kStallLimit.
    bool stalled(Clock::time_point now) const;

private:
    void update_blocked(Clock::time_point now);
    struct Sent {
        std::uint32_t id;
        Clock::time_point at;
        std::size_t bytes;
    };
    struct RateSample {
        Clock::time_point at;
        double bytes_per_s;
    };
    std::deque<Sent> pending_;
    std::size_t in_flight_bytes_ = 0;
    std::deque<RateSample> rates_;
    std::optional<Clock::time_point> last_ack_;  // with frames still pending after it
    std::optional<Clock::time_point> blocked_since_;
};

}  // namespace portico::host

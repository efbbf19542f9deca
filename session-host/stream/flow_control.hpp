#pragma once
// FlowControl: one viewer's bookkeeping of frames sent but not yet acknowledged (FrameAck), so the
// capture loop can pause for a slow client instead of queueing, and drop one that stays stuck.
// Besides a frame count, the bytes in flight are bounded by what the viewer's link delivers in
// kTargetDelay (its delivery rate measured from the acks, the largest of the last 2 s): on a slow
// link only about one frame is on its way, so the newest picture is never seconds behind.
// A viewer that reports how long it spends on each frame (FrameAck.paint_us) is also paced: only
// as many frames go out as the network's round trip needs to stay busy (one on a LAN), so a frame
// never waits in the viewer behind another one still being decoded; the host instead sends the
// freshest picture when the viewer is ready for it.
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
    // Pacing: one frame in flight, plus one per kPaceInterval of network round trip (the least
    // seen over kRoundTripWindow, viewer time taken out), up to kMaxUnacked.
    static constexpr auto kPaceInterval = std::chrono::milliseconds(16);
    static constexpr auto kRoundTripWindow = std::chrono::seconds(10);

    void on_sent(std::uint32_t frame_id, Clock::time_point now, std::size_t bytes = 0);
    // Frames arrive in order, so an ack covers every earlier frame too. Acks of frames never sent
    // only release what was really sent. Returns the round trip of the newest frame it released
    // (send -> ack arrival), none if it released nothing. viewer_time: how long the viewer spent
    // on the acknowledged frame from its arrival to painted (zero = not reported).
    std::optional<Clock::duration> on_ack(std::uint32_t frame_id, Clock::time_point now,
                                          Clock::duration viewer_time = Clock::duration::zero());

    std::size_t unacked() const { return pending_.size(); }
    std::size_t bytes_in_flight() const { return in_flight_bytes_; }
    // Bytes per second the viewer's link delivered at best over the last 2 s (0 = not measured).
    double delivery_rate() const;
    // Pause capture: too many frames, or too many bytes for the link, on their way. One frame may
    // always be in flight, whatever its size.
    bool blocked() const;
    // How many frames may be in flight: kMaxUnacked until the viewer reports its own time, then
    // enough to cover the network's round trip (1 on a LAN).
    std::size_t frame_window() const;
    // Pause capture for this viewer: blocked by the link, or it still has all the frames its
    // window allows to paint.
    bool held() const;
    // True once the viewer has been held continuously for longer than kStallLimit.
    bool stalled(Clock::time_point now) const;

private:
    void update_held(Clock::time_point now);
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
    struct RoundTrip {
        Clock::time_point at;
        Clock::duration network;  // send -> ack, less the viewer's own time
    };
    std::deque<RoundTrip> round_trips_;
    std::optional<Clock::time_point> last_ack_;  // with frames still pending after it
    std::optional<Clock::time_point> held_since_;
};

}  // namespace portico::host

#pragma once
// FlowControl: one viewer's bookkeeping of frames sent but not yet acknowledged (FrameAck), so the
// capture loop can pause for a slow client instead of queueing, and drop one that stays stuck.
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

    void on_sent(std::uint32_t frame_id, Clock::time_point now);
    // Frames arrive in order, so an ack covers every earlier frame too. Acks of frames never sent
    // only release what was really sent. Returns the round trip of the newest frame it released
    // (send -> ack arrival), none if it released nothing.
    std::optional<Clock::duration> on_ack(std::uint32_t frame_id, Clock::time_point now);

    std::size_t unacked() const { return pending_.size(); }
    bool blocked() const { return pending_.size() >= kMaxUnacked; }
    // True once the viewer has been blocked continuously for longer than kStallLimit.
    bool stalled(Clock::time_point now) const;

private:
    void update_blocked(Clock::time_point now);
    struct Sent {
        std::uint32_t id;
        Clock::time_point at;
    };
    std::deque<Sent> pending_;
    std::optional<Clock::time_point> blocked_since_;
};

}  // namespace portico::host

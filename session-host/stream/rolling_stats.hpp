#pragma once
// RollingStats: a session's rolling figures over the last ~2 s (frames/s, kbit/s, median encode
// time, median ack round trip, frames skipped, input-to-photon) for the broker's console.
// Not thread-safe: StreamSession guards it with its own mutex. Times are passed in, so unit tests
// drive it with a fake clock.

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>

namespace portico::host {

class RollingStats {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::milliseconds kWindow{2000};
    // An input whose first damaged frame comes later than this caused no visible change (a modifier,
    // a click on nothing); counting the next unrelated change would make the figure meaningless.
    static constexpr std::chrono::milliseconds kPhotonLimit{1000};

    struct Snapshot {
        std::optional<double> fps, kbps, rtt_ms, encode_ms, input_to_photon_ms;
        std::int64_t skipped = 0;
    };

    // A frame went out: its size, how long capture-to-send encoding took, and whether it carried
    // new screen content (refinement of still content does not end an input's wait).
    void on_frame(Clock::time_point now, std::size_t bytes, Clock::duration encode, bool damage);
    void on_rtt(Clock::time_point now, Clock::duration rtt);
    void on_skipped(Clock::time_point now, std::int64_t frames);
    // A viewer's input that may change the screen (a key press, a button, the wheel) arrived.
    void on_input(Clock::time_point now);

    // Figures over the window ending at `now`; a figure is unknown when nothing measured it
    // (fps and kbps are 0, not unknown, when nothing was sent: that is the measurement).
    Snapshot snapshot(Clock::time_point now);

private:
    struct Sample {
        Clock::time_point at;
        double value;
    };
    void prune(Clock::time_point now);
    static std::optional<double> median(const std::deque<Sample>& s);

    std::deque<Sample> frames_;  // value: bytes
    std::deque<Sample> encode_ms_, rtt_ms_, photon_ms_, skipped_;
    std::optional<Clock::time_point> input_waiting_;  // the oldest input not yet shown
};

}  // namespace portico::host

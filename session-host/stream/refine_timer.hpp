#pragma once
// RefineTimer: when each part of the screen has been still long enough to be refined to lossless
// (build-to-lossless), on the LossyMap's 64x64 grid. Pure (the caller passes the time, so tests use
// a fake clock); the capture thread of a StreamSession owns one.
//
// A cell that changes now and then (typing, a menu) is ready kFastDelay after its last change. A
// cell in sustained motion — it has kept changing, with no pause longer than kPause, for at least
// kMotionAfter (a video, a drag), or has been redrawn whole at least twice in a row (the first
// frames of a video) — waits until it has been still for longer than its own cadence: the larger
// of kCadenceFactor times its mean interval between changes and that mean plus four mean
// deviations (as TCP's retransmission timer), so a player that stalls between frames on a busy
// machine is not re-sent at lossless quality in every stall. That is KasmVNC's video mode and
// Citrix's build-to-lossless. kMaxDelay caps the wait so text still ends exact within a second.
// The same motion state picks H.264 for a video that fills only part of the screen (motion_area).

#include "capture/damage.hpp"
#include "capture/frame.hpp"
#include "session-host/stream/lossy_map.hpp"

#include <chrono>
#include <utility>
#include <vector>

namespace portico::host {

class RefineTimer {
public:
    using Clock = std::chrono::steady_clock;
    using Duration = Clock::duration;
    static constexpr int kCell = LossyMap::kCell;
    static constexpr Duration kFastDelay = std::chrono::milliseconds(150);
    static constexpr Duration kMotionAfter = std::chrono::milliseconds(500);
    static constexpr Duration kPause = std::chrono::milliseconds(1000);
    static constexpr Duration kMaxDelay = std::chrono::milliseconds(600);
    static constexpr int kCadenceFactor = 3;

    void reset(int width, int height);  // forgets all history: every cell is still
    // The pixels in r changed at `now` (times must not go backwards).
    void changed(const capture::Rect& r, Clock::time_point now);
    // Whether cell (cx, cy) has been still long enough to be refined.
    bool ready(int cx, int cy, Clock::time_point now) const;
    // How long the cell must stay still after its last change before it is refined.
    Duration delay(int cx, int cy) const;
    bool in_motion(int cx, int cy) const;
    // How many pixels of `region` lie in cells in sustained motion.
    long long motion_area(const capture::DamageRegion& region) const;

private:
    struct Cell {
        Clock::time_point run_start{};  // first change of the current run (no pause > kPause)
        Clock::time_point last{};
        Duration interval{};    // mean interval between changes within the run
        Duration deviation{};   // mean deviation of those intervals from the mean
        int whole_redraws = 0;  // changes in a row that covered at least half the cell
        bool seen = false;
    };
    const Cell& at(int cx, int cy) const;
    Cell& at(int cx, int cy) { return const_cast<Cell&>(std::as_const(*this).at(cx, cy)); }

    int width_ = 0, height_ = 0, cols_ = 0, rows_ = 0;
    std::vector<Cell> cells_;
};

}  // namespace portico::host

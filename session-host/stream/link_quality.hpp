#pragma once
// LinkQuality: the session's encoding quality, adapted to how fast its viewers' links take frames.
// When a link holds capture back for much of the time (FlowControl::blocked: the bytes in flight
// fill what it delivers), quality steps down, so each update costs fewer bytes and the picture
// stays current; when the link keeps up again it steps back. A client that only paints slowly is
// paced instead (FlowControl::held) and does not lower quality. Lossless
// refinement is not affected: text still ends exact once the screen is still. Capture thread only.

#include <chrono>
#include <cstddef>

namespace portico::host {

class LinkQuality {
public:
    using Clock = std::chrono::steady_clock;
    struct Level {
        int crf;           // x264 constant rate factor of H.264 frames
        int jpeg_quality;  // JPEG tiles of photo-like content (palette tiles stay lossless)
    };
    static constexpr Level kLevels[] = {{18, 90}, {23, 80}, {28, 70}, {33, 60}};
    static constexpr std::size_t kLevelCount = sizeof(kLevels) / sizeof(kLevels[0]);
    static constexpr auto kWindow = std::chrono::milliseconds(1000);
    static constexpr double kDownShare = 0.5;  // blocked more than this share of a window: step down
    static constexpr double kUpShare = 0.1;    // blocked less than this for kUpWindows in a row: step up
    static constexpr int kUpWindows = 3;

    // Once per capture loop turn: were the viewers holding capture back since the last turn?
    // Returns true when the level changed.
    bool on_turn(Clock::time_point now, bool blocked);
    std::size_t level() const { return level_; }  // 0 = best
    const Level& current() const { return kLevels[level_]; }

private:
    std::size_t level_ = 0;
    Clock::time_point window_start_{}, last_turn_{};
    Clock::duration blocked_{};
    int calm_windows_ = 0;
};

}  // namespace portico::host

#include "session-host/stream/link_quality.hpp"

namespace portico::host {

bool LinkQuality::on_turn(Clock::time_point now, bool blocked) {
    if (window_start_ == Clock::time_point{}) {
        window_start_ = last_turn_ = now;
        return false;
    }
    if (blocked) blocked_ += now - last_turn_;
    last_turn_ = now;
    const auto elapsed = now - window_start_;
    if (elapsed < kWindow) return false;
    const double share = std::chrono::duration<double>(blocked_) / std::chrono::duration<double>(elapsed);
    window_start_ = now;
    blocked_ = {};
    if (share > kDownShare) {
        calm_windows_ = 0;
        if (level_ + 1 >= kLevelCount) return false;
        ++level_;
        return true;
    }
    calm_windows_ = share < kUpShare ? calm_windows_ + 1 : 0;
    if (calm_windows_ < kUpWindows || level_ == 0) return false;
    calm_windows_ = 0;
    --level_;
    return true;
}

}  // namespace portico::host

#include "session-host/stream/encode_policy.hpp"

#include "protocol/display.hpp"

#include <algorithm>

namespace portico::host {

FrameKind choose_frame_kind(bool keyframe_needed, long long damage_area, long long screen_area, long long motion_area) {
    if (keyframe_needed) return FrameKind::h264_keyframe;
    if (screen_area <= 0) return FrameKind::tiles;
    const double screen = static_cast<double>(screen_area);
    if (static_cast<double>(damage_area) > kDeltaDamageShare * screen) return FrameKind::h264_delta;
    if (static_cast<double>(motion_area) >= kMotionDamageShare * screen && motion_area * 2 >= damage_area)
        return FrameKind::h264_delta;
    return FrameKind::tiles;
}

std::vector<capture::Rect> damage_tiles(const capture::DamageRegion& damage, int width, int height) {
    capture::DamageRegion clipped = damage;
    clipped.clip({0, 0, width, height});
    return clipped.tiles(kTileWidth, kTileSize);
}

int session_dimension(int requested) {
    int v = std::clamp(requested, kMinSessionDim, protocol::kMaxScreenDim);
    return v & ~1;
}

}  // namespace portico::host

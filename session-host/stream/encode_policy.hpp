#pragma once
// The per-frame encoder choice of an app session (H.264 keyframe, H.264 delta, or JPEG tiles) and
// small sizing helpers, kept pure so they can be tested without X or codecs. Capture thread only.

#include "capture/damage.hpp"

#include <vector>

namespace portico::host {

enum class FrameKind { h264_keyframe, h264_delta, tiles };

inline constexpr int kTileSize = 256;
// Tiles are up to kTileWidth wide (and kTileSize high): a line of text is one palette tile whose
// deflate finds the line's repeated words, not four 256-pixel pieces each with its own palette,
// header and cold start (a 1920x39 strip of a scrolling log: 1284 bytes in 1024-wide tiles against
// 1647 in 256-wide ones).
inline constexpr int kTileWidth = 1024;
// Above this share of the screen a full H.264 frame is cheaper than tiles and keeps motion smooth.
inline constexpr double kDeltaDamageShare = 0.25;
// Video mode: damage of at least this share of the screen, mostly in parts that have been changing
// for a while (a video in a window, an animation), is H.264 too; as JPEG tiles every frame it would
// cost several times the bytes.
inline constexpr double kMotionDamageShare = 1.0 / 16;
inline constexpr int kMinSessionDim = 64;

// `keyframe_needed`: a viewer asked for one or nothing has been sent yet. `motion_area`: how much of
// the damage lies in parts in sustained motion (RefineTimer::motion_area).
FrameKind choose_frame_kind(bool keyframe_needed, long long damage_area, long long screen_area,
                            long long motion_area = 0);

// Damage cut into tiles of at most kTileWidth x kTileSize, clipped to the screen.
std::vector<capture::Rect> damage_tiles(const capture::DamageRegion& damage, int width, int height);

// H.264 4:2:0 needs even sizes: rounds down to even, clamps to [kMinSessionDim, 8192].
int session_dimension(int requested);

}  // namespace portico::host

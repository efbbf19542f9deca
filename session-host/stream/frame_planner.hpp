#pragma once
// FramePlanner: decides how one captured frame reaches the viewers, from the damage and what the
// client already shows — pure (no X, no sockets, no encoders), so every choice is unit-testable
// (tests/unit/stream/frame_planner_test.cpp). The cheapest faithful form first:
//  - keyframe (new viewer, resize, decoder error): the whole screen as H.264;
//  - content that moved (scrolling, a dragged window): copies of what the client already has +
//    tiles for what the copies leave over;
//  - small changes (typing, menus): tiles (the stream picks a palette tile or JPEG per tile);
//  - large changes (video, a dragged window), and parts in sustained motion (a video in a window):
//    H.264, painted only where the screen changed.
// The one piece of state is how often to search for moved content: after three misses in a row
// (video and animations neither scroll nor move) it looks only every tenth frame.

#include "capture/damage.hpp"
#include "capture/frame.hpp"
#include "protocol/display.hpp"

#include <vector>

namespace portico::host {

class RefineTimer;

struct FramePlan {
    enum class Kind { keyframe, video, tiles };
    Kind kind = Kind::tiles;
    const char* name = "tiles";              // for the frame log: tiles, scroll, move, h264_key, h264
    std::vector<protocol::CopyRect> copies;  // tiles: moves of what the client shows, applied first
    std::vector<capture::Rect> tiles;        // tiles: rectangles to encode, each ≤ kTileWidth x kTileSize
    capture::DamageRegion video_dirty;       // video: where the decoded picture is painted
};

class FramePlanner {
public:
    // frame: the new picture; damage: what changed (clipped to the frame); reference: what the
    // client shows (may be empty or another size: then no copies); motion: where the screen has
    // been changing frame after frame; keyframe: a whole keyframe is required.
    FramePlan plan(const capture::Frame& frame, const capture::DamageRegion& damage, const capture::Frame& reference,
                   const RefineTimer& motion, bool keyframe);

    // The tile plan turned out too large to send (protocol::kMaxMessageBytes): the same damage as video.
    static FramePlan as_video(const capture::DamageRegion& damage);

private:
    // After three large changes whose search sent no copies, the next ten frames skip it.
    void note_search(bool sent_copies, long long damage_area, long long screen_area);
    int scroll_misses_ = 0, scroll_backoff_ = 0;
};

}  // namespace portico::host

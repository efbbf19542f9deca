#include "session-host/stream/frame_planner.hpp"

#include "session-host/stream/encode_policy.hpp"
#include "session-host/stream/refine_timer.hpp"
#include "session-host/stream/scroll_detector.hpp"

#include <algorithm>
#include <optional>

namespace portico::host {

namespace {

protocol::CopyRect copy_of(const capture::Rect& dst, int dx, int dy) {
    return {static_cast<std::uint16_t>(dst.x + dx), static_cast<std::uint16_t>(dst.y + dy),
            static_cast<std::uint16_t>(dst.w),      static_cast<std::uint16_t>(dst.h),
            static_cast<std::uint16_t>(dst.x),      static_cast<std::uint16_t>(dst.y)};
}

// What the moved rectangles do not cover: the uncovered strips and anything else that changed.
capture::DamageRegion outside(const capture::DamageRegion& damage, const std::vector<capture::Rect>& moved) {
    capture::DamageRegion residual;
    for (const auto& d : damage.rects()) {
        std::vector<capture::Rect> left{d};
        for (const auto& m : moved) {
            std::vector<capture::Rect> next;
            for (const auto& piece : left)
                for (const auto& rest : subtract(piece, m)) next.push_back(rest);
            left.swap(next);
        }
        for (const auto& piece : left) residual.add(piece);
    }
    return residual;
}

bool same_bgr(const std::uint8_t* a, const std::uint8_t* b) { return a[0] == b[0] && a[1] == b[1] && a[2] == b[2]; }

// The part of `r` where `frame` differs from `shown` (what the client shows there), or nothing.
// Damage says where the application drew, not what changed: a terminal redraws whole rows whose
// right half stays blank, an editor its status line for one new character.
std::optional<capture::Rect> changed_part(const capture::Frame& shown, const capture::Frame& frame,
                                          const capture::Rect& r) {
    int top = -1, bottom = -1, left = r.right(), right = r.x;
    for (int y = r.y; y < r.bottom(); ++y) {
        const std::uint8_t* a = shown.at(0, y);
        const std::uint8_t* b = frame.at(0, y);
        int x0 = r.x;
        while (x0 < r.right() && same_bgr(a + x0 * 4, b + x0 * 4)) ++x0;
        if (x0 == r.right()) continue;
        int x1 = r.right();
        while (x1 > x0 && same_bgr(a + (x1 - 1) * 4, b + (x1 - 1) * 4)) --x1;
        if (top < 0) top = y;
        bottom = y + 1;
        left = std::min(left, x0);
        right = std::max(right, x1);
    }
    if (top < 0) return std::nullopt;
    return capture::Rect{left, top, right - left, bottom - top};
}

}  // namespace

FramePlan FramePlanner::as_video(const capture::DamageRegion& damage) {
    FramePlan p;
    p.kind = FramePlan::Kind::video;
    p.name = "h264";
    p.video_dirty = damage;
    p.video_dirty.simplify(64);
    return p;
}

// Only misses the size of motion count: a small change beside a scroll (a scrollbar, a status line
// drawn a moment later) must not rest the detectors between two scroll steps.
void FramePlanner::note_search(bool sent_copies, long long damage_area, long long screen_area) {
    if (sent_copies)
        scroll_misses_ = 0;
    else if (damage_area * 16 >= screen_area)
        ++scroll_misses_;
    if (scroll_misses_ >= 3) scroll_backoff_ = 10;
}

FramePlan FramePlanner::plan(const capture::Frame& frame, const capture::DamageRegion& damage,
                             const capture::Frame& reference, const RefineTimer& motion, bool keyframe) {
    const int w = frame.width, h = frame.height;
    if (keyframe) {
        FramePlan p;
        p.kind = FramePlan::Kind::keyframe;
        p.name = "h264_key";
        return p;
    }
    const long long screen_area = static_cast<long long>(w) * h;
    FramePlan p;
    capture::DamageRegion residual = damage;
    std::optional<VerticalScroll> scroll;
    std::optional<Move> move;
    const bool searched = reference.width == w && reference.height == h && scroll_backoff_ == 0;
    if (searched) {
        const auto box = damage.bounding_box();
        scroll = find_vertical_scroll(reference, frame, box);
        // Not a scroll: maybe a window was dragged (its old and new places are both damaged).
        // Bounded to 60% of the screen so full-screen motion does not pay for the search.
        if (!scroll && box.area() * 5 <= screen_area * 3) move = find_move(reference, frame, box);
    } else if (scroll_backoff_ > 0) {
        --scroll_backoff_;
    }
    // A search only pays off when its copies are sent: in a video the detector finds a "scroll"
    // in some part of the picture (a moving gradient) yet the frame still goes as H.264, and
    // counting those as hits kept a 1080p video searching (~5 ms each) every few frames.
    auto video = [&] {
        if (searched) note_search(false, damage.area(), screen_area);
        return as_video(damage);
    };
    if (scroll) {
        // The changed rows of the scrolling columns, and whatever changed beside them.
        residual = outside(damage, {scroll->area});
        for (const auto& r : scroll->changed) residual.add(r);
        for (const auto& r : scroll->moved) p.copies.push_back(copy_of(r, 0, scroll->offset));
    } else if (move) {
        residual = outside(damage, move->moved);
        for (const auto& r : move->moved) p.copies.push_back(copy_of(r, move->dx, move->dy));
    }
    // Most of the screen drawn (video, a full redraw) is video without comparing it all.
    if (choose_frame_kind(false, residual.area(), screen_area) != FrameKind::tiles) return video();
    residual.simplify(32);
    p.tiles = damage_tiles(residual, w, h);
    if (reference.width == w && reference.height == h) {
        // Where a tile lies the client shows the reference, or (a copied row inside a scroll's
        // changed rows) already the new pixels: only what differs from the reference needs pixels.
        std::vector<capture::Rect> changed;
        for (const auto& t : p.tiles)
            if (auto part = changed_part(reference, frame, t)) changed.push_back(*part);
        p.tiles = std::move(changed);
    }
    // Video mode decides on what copies leave over, as pixels that really changed: a scroll or a
    // drag leaves thin strips and stays copies + tiles (a fast log's new lines are a 1920-pixel
    // damage band but half of it blank on blank), but in a video the detectors find small "moves"
    // that leave most of the picture to JPEG tiles (measured: 40 kB per 640x360 frame against
    // 12 kB as H.264).
    capture::DamageRegion left;
    for (const auto& t : p.tiles) left.add(t);
    const long long motion_area = motion.motion_area(left);
    if (choose_frame_kind(false, left.area(), screen_area, motion_area) != FrameKind::tiles ||
        p.copies.size() > protocol::kMaxCopies || p.tiles.size() > protocol::kMaxTiles)
        return video();
    if (searched) note_search(!p.copies.empty(), damage.area(), screen_area);
    p.name = p.copies.empty() ? "tiles" : move ? "move" : "scroll";
    return p;
}

}  // namespace portico::host

#include "session-host/refine_timer.hpp"

#include <algorithm>

namespace portico::host {

void RefineTimer::reset(int width, int height) {
    width_ = std::max(0, width);
    height_ = std::max(0, height);
    cols_ = (width_ + kCell - 1) / kCell;
    rows_ = (height_ + kCell - 1) / kCell;
    cells_.assign(static_cast<std::size_t>(cols_) * static_cast<std::size_t>(rows_), Cell{});
}

const RefineTimer::Cell& RefineTimer::at(int cx, int cy) const {
    return cells_[static_cast<std::size_t>(cy) * static_cast<std::size_t>(cols_) + static_cast<std::size_t>(cx)];
}

void RefineTimer::changed(const capture::Rect& r0, Clock::time_point now) {
    auto r = r0.intersected({0, 0, width_, height_});
    if (r.empty()) return;
    for (int cy = r.y / kCell; cy <= (r.bottom() - 1) / kCell; ++cy)
        for (int cx = r.x / kCell; cx <= (r.right() - 1) / kCell; ++cx) {
            Cell& c = cells_[static_cast<std::size_t>(cy) * static_cast<std::size_t>(cols_) + static_cast<std::size_t>(cx)];
            const auto gap = now - c.last;
            if (!c.seen || gap > kPause) {
                c = Cell{now, now, Duration::zero(), true};
                continue;
            }
            if (gap <= Duration::zero()) continue;  // the same change reported twice (overlapping rects)
            // An exponential mean (weight 1/4 to the newest gap): a few frames of a new cadence
            // (a player slowing down under load) move it, one odd gap does not.
            c.interval = c.interval == Duration::zero() ? gap : (c.interval * 3 + gap) / 4;
            c.last = now;
        }
}

bool RefineTimer::in_motion(int cx, int cy) const {
    if (cx < 0 || cy < 0 || cx >= cols_ || cy >= rows_) return false;
    const Cell& c = at(cx, cy);
    return c.seen && c.last - c.run_start >= kMotionAfter;
}

long long RefineTimer::motion_area(const capture::DamageRegion& region) const {
    long long area = 0;
    for (const auto& r0 : region.rects()) {
        auto r = r0.intersected({0, 0, width_, height_});
        if (r.empty()) continue;
        for (int cy = r.y / kCell; cy <= (r.bottom() - 1) / kCell; ++cy)
            for (int cx = r.x / kCell; cx <= (r.right() - 1) / kCell; ++cx)
                if (in_motion(cx, cy)) area += r.intersected({cx * kCell, cy * kCell, kCell, kCell}).area();
    }
    return area;
}

RefineTimer::Duration RefineTimer::delay(int cx, int cy) const {
    if (!in_motion(cx, cy)) return kFastDelay;
    return std::clamp(at(cx, cy).interval * kCadenceFactor, kFastDelay, kMaxDelay);
}

bool RefineTimer::ready(int cx, int cy, Clock::time_point now) const {
    if (cx < 0 || cy < 0 || cx >= cols_ || cy >= rows_) return false;
    const Cell& c = at(cx, cy);
    return !c.seen || now - c.last >= delay(cx, cy);
}

}  // namespace portico::host

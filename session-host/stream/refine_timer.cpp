#include "session-host/stream/refine_timer.hpp"

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
            Cell& c = at(cx, cy);
            const capture::Rect cell_rect =
                capture::Rect{cx * kCell, cy * kCell, kCell, kCell}.intersected({0, 0, width_, height_});
            const bool whole = r.intersected(cell_rect).area() * 2 >= cell_rect.area();
            const auto gap = now - c.last;
            if (!c.seen || gap > kPause) {
                c = Cell{now, now, Duration::zero(), Duration::zero(), whole ? 1 : 0, true};
                continue;
            }
            if (gap <= Duration::zero()) continue;  // the same change reported twice (overlapping rects)
            // Exponential means (weight 1/4 to the newest gap): a few frames of a new cadence (a
            // player slowing down under load) move them, one odd gap does not.
            if (c.interval == Duration::zero()) {
                c.interval = gap;
                c.deviation = gap / 2;
            } else {
                const Duration diff = gap > c.interval ? gap - c.interval : c.interval - gap;
                c.deviation = (c.deviation * 3 + diff) / 4;
                c.interval = (c.interval * 3 + gap) / 4;
            }
            c.whole_redraws = whole ? c.whole_redraws + 1 : 0;
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
    if (cx < 0 || cy < 0 || cx >= cols_ || cy >= rows_) return kFastDelay;
    const Cell& c = at(cx, cy);
    if (!in_motion(cx, cy) && c.whole_redraws < 2) return kFastDelay;
    const Duration cadence = std::max(c.interval * kCadenceFactor, c.interval + c.deviation * 4);
    return std::clamp(cadence, kFastDelay, kMaxDelay);
}

bool RefineTimer::ready(int cx, int cy, Clock::time_point now) const {
    if (cx < 0 || cy < 0 || cx >= cols_ || cy >= rows_) return false;
    const Cell& c = at(cx, cy);
    return !c.seen || now - c.last >= delay(cx, cy);
}

}  // namespace portico::host

#include "session-host/stream/lossy_map.hpp"

#include <algorithm>

namespace portico::host {

void LossyMap::reset(int width, int height) {
    width_ = width;
    height_ = height;
    cols_ = (width + kCell - 1) / kCell;
    rows_ = (height + kCell - 1) / kCell;
    cells_.assign(static_cast<std::size_t>(cols_) * static_cast<std::size_t>(rows_), false);
    lossy_cells_ = 0;
}

void LossyMap::set(int cx, int cy, bool lossy) {
    const auto i = static_cast<std::size_t>(cy) * static_cast<std::size_t>(cols_) + static_cast<std::size_t>(cx);
    if (cells_[i] == lossy) return;
    cells_[i] = lossy;
    lossy_cells_ += lossy ? 1 : -1;
}

void LossyMap::mark_lossy(const capture::Rect& r0) {
    auto r = r0.intersected({0, 0, width_, height_});
    if (r.empty()) return;
    for (int cy = r.y / kCell; cy <= (r.bottom() - 1) / kCell; ++cy)
        for (int cx = r.x / kCell; cx <= (r.right() - 1) / kCell; ++cx) set(cx, cy, true);
}

void LossyMap::mark_exact(const capture::Rect& r0) {
    auto r = r0.intersected({0, 0, width_, height_});
    if (r.empty()) return;
    // Only cells the rectangle covers whole (a cell at the screen's edge may be partial).
    for (int cy = r.y / kCell; cy <= (r.bottom() - 1) / kCell; ++cy)
        for (int cx = r.x / kCell; cx <= (r.right() - 1) / kCell; ++cx) {
            capture::Rect c = capture::Rect{cx * kCell, cy * kCell, kCell, kCell}.intersected({0, 0, width_, height_});
            if (r.contains(c)) set(cx, cy, false);
        }
}

void LossyMap::copy(const capture::Rect& src, int dx, int dy) {
    const capture::Rect screen{0, 0, width_, height_};
    const int shift_x = src.x - dx, shift_y = src.y - dy;  // from a destination pixel to its source
    const auto dst = capture::Rect{dx, dy, src.w, src.h}.intersected(screen);
    if (dst.empty()) return;
    // Cell by cell, from the state before the copy (source and destination may overlap): a
    // destination cell is lossy if what lands on it came from a lossy cell, exact if it is covered
    // whole by what came from exact ones. A whole-copy verdict made one approximate cell in a
    // scrolled page mark the entire page for refinement.
    const std::vector<bool> before = cells_;
    auto was_lossy = [&](const capture::Rect& area) {
        for (int cy = area.y / kCell; cy <= (area.bottom() - 1) / kCell; ++cy)
            for (int cx = area.x / kCell; cx <= (area.right() - 1) / kCell; ++cx)
                if (before[static_cast<std::size_t>(cy) * static_cast<std::size_t>(cols_) +
                           static_cast<std::size_t>(cx)])
                    return true;
        return false;
    };
    for (int cy = dst.y / kCell; cy <= (dst.bottom() - 1) / kCell; ++cy)
        for (int cx = dst.x / kCell; cx <= (dst.right() - 1) / kCell; ++cx) {
            const auto whole = capture::Rect{cx * kCell, cy * kCell, kCell, kCell}.intersected(screen);
            const auto part = whole.intersected(dst);
            if (part.empty()) continue;
            const auto from = capture::Rect{part.x + shift_x, part.y + shift_y, part.w, part.h}.intersected(screen);
            if (was_lossy(from))
                set(cx, cy, true);
            else if (part == whole)
                set(cx, cy, false);
        }
}

std::vector<capture::Rect> LossyMap::take(long long max_area, const CellFilter& eligible) const {
    std::vector<capture::Rect> out;
    long long total = 0;
    auto wanted = [&](int cx, int cy) { return cell(cx, cy) && (!eligible || eligible(cx, cy)); };
    for (int cy = 0; cy < rows_; ++cy) {
        int cx = 0;
        while (cx < cols_) {
            if (!wanted(cx, cy)) {
                ++cx;
                continue;
            }
            int start = cx;
            while (cx < cols_ && wanted(cx, cy)) ++cx;
            capture::Rect r = capture::Rect{start * kCell, cy * kCell, (cx - start) * kCell, kCell}.intersected(
                {0, 0, width_, height_});
            if (!out.empty() && total + r.area() > max_area) return out;
            out.push_back(r);
            total += r.area();
        }
    }
    return out;
}

}  // namespace portico::host

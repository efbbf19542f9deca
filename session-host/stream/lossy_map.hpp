#pragma once
// LossyMap: which parts of the client's picture are only approximate (H.264, JPEG), on a grid of
// 64x64 cells, so the host can refine exactly those to lossless once the screen is still
// (build-to-lossless). Conservative: a cell is exact only when a lossless update covered it whole.
// Capture thread only.

#include "capture/frame.hpp"

#include <functional>
#include <vector>

namespace portico::host {

class LossyMap {
public:
    static constexpr int kCell = 64;

    void reset(int width, int height);  // everything exact
    void mark_lossy(const capture::Rect& r);
    void mark_exact(const capture::Rect& r);
    // The client copied src to (dx, dy): the destination is as exact as the source was.
    void copy(const capture::Rect& src, int dx, int dy);
    bool empty() const { return lossy_cells_ == 0; }
    // Lossy cells merged into row runs, clipped to the screen, up to `max_area` pixels in total
    // (at least one rectangle if any). With `eligible`, only cells it accepts (by cell column and
    // row): those that have been still long enough (RefineTimer).
    using CellFilter = std::function<bool(int cx, int cy)>;
    std::vector<capture::Rect> take(long long max_area, const CellFilter& eligible = {}) const;

private:
    bool cell(int cx, int cy) const {
        return cells_[static_cast<std::size_t>(cy) * static_cast<std::size_t>(cols_) + static_cast<std::size_t>(cx)];
    }
    void set(int cx, int cy, bool lossy);

    int width_ = 0, height_ = 0, cols_ = 0, rows_ = 0;
    std::vector<bool> cells_;
    int lossy_cells_ = 0;
};

}  // namespace portico::host

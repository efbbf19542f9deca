#include "damage.hpp"

#include <algorithm>

namespace portico::capture {

Rect Rect::intersected(const Rect& o) const {
    int x0 = std::max(x, o.x), y0 = std::max(y, o.y);
    int x1 = std::min(right(), o.right()), y1 = std::min(bottom(), o.bottom());
    if (x1 <= x0 || y1 <= y0) return {};
    return {x0, y0, x1 - x0, y1 - y0};
}

Rect Rect::united(const Rect& o) const {
    if (empty()) return o;
    if (o.empty()) return *this;
    int x0 = std::min(x, o.x), y0 = std::min(y, o.y);
    int x1 = std::max(right(), o.right()), y1 = std::max(bottom(), o.bottom());
    return {x0, y0, x1 - x0, y1 - y0};
}

namespace {

// Appends the parts of r that lie outside cut (at most four rectangles).
void subtract(const Rect& r, const Rect& cut, std::vector<Rect>& out) {
    Rect c = r.intersected(cut);
    if (c.empty()) {
        out.push_back(r);
        return;
    }
    if (c.y > r.y) out.push_back({r.x, r.y, r.w, c.y - r.y});                                     // above
    if (c.bottom() < r.bottom()) out.push_back({r.x, c.bottom(), r.w, r.bottom() - c.bottom()});  // below
    if (c.x > r.x) out.push_back({r.x, c.y, c.x - r.x, c.h});                                     // left
    if (c.right() < r.right()) out.push_back({c.right(), c.y, r.right() - c.right(), c.h});       // right
}

}  // namespace

void DamageRegion::add(const Rect& r) {
    if (r.empty()) return;
    // Keep the list disjoint: add only the parts of r no existing rectangle covers.
    std::vector<Rect> pieces{r};
    for (const Rect& existing : rects_) {
        if (existing.contains(r)) return;
        std::vector<Rect> next;
        for (const Rect& p : pieces) subtract(p, existing, next);
        pieces.swap(next);
        if (pieces.empty()) return;
    }
    rects_.insert(rects_.end(), pieces.begin(), pieces.end());
}

void DamageRegion::add(const DamageRegion& other) {
    for (const Rect& r : other.rects_) add(r);
}

void DamageRegion::clip(const Rect& bounds) {
    std::vector<Rect> kept;
    for (const Rect& r : rects_) {
        Rect c = r.intersected(bounds);
        if (!c.empty()) kept.push_back(c);
    }
    rects_.swap(kept);
}

long long DamageRegion::area() const {
    long long a = 0;
    for (const Rect& r : rects_) a += r.area();
    return a;
}

Rect DamageRegion::bounding_box() const {
    Rect box;
    for (const Rect& r : rects_) box = box.united(r);
    return box;
}

bool DamageRegion::contains_point(int x, int y) const {
    for (const Rect& r : rects_)
        if (x >= r.x && x < r.right() && y >= r.y && y < r.bottom()) return true;
    return false;
}

void DamageRegion::simplify(std::size_t max_rects) {
    // Greedy: repeatedly merge the pair whose bounding box adds the least uncovered area, while
    // that waste is small or while there are too many rectangles.
    while (rects_.size() > 1) {
        long long best_waste = -1;
        std::size_t bi = 0, bj = 0;
        for (std::size_t i = 0; i < rects_.size(); ++i)
            for (std::size_t j = i + 1; j < rects_.size(); ++j) {
                long long waste = rects_[i].united(rects_[j]).area() - rects_[i].area() - rects_[j].area();
                if (best_waste < 0 || waste < best_waste) {
                    best_waste = waste;
                    bi = i;
                    bj = j;
                }
            }
        bool too_many = rects_.size() > max_rects;
        if (!too_many && best_waste > 0) break;
        Rect merged = rects_[bi].united(rects_[bj]);
        rects_.erase(rects_.begin() + static_cast<long>(bj));
        rects_.erase(rects_.begin() + static_cast<long>(bi));
        // The merged box may overlap other rectangles. Absorb them (instead of splitting them
        // around it, which can add rectangles and never terminate): the list stays disjoint and
        // shrinks by at least one per iteration.
        for (bool grew = true; grew;) {
            grew = false;
            std::vector<Rect> rest;
            for (const Rect& r : rects_) {
                if (r.intersects(merged)) {
                    merged = merged.united(r);
                    grew = true;
                } else {
                    rest.push_back(r);
                }
            }
            rects_.swap(rest);
        }
        rects_.push_back(merged);
    }
}

std::vector<Rect> DamageRegion::tiles(int tile_w, int tile_h) const {
    std::vector<Rect> out;
    for (const Rect& r : rects_) {
        // A rectangle that fits a tile in one dimension is not cut in it (a line of text across a
        // grid line stays one tile); larger ones are cut along the grid.
        const int y0 = r.h <= tile_h ? r.y : (r.y / tile_h) * tile_h;
        const int x0 = r.w <= tile_w ? r.x : (r.x / tile_w) * tile_w;
        for (int ty = y0; ty < r.bottom(); ty += tile_h)
            for (int tx = x0; tx < r.right(); tx += tile_w) {
                Rect t = Rect{tx, ty, tile_w, tile_h}.intersected(r);
                if (!t.empty()) out.push_back(t);
            }
    }
    return out;
}

}  // namespace portico::capture

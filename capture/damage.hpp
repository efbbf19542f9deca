#pragma once
// DamageRegion: the set of screen areas that changed since the last capture, kept as a short list
// of non-overlapping rectangles. Encoders send only these; an empty region means "send nothing".

#include "frame.hpp"

#include <vector>

namespace portico::capture {

class DamageRegion {
public:
    DamageRegion() = default;

    // Adds a rectangle (clipped to nothing; callers clip to the screen with clip()). Overlaps with
    // existing rectangles are removed so the list stays disjoint and area() is exact.
    void add(const Rect& r);
    void add(const DamageRegion& other);
    void clip(const Rect& bounds);
    void clear() { rects_.clear(); }

    bool empty() const { return rects_.empty(); }
    const std::vector<Rect>& rects() const { return rects_; }
    long long area() const;
    Rect bounding_box() const;
    bool contains_point(int x, int y) const;

    // Merges rectangles when the merged box wastes little area, bounding the number of rectangles
    // an encoder has to handle. Never loses damage: the result covers at least the same pixels.
    void simplify(std::size_t max_rects = 32);

    // Splits every rectangle into tiles of at most tile x tile pixels, along the tile grid (a
    // rectangle that fits a tile in one dimension is not cut in that one).
    std::vector<Rect> tiles(int tile) const { return tiles(tile, tile); }
    // The same with tiles of at most tile_w x tile_h.
    std::vector<Rect> tiles(int tile_w, int tile_h) const;

private:
    std::vector<Rect> rects_;
};

}  // namespace portico::capture

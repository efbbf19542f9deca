#pragma once
// Frame primitives shared by capture, codec and clients: a rectangle and a BGRA frame buffer.
// These are the base of the display pipeline and depend on nothing else in Portico.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace portico::capture {

struct Rect {
    int x = 0;
    int y = 0;
    int w = 0;
    int h = 0;

    bool empty() const { return w <= 0 || h <= 0; }
    long long area() const { return empty() ? 0 : static_cast<long long>(w) * h; }
    int right() const { return x + w; }
    int bottom() const { return y + h; }
    bool contains(const Rect& o) const {
        return !o.empty() && o.x >= x && o.y >= y && o.right() <= right() && o.bottom() <= bottom();
    }
    bool intersects(const Rect& o) const {
        return !empty() && !o.empty() && o.x < right() && x < o.right() && o.y < bottom() && y < o.bottom();
    }
    Rect intersected(const Rect& o) const;
    Rect united(const Rect& o) const;  // bounding box of both (an empty rect is ignored)
    bool operator==(const Rect&) const = default;
};

// A frame of 32-bit pixels in B,G,R,X byte order (X11's native little-endian layout, and what
// libyuv calls "ARGB"). The frame owns its pixels; stride is in bytes.
struct Frame {
    int width = 0;
    int height = 0;
    int stride = 0;
    std::vector<std::uint8_t> pixels;

    Frame() = default;
    Frame(int w, int h) : width(w), height(h), stride(w * 4), pixels(static_cast<std::size_t>(w) * h * 4) {}

    Rect bounds() const { return {0, 0, width, height}; }
    std::uint8_t* row(int y) { return pixels.data() + static_cast<std::size_t>(y) * stride; }
    const std::uint8_t* row(int y) const { return pixels.data() + static_cast<std::size_t>(y) * stride; }
    std::uint8_t* at(int x, int y) { return row(y) + x * 4; }
    const std::uint8_t* at(int x, int y) const { return row(y) + x * 4; }
};

}  // namespace portico::capture

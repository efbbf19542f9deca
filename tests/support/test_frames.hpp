#pragma once
// Synthetic frames for codec tests: desktop-like text (hard for video codecs: thin high-contrast
// strokes, some colour) and smooth gradients (where colour conversion error is easy to see).

#include "capture/frame.hpp"

#include <cstdint>
#include <random>

namespace portico::codec::test {

inline void fill(capture::Frame& f, capture::Rect r, uint8_t b, uint8_t g, uint8_t red) {
    r = r.intersected(f.bounds());
    for (int y = r.y; y < r.bottom(); ++y)
        for (int x = r.x; x < r.right(); ++x) {
            uint8_t* p = f.at(x, y);
            p[0] = b;
            p[1] = g;
            p[2] = red;
            p[3] = 255;
        }
}

// Lightens pixels towards a colour by `alpha` (0..1), keeping whatever is already lighter: text
// here is light on dark, so overlapping strokes and their edges combine like real rendering.
inline void lighten(capture::Frame& f, capture::Rect r, uint8_t b, uint8_t g, uint8_t red, double alpha) {
    r = r.intersected(f.bounds());
    const uint8_t c[3] = {b, g, red};
    for (int y = r.y; y < r.bottom(); ++y)
        for (int x = r.x; x < r.right(); ++x) {
            uint8_t* p = f.at(x, y);
            for (int i = 0; i < 3; ++i) {
                const int v = p[i] + static_cast<int>(alpha * (c[i] - p[i]));
                if (v > p[i]) p[i] = static_cast<uint8_t>(v);
            }
        }
}

// A stroke with a one-pixel anti-aliased edge, as greyscale font rendering draws it.
inline void stroke(capture::Frame& f, capture::Rect r, uint8_t b, uint8_t g, uint8_t red) {
    lighten(f, {r.x - 1, r.y - 1, r.w + 2, r.h + 2}, b, g, red, 0.35);
    lighten(f, r, b, g, red, 1.0);
}

// Draws one 7x12 "glyph" made of a few 1-2 px strokes, like a small sans-serif letter.
inline void draw_glyph(capture::Frame& f, int x, int y, std::mt19937& rng, uint8_t b, uint8_t g, uint8_t r) {
    std::uniform_int_distribution<int> kind(0, 5), pos(0, 5), len(4, 10);
    for (int s = 0; s < 3; ++s) {
        const int k = kind(rng);
        if (k < 3)
            stroke(f, {x + pos(rng), y + 1, 1 + (k == 0), len(rng)}, b, g, r);  // vertical stem
        else
            stroke(f, {x, y + 1 + pos(rng) * 2, len(rng) / 2 + 2, 1}, b, g, r);  // bar
    }
}

// Dark background, lines of anti-aliased light grey "text" with a coloured word now and then, a
// title bar and a side panel. Measured: with a third of the words in saturated colour, 4:2:0
// alone (before any codec) drops to ~32 dB; at one in thirty it is ~37-40 dB. The same seed always gives the same frame.
inline capture::Frame make_text_frame(int w, int h, unsigned seed = 1) {
    capture::Frame f(w, h);
    fill(f, f.bounds(), 0x23, 0x1e, 0x1e);
    fill(f, {0, 0, w, 24}, 0x50, 0x40, 0x30);               // title bar
    fill(f, {w - 160, 24, 160, h - 24}, 0x30, 0x2a, 0x2a);  // side panel
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> word_len(2, 9), colour(0, 29);
    for (int y = 32; y + 14 <= h; y += 16) {
        int x = 8;
        while (x + 8 * 9 < w - 170) {
            const int n = word_len(rng);
            const int c = colour(rng);
            uint8_t b = 0xe0, g = 0xe0, r = 0xe0;  // most text light grey
            if (c == 0) {
                b = 0x40;
                g = 0x80;
                r = 0xff;
            }  // orange keyword
            if (c == 1) {
                b = 0xff;
                g = 0xa0;
                r = 0x40;
            }  // blue identifier
            if (c == 2) {
                b = 0x60;
                g = 0xd0;
                r = 0x60;
            }  // green string
            for (int i = 0; i < n; ++i) draw_glyph(f, x + i * 8, y, rng, b, g, r);
            x += (n + 1) * 8;
        }
    }
    return f;
}

// A smooth diagonal colour gradient: no edges, so conversion error dominates.
inline capture::Frame make_gradient_frame(int w, int h) {
    capture::Frame f(w, h);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            uint8_t* p = f.at(x, y);
            p[0] = static_cast<uint8_t>(255 * x / (w > 1 ? w - 1 : 1));
            p[1] = static_cast<uint8_t>(255 * y / (h > 1 ? h - 1 : 1));
            p[2] = static_cast<uint8_t>(255 * (x + y) / (w + h > 2 ? w + h - 2 : 1));
            p[3] = 255;
        }
    return f;
}

// Copies a rectangle out of a frame into a new tightly packed frame.
inline capture::Frame crop(const capture::Frame& f, capture::Rect r) {
    capture::Frame out(r.w, r.h);
    for (int y = 0; y < r.h; ++y)
        for (int x = 0; x < r.w * 4; ++x) out.row(y)[x] = f.at(r.x, r.y + y)[x];
    return out;
}

// True when the rectangle r of a shows the same colours as b from (bx, by) on (the X byte ignored).
inline bool same_pixels(const capture::Frame& a, capture::Rect r, const capture::Frame& b, int bx, int by) {
    for (int y = 0; y < r.h; ++y)
        for (int x = 0; x < r.w; ++x) {
            const auto* p = a.at(r.x + x, r.y + y);
            const auto* q = b.at(bx + x, by + y);
            if (p[0] != q[0] || p[1] != q[1] || p[2] != q[2]) return false;
        }
    return true;
}

}  // namespace portico::codec::test

#include "synthetic_source.hpp"

#include <algorithm>

namespace portico::capture {

namespace {

constexpr int kBlock = 24;  // the moving block ("cursor"/small animation)
constexpr int kGlyphW = 8;  // one "typed character" per step
constexpr int kGlyphH = 14;

void fill(Frame& f, Rect r, std::uint8_t b, std::uint8_t g, std::uint8_t rd) {
    r = r.intersected(f.bounds());
    for (int y = r.y; y < r.bottom(); ++y)
        for (int x = r.x; x < r.right(); ++x) {
            std::uint8_t* p = f.at(x, y);
            p[0] = b;
            p[1] = g;
            p[2] = rd;
            p[3] = 0xff;
        }
}

// Background: soft vertical gradient, so encoders see real (non-flat) content.
void draw_background(Frame& f) {
    for (int y = 0; y < f.height; ++y) {
        auto shade = static_cast<std::uint8_t>(200 + (y * 40) / std::max(1, f.height));
        for (int x = 0; x < f.width; ++x) {
            std::uint8_t* p = f.at(x, y);
            p[0] = shade;
            p[1] = shade;
            p[2] = static_cast<std::uint8_t>(shade - 10);
            p[3] = 0xff;
        }
    }
}

// A deterministic pseudo-glyph: a few vertical and horizontal strokes picked from the step.
void draw_glyph(Frame& f, int gx, int gy, int step) {
    fill(f, {gx, gy, kGlyphW, kGlyphH}, 250, 250, 250);
    unsigned bits = static_cast<unsigned>(step) * 2654435761u;
    if (bits & 1) fill(f, {gx + 1, gy + 2, 2, 10}, 20, 20, 20);
    if (bits & 2) fill(f, {gx + 5, gy + 2, 2, 10}, 20, 20, 20);
    if (bits & 4) fill(f, {gx + 1, gy + 2, 6, 2}, 20, 20, 20);
    if (bits & 8) fill(f, {gx + 1, gy + 6, 6, 2}, 20, 20, 20);
    if (bits & 16) fill(f, {gx + 1, gy + 10, 6, 2}, 20, 20, 20);
}

}  // namespace

SyntheticFrameSource::SyntheticFrameSource(int width, int height) : frame_(width, height) {}

CaptureResult SyntheticFrameSource::capture(std::chrono::milliseconds) {
    Capture c;
    c.frame = &frame_;
    const Rect bounds = frame_.bounds();
    if (step_ == 0) draw_background(frame_);

    // Text: one glyph per step, left to right, wrapping rows and finally the page.
    const int cols = std::max(1, (frame_.width - 16) / kGlyphW);
    const int rows = std::max(1, (frame_.height - 16) / kGlyphH);
    const int cell = step_ % (cols * rows);
    Rect glyph{8 + (cell % cols) * kGlyphW, 8 + (cell / cols) * kGlyphH, kGlyphW, kGlyphH};
    if (cell == 0 && step_ > 0) {
        draw_background(frame_);  // page full: start over, like a cleared terminal
        c.damage.add(bounds);
    }
    draw_glyph(frame_, glyph.x, glyph.y, step_);
    c.damage.add(glyph);

    // Block: moves diagonally, bouncing off the edges; damage is its old and new position.
    auto block_at = [&](int s) {
        int span_x = std::max(1, frame_.width - kBlock), span_y = std::max(1, frame_.height - kBlock);
        int px = (s * 7) % (2 * span_x), py = (s * 5) % (2 * span_y);
        if (px >= span_x) px = 2 * span_x - px;
        if (py >= span_y) py = 2 * span_y - py;
        return Rect{px, py, kBlock, kBlock};
    };
    if (step_ > 0) {
        Rect old = block_at(step_ - 1);
        fill(frame_, old, 230, 230, 220);
        c.damage.add(old);
    }
    Rect now = block_at(step_);
    auto hue = static_cast<std::uint8_t>(step_ * 13);
    fill(frame_, now, hue, static_cast<std::uint8_t>(255 - hue), 60);
    c.damage.add(now);

    if (full_) {
        c.damage.clear();
        c.damage.add(bounds);
        full_ = false;
    }
    c.damage.clip(bounds);
    ++step_;
    c.time = std::chrono::steady_clock::now();
    return CaptureResult::got(std::move(c));
}

}  // namespace portico::capture

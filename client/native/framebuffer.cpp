#include "client/native/framebuffer.hpp"

#include "codec/color.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace portico::client {

namespace {

bool valid_size(int w, int h) {
    return w >= 1 && h >= 1 && w <= protocol::kMaxScreenDim && h <= protocol::kMaxScreenDim;
}

}  // namespace

Framebuffer::Framebuffer(int width, int height, codec::H264Acceleration accel) : h264_(accel) {
    if (!valid_size(width, height)) throw std::invalid_argument("framebuffer size out of range");
    resize(width, height);
}

bool Framebuffer::resize(int width, int height) {
    if (!valid_size(width, height)) return false;
    if (width != frame_.width || height != frame_.height) frame_ = capture::Frame(width, height);
    return true;
}

bool Framebuffer::apply_video(const protocol::VideoFrame& f) {
    if (!h264_.decode(f.data, decoded_)) {
        error_ = "h264: " + h264_.last_error();
        return false;
    }
    const bool reduced = f.coded_width != 0;
    const int coded_w = reduced ? f.coded_width : f.width, coded_h = reduced ? f.coded_height : f.height;
    if (decoded_.width != coded_w || decoded_.height != coded_h || !valid_size(decoded_.width, decoded_.height)) {
        error_ = "h264: picture is " + std::to_string(decoded_.width) + "x" + std::to_string(decoded_.height) +
                 ", frame says " + std::to_string(coded_w) + "x" + std::to_string(coded_h);
        return false;
    }
    capture::Frame& picture = reduced ? scaled_ : decoded_;
    if (reduced) codec::scale_bgra(decoded_, scaled_, f.width, f.height);
    if (f.dirty.empty() || frame_.width != picture.width || frame_.height != picture.height) {
        // Swap rather than copy: the picture buffer keeps the old allocation for the next one.
        std::swap(frame_, picture);
        return true;
    }
    // Only what changed: elsewhere frame_ may hold lossless pixels the video would blur.
    for (const auto& d : f.dirty) {
        const capture::Rect r{d.x, d.y, d.w, d.h};
        if (!frame_.bounds().contains(r)) continue;  // the decoder checked the frame's size; rects were checked too
        for (int y = r.y; y < r.bottom(); ++y)
            std::memcpy(frame_.at(r.x, y), picture.at(r.x, y), static_cast<std::size_t>(r.w) * 4);
    }
    return true;
}

bool Framebuffer::apply_copy(const protocol::CopyRect& c) {
    const capture::Rect src{c.x, c.y, c.w, c.h}, dst{c.dx, c.dy, c.w, c.h};
    if (!frame_.bounds().contains(src) || !frame_.bounds().contains(dst)) {
        error_ = "copy: reaches outside the " + std::to_string(frame_.width) + "x" + std::to_string(frame_.height) +
                 " screen";
        return false;
    }
    // Rows in an order that never reads a row already overwritten; memmove handles overlap within a row.
    const auto bytes = static_cast<std::size_t>(c.w) * 4;
    if (c.dy <= c.y)
        for (int i = 0; i < c.h; ++i) std::memmove(frame_.at(c.dx, c.dy + i), frame_.at(c.x, c.y + i), bytes);
    else
        for (int i = c.h - 1; i >= 0; --i) std::memmove(frame_.at(c.dx, c.dy + i), frame_.at(c.x, c.y + i), bytes);
    return true;
}

bool Framebuffer::apply_tile(const protocol::Tile& t) {
    const capture::Rect r{t.x, t.y, t.w, t.h};
    if (!frame_.bounds().contains(r)) {
        error_ = "tile: " + std::to_string(r.w) + "x" + std::to_string(r.h) + "+" + std::to_string(r.x) + "+" +
                 std::to_string(r.y) + " is outside the " + std::to_string(frame_.width) + "x" +
                 std::to_string(frame_.height) + " screen";
        return false;
    }
    switch (t.encoding) {
        case protocol::TileEncoding::palette:
            if (palette_.decode_into(t.data, frame_, r.x, r.y, r.w, r.h)) return true;
            error_ = palette_.last_error();
            return false;
        case protocol::TileEncoding::palette_compact:
            if (palette_.decode_compact_into(t.data, frame_, r.x, r.y, r.w, r.h)) return true;
            error_ = palette_.last_error();
            return false;
        case protocol::TileEncoding::png:
            if (png_.decode_into(t.data, frame_, r.x, r.y, r.w, r.h)) return true;
            error_ = "PNG tile: " + png_.last_error();
            return false;
        case protocol::TileEncoding::jpeg:
            if (jpeg_.decode_into(t.data, frame_, r.x, r.y, r.w, r.h)) return true;
            error_ = "tile: " + jpeg_.last_error();
            return false;
    }
    error_ = "tile: unknown encoding";
    return false;
}

Framebuffer::TileResult Framebuffer::apply_tiles(const protocol::TileFrame& f) {
    TileResult res;
    if ((f.width != frame_.width || f.height != frame_.height) && valid_size(f.width, f.height))
        resize(f.width, f.height);
    for (const auto& c : f.copies) {
        if (apply_copy(c))
            ++res.painted;
        else
            ++res.failed;
    }
    for (const auto& t : f.tiles) {
        if (apply_tile(t))
            ++res.painted;
        else
            ++res.failed;
    }
    return res;
}

}  // namespace portico::client

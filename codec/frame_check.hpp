#pragma once
// Internal to codec/: the one place that decides whether a Frame's fields describe memory it
// really owns, checked before any pointer into it reaches a C library.

#include "capture/frame.hpp"

#include <cstddef>

namespace portico::codec::detail {

inline bool frame_is_valid(const capture::Frame& f) {
    if (f.width <= 0 || f.height <= 0) return false;
    if (f.stride < f.width * 4) return false;
    // The last row only needs width*4 bytes, not a full stride.
    const std::size_t need =
        static_cast<std::size_t>(f.stride) * (f.height - 1) + static_cast<std::size_t>(f.width) * 4;
    return f.pixels.size() >= need;
}

// Makes f a tightly packed w x h frame, keeping its allocation when it is large enough.
inline void resize_frame(capture::Frame& f, int w, int h) {
    f.width = w;
    f.height = h;
    f.stride = w * 4;
    f.pixels.resize(static_cast<std::size_t>(w) * h * 4);
}

}  // namespace portico::codec::detail

#pragma once
// JpegTileEncoder: compresses one damaged rectangle of a BGRX frame into a standalone JPEG
// (TurboJPEG), for sparse updates where H.264 would be wasteful. One per encode thread; not
// thread-safe.

#include "capture/frame.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace portico::codec {

class JpegTileEncoder {
public:
    JpegTileEncoder();  // throws std::runtime_error if TurboJPEG cannot be initialised
    ~JpegTileEncoder();
    JpegTileEncoder(const JpegTileEncoder&) = delete;
    JpegTileEncoder& operator=(const JpegTileEncoder&) = delete;
    JpegTileEncoder(JpegTileEncoder&&) noexcept;
    JpegTileEncoder& operator=(JpegTileEncoder&&) noexcept;

    // r must be non-empty and inside frame.bounds() (std::invalid_argument otherwise: a caller
    // bug). quality is clamped to 1..100. chroma_full = 4:4:4, which keeps coloured text sharp;
    // false = 4:2:0, smaller, for photos and video-like content.
    std::vector<uint8_t> encode(const capture::Frame& frame, const capture::Rect& r, int quality,
                                bool chroma_full);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace portico::codec

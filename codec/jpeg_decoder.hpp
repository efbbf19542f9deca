#pragma once
// JpegDecoder: paints JPEG tiles received from the network into a BGRX frame. Every size and
// position is checked before anything is written, so hostile input cannot write out of bounds.
// One per stream, used from one thread.

#include "capture/frame.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace portico::codec {

class JpegDecoder {
public:
    JpegDecoder();  // throws std::runtime_error if TurboJPEG cannot be initialised
    ~JpegDecoder();
    JpegDecoder(const JpegDecoder&) = delete;
    JpegDecoder& operator=(const JpegDecoder&) = delete;
    JpegDecoder(JpegDecoder&&) noexcept;
    JpegDecoder& operator=(JpegDecoder&&) noexcept;

    // Decodes jpeg and paints it into target at (x, y). Returns false (reason in last_error())
    // if the JPEG is corrupt or truncated, its size is not w x h, or the rectangle does not fit
    // inside target; target is then left unchanged.
    bool decode_into(std::span<const uint8_t> jpeg, capture::Frame& target, int x, int y, int w, int h);
    const std::string& last_error() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace portico::codec

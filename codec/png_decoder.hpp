#pragma once
// PngDecoder: paints lossless PNG tiles received from the network into a BGRX frame, checking
// size and position before anything is written. One per stream, used from one thread.

#include "capture/frame.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace portico::codec {

class PngDecoder {
public:
    // Decodes png and paints it at (x, y). False (reason in last_error()) if the PNG is corrupt
    // or truncated, is not w x h, or the rectangle does not fit inside target (left unchanged).
    bool decode_into(std::span<const std::uint8_t> png, capture::Frame& target, int x, int y, int w, int h);
    const std::string& last_error() const { return error_; }

private:
    std::vector<std::uint8_t> scratch_;
    std::string error_;
};

}  // namespace portico::codec

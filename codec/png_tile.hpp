#pragma once
// PngTileEncoder: one rectangle of a BGRX frame as a lossless PNG, for text and UI that must end
// pixel-exact (typing, menus, the build-to-lossless refinement after motion stops). Rectangles
// with at most 256 colours (most text) become palette PNGs, several times smaller than RGB.
// Stateless apart from scratch buffers; one per encode thread.

#include "capture/frame.hpp"

#include <cstdint>
#include <vector>

namespace portico::codec {

class PngTileEncoder {
public:
    // r must be non-empty and inside frame.bounds() (std::invalid_argument otherwise: a caller
    // bug). Throws std::runtime_error if libpng fails (out of memory).
    std::vector<std::uint8_t> encode(const capture::Frame& frame, const capture::Rect& r);
    // The same, but only for rectangles of at most 256 colours (text, flat UI); empty otherwise,
    // so photo-like content can go to JPEG without paying for a large RGB PNG first.
    std::vector<std::uint8_t> encode_if_few_colours(const capture::Frame& frame, const capture::Rect& r);

private:
    std::vector<std::uint8_t> encode(const capture::Frame& frame, const capture::Rect& r, bool allow_rgb);
    std::vector<std::uint8_t> pixels_;   // packed RGB or palette indices of the rectangle
    std::vector<std::uint8_t> palette_;  // RGB triplets
};

}  // namespace portico::codec

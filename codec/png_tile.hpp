#pragma once
// PngTileEncoder: one rectangle of a BGRX frame as a lossless PNG, for text and UI that must end
// pixel-exact (typing, menus, the build-to-lossless refinement after motion stops). Rectangles
// with at most 256 colours (most text) become palette PNGs, several times smaller than RGB.
// Stateless apart from scratch buffers; one per encode thread.

#include "codec/encoder.hpp"

#include <cstdint>
#include <vector>

namespace portico::codec {

class PngTileEncoder final : public TileEncoder {
public:
    // palette_only: encode only rectangles of at most 256 colours (text, flat UI) and decline the
    // rest, so photo-like content can go to JPEG without paying for a large RGB PNG first.
    explicit PngTileEncoder(bool palette_only = false) : palette_only_(palette_only) {}
    TileFormat format() const override { return TileFormat::png; }
    // Throws std::runtime_error if libpng fails (out of memory).
    std::optional<std::vector<std::uint8_t>> encode(const capture::Frame& frame, const capture::Rect& r) override;

private:
    bool palette_only_;
    std::vector<std::uint8_t> pixels_;   // packed RGB or palette indices of the rectangle
    std::vector<std::uint8_t> palette_;  // RGB triplets
};

}  // namespace portico::codec

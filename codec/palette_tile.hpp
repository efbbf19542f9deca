#pragma once
// PaletteTileEncoder: one rectangle of a BGRX frame as a lossless palette tile (palette_format.hpp)
// when it has at most 256 colours (text, flat UI); declines photo-like rectangles so the caller
// can send them as JPEG. The indices are deflated when that is smaller than storing them. One per
// encode thread (it keeps its zlib stream and scratch buffers between tiles).

#include "codec/encoder.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace portico::codec {

class PaletteTileEncoder final : public TileEncoder {
public:
    PaletteTileEncoder();
    ~PaletteTileEncoder() override;
    TileFormat format() const override { return TileFormat::palette; }
    // Throws std::runtime_error if zlib fails (out of memory).
    std::optional<std::vector<std::uint8_t>> encode(const capture::Frame& frame, const capture::Rect& r) override;

private:
    struct Deflater;
    std::unique_ptr<Deflater> deflater_;  // one raw-deflate stream, reset per tile
    std::vector<std::uint8_t> indices_;   // one byte per pixel
    std::vector<std::uint8_t> packed_;    // rows at the palette's bit depth
};

}  // namespace portico::codec

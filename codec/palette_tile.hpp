#pragma once
// PaletteTileEncoder: one rectangle of a BGRX frame as a lossless palette tile (palette_format.hpp)
// when it has at most 256 colours (text, flat UI); declines photo-like rectangles so the caller
// can send them as JPEG. The indices are deflated when that is smaller than storing them. One per
// encode thread (it keeps its zlib stream and scratch buffers between tiles). Writes the classic
// form (TileEncoding::palette) or, for viewers of display version 4, the compact one
// (TileEncoding::palette_compact: sorted palette as deltas, greys as one byte, deflated together
// with the indices).

#include "codec/encoder.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace portico::codec {

class ColourTable;

class PaletteTileEncoder final : public TileEncoder {
public:
    enum class Form { classic, compact };
    explicit PaletteTileEncoder(Form form = Form::classic);
    Form form() const { return form_; }
    ~PaletteTileEncoder() override;
    TileFormat format() const override { return TileFormat::palette; }
    // Throws std::runtime_error if zlib fails (out of memory).
    std::optional<std::vector<std::uint8_t>> encode(const capture::Frame& frame, const capture::Rect& r) override;

private:
    void write_compact(const ColourTable& table, const capture::Rect& r, std::vector<std::uint8_t>& out);
    void pack_indices(int colours, const capture::Rect& r);
    Form form_;
    struct Deflater;
    std::unique_ptr<Deflater> deflater_;  // one raw-deflate stream, reset per tile
    std::vector<std::uint8_t> indices_;   // one byte per pixel
    std::vector<std::uint8_t> packed_;    // rows at the palette's bit depth
    std::vector<std::uint8_t> body_;      // the compact form's palette and indices before deflating
};

}  // namespace portico::codec

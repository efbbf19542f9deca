#pragma once
// PaletteTileEncoder: one rectangle of a BGRX frame as a lossless palette tile (palette_format.hpp)
// when it has at most 256 colours (text, flat UI); declines photo-like rectangles so the caller
// can send them as JPEG. The indices are deflated when that is smaller than storing them. One per
// encode thread (it keeps its zlib stream and scratch buffers between tiles). Writes the classic
// form (TileEncoding::palette) or, for viewers of display version 4, the compact one
// (TileEncoding::palette_compact: sorted palette as deltas, greys as one byte, deflated together
// with the indices); for viewers of version 5 the compact form may carry a strip's indices column
// by column in bands of rows, when that deflates smaller.

#include "codec/encoder.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace portico::codec {

class ColourTable;

class PaletteTileEncoder final : public TileEncoder {
public:
    // compact_columns: the compact form, with strips up to kColumnsMaxHeight high and of up to
    // kColumnsMaxColours colours also tried in columns, in bands of the whole strip, a half, a third
    // and a quarter of it (display version 5).
    enum class Form { classic, compact, compact_columns };
    // A few lines of text: a band whose height is the line's holds one column of one glyph per
    // column (a scrolling log's strips of 1 to 3 lines: 0.56 to 0.36 of the rows' bytes); up to
    // five extra deflates of a strip this small cost little.
    static constexpr int kColumnsMaxHeight = 64;
    static constexpr int kMinBandRows = 8;  // no text line is lower
    // 1 to 4 bits an index. At 8 a row is byte-aligned already: trying bands on a colourful page's
    // strips (bench/display browser) doubled its CPU per frame, 9.5 -> 18 ms, for noisy gains.
    static constexpr int kColumnsMaxColours = 16;
    explicit PaletteTileEncoder(Form form = Form::classic);
    Form form() const { return form_; }
    // For the next tiles (the session picks the form its oldest viewer reads, frame by frame).
    void set_form(Form form) { form_ = form; }
    ~PaletteTileEncoder() override;
    TileFormat format() const override { return TileFormat::palette; }
    // Throws std::runtime_error if zlib fails (out of memory).
    std::optional<std::vector<std::uint8_t>> encode(const capture::Frame& frame, const capture::Rect& r) override;

private:
    void write_compact(const ColourTable& table, const capture::Rect& r, std::vector<std::uint8_t>& out);
    // indices_ packed into packed_ at the palette's depth: row by row, or with a band (rows per
    // band) column by column within each band.
    void pack_indices(int colours, const capture::Rect& r, int band = 0);
    Form form_;
    struct Deflater;
    std::unique_ptr<Deflater> deflater_;          // one raw-deflate stream, reset per tile
    std::vector<std::uint8_t> indices_;           // one byte per pixel
    std::vector<std::uint8_t> packed_;            // rows at the palette's bit depth
    std::vector<std::uint8_t> body_;              // the compact form's palette and indices before deflating
    std::vector<std::uint8_t> columns_;           // ... the same with the indices in columns in bands
    std::vector<std::uint8_t> best_, candidate_;  // the smallest deflated body so far, the one tried next
};

}  // namespace portico::codec

#pragma once
// PaletteDecoder: paints palette tiles (palette_format.hpp) received from the network into a BGRX
// frame, checking the palette, the packing and the indices' size before anything is written. One
// per stream, used from one thread.

#include "capture/frame.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace portico::codec {

class PaletteDecoder {
public:
    PaletteDecoder();
    ~PaletteDecoder();
    // Decodes the tile and paints it at (x, y) as w x h. False (reason in last_error()) if it is
    // truncated or malformed (an index beyond the palette, bytes left over, an unknown packing), or
    // the rectangle does not fit inside target; target is then left unchanged.
    bool decode_into(std::span<const std::uint8_t> tile, capture::Frame& target, int x, int y, int w, int h);
    // The same for the compact form (TileEncoding::palette_compact, its indices in rows or, since
    // version 5, in columns in bands); also refuses unknown form bits and a band of 0 rows.
    bool decode_compact_into(std::span<const std::uint8_t> tile, capture::Frame& target, int x, int y, int w, int h);
    const std::string& last_error() const { return error_; }

private:
    bool fail(std::string why);
    bool inflate_exact(std::span<const std::uint8_t> in, std::size_t size);
    static std::size_t index_bytes(int colours, int w, int h, int band);
    // Checks every index of packed_ (h rows of w at the palette's depth, or with a band columns in
    // bands of that many rows) against the palette, then paints: a bad tile leaves the screen as it was.
    bool paint(const std::uint32_t* bgrx, int colours, capture::Frame& target, int x, int y, int w, int h,
               int band = 0);
    struct Inflater;
    std::unique_ptr<Inflater> inflater_;
    std::vector<std::uint8_t> packed_;
    std::string error_;
};

}  // namespace portico::codec

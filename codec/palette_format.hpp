#pragma once
// The palette tile (protocol TileEncoding::palette, docs/protocol.md): a w x h rectangle of at most
// 256 colours as the colours and one index per pixel, with none of PNG's container around them.
// Text and flat UI are most of what a desktop's small updates hold, and a typed character's tile
// is a few dozen bytes of indices: PNG's signature, IHDR, PLTE, IDAT and IEND chunks, zlib header
// and checksum (~75 bytes) were more than half of it. Layout:
//
//   u8 colours - 1                       (1..256 colours)
//   colours x { u8 r, u8 g, u8 b }
//   if colours > 1:
//     u8 packing                         (0 = stored, 1 = raw deflate, RFC 1951)
//     the indices, stored or deflated:   h rows of w indices at palette_bits(colours) bits each,
//                                        first pixel in the most significant bits, each row padded
//                                        to a whole byte
//
// One colour is a solid fill and carries no indices. Nothing may follow the indices.
//
// The compact form (TileEncoding::palette_compact, since display version 4) spends less on the
// palette, which was half of an antialiased glyph's tile (~32 greys x 3 bytes):
//
//   u8 colours - 1                       (1..256 colours)
//   u8 form                              bit 0 grey (one byte per colour, r = g = b), bit 1 deflated,
//                                        bit 2 columns (since display version 5); the other bits 0
//   with bit 2: u8 band                  rows per band, 1..255
//   the body, stored or raw-deflated as a whole:
//     the palette in ascending order as deltas: each colour minus the one before (the first minus
//     0), per channel modulo 256 -- grey: colours x u8, else colours x { u8 r, u8 g, u8 b }
//     if colours > 1: the indices as above, or with bit 2 in bands of `band` rows from the top (the
//     last band may be shorter), each band as w columns of its rows' indices, top pixel in the most
//     significant bits, each column padded to a whole byte
//
// Sorted greys' deltas are small and repeat, so deflating them with the indices shares one Huffman
// table; nothing may follow the body. Columns are for strips of a few text lines: in a band one
// line high, a column holds one column of one glyph, so a glyph is the same bytes wherever it
// stands on the line and deflate finds every repeat of it (in rows, a 6-pixel glyph lands on a byte
// boundary only every fourth cell, and each of its rows is a separate match).

#include <cstddef>

namespace portico::codec::palette {

enum Packing : unsigned char { stored = 0, deflated = 1 };

// The compact form's `form` byte.
enum Form : unsigned char {
    form_grey = 1,
    form_deflated = 2,
    form_columns = 4,
    form_known = form_grey | form_deflated | form_columns
};

// Bits per index for a palette of `colours` entries: 1, 2, 4 or 8 (0 for a solid fill).
constexpr int bits_per_index(int colours) {
    return colours <= 1 ? 0 : colours <= 2 ? 1 : colours <= 4 ? 2 : colours <= 16 ? 4 : 8;
}
// Bytes of one row of w indices (or one column of h: the same formula).
constexpr std::size_t row_bytes(int w, int bits) {
    return (static_cast<std::size_t>(w) * static_cast<std::size_t>(bits) + 7) / 8;
}

}  // namespace portico::codec::palette

// libFuzzer target: the palette tile decoder (codec/palette_decoder.hpp), which every client runs on
// tile bytes from the network, in both forms (the compact one in rows or columns, as its form byte
// says). Input: u8 w, u8 h (each taken as 1..64 from the low six bits; bit 7 of w: the compact
// form), then the tile. Beyond "no crash, no UB, no leak": a refused tile says why and leaves the
// screen exactly as it was.

#include "codec/palette_decoder.hpp"
#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

using namespace portico;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const int w = data[0] % 64 + 1, h = data[1] % 64 + 1;
    const bool compact = data[0] & 0x80;
    static codec::PaletteDecoder decoder;  // reused, as a client reuses it for every tile
    capture::Frame screen(80, 80);
    for (std::size_t i = 0; i < screen.pixels.size(); ++i) screen.pixels[i] = static_cast<std::uint8_t>(i * 7);
    const capture::Frame before = screen;
    const std::span<const std::uint8_t> tile{data + 2, size - 2};
    if (!(compact ? decoder.decode_compact_into(tile, screen, 3, 5, w, h)
                  : decoder.decode_into(tile, screen, 3, 5, w, h))) {
        FUZZ_CHECK(!decoder.last_error().empty(), "a refusal says why");
        FUZZ_CHECK(screen.pixels == before.pixels, "a refused tile paints nothing");
        return 0;
    }
    for (int y = 0; y < screen.height; ++y)
        for (int x = 0; x < screen.width; ++x)
            if (x < 3 || y < 5 || x >= 3 + w || y >= 5 + h)
                FUZZ_CHECK(screen.at(x, y)[0] == before.at(x, y)[0], "a tile paints only its rectangle");
    return 0;
}

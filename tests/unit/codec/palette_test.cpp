// Palette tiles (codec/palette_format.hpp), in both forms (classic and compact, the compact one
// also with its indices in columns): lossless round trips at every bit depth, the encoder declining
// photo-like rectangles, what a typed character costs against PNG, the compact form against the
// classic and a line of text in columns against rows, and malformed tiles refused without
// painting. The golden vectors (protocol/vectors/palette_tiles.json) are decoded
// here and by the web client (tests/browser/palette.test.mjs), so the two decoders cannot drift;
// `unit_codec "[.write-vectors]"` rewrites them from make_vectors() below (only for a deliberate
// format change, whose diff then shows every byte that moved).

#include "codec/palette_decoder.hpp"
#include "codec/palette_format.hpp"
#include "codec/palette_tile.hpp"
#include "codec/png_tile.hpp"
#include "tests/support/hex.hpp"
#include "tests/support/test_frames.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>
#include <random>
#include <string>

namespace capture = portico::capture;
using namespace portico::codec;
using test::same_pixels;
using json = nlohmann::json;

namespace {

const std::string kVectors = std::string(PORTICO_SOURCE_DIR) + "/protocol/vectors/palette_tiles.json";

// A w x h frame of `colours` distinct colours in a pseudo-random pattern (every colour used).
capture::Frame pattern(int w, int h, int colours, unsigned seed) {
    capture::Frame f(w, h);
    std::mt19937 rng(seed);
    for (int i = 0; i < w * h; ++i) {
        const int c = i < colours ? i : static_cast<int>(rng() % static_cast<unsigned>(colours));
        std::uint8_t* p = f.at(i % w, i / w);
        p[0] = static_cast<std::uint8_t>(c);  // (blue, green) differ for every c < 65536
        p[1] = static_cast<std::uint8_t>(c >> 8);
        p[2] = static_cast<std::uint8_t>(c * 37);
        p[3] = 0xff;
    }
    return f;
}

using portico::test::from_hex;
using portico::test::to_hex;

// An antialiased glyph as a TrueType font draws it: dark strokes on white with `levels` greys on
// their edges (what typing_big's tiles are: ~32 greys).
capture::Frame aa_glyph(int w, int h, int levels, unsigned seed) {
    capture::Frame f(w, h);
    test::fill(f, f.bounds(), 0xff, 0xff, 0xff);
    std::mt19937 rng(seed);
    for (int y = 2; y < h - 2; ++y)
        for (int x = 3; x < w - 3; ++x) {
            if (rng() % 3 == 0) continue;  // background between the strokes
            const auto v = static_cast<std::uint8_t>(255 - (rng() % static_cast<unsigned>(levels)) * (255 / levels));
            test::fill(f, {x, y, 1, 1}, v, v, v);
        }
    return f;
}

using Form = PaletteTileEncoder::Form;

// Decodes a tile of any form.
bool decode(PaletteDecoder& dec, Form form, std::span<const std::uint8_t> tile, capture::Frame& out, int x, int y,
            int w, int h) {
    return form == Form::classic ? dec.decode_into(tile, out, x, y, w, h)
                                 : dec.decode_compact_into(tile, out, x, y, w, h);
}

const char* name_of(Form form) {
    return form == Form::classic ? "classic" : form == Form::compact ? "compact" : "compact, columns allowed";
}

// One line of a scrolling 1-bit terminal (xterm's `fixed`: 6x13 cells, black on white) as a log
// prints it: words from a small vocabulary, so the same glyphs recur at every horizontal offset.
capture::Frame log_line(int w, unsigned seed) {
    constexpr int kCell = 6, kLine = 13;
    capture::Frame f(w, kLine);
    test::fill(f, f.bounds(), 0xff, 0xff, 0xff);
    std::mt19937 rng(seed);
    const char* words[] = {"session", "frame", "tile", "scroll", "viewer", "broker", "pixel", "stream"};
    int x = 0;
    while (x + 8 * kCell < w) {
        for (const char* c = words[rng() % 8]; *c; ++c, x += kCell) {
            std::mt19937 glyph(static_cast<unsigned>(*c));  // the same letter, the same strokes
            for (int s = 0; s < 4; ++s) {
                const int gx = static_cast<int>(glyph() % 5), gy = static_cast<int>(glyph() % 9) + 2;
                if (glyph() % 2)
                    test::fill(f, {x + gx, gy, 1, std::min(4, kLine - gy)}, 0, 0, 0);
                else
                    test::fill(f, {x, gy, 5, 1}, 0, 0, 0);
            }
        }
        x += kCell;  // the space
    }
    return f;
}

// Two log lines, one above the other: what a log at 60 lines a second shows between two frames.
capture::Frame two_lines(int w, unsigned seed) {
    capture::Frame f(w, 26);
    const capture::Frame a = log_line(w, seed), b = log_line(w, seed + 100);
    for (int y = 0; y < 13; ++y) {
        std::memcpy(f.at(0, y), a.at(0, y), static_cast<std::size_t>(w) * 4);
        std::memcpy(f.at(0, y + 13), b.at(0, y), static_cast<std::size_t>(w) * 4);
    }
    return f;
}

// The frame's pixels as RGB bytes, row by row.
std::vector<std::uint8_t> rgb_of(const capture::Frame& f) {
    std::vector<std::uint8_t> out;
    for (int y = 0; y < f.height; ++y)
        for (int x = 0; x < f.width; ++x) out.insert(out.end(), {f.at(x, y)[2], f.at(x, y)[1], f.at(x, y)[0]});
    return out;
}

// The vectors: good tiles made by the encoder (one per bit depth and packing), and malformed ones
// written by hand with the part of the error both decoders must name.
json make_vectors() {
    json good = json::array(), bad = json::array();
    PaletteTileEncoder enc;
    auto add = [&](const char* name, const capture::Frame& f) {
        const auto data = enc.encode(f, f.bounds()).value();
        good.push_back(
            {{"name", name}, {"w", f.width}, {"h", f.height}, {"data", to_hex(data)}, {"rgb", to_hex(rgb_of(f))}});
    };
    add("solid fill (1 colour, no indices)", pattern(7, 3, 1, 1));
    add("2 colours, 1 bit, stored (too small to deflate)", pattern(5, 2, 2, 2));
    add("3 colours, 2 bits, odd width", pattern(13, 5, 3, 3));
    add("16 colours, 4 bits", pattern(9, 9, 16, 4));
    add("a typed glyph (2 colours, deflated)", [] {
        capture::Frame f(16, 16);
        test::fill(f, f.bounds(), 0x23, 0x1e, 0x1e);
        test::fill(f, {5, 2, 2, 12}, 0xe0, 0xe0, 0xe0);
        test::fill(f, {3, 7, 8, 2}, 0xe0, 0xe0, 0xe0);
        return f;
    }());
    add("200 colours, 8 bits, deflated", pattern(40, 24, 200, 5));
    json compact = json::array(), compact_bad = json::array();
    PaletteTileEncoder compact_enc(Form::compact);
    auto add_compact = [&](const char* name, const capture::Frame& f) {
        const auto data = compact_enc.encode(f, f.bounds()).value();
        compact.push_back(
            {{"name", name}, {"w", f.width}, {"h", f.height}, {"data", to_hex(data)}, {"rgb", to_hex(rgb_of(f))}});
    };
    add_compact("solid fill, colour (stored)", [] {
        capture::Frame f(7, 3);
        test::fill(f, f.bounds(), 0x23, 0x1e, 0x1e);
        return f;
    }());
    add_compact("solid fill, grey (stored)", [] {
        capture::Frame f(4, 4);
        test::fill(f, f.bounds(), 0x80, 0x80, 0x80);
        return f;
    }());
    add_compact("2 colours, 1 bit, stored", pattern(5, 2, 2, 2));
    add_compact("3 colours, 2 bits, odd width", pattern(13, 5, 3, 3));
    add_compact("16 colours, 4 bits", pattern(9, 9, 16, 4));
    add_compact("an antialiased glyph (32 greys, grey palette, deflated)", aa_glyph(24, 24, 32, 7));
    add_compact("200 colours, 8 bits, deflated", pattern(40, 24, 200, 5));
    auto malformed_compact = [&](const char* name, int w, int h, std::vector<std::uint8_t> data, const char* error) {
        compact_bad.push_back({{"name", name}, {"w", w}, {"h", h}, {"data", to_hex(data)}, {"error", error}});
    };
    malformed_compact("empty", 2, 2, {}, "empty");
    malformed_compact("no form byte", 2, 2, {1}, "no form byte");
    malformed_compact("unknown form bits", 2, 2, {0, 8, 9}, "unknown form bits 8");
    malformed_compact("grey solid fill with a byte more", 2, 2, {0, 1, 9, 0}, "the stored body is not 1 bytes");
    malformed_compact("colour palette cut short", 2, 2, {0, 0, 9, 9}, "the stored body is not 3 bytes");
    malformed_compact("stored indices one byte short", 2, 2, {1, 1, 0, 9, 0x40}, "the stored body is not 4 bytes");
    malformed_compact("stored index beyond a 3-colour palette", 2, 1, {2, 1, 0, 9, 9, 0x30},
                      "an index beyond the palette");
    malformed_compact("deflate data that is not deflate", 2, 2, {1, 3, 0xff, 0xff, 0xff}, "deflate");
    // A valid raw-deflate stream of the body 00 09 40 80 (a stored block), then one more byte.
    malformed_compact("a byte after the deflate data", 2, 2,
                      {1, 3, 0x01, 0x04, 0x00, 0xfb, 0xff, 0x00, 0x09, 0x40, 0x80, 0x00}, "deflate");
    malformed_compact("deflate data one byte short of the body", 2, 2,
                      {1, 3, 0x01, 0x03, 0x00, 0xfc, 0xff, 0x00, 0x09, 0x40}, "deflate");
    malformed_compact("columns without a band byte", 2, 2, {0, 5}, "no band byte");
    malformed_compact("a band of 0 rows", 2, 2, {0, 5, 0, 9}, "a band of 0 rows");
    // 2 x 9 in one band is two columns of two bytes (in rows it would be nine rows of one).
    malformed_compact("stored columns one byte short", 2, 9, {1, 5, 9, 0, 9, 0xff, 0x80, 0x00},
                      "the stored body is not 6 bytes");
    json columns = json::array();
    PaletteTileEncoder columns_enc(Form::compact_columns);
    auto add_columns = [&](const char* name, const capture::Frame& f) {
        const auto data = columns_enc.encode(f, f.bounds()).value();
        REQUIRE((data[1] & palette::form_columns) != 0);
        REQUIRE(data[2] == (f.height > 13 ? 13 : f.height));  // the band: one line
        columns.push_back(
            {{"name", name}, {"w", f.width}, {"h", f.height}, {"data", to_hex(data)}, {"rgb", to_hex(rgb_of(f))}});
    };
    add_columns("a line of 1-bit terminal text (2 greys, deflated)", log_line(300, 1));
    add_columns("two lines in bands of 13 rows (2 greys, deflated)", two_lines(240, 3));
    add_columns("a line with grey edges (13 colours, 4 bits, deflated)", [] {
        capture::Frame f = log_line(200, 2);
        for (int y = 0; y < f.height; ++y)  // a grey right of every stroke, a level per row
            for (int x = f.width - 1; x > 0; --x)
                if (f.at(x, y)[0] == 0xff && f.at(x - 1, y)[0] == 0) {
                    const auto v = static_cast<std::uint8_t>(60 + y * 12);
                    test::fill(f, {x, y, 1, 1}, v, v, v);
                }
        return f;
    }());
    auto malformed = [&](const char* name, int w, int h, std::vector<std::uint8_t> data, const char* error) {
        bad.push_back({{"name", name}, {"w", w}, {"h", h}, {"data", to_hex(data)}, {"error", error}});
    };
    malformed("empty", 2, 2, {}, "empty");
    malformed("palette cut short", 2, 2, {1, 10, 20, 30, 40}, "the palette is cut short");
    malformed("a byte after a solid fill", 2, 2, {0, 10, 20, 30, 0}, "bytes after a solid fill");
    malformed("no packing byte", 2, 2, {1, 0, 0, 0, 9, 9, 9}, "no packing byte");
    malformed("unknown packing", 2, 2, {1, 0, 0, 0, 9, 9, 9, 2, 0x40, 0x80}, "unknown packing 2");
    malformed("stored indices one byte short", 2, 2, {1, 0, 0, 0, 9, 9, 9, 0, 0x40},
              "the stored indices are not 2 bytes");
    malformed("stored index beyond a 3-colour palette", 2, 1, {2, 0, 0, 0, 9, 9, 9, 5, 5, 5, 0, 0x30},
              "an index beyond the palette");
    malformed("deflate data that is not deflate", 2, 2, {1, 0, 0, 0, 9, 9, 9, 1, 0xff, 0xff, 0xff}, "deflate");
    // A valid raw-deflate stream of the two index bytes 0x40 0x80 (a stored block), then one more byte.
    malformed("a byte after the deflate data", 2, 2,
              {1, 0, 0, 0, 9, 9, 9, 1, 0x01, 0x02, 0x00, 0xfd, 0xff, 0x40, 0x80, 0x00}, "deflate");
    malformed("deflate data one byte short of the tile", 2, 2,
              {1, 0, 0, 0, 9, 9, 9, 1, 0x01, 0x01, 0x00, 0xfe, 0xff, 0x40}, "deflate");
    return {{"about",
             "Palette tiles (docs/protocol.md, \"Palette tiles\"): `tiles` and `malformed` are the classic form "
             "(encoding 3), `compact_tiles` and `compact_malformed` the compact form (encoding 4, since version "
             "4), `column_tiles` compact tiles whose indices go column by column (form bit 2, since version 5). "
             "`data` is the tile's bytes in hex, `rgb` the w x h pixels it decodes to (RGB, row by row); "
             "malformed tiles must be refused with an error containing `error`. Written by unit_codec "
             "\"[.write-vectors]\" (tests/unit/codec/palette_test.cpp), read by it and by "
             "tests/browser/palette.test.mjs."},
            {"tiles", good},
            {"malformed", bad},
            {"compact_tiles", compact},
            {"compact_malformed", compact_bad},
            {"column_tiles", columns}};
}

}  // namespace

TEST_CASE("palette tiles are lossless at every bit depth, stored or deflated", "[codec][palette]") {
    const Form form = GENERATE(Form::classic, Form::compact, Form::compact_columns);
    const int colours = GENERATE(1, 2, 3, 4, 5, 16, 17, 200, 256);
    const auto [w, h] = GENERATE(std::pair{1, 1}, std::pair{3, 2}, std::pair{13, 7}, std::pair{301, 13},
                                 std::pair{97, 41}, std::pair{256, 256});
    INFO(name_of(form) << ", " << colours << " colours, " << w << "x" << h);
    const capture::Frame src = pattern(w, h, std::min(colours, w * h), static_cast<unsigned>(colours + w));
    PaletteTileEncoder enc(form);
    const auto tile = enc.encode(src, src.bounds()).value();
    capture::Frame out(w + 20, h + 10);
    PaletteDecoder dec;
    REQUIRE(decode(dec, form, tile, out, 11, 5, w, h));
    CHECK(same_pixels(src, src.bounds(), out, 11, 5));
    // A solid fill: the count and one colour; compact: the count, the form byte and one grey (black).
    if (std::min(colours, w * h) == 1) CHECK(tile.size() == (form == Form::classic ? 4u : 3u));
    // Columns only where allowed, and only for strips.
    if (form != Form::classic && (form == Form::compact || h > PaletteTileEncoder::kColumnsMaxHeight))
        CHECK((tile[1] & palette::form_columns) == 0);
}

TEST_CASE("compact palette tiles of greys and of text are lossless", "[codec][palette]") {
    PaletteTileEncoder enc(Form::compact);
    PaletteDecoder dec;
    for (int levels : {2, 5, 32, 200}) {
        INFO(levels << " grey levels");
        const capture::Frame src = aa_glyph(31, 17, levels, static_cast<unsigned>(levels));
        const auto tile = enc.encode(src, src.bounds()).value();
        CHECK((tile[1] & palette::form_grey) != 0);
        capture::Frame out(31, 17);
        REQUIRE(dec.decode_compact_into(tile, out, 0, 0, 31, 17));
        CHECK(same_pixels(src, src.bounds(), out, 0, 0));
    }
    // Colours that differ in one channel only are not grey; one grey-looking pixel short of grey neither.
    capture::Frame almost(8, 8);
    test::fill(almost, almost.bounds(), 0x40, 0x40, 0x40);
    test::fill(almost, {3, 3, 1, 1}, 0x40, 0x41, 0x40);
    const auto tile = enc.encode(almost, almost.bounds()).value();
    CHECK((tile[1] & palette::form_grey) == 0);
    capture::Frame out(8, 8);
    REQUIRE(dec.decode_compact_into(tile, out, 0, 0, 8, 8));
    CHECK(same_pixels(almost, almost.bounds(), out, 0, 0));
    const capture::Frame text = test::make_text_frame(640, 480, 5);
    for (capture::Rect r : {capture::Rect{0, 0, 256, 256}, capture::Rect{13, 31, 201, 99}}) {
        const auto t = enc.encode(text, r).value();
        capture::Frame o(640, 480);
        REQUIRE(dec.decode_compact_into(t, o, r.x, r.y, r.w, r.h));
        CHECK(same_pixels(text, r, o, r.x, r.y));
    }
}

TEST_CASE("an antialiased glyph's compact tile saves most of the classic palette", "[codec][palette]") {
    // typing_big (bench/display): each key is a ~24x24 tile of ~32 greys, whose classic palette
    // (96 bytes) was half the tile; the compact one is 32 bytes before deflate.
    PaletteTileEncoder classic(Form::classic), compact(Form::compact);
    std::size_t classic_bytes = 0, compact_bytes = 0;
    for (unsigned seed = 1; seed <= 20; ++seed) {
        const capture::Frame f = aa_glyph(24, 24, 32, seed);
        classic_bytes += classic.encode(f, f.bounds()).value().size();
        compact_bytes += compact.encode(f, f.bounds()).value().size();
    }
    INFO("20 glyphs: classic " << classic_bytes << " bytes, compact " << compact_bytes);
    CHECK(compact_bytes + 20 * 64 <= classic_bytes);
}

TEST_CASE("palette tiles of text, and photo-like rectangles declined", "[codec][palette]") {
    const capture::Frame text = test::make_text_frame(640, 480, 5);
    PaletteTileEncoder enc;
    PaletteDecoder dec;
    for (capture::Rect r :
         {capture::Rect{0, 0, 256, 256}, capture::Rect{13, 31, 201, 99}, capture::Rect{639, 479, 1, 1}}) {
        const auto tile = enc.encode(text, r).value();
        capture::Frame out(640, 480);
        REQUIRE(dec.decode_into(tile, out, r.x, r.y, r.w, r.h));
        CHECK(same_pixels(text, r, out, r.x, r.y));
    }
    CHECK_FALSE(enc.encode(test::make_gradient_frame(64, 64), {0, 0, 64, 64}).has_value());
    CHECK_FALSE(enc.encode(pattern(17, 17, 257, 9), {0, 0, 17, 17}).has_value());
    CHECK_THROWS_AS(enc.encode(text, {630, 0, 16, 16}), std::invalid_argument);
}

TEST_CASE("a typed character's tile costs a fraction of the same tile as PNG", "[codec][palette]") {
    // What typing sends: a cell or two of a terminal, the glyph and the cursor that moved on.
    capture::Frame f = test::make_text_frame(640, 480, 21);
    std::mt19937 rng(3);
    PaletteTileEncoder palette;
    PngTileEncoder png(/*palette_only=*/true);
    std::size_t palette_bytes = 0, png_bytes = 0;
    for (int i = 0; i < 20; ++i) {
        const capture::Rect cell{8 + i * 8, 200, 16, 16};
        test::fill(f, cell, 0x23, 0x1e, 0x1e);
        test::draw_glyph(f, cell.x, cell.y, rng, 0xe0, 0xe0, 0xe0);
        palette_bytes += palette.encode(f, cell).value().size();
        png_bytes += png.encode(f, cell).value().size();
    }
    INFO("20 typed cells: palette " << palette_bytes << " bytes, PNG " << png_bytes);
    // PNG's container alone is ~75 bytes a tile; a palette tile has none of it.
    CHECK(palette_bytes * 2 < png_bytes);
}

TEST_CASE("lines of terminal text cost less in columns than in rows", "[codec][palette]") {
    // scroll_fast (bench/display): each frame's new log lines are a 1-bit strip one or two lines
    // high. In rows a 6-pixel glyph meets a byte boundary every fourth cell and each of its rows is
    // a separate match; in columns in bands a line high, each glyph is the same bytes wherever it stands.
    PaletteTileEncoder rows(Form::compact), columns(Form::compact_columns);
    PaletteDecoder dec;
    for (const int lines : {1, 2}) {
        INFO(lines << " line(s) a strip");
        std::size_t row_bytes = 0, column_bytes = 0;
        for (unsigned seed = 1; seed <= 20; ++seed) {
            const capture::Frame strip = lines == 1 ? log_line(1024, seed) : two_lines(1024, seed);
            row_bytes += rows.encode(strip, strip.bounds()).value().size();
            const auto tile = columns.encode(strip, strip.bounds()).value();
            column_bytes += tile.size();
            REQUIRE((tile[1] & palette::form_columns) != 0);
            CHECK(tile[2] == 13);  // bands of one line
            capture::Frame out(1024, strip.height);
            REQUIRE(dec.decode_compact_into(tile, out, 0, 0, 1024, strip.height));
            CHECK(same_pixels(strip, strip.bounds(), out, 0, 0));
        }
        INFO("20 strips: rows " << row_bytes << " bytes, columns " << column_bytes);
        CHECK(column_bytes * 10 <= row_bytes * 6);
    }
    // A tile whose columns do not deflate smaller stays in rows.
    const capture::Frame noise = pattern(64, 13, 2, 9);
    const auto tile = columns.encode(noise, noise.bounds()).value();
    CHECK(tile.size() <= rows.encode(noise, noise.bounds()).value().size());
}

TEST_CASE("malformed palette tiles are refused and paint nothing", "[codec][palette][bad-input]") {
    const Form form = GENERATE(Form::classic, Form::compact, Form::compact_columns);
    INFO(name_of(form));
    const bool columns = form == Form::compact_columns;
    // Columns: horizontal stripes, every column the same, which deflate far better than the rows.
    capture::Frame src = pattern(32, 16, 5, 6);
    if (columns)
        for (int y = 0; y < 16; ++y) test::fill(src, {0, y, 32, 1}, src.at(0, y)[0], src.at(0, y)[1], src.at(0, y)[2]);
    PaletteTileEncoder enc(form);
    const auto tile = enc.encode(src, src.bounds()).value();
    if (columns) REQUIRE((tile[1] & palette::form_columns) != 0);
    PaletteDecoder decoder;
    // decode_into of the form under test, so every check below covers both.
    struct {
        PaletteDecoder& dec;
        Form form;
        bool decode_into(std::span<const std::uint8_t> t, capture::Frame& o, int x, int y, int w, int h) {
            return decode(dec, form, t, o, x, y, w, h);
        }
        const std::string& last_error() const { return dec.last_error(); }
    } dec{decoder, form};
    capture::Frame out(64, 64);
    test::fill(out, out.bounds(), 1, 2, 3);
    const capture::Frame before = out;
    // Every truncation, and one byte too many.
    for (std::size_t n = 0; n < tile.size(); ++n) {
        INFO("cut to " << n << " of " << tile.size() << " bytes");
        CHECK_FALSE(dec.decode_into(std::span(tile.data(), n), out, 0, 0, 32, 16));
        CHECK_FALSE(dec.last_error().empty());
    }
    auto longer = tile;
    longer.push_back(0);
    CHECK_FALSE(dec.decode_into(longer, out, 0, 0, 32, 16));
    // The wrong size for the bytes: fewer lines, or shorter ones (one index less packs to the same
    // bytes at 4 bits, two do not), or a place outside the screen.
    CHECK_FALSE(dec.decode_into(tile, out, 0, 0, columns ? 31 : 32, columns ? 16 : 15));
    CHECK_FALSE(dec.decode_into(tile, out, 0, 0, columns ? 32 : 30, columns ? 14 : 16));
    CHECK_FALSE(dec.decode_into(tile, out, 40, 0, 32, 16));
    CHECK(dec.last_error().find("outside") != std::string::npos);
    CHECK(out.pixels == before.pixels);
    // The decoder is fine afterwards.
    REQUIRE(dec.decode_into(tile, out, 0, 0, 32, 16));
    CHECK(same_pixels(src, src.bounds(), out, 0, 0));
}

TEST_CASE("palette tile golden vectors decode as recorded", "[codec][palette][vectors]") {
    std::ifstream in(kVectors);
    REQUIRE(in);
    const json doc = json::parse(in);
    REQUIRE(doc["tiles"].size() >= 6);
    PaletteDecoder dec;
    for (const auto& v : doc["tiles"]) {
        INFO(v["name"].get<std::string>());
        const int w = v["w"], h = v["h"];
        capture::Frame out(w, h);
        REQUIRE(dec.decode_into(from_hex(v["data"]), out, 0, 0, w, h));
        CHECK(to_hex(rgb_of(out)) == v["rgb"].get<std::string>());
    }
    for (const auto& v : doc["malformed"]) {
        INFO(v["name"].get<std::string>());
        const int w = v["w"], h = v["h"];
        capture::Frame out(w, h);
        CHECK_FALSE(dec.decode_into(from_hex(v["data"]), out, 0, 0, w, h));
        CHECK(dec.last_error().find(v["error"].get<std::string>()) != std::string::npos);
    }
    REQUIRE(doc["compact_tiles"].size() >= 7);
    for (const auto& v : doc["compact_tiles"]) {
        INFO("compact: " << v["name"].get<std::string>());
        const int w = v["w"], h = v["h"];
        capture::Frame out(w, h);
        REQUIRE(dec.decode_compact_into(from_hex(v["data"]), out, 0, 0, w, h));
        CHECK(to_hex(rgb_of(out)) == v["rgb"].get<std::string>());
    }
    for (const auto& v : doc["compact_malformed"]) {
        INFO("compact: " << v["name"].get<std::string>());
        const int w = v["w"], h = v["h"];
        capture::Frame out(w, h);
        CHECK_FALSE(dec.decode_compact_into(from_hex(v["data"]), out, 0, 0, w, h));
        CHECK(dec.last_error().find(v["error"].get<std::string>()) != std::string::npos);
    }
    REQUIRE(doc["column_tiles"].size() >= 2);
    for (const auto& v : doc["column_tiles"]) {
        INFO("columns: " << v["name"].get<std::string>());
        const int w = v["w"], h = v["h"];
        capture::Frame out(w, h);
        REQUIRE(dec.decode_compact_into(from_hex(v["data"]), out, 0, 0, w, h));
        CHECK(to_hex(rgb_of(out)) == v["rgb"].get<std::string>());
    }
    // The file is what make_vectors() writes today (the encoder has not changed the format).
    CHECK(doc == make_vectors());
}

TEST_CASE("write the palette tile vectors", "[.write-vectors]") {
    std::ofstream(kVectors) << make_vectors().dump(1) << "\n";
}

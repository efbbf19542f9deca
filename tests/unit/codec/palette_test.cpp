// Palette tiles (codec/palette_format.hpp), in both forms (classic and compact): lossless round
// trips at every bit depth, the encoder declining photo-like rectangles, what a typed character
// costs against PNG and the compact form against the classic, and malformed tiles refused without
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

// Decodes a tile of either form.
bool decode(PaletteDecoder& dec, Form form, std::span<const std::uint8_t> tile, capture::Frame& out, int x, int y,
            int w, int h) {
    return form == Form::compact ? dec.decode_compact_into(tile, out, x, y, w, h)
                                 : dec.decode_into(tile, out, x, y, w, h);
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
    malformed_compact("unknown form bits", 2, 2, {0, 4, 9}, "unknown form bits 4");
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
             "4). `data` is the tile's bytes in hex, `rgb` the w x h pixels it decodes to (RGB, row by row); "
             "malformed tiles must be refused with an error containing `error`. Written by unit_codec "
             "\"[.write-vectors]\" (tests/unit/codec/palette_test.cpp), read by it and by "
             "tests/browser/palette.test.mjs."},
            {"tiles", good},
            {"malformed", bad},
            {"compact_tiles", compact},
            {"compact_malformed", compact_bad}};
}

}  // namespace

TEST_CASE("palette tiles are lossless at every bit depth, stored or deflated", "[codec][palette]") {
    const Form form = GENERATE(Form::classic, Form::compact);
    const int colours = GENERATE(1, 2, 3, 4, 5, 16, 17, 200, 256);
    const auto [w, h] = GENERATE(std::pair{1, 1}, std::pair{3, 2}, std::pair{13, 7}, std::pair{256, 256});
    INFO((form == Form::compact ? "compact, " : "classic, ") << colours << " colours, " << w << "x" << h);
    const capture::Frame src = pattern(w, h, std::min(colours, w * h), static_cast<unsigned>(colours + w));
    PaletteTileEncoder enc(form);
    const auto tile = enc.encode(src, src.bounds()).value();
    capture::Frame out(w + 20, h + 10);
    PaletteDecoder dec;
    REQUIRE(decode(dec, form, tile, out, 11, 5, w, h));
    CHECK(same_pixels(src, src.bounds(), out, 11, 5));
    // A solid fill: the count and one colour; compact: the count, the form byte and one grey (black).
    if (std::min(colours, w * h) == 1) CHECK(tile.size() == (form == Form::compact ? 3u : 4u));
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

TEST_CASE("malformed palette tiles are refused and paint nothing", "[codec][palette][bad-input]") {
    const Form form = GENERATE(Form::classic, Form::compact);
    const capture::Frame src = pattern(32, 16, 5, 6);
    PaletteTileEncoder enc(form);
    const auto tile = enc.encode(src, src.bounds()).value();
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
    // The wrong size for the bytes, or a place outside the screen.
    CHECK_FALSE(dec.decode_into(tile, out, 0, 0, 32, 15));  // (31 wide packs to the same row bytes at 4 bits)
    CHECK_FALSE(dec.decode_into(tile, out, 0, 0, 30, 16));
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
    // The file is what make_vectors() writes today (the encoder has not changed the format).
    CHECK(doc == make_vectors());
}

TEST_CASE("write the palette tile vectors", "[.write-vectors]") {
    std::ofstream(kVectors) << make_vectors().dump(1) << "\n";
}

#include "codec/png_decoder.hpp"
#include "codec/png_tile.hpp"
#include "tests/support/test_frames.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace portico;
using namespace portico::codec;
using test::same_pixels;

namespace {

capture::Frame noise_frame(int w, int h) {
    capture::Frame f(w, h);
    std::mt19937 rng(7);
    for (auto& b : f.pixels) b = static_cast<std::uint8_t>(rng());
    return f;
}

}  // namespace

TEST_CASE("PNG tiles are lossless: text (palette) and noise (RGB)", "[codec][png]") {
    const bool text = GENERATE(true, false);
    const capture::Frame src = text ? test::make_text_frame(640, 480, 5) : noise_frame(640, 480);
    const capture::Rect r =
        GENERATE(capture::Rect{0, 0, 640, 480}, capture::Rect{13, 7, 201, 99}, capture::Rect{639, 479, 1, 1});
    PngTileEncoder enc;
    auto png = enc.encode(src, r).value();
    REQUIRE(!png.empty());
    capture::Frame out(700, 500);
    PngDecoder dec;
    REQUIRE(dec.decode_into(png, out, 30, 20, r.w, r.h));
    CHECK(same_pixels(src, r, out, 30, 20));
    if (text && r.w == 640) {
        // Palette PNG of text: far below the 3 bytes per pixel of raw RGB.
        CHECK(png.size() < static_cast<std::size_t>(r.area()) / 4);
    }
}

TEST_CASE("PNG tiles outside the frame are a caller bug", "[codec][png]") {
    capture::Frame src(64, 64);
    PngTileEncoder enc;
    CHECK_THROWS_AS(enc.encode(src, {60, 0, 8, 8}), std::invalid_argument);
    CHECK_THROWS_AS(enc.encode(src, {0, 0, 0, 8}), std::invalid_argument);
}

TEST_CASE("corrupt, truncated, mis-sized or misplaced PNG tiles are refused and paint nothing",
          "[codec][png][bad-input]") {
    const capture::Frame src = test::make_text_frame(128, 64, 3);
    PngTileEncoder enc;
    auto png = enc.encode(src, {0, 0, 128, 64}).value();
    capture::Frame target(256, 256);
    std::fill(target.pixels.begin(), target.pixels.end(), std::uint8_t{0x5a});
    const auto before = target.pixels;
    PngDecoder dec;

    // (A cut inside the final IEND chunk loses no pixels, and libpng accepts it; 13 bytes from the
    // end is the last byte of the image data's CRC.)
    for (std::size_t cut : {std::size_t{0}, std::size_t{8}, png.size() / 2, png.size() - 13}) {
        INFO("cut at " << cut);
        CHECK_FALSE(dec.decode_into(std::span(png.data(), cut), target, 0, 0, 128, 64));
        CHECK_FALSE(dec.last_error().empty());
    }
    auto flipped = png;
    flipped[png.size() / 2] ^= 0xff;  // inside the compressed data: CRC and zlib checks fail
    CHECK_FALSE(dec.decode_into(flipped, target, 0, 0, 128, 64));
    CHECK_FALSE(dec.decode_into(png, target, 0, 0, 64, 64));     // the tile claims another size
    CHECK_FALSE(dec.decode_into(png, target, 200, 0, 128, 64));  // does not fit
    CHECK(target.pixels == before);
    CHECK(dec.decode_into(png, target, 128, 192, 128, 64));
}

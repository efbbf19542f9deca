#include "codec/color.hpp"
#include "codec/jpeg_decoder.hpp"
#include "codec/jpeg_tile.hpp"
#include "tests/support/test_frames.hpp"

#include <catch2/catch.hpp>

#include <climits>
#include <random>

using namespace portico;
using namespace portico::codec;

namespace {

// A target frame filled with a marker value, so any write outside the tile shows.
capture::Frame marked_target(int w, int h) {
    capture::Frame t(w, h);
    std::fill(t.pixels.begin(), t.pixels.end(), uint8_t{0x5a});
    return t;
}

// True when every pixel of t outside r still has the marker value.
bool untouched_outside(const capture::Frame& t, capture::Rect r) {
    for (int y = 0; y < t.height; ++y)
        for (int x = 0; x < t.width; ++x) {
            if (x >= r.x && x < r.right() && y >= r.y && y < r.bottom()) continue;
            const uint8_t* p = t.at(x, y);
            if (p[0] != 0x5a || p[1] != 0x5a || p[2] != 0x5a || p[3] != 0x5a) return false;
        }
    return true;
}

bool all_marked(const capture::Frame& t) { return untouched_outside(t, {}); }

}  // namespace

TEST_CASE("JPEG tile round trip at quality 90, 4:4:4", "[codec][jpeg]") {
    const capture::Frame src = test::make_text_frame(640, 480, 21);
    const capture::Rect r = GENERATE(capture::Rect{100, 50, 200, 120},  // inside
                                     capture::Rect{0, 0, 640, 480},     // whole frame
                                     capture::Rect{631, 470, 9, 10},    // bottom-right edge
                                     capture::Rect{17, 33, 1, 1});      // one pixel
    INFO("rect " << r.x << "," << r.y << " " << r.w << "x" << r.h);

    JpegTileEncoder enc;
    JpegDecoder dec;
    const auto jpeg = enc.encode(src, r, 90, true);
    REQUIRE(jpeg.size() > 2);
    CHECK(jpeg[0] == 0xff);
    CHECK(jpeg[1] == 0xd8);  // SOI

    capture::Frame target = marked_target(640, 480);
    REQUIRE(dec.decode_into(jpeg, target, r.x, r.y, r.w, r.h));
    CHECK(dec.last_error().empty());
    const double psnr = psnr_bgra(test::crop(src, r), test::crop(target, r));
    INFO("psnr " << psnr);
    CHECK(psnr >= 35.0);
    CHECK(untouched_outside(target, r));
}

TEST_CASE("JPEG tile can be painted at another position", "[codec][jpeg]") {
    const capture::Frame src = test::make_text_frame(320, 240, 22);
    JpegTileEncoder enc;
    JpegDecoder dec;
    const capture::Rect r{10, 30, 64, 48};
    const auto jpeg = enc.encode(src, r, 90, true);

    capture::Frame reference = marked_target(320, 240);
    REQUIRE(dec.decode_into(jpeg, reference, r.x, r.y, r.w, r.h));
    capture::Frame target = marked_target(100, 100);
    REQUIRE(dec.decode_into(jpeg, target, 36, 52, 64, 48));  // touches the right/bottom edges
    CHECK(psnr_bgra(test::crop(reference, r), test::crop(target, {36, 52, 64, 48})) == 99.0);
    CHECK(untouched_outside(target, {36, 52, 64, 48}));
}

TEST_CASE("JPEG chroma and quality settings trade size as documented", "[codec][jpeg]") {
    const capture::Frame src = test::make_text_frame(640, 480, 23);
    JpegTileEncoder enc;
    const capture::Rect r{0, 24, 480, 400};
    const size_t full = enc.encode(src, r, 90, true).size();
    const size_t sub = enc.encode(src, r, 90, false).size();
    const size_t low = enc.encode(src, r, 40, true).size();
    INFO("444 q90 " << full << ", 420 q90 " << sub << ", 444 q40 " << low);
    CHECK(sub < full);
    CHECK(low < full);

    // 4:2:0 still decodes to the right size and is recognisable.
    JpegDecoder dec;
    capture::Frame target = marked_target(640, 480);
    REQUIRE(dec.decode_into(enc.encode(src, r, 90, false), target, r.x, r.y, r.w, r.h));
    CHECK(psnr_bgra(test::crop(src, r), test::crop(target, r)) >= 25.0);

    // Out-of-range quality is clamped, not an error.
    CHECK_FALSE(enc.encode(src, r, 0, true).empty());
    CHECK_FALSE(enc.encode(src, r, 1000, true).empty());
}

TEST_CASE("JpegTileEncoder rejects rectangles outside the frame", "[codec][jpeg]") {
    const capture::Frame src = test::make_text_frame(64, 64);
    JpegTileEncoder enc;
    CHECK_THROWS_AS(enc.encode(src, {0, 0, 0, 10}, 90, true), std::invalid_argument);
    CHECK_THROWS_AS(enc.encode(src, {60, 0, 5, 10}, 90, true), std::invalid_argument);
    CHECK_THROWS_AS(enc.encode(src, {-1, 0, 5, 10}, 90, true), std::invalid_argument);
    CHECK_THROWS_AS(enc.encode(src, {0, 0, 64, 65}, 90, true), std::invalid_argument);
}

TEST_CASE("JpegDecoder rejects mismatched sizes and placements", "[codec][jpeg]") {
    const capture::Frame src = test::make_text_frame(128, 96, 24);
    JpegTileEncoder enc;
    const auto jpeg = enc.encode(src, {8, 8, 32, 16}, 90, true);
    JpegDecoder dec;
    capture::Frame target = marked_target(64, 64);

    struct Case {
        int x, y, w, h;
        const char* why;
    };
    const Case cases[] = {
        {0, 0, 33, 16, "width differs from the JPEG"},
        {0, 0, 32, 15, "height differs from the JPEG"},
        {0, 0, 16, 32, "swapped"},
        {33, 0, 32, 16, "runs off the right edge"},
        {0, 49, 32, 16, "runs off the bottom edge"},
        {-1, 0, 32, 16, "negative x"},
        {0, -5, 32, 16, "negative y"},
        {INT_MAX - 10, 0, 32, 16, "x + w overflows int"},
        {0, 0, 0, 0, "empty"},
        {0, 0, -32, -16, "negative size"},
    };
    for (const Case& c : cases) {
        INFO(c.why);
        CHECK_FALSE(dec.decode_into(jpeg, target, c.x, c.y, c.w, c.h));
        CHECK_FALSE(dec.last_error().empty());
    }
    CHECK(all_marked(target));

    // A good call after failures works and clears the error.
    CHECK(dec.decode_into(jpeg, target, 32, 48, 32, 16));
    CHECK(dec.last_error().empty());
}

TEST_CASE("JpegDecoder survives truncated and garbage data", "[codec][jpeg]") {
    const capture::Frame src = test::make_text_frame(256, 128, 25);
    JpegTileEncoder enc;
    const auto jpeg = enc.encode(src, {0, 0, 256, 128}, 90, true);
    JpegDecoder dec;
    capture::Frame target = marked_target(256, 128);

    CHECK_FALSE(dec.decode_into({}, target, 0, 0, 256, 128));
    for (size_t cut : {size_t(1), size_t(2), size_t(20), size_t(200), jpeg.size() / 2, jpeg.size() - 2}) {
        INFO("truncated to " << cut << " of " << jpeg.size());
        std::vector<uint8_t> part(jpeg.begin(), jpeg.begin() + cut);
        CHECK_FALSE(dec.decode_into(part, target, 0, 0, 256, 128));
        CHECK_FALSE(dec.last_error().empty());
    }
    CHECK(all_marked(target));

    std::mt19937 rng(77);
    std::uniform_int_distribution<int> byte(0, 255);
    for (int round = 0; round < 200; ++round) {
        std::vector<uint8_t> junk(1 + round * 53 % 4000);
        for (auto& b : junk) b = static_cast<uint8_t>(byte(rng));
        if (round % 2 == 0 && junk.size() > 2) {  // start like a JPEG to reach the parser
            junk[0] = 0xff;
            junk[1] = 0xd8;
        }
        CHECK_FALSE(dec.decode_into(junk, target, 0, 0, 256, 128));
    }
    CHECK(all_marked(target));

    // Bit flips past the header may decode to wrong pixels (JPEG has no checksum) but must never
    // write outside the tile. Paint into a larger target to see that.
    capture::Frame big = marked_target(300, 200);
    for (int round = 0; round < 100; ++round) {
        std::vector<uint8_t> damaged = jpeg;
        for (int i = 0; i < 4; ++i)
            damaged[std::uniform_int_distribution<size_t>(2, damaged.size() - 1)(rng)] ^=
                static_cast<uint8_t>(byte(rng) | 1);
        (void)dec.decode_into(damaged, big, 20, 30, 256, 128);
    }
    CHECK(untouched_outside(big, {20, 30, 256, 128}));
}

#include "client/native/framebuffer.hpp"
#include "codec/h264_encoder.hpp"
#include "codec/jpeg_tile.hpp"
#include "codec/palette_tile.hpp"
#include "codec/png_tile.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>

using portico::capture::Frame;
using portico::capture::Rect;
using portico::client::Framebuffer;
namespace proto = portico::protocol;

namespace {

Frame solid(int w, int h, std::uint8_t b, std::uint8_t g, std::uint8_t r) {
    Frame f(w, h);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            auto* p = f.at(x, y);
            p[0] = b;
            p[1] = g;
            p[2] = r;
            p[3] = 255;
        }
    return f;
}

bool near(const std::uint8_t* p, int b, int g, int r, int tol = 12) {
    return std::abs(p[0] - b) <= tol && std::abs(p[1] - g) <= tol && std::abs(p[2] - r) <= tol;
}

proto::Tile jpeg_tile(const Frame& src, Rect r, int x, int y) {
    portico::codec::JpegTileEncoder enc;
    proto::Tile t;
    t.x = static_cast<std::uint16_t>(x);
    t.y = static_cast<std::uint16_t>(y);
    t.w = static_cast<std::uint16_t>(r.w);
    t.h = static_cast<std::uint16_t>(r.h);
    t.encoding = proto::TileEncoding::jpeg;
    t.data = enc.encode(src, r, 95, true);
    return t;
}

// A keyframe of a solid w x h picture, announced as a screen_w x screen_h frame (larger = a
// reduced-resolution picture; 0 = the picture's own size).
proto::VideoFrame keyframe(int w, int h, std::uint8_t b, std::uint8_t g, std::uint8_t r, std::uint32_t id,
                           int screen_w = 0, int screen_h = 0) {
    portico::codec::H264Encoder::Options eo;
    eo.width = w;
    eo.height = h;
    portico::codec::H264Encoder enc(eo);
    proto::VideoFrame vf;
    vf.frame_id = id;
    vf.keyframe = true;
    vf.width = static_cast<std::uint16_t>(screen_w ? screen_w : w);
    vf.height = static_cast<std::uint16_t>(screen_h ? screen_h : h);
    if (screen_w) {
        vf.coded_width = static_cast<std::uint16_t>(w);
        vf.coded_height = static_cast<std::uint16_t>(h);
    }
    vf.data = enc.encode(solid(w, h, b, g, r), true)->data;
    return vf;
}

}  // namespace

TEST_CASE("a JPEG tile is painted at its position and nowhere else") {
    Framebuffer fb(128, 96);
    Frame red = solid(32, 16, 0, 0, 255);
    auto tile = jpeg_tile(red, {0, 0, 32, 16}, 48, 40);
    REQUIRE(fb.apply_tile(tile));
    const auto& f = fb.frame();
    CHECK(near(f.at(48, 40), 0, 0, 255));
    CHECK(near(f.at(79, 55), 0, 0, 255));
    CHECK(near(f.at(60, 47), 0, 0, 255));
    // Just outside the tile the screen is still the initial black.
    CHECK(near(f.at(47, 40), 0, 0, 0, 0));
    CHECK(near(f.at(80, 40), 0, 0, 0, 0));
    CHECK(near(f.at(48, 39), 0, 0, 0, 0));
    CHECK(near(f.at(48, 56), 0, 0, 0, 0));
}

TEST_CASE("tiles outside the screen are rejected and change nothing") {
    Framebuffer fb(64, 64);
    Frame green = solid(32, 32, 0, 255, 0);
    auto before = fb.frame().pixels;
    auto t = jpeg_tile(green, {0, 0, 32, 32}, 40, 0);  // would reach x = 72
    CHECK_FALSE(fb.apply_tile(t));
    CHECK(fb.last_error().find("outside") != std::string::npos);
    t.x = 0;
    t.y = 33;  // would reach y = 65
    CHECK_FALSE(fb.apply_tile(t));
    CHECK(fb.frame().pixels == before);

    // A TileFrame with one good and one bad tile paints the good one and counts the bad one.
    proto::TileFrame tf;
    tf.width = 64;
    tf.height = 64;
    auto good = jpeg_tile(green, {0, 0, 32, 32}, 32, 32);
    tf.tiles = {good, t};
    auto res = fb.apply_tiles(tf);
    CHECK(res.painted == 1);
    CHECK(res.failed == 1);
    CHECK(near(fb.frame().at(40, 40), 0, 255, 0));
    CHECK(near(fb.frame().at(10, 10), 0, 0, 0, 0));
}

TEST_CASE("a tile whose JPEG is not its declared size, or corrupt, is rejected") {
    Framebuffer fb(64, 64);
    Frame blue = solid(16, 16, 255, 0, 0);
    auto t = jpeg_tile(blue, {0, 0, 16, 16}, 0, 0);
    t.w = 20;  // says 20 wide, JPEG is 16
    CHECK_FALSE(fb.apply_tile(t));
    t.w = 16;
    t.data.resize(t.data.size() / 3);
    CHECK_FALSE(fb.apply_tile(t));
    CHECK(near(fb.frame().at(5, 5), 0, 0, 0, 0));
}

TEST_CASE("H.264 frames replace the screen, garbage is an error that keeps it") {
    const int w = 160, h = 96;
    Framebuffer fb(w, h);
    portico::codec::H264Encoder::Options eo;
    eo.width = w;
    eo.height = h;
    portico::codec::H264Encoder enc(eo);
    Frame src = solid(w, h, 40, 200, 120);
    auto encoded = *enc.encode(src, true);
    REQUIRE(encoded.keyframe);
    proto::VideoFrame vf;
    vf.frame_id = 1;
    vf.keyframe = true;
    vf.width = w;
    vf.height = h;
    vf.data = encoded.data;
    REQUIRE(fb.apply_video(vf));
    CHECK(near(fb.frame().at(80, 48), 40, 200, 120, 16));

    proto::VideoFrame junk = vf;
    junk.frame_id = 2;
    junk.data = {0, 0, 0, 1, 0x65, 0xff, 0x13, 0x37, 0x00};
    CHECK_FALSE(fb.apply_video(junk));
    CHECK_FALSE(fb.last_error().empty());
    CHECK(near(fb.frame().at(80, 48), 40, 200, 120, 16));
}

TEST_CASE("a framebuffer refuses impossible sizes") {
    CHECK_THROWS(Framebuffer(0, 10));
    CHECK_THROWS(Framebuffer(10, 9000));
}

TEST_CASE("after Resize the screen has the new size and the next keyframe of that size decodes") {
    Framebuffer fb(160, 96);
    REQUIRE(fb.apply_video(keyframe(160, 96, 40, 200, 120, 1)));
    REQUIRE(fb.resize(320, 192));  // as the host announces it
    CHECK(fb.width() == 320);
    CHECK(fb.height() == 192);
    REQUIRE(fb.apply_video(keyframe(320, 192, 200, 60, 30, 2)));  // one decoder across the SPS change
    CHECK(fb.width() == 320);
    CHECK(near(fb.frame().at(300, 180), 200, 60, 30, 16));
    CHECK_FALSE(fb.resize(0, 100));
    CHECK(fb.width() == 320);
}

namespace {

// A screen whose row y is filled with the value y (so every row is recognisable).
Frame striped(int w, int h) {
    Frame f(w, h);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            auto* p = f.at(x, y);
            p[0] = p[1] = p[2] = static_cast<std::uint8_t>(y);
            p[3] = 255;
        }
    return f;
}

// The rectangle r of src as a lossless tile at (x, y): a palette tile (what the host sends for text
// and flat UI) or a PNG.
proto::Tile exact_tile(const Frame& src, Rect r, int x, int y,
                       proto::TileEncoding encoding = proto::TileEncoding::palette) {
    std::vector<std::uint8_t> data = encoding == proto::TileEncoding::palette
                                         ? portico::codec::PaletteTileEncoder().encode(src, r).value()
                                         : portico::codec::PngTileEncoder().encode(src, r).value();
    return proto::Tile{static_cast<std::uint16_t>(x),
                       static_cast<std::uint16_t>(y),
                       static_cast<std::uint16_t>(r.w),
                       static_cast<std::uint16_t>(r.h),
                       encoding,
                       std::move(data)};
}

}  // namespace

TEST_CASE("copies move what the screen shows, overlapping up or down, then tiles paint the new rows") {
    const int w = 64, h = 100;
    const bool up = GENERATE(true, false);
    Framebuffer fb(w, h);
    proto::TileFrame init{1, w, h, {}, {exact_tile(striped(w, h), {0, 0, w, h}, 0, 0)}};
    REQUIRE(fb.apply_tiles(init).failed == 0);
    REQUIRE(fb.frame().at(5, 42)[0] == 42);  // palette tiles are lossless

    // Scroll by 10 rows (overlapping source and destination), then paint the exposed strip white.
    Frame white = solid(w, 10, 255, 255, 255);
    proto::TileFrame scroll{2, w, h, {}, {}};
    if (up) {
        scroll.copies.push_back({0, 10, w, 90, 0, 0});
        scroll.tiles.push_back(exact_tile(white, {0, 0, w, 10}, 0, 90));
    } else {
        scroll.copies.push_back({0, 0, w, 90, 0, 10});
        scroll.tiles.push_back(exact_tile(white, {0, 0, w, 10}, 0, 0));
    }
    auto res = fb.apply_tiles(scroll);
    CHECK(res.failed == 0);
    for (int y = 0; y < h; ++y) {
        INFO("row " << y);
        int expect = up ? (y < 90 ? y + 10 : 255) : (y < 10 ? 255 : y - 10);
        CHECK(fb.frame().at(w - 1, y)[0] == expect);
    }
}

TEST_CASE("palette and PNG tiles paint exactly, and a malformed one paints nothing and says why") {
    Framebuffer fb(64, 64);
    const auto encoding = GENERATE(proto::TileEncoding::palette, proto::TileEncoding::png);
    REQUIRE(fb.apply_tile(exact_tile(striped(64, 64), {0, 0, 64, 32}, 0, 16, encoding)));
    CHECK(fb.frame().at(7, 16 + 31)[1] == 31);
    auto bad = exact_tile(striped(64, 64), {0, 0, 64, 32}, 0, 0, encoding);
    bad.data.resize(bad.data.size() / 2);
    const auto before = fb.frame().pixels;
    CHECK_FALSE(fb.apply_tile(bad));
    CHECK_FALSE(fb.last_error().empty());
    CHECK(fb.frame().pixels == before);
}

TEST_CASE("a copy reaching outside the screen is refused and changes nothing") {
    Framebuffer fb(64, 64);
    proto::TileFrame init{1, 64, 64, {}, {exact_tile(striped(64, 64), {0, 0, 64, 64}, 0, 0)}};
    REQUIRE(fb.apply_tiles(init).failed == 0);
    auto before = fb.frame().pixels;
    CHECK_FALSE(fb.apply_copy({0, 40, 64, 32, 0, 0}));
    CHECK_FALSE(fb.apply_copy({0, 0, 64, 32, 8, 0}));
    CHECK(fb.frame().pixels == before);
}

TEST_CASE("an H.264 delta frame is painted only inside its dirty rectangles") {
    const int w = 64, h = 64;
    Framebuffer fb(w, h);
    portico::codec::H264Encoder::Options eo;
    eo.width = w;
    eo.height = h;
    eo.crf = 18;
    portico::codec::H264Encoder enc(eo);
    proto::VideoFrame key{1, true, w, h, 0, {}, enc.encode(solid(w, h, 0, 0, 0), true)->data};
    REQUIRE(fb.apply_video(key));
    // Something lossless painted over the black, which the next video frame must not undo.
    REQUIRE(fb.apply_tile(exact_tile(solid(16, 16, 0, 0, 255), {0, 0, 16, 16}, 48, 48)));
    // The source now has a green square top-left; the delta says only that part changed.
    Frame src = solid(w, h, 0, 0, 0);
    for (int y = 0; y < 16; ++y)
        for (int x = 0; x < 16; ++x) src.at(x, y)[1] = 255;
    proto::VideoFrame delta{2, false, w, h, 0, {{0, 0, 16, 16}}, enc.encode(src, false)->data};
    REQUIRE(fb.apply_video(delta));
    CHECK(near(fb.frame().at(8, 8), 0, 255, 0, 24));
    const auto* kept = fb.frame().at(56, 56);
    CHECK((kept[0] == 0 && kept[1] == 0 && kept[2] == 255));  // the tile's exact red survived
}

TEST_CASE("a reduced-resolution picture is scaled up to the screen, inside its dirty rectangles only") {
    const int w = 320, h = 192;
    Framebuffer fb(w, h);
    REQUIRE(fb.apply_video(keyframe(w, h, 40, 200, 120, 1)));

    // The host switches to half size mid-motion: a keyframe of the small picture listing what changed.
    proto::VideoFrame vf = keyframe(w / 2, h / 2, 200, 60, 30, 2, w, h);
    vf.dirty = {{0, 0, 160, 96}};
    REQUIRE(fb.apply_video(vf));
    CHECK(fb.width() == w);
    CHECK(near(fb.frame().at(20, 20), 200, 60, 30, 16));  // painted from the scaled-up picture
    CHECK(near(fb.frame().at(150, 90), 200, 60, 30, 16));
    CHECK(near(fb.frame().at(300, 180), 40, 200, 120, 16));  // outside the dirty rectangle: kept

    proto::VideoFrame wrong = keyframe(w / 2, h / 2, 1, 2, 3, 3, w, h);  // not the size the frame claims
    wrong.coded_width = 100;
    CHECK_FALSE(fb.apply_video(wrong));
    CHECK(near(fb.frame().at(20, 20), 200, 60, 30, 16));
}

#include "client/native/framebuffer.hpp"
#include "codec/h264_encoder.hpp"
#include "codec/jpeg_tile.hpp"

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
            p[0] = b; p[1] = g; p[2] = r; p[3] = 255;
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

TEST_CASE("H.264 frames replace the screen; garbage is an error that keeps it") {
    const int w = 160, h = 96;
    Framebuffer fb(w, h);
    portico::codec::H264Encoder::Options eo;
    eo.width = w;
    eo.height = h;
    portico::codec::H264Encoder enc(eo);
    Frame src = solid(w, h, 40, 200, 120);
    auto encoded = enc.encode(src, true);
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
    auto keyframe = [](int w, int h, std::uint8_t b, std::uint8_t g, std::uint8_t r, std::uint32_t id) {
        portico::codec::H264Encoder::Options eo;
        eo.width = w;
        eo.height = h;
        portico::codec::H264Encoder enc(eo);
        proto::VideoFrame vf;
        vf.frame_id = id;
        vf.keyframe = true;
        vf.width = static_cast<std::uint16_t>(w);
        vf.height = static_cast<std::uint16_t>(h);
        vf.data = enc.encode(solid(w, h, b, g, r), true).data;
        return vf;
    };
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

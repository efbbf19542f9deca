#include "codec/color.hpp"
#include "tests/support/test_frames.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

using namespace portico;
using namespace portico::codec;

TEST_CASE("BGRA -> I420 -> BGRA keeps a smooth gradient", "[codec][color]") {
    const capture::Frame src = test::make_gradient_frame(320, 240);
    I420Image yuv;
    bgra_to_i420(src, yuv);
    CHECK(yuv.width == 320);
    CHECK(yuv.height == 240);
    CHECK(yuv.y.size() == 320u * 240u);
    CHECK(yuv.u.size() == 160u * 120u);

    capture::Frame back;
    i420_to_bgra(yuv, back);
    REQUIRE(back.width == 320);
    REQUIRE(back.height == 240);
    const double psnr = psnr_bgra(src, back);
    INFO("psnr " << psnr);
    CHECK(psnr >= 35.0);
    CHECK(psnr < 99.0);  // the conversion is lossy; 99 would mean the check compared nothing
}

TEST_CASE("Odd sizes convert without losing the last row and column", "[codec][color]") {
    const capture::Frame src = test::make_gradient_frame(641, 481);
    I420Image yuv;
    bgra_to_i420(src, yuv);
    CHECK(yuv.stride_uv == 321);
    CHECK(yuv.u.size() == 321u * 241u);
    CHECK(yuv.v.size() == 321u * 241u);

    capture::Frame back;
    i420_to_bgra(yuv, back);
    REQUIRE(back.width == 641);
    REQUIRE(back.height == 481);
    CHECK(psnr_bgra(src, back) >= 35.0);
    // The gradient is white at the bottom-right corner; a dropped last row/column would not be.
    const uint8_t* p = back.at(640, 480);
    CHECK(p[0] > 230);
    CHECK(p[1] > 230);
}

TEST_CASE("Conversion honours a padded source stride", "[codec][color]") {
    const capture::Frame tight = test::make_gradient_frame(100, 50);
    capture::Frame padded;
    padded.width = 100;
    padded.height = 50;
    padded.stride = 100 * 4 + 64;
    padded.pixels.assign(static_cast<size_t>(padded.stride) * 50, 0xff);
    for (int y = 0; y < 50; ++y) std::copy(tight.row(y), tight.row(y) + 400, padded.row(y));

    I420Image a, b;
    bgra_to_i420(tight, a);
    bgra_to_i420(padded, b);
    CHECK(a.y == b.y);
    CHECK(a.u == b.u);
    CHECK(a.v == b.v);
}

TEST_CASE("Invalid inputs are rejected, not read out of bounds", "[codec][color]") {
    capture::Frame bad(10, 10);
    bad.pixels.resize(10);  // claims 10x10 but owns 10 bytes
    I420Image yuv;
    CHECK_THROWS_AS(bgra_to_i420(bad, yuv), std::invalid_argument);

    I420Image short_planes;
    short_planes.width = 16;
    short_planes.height = 16;
    short_planes.stride_y = 16;
    short_planes.stride_uv = 8;
    short_planes.y.resize(16 * 16);
    short_planes.u.resize(8);  // needs 64
    short_planes.v.resize(64);
    capture::Frame out;
    CHECK_THROWS_AS(i420_to_bgra(short_planes, out), std::invalid_argument);
}

TEST_CASE("psnr_bgra measures RGB difference", "[codec][color]") {
    const capture::Frame a = test::make_text_frame(64, 48);
    capture::Frame b = a;
    CHECK(psnr_bgra(a, b) == Approx(99.0));

    b.at(5, 5)[3] = 0;  // X channel is ignored
    CHECK(psnr_bgra(a, b) == Approx(99.0));

    b.at(5, 5)[1] ^= 0x80;  // one channel of one pixel off by 128
    const double one_pixel = psnr_bgra(a, b);
    CHECK(one_pixel < 99.0);
    CHECK(one_pixel > 40.0);

    for (int y = 0; y < b.height; ++y)
        for (int x = 0; x < b.width; ++x) b.at(x, y)[2] ^= 0xff;
    CHECK(psnr_bgra(a, b) < 10.0);

    CHECK(psnr_bgra(a, capture::Frame(63, 48)) == 0.0);
}

TEST_CASE("scale_bgra halves a frame and scales it back close to the original", "[codec][color]") {
    const capture::Frame src = test::make_gradient_frame(640, 360);
    capture::Frame half, back;
    scale_bgra(src, half, 320, 180);
    REQUIRE(half.width == 320);
    REQUIRE(half.height == 180);
    REQUIRE(half.pixels.size() == 320u * 180u * 4u);
    // A box filter: the half-size pixel is the mean of its 2x2 source block.
    const int mean = (src.at(100, 50)[1] + src.at(101, 50)[1] + src.at(100, 51)[1] + src.at(101, 51)[1] + 2) / 4;
    CHECK(std::abs(half.at(50, 25)[1] - mean) <= 1);
    scale_bgra(half, back, 640, 360);
    REQUIRE(back.width == 640);
    const double psnr = psnr_bgra(src, back);
    INFO("psnr " << psnr);
    CHECK(psnr >= 35.0);  // a smooth gradient survives (fine text would not: only motion is sent shrunk)
    CHECK_THROWS_AS(scale_bgra(src, half, 0, 10), std::invalid_argument);
}

TEST_CASE("BGRA -> I420 chroma is each 2x2 block's exact BT.601 value, rounded to nearest", "[codec][color]") {
    // Noise covers every colour; an odd size covers the blocks that repeat their last row/column.
    // libyuv's ARGBToI420 fails this: its chroma is half a step low on average. The widths cover the
    // vectorised rows (8 blocks at a time) and the scalar tail: 64 none, 50 one whole block, 33 a half.
    for (auto [w, h] : {std::pair{64, 48}, std::pair{50, 6}, std::pair{33, 17}, std::pair{1920, 4}}) {
        capture::Frame src(w, h);
        std::uint32_t state = 12345;
        for (auto& byte : src.pixels) byte = static_cast<uint8_t>((state = state * 1664525u + 1013904223u) >> 24);
        I420Image yuv;
        bgra_to_i420(src, yuv);
        double signed_sum = 0, worst = 0;
        int n = 0;
        for (int j = 0; j < (h + 1) / 2; ++j) {
            for (int i = 0; i < (w + 1) / 2; ++i) {
                double r = 0, g = 0, b = 0;
                for (int dy = 0; dy < 2; ++dy) {
                    for (int dx = 0; dx < 2; ++dx) {
                        const uint8_t* p = src.at(std::min(2 * i + dx, w - 1), std::min(2 * j + dy, h - 1));
                        b += p[0] / 4.0;
                        g += p[1] / 4.0;
                        r += p[2] / 4.0;
                    }
                }
                const double u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255;
                const double v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255;
                for (double err : {yuv.u[j * yuv.stride_uv + i] - u, yuv.v[j * yuv.stride_uv + i] - v}) {
                    signed_sum += err;
                    worst = std::max(worst, std::abs(err));
                    ++n;
                }
            }
        }
        INFO(w << "x" << h << ": mean error " << signed_sum / n << ", worst " << worst);
        CHECK(std::abs(signed_sum / n) < 0.05);
        CHECK(worst <= 0.53);  // rounding (0.5) plus the fixed-point coefficients' error
    }
}

// The portal's thumbnail from a real Xvfb screen: a 1920x1080 capture with an orange window on its
// left half becomes a small JPEG of 320x180 whose left half is orange and right half the black
// root, within the size bound; prints its size and how long it took.
#include "capture/x11/x11_source.hpp"
#include "codec/jpeg_decoder.hpp"
#include "session-host/stream/stream_session.hpp"
#include "session-host/stream/thumbnail.hpp"
#include "session-host/x11/x_display.hpp"

#include "tests/support/x_test_util.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>

using namespace portico;
using namespace std::chrono_literals;

TEST_CASE("thumbnail of a real 1920x1080 Xvfb screen", "[x11][thumbnail]") {
    test::TempDir dir;
    host::XvfbDisplay d(1920, 1080, dir.path);
    test::XConn x(d.display(), d.xauthority());
    const std::uint32_t orange = 0xff8000;
    xcb_window_t win = xcb_generate_id(x.c);
    std::uint32_t values[] = {orange, 1};
    xcb_create_window(x.c, XCB_COPY_FROM_PARENT, win, x.screen->root, 0, 0, 960, 1080, 0, XCB_WINDOW_CLASS_INPUT_OUTPUT,
                      x.screen->root_visual, XCB_CW_BACK_PIXEL | XCB_CW_OVERRIDE_REDIRECT, values);
    xcb_map_window(x.c, win);
    x.sync();

    capture::X11FrameSource src(d.display(), d.xauthority());
    const capture::Frame* frame = nullptr;
    REQUIRE(test::wait_until(
        [&] {
            src.invalidate();
            auto c = src.capture(500ms);
            if (!c) return false;
            const auto* p = c->frame->at(100, 500);
            frame = c->frame;
            return p[2] == 0xff && p[1] == 0x80 && p[0] == 0;
        },
        10s, 10ms));

    const auto start = std::chrono::steady_clock::now();
    auto jpeg = host::make_thumbnail(*frame, 320, 200, host::StreamSession::kThumbnailQuality,
                                     host::StreamSession::kMaxThumbnailBytes);
    const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    REQUIRE(jpeg.ok());
    std::printf("thumbnail of a 1920x1080 Xvfb screen: %zu bytes in %.1f ms\n", jpeg.value().size(), ms);
    CHECK(jpeg.value().size() <= host::StreamSession::kMaxThumbnailBytes);

    capture::Frame back(320, 180);
    codec::JpegDecoder dec;
    REQUIRE(dec.decode_into(jpeg.value(), back, 0, 0, 320, 180));
    const auto* left = back.at(40, 90);
    const auto* right = back.at(280, 90);
    CHECK(left[2] > 230);
    CHECK(std::abs(int(left[1]) - 0x80) < 24);
    CHECK(left[0] < 24);
    CHECK(right[0] < 24);
    CHECK(right[1] < 24);
    CHECK(right[2] < 24);
}

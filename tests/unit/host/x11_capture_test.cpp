// X11FrameSource against a real Xvfb: full first frame, damage-only reads, correct pixels.
#include "capture/x11/x11_source.hpp"
#include "session-host/x11/screen_sizer.hpp"
#include "session-host/x11/x_display.hpp"

#include "tests/support/x_test_util.hpp"

#include <catch2/catch.hpp>

#include <memory>

using namespace portico;
using namespace std::chrono_literals;

namespace {

bool pixel_is(const capture::Frame& f, int x, int y, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
    const std::uint8_t* p = f.at(x, y);
    return p[0] == b && p[1] == g && p[2] == r;
}

// Consumes captures until nothing changes for a while (e.g. the initial full frame).
void drain(capture::FrameSource& src) {
    for (int i = 0; i < 50 && src.capture(300ms); ++i) {
    }
}

}  // namespace

TEST_CASE("x11 capture: first capture and invalidate return the whole screen", "[x11]") {
    test::TempDir dir;
    host::XvfbDisplay d(640, 480, dir.path);
    capture::X11FrameSource src(d.display(), d.xauthority());
    CHECK(src.width() == 640);
    CHECK(src.height() == 480);
    auto c = src.capture(0ms);  // no waiting needed: the first capture is always complete
    REQUIRE(c);
    REQUIRE(c->frame);
    CHECK(c->frame->width == 640);
    CHECK(c->frame->height == 480);
    CHECK(c->damage.area() == 640LL * 480);

    drain(src);
    CHECK_FALSE(src.capture(200ms));  // idle screen: nothing to send
    src.invalidate();
    auto again = src.capture(0ms);
    REQUIRE(again);
    CHECK(again->damage.area() == 640LL * 480);
}

TEST_CASE("x11 capture: drawing produces damage only where drawn, with the drawn pixels", "[x11]") {
    test::TempDir dir;
    host::XvfbDisplay d(640, 480, dir.path);
    capture::X11FrameSource src(d.display(), d.xauthority());
    REQUIRE(src.capture(0ms));
    drain(src);

    test::XConn x(d.display(), d.xauthority());
    // Orange window background at (100,80) 50x40, then a blue square drawn into it.
    const std::uint32_t orange = 0xff8000, blue = 0x0000ff;
    xcb_window_t win = xcb_generate_id(x.c);
    std::uint32_t values[] = {orange, 1};
    xcb_create_window(x.c, XCB_COPY_FROM_PARENT, win, x.screen->root, 100, 80, 50, 40, 0, XCB_WINDOW_CLASS_INPUT_OUTPUT,
                      x.screen->root_visual, XCB_CW_BACK_PIXEL | XCB_CW_OVERRIDE_REDIRECT, values);
    xcb_map_window(x.c, win);
    x.sync();
    xcb_gcontext_t gc = xcb_generate_id(x.c);
    xcb_create_gc(x.c, gc, win, XCB_GC_FOREGROUND, &blue);
    xcb_rectangle_t sq{10, 10, 20, 20};
    xcb_poly_fill_rectangle(x.c, win, gc, 1, &sq);
    x.sync();

    capture::DamageRegion seen;
    bool done = test::wait_until(
        [&] {
            auto c = src.capture(500ms);
            if (!c) return false;
            CHECK(c->damage.area() < 640LL * 480 / 4);  // never the whole screen for a small change
            seen.add(c->damage);
            return pixel_is(*c->frame, 102, 82, 0xff, 0x80, 0x00) && pixel_is(*c->frame, 120, 100, 0, 0, 0xff);
        },
        10s, 1ms);
    REQUIRE(done);
    CHECK(seen.contains_point(100, 80));
    CHECK(seen.contains_point(149, 119));
    CHECK(seen.contains_point(125, 100));
    CHECK_FALSE(seen.contains_point(5, 5));
    CHECK_FALSE(seen.contains_point(600, 400));
    CHECK(seen.bounding_box().intersected(capture::Rect{100, 80, 50, 40}) == capture::Rect{100, 80, 50, 40});
    CHECK(seen.area() < 640LL * 480 / 4);

    // A change far away is reported on its own.
    const std::uint32_t pos[] = {500, 400};
    xcb_configure_window(x.c, win, XCB_CONFIG_WINDOW_X | XCB_CONFIG_WINDOW_Y, pos);
    x.sync();
    capture::DamageRegion moved;
    REQUIRE(test::wait_until(
        [&] {
            auto c = src.capture(500ms);
            if (c) moved.add(c->damage);
            return c && pixel_is(*c->frame, 503, 403, 0xff, 0x80, 0x00) && pixel_is(*c->frame, 515, 415, 0, 0, 0xff) &&
                   !pixel_is(*c->frame, 102, 82, 0xff, 0x80, 0x00);
        },
        10s, 1ms));
    CHECK(moved.contains_point(520, 420));  // new place
    CHECK(moved.contains_point(120, 100));  // old place exposed again
    CHECK_FALSE(moved.contains_point(320, 10));
}

TEST_CASE("x11 capture: a dead display is a permanent capture error", "[x11]") {
    test::TempDir dir;
    auto d = std::make_unique<host::XvfbDisplay>(320, 240, dir.path);
    capture::X11FrameSource src(d->display(), d->xauthority());
    REQUIRE(src.capture(0ms));
    d.reset();  // stops Xvfb
    auto status = capture::CaptureResult::Status::no_change;
    std::string why;
    for (int i = 0; i < 10 && status != capture::CaptureResult::Status::permanent_error; ++i) {
        auto r = src.capture(500ms);
        status = r.status();
        why = r.error();
    }
    CHECK(status == capture::CaptureResult::Status::permanent_error);
    CHECK_FALSE(why.empty());
}

TEST_CASE("x11 capture: connecting with the wrong cookie fails", "[x11]") {
    test::TempDir a, b;
    host::XvfbDisplay d1(320, 240, a.path), d2(320, 240, b.path);
    CHECK_THROWS_AS(capture::X11FrameSource(d1.display(), d2.xauthority()), std::runtime_error);
}

TEST_CASE("x11 capture follows a RandR screen size change, shrinking and growing", "[x11][resize]") {
    test::TempDir dir;
    host::XvfbDisplay d(1280, 800, dir.path);
    host::ScreenSizer sizer(d.display(), d.xauthority());
    CHECK(sizer.max_width() == 1280);
    CHECK(sizer.max_height() == 800);
    capture::X11FrameSource src(d.display(), d.xauthority());
    REQUIRE(src.capture(0ms));
    drain(src);
    CHECK_FALSE(src.follow_root_size());  // nothing changed yet

    std::string why;
    REQUIRE(sizer.set_size(800, 600, why));
    INFO(why);
    REQUIRE(src.follow_root_size());
    CHECK(src.width() == 800);
    CHECK(src.height() == 600);
    auto c = src.capture(0ms);  // the first capture after a change is the whole new screen
    REQUIRE(c);
    CHECK(c->frame->width == 800);
    CHECK(c->frame->height == 600);
    CHECK(c->damage.area() == 800LL * 600);

    // Another client sees the new root size too, and drawing at the new edge is captured.
    test::XConn x(d.display(), d.xauthority());
    xcb_get_geometry_reply_t* geo = xcb_get_geometry_reply(x.c, xcb_get_geometry(x.c, x.screen->root), nullptr);
    REQUIRE(geo);
    CHECK(geo->width == 800);
    CHECK(geo->height == 600);
    std::free(geo);
    const std::uint32_t green = 0x00ff00;
    xcb_window_t win = xcb_generate_id(x.c);
    std::uint32_t values[] = {green, 1};
    xcb_create_window(x.c, XCB_COPY_FROM_PARENT, win, x.screen->root, 780, 580, 20, 20, 0,
                      XCB_WINDOW_CLASS_INPUT_OUTPUT, x.screen->root_visual,
                      XCB_CW_BACK_PIXEL | XCB_CW_OVERRIDE_REDIRECT, values);
    xcb_map_window(x.c, win);
    x.sync();
    REQUIRE(test::wait_until(
        [&] {
            auto cc = src.capture(500ms);
            return cc && pixel_is(*cc->frame, 799, 599, 0, 0xff, 0);
        },
        10s, 1ms));

    // Growing back (up to the size Xvfb started with) works; beyond it is clamped.
    REQUIRE(sizer.set_size(1000, 700, why));
    REQUIRE(src.follow_root_size());
    CHECK(src.width() == 1000);
    CHECK(src.height() == 700);
    REQUIRE(sizer.set_size(4000, 3000, why));
    REQUIRE(src.follow_root_size());
    CHECK(src.width() == 1280);
    CHECK(src.height() == 800);
    auto full = src.capture(0ms);
    REQUIRE(full);
    CHECK(full->damage.area() == 1280LL * 800);
}

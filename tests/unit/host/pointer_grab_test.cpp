// PointerGrabWatch: when an app takes the pointer for relative motion (a hidden cursor and an active
// grab, as SDL's relative mouse mode does) the session says so, and InputInjector's relative motion
// moves that app's pointer. Against a real Xvfb, with the test playing the app.
#include "session-host/x11/cursor_watcher.hpp"
#include "session-host/x11/input_injector.hpp"
#include "session-host/x11/pointer_grab_watch.hpp"
#include "session-host/x11/x_display.hpp"

#include "tests/support/x_test_util.hpp"

#include <catch2/catch.hpp>

#include <xcb/xcb.h>

#include <cstdlib>
#include <utility>

using namespace portico;
using namespace std::chrono_literals;

namespace {

// A cursor without a visible pixel, as an app makes to hide it (a 1×1 bitmap with an empty mask).
xcb_cursor_t invisible_cursor(test::XConn& x) {
    xcb_pixmap_t bits = xcb_generate_id(x.c);
    xcb_create_pixmap(x.c, 1, bits, x.screen->root, 1, 1);
    xcb_gcontext_t gc = xcb_generate_id(x.c);
    const std::uint32_t zero = 0;
    xcb_create_gc(x.c, gc, bits, XCB_GC_FOREGROUND, &zero);
    const xcb_rectangle_t all{0, 0, 1, 1};
    xcb_poly_fill_rectangle(x.c, bits, gc, 1, &all);
    xcb_cursor_t cursor = xcb_generate_id(x.c);
    xcb_create_cursor(x.c, cursor, bits, bits, 0, 0, 0, 0, 0, 0, 0, 0);
    xcb_free_gc(x.c, gc);
    xcb_free_pixmap(x.c, bits);
    return cursor;
}

std::pair<int, int> pointer_at(test::XConn& x) {
    auto* r = xcb_query_pointer_reply(x.c, xcb_query_pointer(x.c, x.screen->root), nullptr);
    REQUIRE(r);
    std::pair<int, int> at{r->root_x, r->root_y};
    std::free(r);
    return at;
}

bool grab(test::XConn& app, xcb_window_t w) {
    auto* r = xcb_grab_pointer_reply(app.c,
                                     xcb_grab_pointer(app.c, 0, w, XCB_EVENT_MASK_POINTER_MOTION, XCB_GRAB_MODE_ASYNC,
                                                      XCB_GRAB_MODE_ASYNC, w, XCB_NONE, XCB_CURRENT_TIME),
                                     nullptr);
    const bool ok = r && r->status == XCB_GRAB_STATUS_SUCCESS;
    std::free(r);
    return ok;
}

}  // namespace

TEST_CASE(
    "pointer grab: an app that hides the cursor and grabs the pointer makes the pointer relative until it "
    "lets go or shows the cursor",
    "[pointer]") {
    test::TempDir dir;
    host::XvfbDisplay d(320, 240, dir.path);
    host::CursorWatcher cursor(d.display(), d.xauthority());
    host::PointerGrabWatch watch(d.display(), d.xauthority());
    host::InputInjector in(d.display(), d.xauthority());
    test::XConn app(d.display(), d.xauthority());

    // The app's window, the pointer in it; it hears crossing events.
    xcb_window_t w = xcb_generate_id(app.c);
    const std::uint32_t events = XCB_EVENT_MASK_ENTER_WINDOW | XCB_EVENT_MASK_LEAVE_WINDOW;
    xcb_create_window(app.c, XCB_COPY_FROM_PARENT, w, app.screen->root, 0, 0, 200, 100, 0,
                      XCB_WINDOW_CLASS_INPUT_OUTPUT, app.screen->root_visual, XCB_CW_EVENT_MASK, &events);
    xcb_map_window(app.c, w);
    in.pointer(50, 50, 0);
    app.sync();
    auto t = host::PointerGrabWatch::Clock::now();
    cursor.poll();
    CHECK_FALSE(cursor.hidden());
    CHECK_FALSE(watch.poll(cursor.hidden(), t));

    // It hides the cursor: nobody holds a grab, still absolute.
    const xcb_cursor_t none = invisible_cursor(app);
    xcb_change_window_attributes(app.c, w, XCB_CW_CURSOR, &none);
    app.sync();
    REQUIRE(test::wait_until([&] { return cursor.poll().has_value() && cursor.hidden(); }, 5s, 10ms));
    t += 10ms;
    CHECK_FALSE(watch.poll(true, t));
    CHECK_FALSE(watch.relative());
    // The probe never takes the grab: the app sees no crossing event from it, however often.
    app.sync();
    while (xcb_generic_event_t* ev = xcb_poll_for_event(app.c)) std::free(ev);  // the pointer's arrival
    for (int i = 0; i < 20; ++i) CHECK_FALSE(watch.grabbed_by_another_client());
    app.sync();
    int crossings = 0;
    while (xcb_generic_event_t* ev = xcb_poll_for_event(app.c)) {
        const int type = ev->response_type & 0x7f;
        crossings += type == XCB_ENTER_NOTIFY || type == XCB_LEAVE_NOTIFY;
        std::free(ev);
    }
    CHECK(crossings == 0);

    // It grabs the pointer: relative at the next try (not before kInterval).
    REQUIRE(grab(app, w));
    CHECK_FALSE(watch.poll(true, t + 100ms));
    t += host::PointerGrabWatch::kInterval;
    CHECK(watch.poll(true, t) == std::optional<bool>(true));

    // Relative motion moves its pointer by the deltas; buttons come with it.
    in.pointer_relative(10, 5, 0);
    in.pointer_relative(10, 5, 0);
    in.pointer_relative(10, 5, 1);
    in.pointer_relative(0, 0, 0);
    app.sync();
    REQUIRE(test::wait_until([&] { return pointer_at(app) == std::pair{80, 65}; }, 5s, 10ms));

    // While it holds the grab nothing changes; it lets go: absolute at the next try.
    t += host::PointerGrabWatch::kInterval;
    CHECK_FALSE(watch.poll(true, t));
    xcb_ungrab_pointer(app.c, XCB_CURRENT_TIME);
    app.sync();
    t += host::PointerGrabWatch::kInterval;
    CHECK(watch.poll(true, t) == std::optional<bool>(false));

    // Relative again, then the cursor shows: absolute at once.
    REQUIRE(grab(app, w));
    t += host::PointerGrabWatch::kInterval;
    REQUIRE(watch.poll(true, t) == std::optional<bool>(true));
    const std::uint32_t parent_cursor = XCB_NONE;
    xcb_change_window_attributes(app.c, w, XCB_CW_CURSOR, &parent_cursor);
    app.sync();
    REQUIRE(test::wait_until([&] { return cursor.poll().has_value() && !cursor.hidden(); }, 5s, 10ms));
    CHECK(watch.poll(cursor.hidden(), t + 1ms) == std::optional<bool>(false));
}

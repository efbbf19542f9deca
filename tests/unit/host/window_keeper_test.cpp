// WindowKeeper: in a session without a window manager, the app's first window fills the screen
// and the newest top-level window has keyboard focus (so typed keys reach the app wherever the
// pointer is); override-redirect popups are left alone.
#include "session-host/x11/window_keeper.hpp"
#include "session-host/x11/x_display.hpp"
#include "tests/support/x_test_util.hpp"

#include <catch2/catch.hpp>

using namespace portico;
using namespace std::chrono_literals;

namespace {

xcb_window_t map_window(test::XConn& x, int w, int h, bool override_redirect) {
    xcb_window_t win = xcb_generate_id(x.c);
    const std::uint32_t values[] = {override_redirect ? 1u : 0u};
    xcb_create_window(x.c, XCB_COPY_FROM_PARENT, win, x.screen->root, 10, 20, w, h, 0, XCB_WINDOW_CLASS_INPUT_OUTPUT,
                      x.screen->root_visual, XCB_CW_OVERRIDE_REDIRECT, values);
    xcb_map_window(x.c, win);
    x.sync();
    return win;
}

std::pair<int, int> size_of(test::XConn& x, xcb_window_t w) {
    auto* g = xcb_get_geometry_reply(x.c, xcb_get_geometry(x.c, w), nullptr);
    REQUIRE(g);
    std::pair<int, int> out{g->width, g->height};
    std::free(g);
    return out;
}

xcb_window_t focus_of(test::XConn& x) {
    auto* f = xcb_get_input_focus_reply(x.c, xcb_get_input_focus(x.c), nullptr);
    REQUIRE(f);
    xcb_window_t w = f->focus;
    std::free(f);
    return w;
}

}  // namespace

TEST_CASE("window keeper: first window fills the screen and takes focus, dialogs take focus", "[x11][windows]") {
    test::TempDir dir;
    host::XvfbDisplay d(640, 480, dir.path);
    host::WindowKeeper keeper(d.display(), d.xauthority());
    test::XConn x(d.display(), d.xauthority());

    auto main = map_window(x, 200, 100, false);
    REQUIRE(test::wait_until(
        [&] {
            keeper.poll();
            return keeper.main_window() == main;
        },
        5s));
    // The keeper's requests travel on its own connection: wait for the server to apply them.
    REQUIRE(test::wait_until([&] { return size_of(x, main) == std::pair{640, 480}; }, 5s));
    REQUIRE(test::wait_until([&] { return focus_of(x) == main; }, 5s));

    auto popup = map_window(x, 50, 50, true);  // a menu: not resized, no focus
    auto dialog = map_window(x, 120, 80, false);
    REQUIRE(test::wait_until(
        [&] {
            keeper.poll();
            return keeper.focused_window() == dialog;
        },
        5s));
    REQUIRE(test::wait_until([&] { return focus_of(x) == dialog; }, 5s));
    CHECK(size_of(x, dialog) == std::pair{120, 80});
    CHECK(size_of(x, popup) == std::pair{50, 50});

    // Closing the dialog gives focus back to the main window.
    xcb_destroy_window(x.c, dialog);
    x.sync();
    REQUIRE(test::wait_until(
        [&] {
            keeper.poll();
            return keeper.focused_window() == main;
        },
        5s));
    REQUIRE(test::wait_until([&] { return focus_of(x) == main; }, 5s));
}

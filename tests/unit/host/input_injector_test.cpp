// InputInjector against a real Xvfb: evdev keymap, pointer, buttons, wheel, and typing into xterm.
#include "session-host/x11/input_injector.hpp"
#include "session-host/app/app_process.hpp"
#include "session-host/x11/x_display.hpp"

#include "tests/support/x_test_util.hpp"

#include <catch2/catch.hpp>

#include <xcb/xcb.h>

#include <filesystem>
#include <map>
#include <random>

using namespace portico;
using namespace std::chrono_literals;

namespace {

std::uint16_t evdev_for(char ch) {
    static const std::map<char, std::uint16_t> codes = {
        {'q', 16}, {'w', 17}, {'e', 18}, {'r', 19}, {'t', 20}, {'y', 21}, {'u', 22}, {'i', 23}, {'o', 24}, {'p', 25},
        {'a', 30}, {'s', 31}, {'d', 32}, {'f', 33}, {'g', 34}, {'h', 35}, {'j', 36}, {'k', 37}, {'l', 38}, {'z', 44},
        {'x', 45}, {'c', 46}, {'v', 47}, {'b', 48}, {'n', 49}, {'m', 50}, {'1', 2},  {'2', 3},  {'3', 4},  {'4', 5},
        {'5', 6},  {'6', 7},  {'7', 8},  {'8', 9},  {'9', 10}, {'0', 11}, {' ', 57}, {'/', 53}, {'\n', 28}};
    return codes.at(ch);
}

void type(host::InputInjector& in, const std::string& text) {
    for (char ch : text) {
        in.key(evdev_for(ch), true);
        in.key(evdev_for(ch), false);
        std::this_thread::sleep_for(5ms);
    }
}

bool key_down(test::XConn& x, std::uint8_t keycode) {
    auto* r = xcb_query_keymap_reply(x.c, xcb_query_keymap(x.c), nullptr);
    bool down = r && (r->keys[keycode / 8] & (1 << (keycode % 8)));
    std::free(r);
    return down;
}

xcb_query_pointer_reply_t query_pointer(test::XConn& x) {
    auto* r = xcb_query_pointer_reply(x.c, xcb_query_pointer(x.c, x.screen->root), nullptr);
    REQUIRE(r);
    xcb_query_pointer_reply_t copy = *r;
    std::free(r);
    return copy;
}

// A mapped window over the whole 320x240 screen that selects `events`.
xcb_window_t input_window(test::XConn& x, std::uint32_t events) {
    xcb_window_t win = xcb_generate_id(x.c);
    std::uint32_t values[] = {1, events};
    xcb_create_window(x.c, XCB_COPY_FROM_PARENT, win, x.screen->root, 0, 0, 320, 240, 0, XCB_WINDOW_CLASS_INPUT_OUTPUT,
                      x.screen->root_visual, XCB_CW_OVERRIDE_REDIRECT | XCB_CW_EVENT_MASK, values);
    xcb_map_window(x.c, win);
    return win;
}

}  // namespace

TEST_CASE("input: Xvfb's keymap is evdev-based (keycode = evdev + 8)", "[input]") {
    test::TempDir dir;
    host::XvfbDisplay d(320, 240, dir.path);
    test::XConn x(d.display(), d.xauthority());
    auto* map = xcb_get_keyboard_mapping_reply(x.c, xcb_get_keyboard_mapping(x.c, 8, 248), nullptr);
    REQUIRE(map);
    const xcb_keysym_t* syms = xcb_get_keyboard_mapping_keysyms(map);
    auto first_sym = [&](int keycode) { return syms[(keycode - 8) * map->keysyms_per_keycode]; };
    CHECK(first_sym(30 + 8) == 'a');     // KEY_A
    CHECK(first_sym(20 + 8) == 't');     // KEY_T
    CHECK(first_sym(53 + 8) == '/');     // KEY_SLASH
    CHECK(first_sym(57 + 8) == ' ');     // KEY_SPACE
    CHECK(first_sym(28 + 8) == 0xff0d);  // KEY_ENTER -> Return
    CHECK(first_sym(42 + 8) == 0xffe1);  // KEY_LEFTSHIFT -> Shift_L
    std::free(map);
}

TEST_CASE("input: keys and buttons are held until released, and release_all frees them", "[input]") {
    test::TempDir dir;
    host::XvfbDisplay d(320, 240, dir.path);
    test::XConn x(d.display(), d.xauthority());
    host::InputInjector in(d.display(), d.xauthority());

    in.key(42, true);  // left shift
    in.key(30, true);  // a
    REQUIRE(test::wait_until([&] { return key_down(x, 50) && key_down(x, 38); }, 5s));
    in.key(30, false);
    CHECK(test::wait_until([&] { return !key_down(x, 38) && key_down(x, 50); }, 5s));

    in.pointer(200, 150, 0b001);  // move + left button down
    CHECK(test::wait_until(
        [&] {
            auto p = query_pointer(x);
            return p.root_x == 200 && p.root_y == 150 && (p.mask & XCB_BUTTON_MASK_1);
        },
        5s));
    in.pointer(210, 160, 0b101);  // drag, add right button
    CHECK(test::wait_until(
        [&] {
            auto p = query_pointer(x);
            return p.root_x == 210 && (p.mask & XCB_BUTTON_MASK_1) && (p.mask & XCB_BUTTON_MASK_3);
        },
        5s));
    in.pointer(5000, -20, 0b101);  // clamped to the screen
    CHECK(test::wait_until(
        [&] {
            auto p = query_pointer(x);
            return p.root_x == 319 && p.root_y == 0;
        },
        5s));

    in.release_all();
    CHECK(test::wait_until(
        [&] {
            auto p = query_pointer(x);
            return !key_down(x, 50) && !(p.mask & (XCB_BUTTON_MASK_1 | XCB_BUTTON_MASK_3));
        },
        5s));
}

TEST_CASE("input: a key held past the autorepeat delay is typed once (repeat is the client's)", "[input]") {
    test::TempDir dir;
    host::XvfbDisplay d(320, 240, dir.path);
    test::XConn x(d.display(), d.xauthority());
    xcb_window_t win = input_window(x, XCB_EVENT_MASK_KEY_PRESS);
    xcb_set_input_focus(x.c, XCB_INPUT_FOCUS_POINTER_ROOT, win, XCB_CURRENT_TIME);
    x.sync();

    host::InputInjector in(d.display(), d.xauthority());
    auto* control = xcb_get_keyboard_control_reply(x.c, xcb_get_keyboard_control(x.c), nullptr);
    REQUIRE(control);
    CHECK(control->global_auto_repeat == XCB_AUTO_REPEAT_MODE_OFF);
    std::free(control);

    // Held for 1.5 s: Xvfb's autorepeat (660 ms delay, 25/s) would have added about 20 presses.
    in.key(30, true);
    std::this_thread::sleep_for(1500ms);
    in.key(30, false);
    in.key(48, true);  // then another key, to know every event before it has arrived
    in.key(48, false);
    std::vector<int> presses;
    REQUIRE(test::wait_until(
        [&] {
            while (auto* ev = xcb_poll_for_event(x.c)) {
                if ((ev->response_type & 0x7f) == XCB_KEY_PRESS)
                    presses.push_back(reinterpret_cast<xcb_key_press_event_t*>(ev)->detail);
                std::free(ev);
            }
            return !presses.empty() && presses.back() == 48 + 8;
        },
        5s, 10ms));
    CHECK(presses == std::vector<int>{30 + 8, 48 + 8});
}

TEST_CASE("input: wheel notches become buttons 4/5 and 6/7", "[input]") {
    test::TempDir dir;
    host::XvfbDisplay d(320, 240, dir.path);
    test::XConn x(d.display(), d.xauthority());
    input_window(x, XCB_EVENT_MASK_BUTTON_PRESS);
    x.sync();

    host::InputInjector in(d.display(), d.xauthority());
    in.pointer(100, 100, 0);
    in.wheel(0, 2);   // down, two notches
    in.wheel(0, -1);  // up
    in.wheel(1, 0);   // right
    in.wheel(-1, 0);  // left

    std::vector<int> presses;
    test::wait_until(
        [&] {
            while (auto* ev = xcb_poll_for_event(x.c)) {
                if ((ev->response_type & 0x7f) == XCB_BUTTON_PRESS)
                    presses.push_back(reinterpret_cast<xcb_button_press_event_t*>(ev)->detail);
                std::free(ev);
            }
            return presses.size() >= 5;
        },
        5s, 10ms);
    CHECK(presses == std::vector<int>{5, 5, 4, 7, 6});
}

TEST_CASE("input: typing into a real xterm runs a shell command", "[input][xterm]") {
    test::TempDir dir;
    host::XvfbDisplay d(640, 480, dir.path);
    std::mt19937 rng(std::random_device{}());
    const std::string target = "/tmp/porticoxt" + std::to_string(::getpid()) + std::to_string(rng() % 100000);
    std::filesystem::remove(target);

    // An empty HOME: the shell must not read the account's dotfiles (a runner's .bashrc can take
    // a minute, e.g. pyenv waiting on a stale lock).
    host::AppProcess xterm({"xterm", "-geometry", "80x24+0+0"}, d.display(), d.xauthority(), dir.path + "/xterm.log",
                           {"HOME=" + dir.path});
    test::XConn x(d.display(), d.xauthority());
    // Wait for xterm's window to be mapped (no window manager: it maps directly under root).
    REQUIRE(test::wait_until(
        [&] {
            auto* tree = xcb_query_tree_reply(x.c, xcb_query_tree(x.c, x.screen->root), nullptr);
            bool mapped = false;
            if (tree) {
                xcb_window_t* kids = xcb_query_tree_children(tree);
                for (int i = 0; i < xcb_query_tree_children_length(tree); ++i) {
                    auto* attr = xcb_get_window_attributes_reply(x.c, xcb_get_window_attributes(x.c, kids[i]), nullptr);
                    if (attr && attr->map_state == XCB_MAP_STATE_VIEWABLE) mapped = true;
                    std::free(attr);
                }
                std::free(tree);
            }
            return mapped;
        },
        20s, 100ms));

    host::InputInjector in(d.display(), d.xauthority());
    in.pointer(100, 100, 0);  // focus follows the pointer without a window manager
    // Typed-ahead keys wait in the pty until the shell reads them. Typed once: a lost key fails.
    type(in, "touch " + target + "\n");
    CHECK(test::wait_until([&] { return std::filesystem::exists(target); }, 20s, 100ms));
    std::filesystem::remove(target);
    CHECK_FALSE(xterm.exited());
    xterm.terminate();
    CHECK_FALSE(test::proc_exists(xterm.pid()));
}

// ClipboardBridge, CursorWatcher and InputInjector::key_char against a real Xvfb, with the test
// itself playing the other X client (an app that pastes, copies, receives keys, shows a cursor).
#include "session-host/x11/clipboard_bridge.hpp"
#include "session-host/x11/cursor_watcher.hpp"
#include "session-host/x11/input_injector.hpp"
#include "session-host/x11/x_display.hpp"

#include "tests/support/x_clipboard_offer.hpp"
#include "tests/support/x_test_util.hpp"

#include <catch2/catch.hpp>

#include <xcb/xcb.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

using namespace portico;
using namespace std::chrono_literals;

namespace {

xcb_window_t make_window(test::XConn& x, std::uint32_t events, bool map = false) {
    xcb_window_t w = xcb_generate_id(x.c);
    xcb_create_window(x.c, XCB_COPY_FROM_PARENT, w, x.screen->root, 0, 0, 200, 100, 0, XCB_WINDOW_CLASS_INPUT_OUTPUT,
                      x.screen->root_visual, XCB_CW_EVENT_MASK, &events);
    if (map) xcb_map_window(x.c, w);
    x.sync();
    return w;
}

// Waits for an event of `type` on x, calling `pump` in between (the bridge's poll()).
template <class Pump>
xcb_generic_event_t* wait_event(test::XConn& x, std::uint8_t type, Pump pump, std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        pump();
        while (xcb_generic_event_t* ev = xcb_poll_for_event(x.c)) {
            if ((ev->response_type & 0x7f) == type) return ev;
            std::free(ev);
        }
        std::this_thread::sleep_for(5ms);
    }
    return nullptr;
}

// The app answers requests for what it owns with what it offers.
void serve_offer(test::XConn& app, const test::ClipboardOffer& offer) {
    while (xcb_generic_event_t* ev = xcb_poll_for_event(app.c)) {
        if ((ev->response_type & 0x7f) == XCB_SELECTION_REQUEST)
            offer.answer(app.c, *reinterpret_cast<xcb_selection_request_event_t*>(ev));
        std::free(ev);
    }
}

// Asks for `selection` as `target` and returns the property's bytes (nullopt if refused).
template <class Pump>
std::optional<std::string> paste(test::XConn& x, xcb_window_t w, xcb_atom_t selection, xcb_atom_t target, Pump pump) {
    xcb_atom_t prop = x.atom("TEST_PASTE");
    xcb_convert_selection(x.c, w, selection, target, prop, XCB_CURRENT_TIME);
    xcb_flush(x.c);
    auto* ev = reinterpret_cast<xcb_selection_notify_event_t*>(wait_event(x, XCB_SELECTION_NOTIFY, pump));
    REQUIRE(ev);
    bool refused = ev->property == XCB_NONE;
    std::free(ev);
    if (refused) return std::nullopt;
    auto* r =
        xcb_get_property_reply(x.c, xcb_get_property(x.c, 1, w, prop, XCB_GET_PROPERTY_TYPE_ANY, 0, 1 << 20), nullptr);
    REQUIRE(r);
    std::string out(static_cast<const char*>(xcb_get_property_value(r)),
                    static_cast<std::size_t>(xcb_get_property_value_length(r)));
    std::free(r);
    return out;
}

}  // namespace

TEST_CASE("clipboard: the client's text is pasted by X apps as UTF8_STRING, STRING and TARGETS", "[clipboard]") {
    test::TempDir dir;
    host::XvfbDisplay d(320, 240, dir.path);
    host::ClipboardBridge bridge(d.display(), d.xauthority());
    test::XConn app(d.display(), d.xauthority());
    xcb_window_t w = make_window(app, XCB_EVENT_MASK_PROPERTY_CHANGE);
    auto pump = [&] { CHECK_FALSE(bridge.poll()); };  // our own text is never reported back

    bridge.set_text(
        "gr\xc3\xbc\xc3\x9f"
        "e \xe2\x82\xac");
    xcb_atom_t clipboard = app.atom("CLIPBOARD");
    CHECK(paste(app, w, clipboard, app.atom("UTF8_STRING"), pump) ==
          "gr\xc3\xbc\xc3\x9f"
          "e \xe2\x82\xac");
    CHECK(paste(app, w, XCB_ATOM_PRIMARY, app.atom("UTF8_STRING"), pump) ==
          "gr\xc3\xbc\xc3\x9f"
          "e \xe2\x82\xac");
    CHECK(paste(app, w, clipboard, XCB_ATOM_STRING, pump) ==
          "gr\xfc\xdf"
          "e ?");  // Latin-1
    auto targets = paste(app, w, clipboard, app.atom("TARGETS"), pump);
    REQUIRE(targets);
    CHECK(targets->size() % 4 == 0);
    CHECK(targets->size() >= 4 * 4);
    CHECK_FALSE(paste(app, w, clipboard, app.atom("image/png"), pump));  // not offered: refused
}

TEST_CASE("clipboard: text an app copies is fetched once per change", "[clipboard]") {
    test::TempDir dir;
    host::XvfbDisplay d(320, 240, dir.path);
    host::ClipboardBridge bridge(d.display(), d.xauthority());
    test::XConn app(d.display(), d.xauthority());
    xcb_window_t w = make_window(app, 0);
    test::ClipboardOffer offer{app.atom("TARGETS"), app.atom("image/png"), app.atom("UTF8_STRING"), {}, {}};
    std::string& offered = offer.text;

    // The app owns PRIMARY (as xterm does on selecting) and answers the bridge's request.
    auto serve = [&] { serve_offer(app, offer); };
    auto copy = [&](const std::string& text) -> std::optional<std::string> {
        offered = text;
        xcb_set_selection_owner(app.c, w, XCB_ATOM_PRIMARY, XCB_CURRENT_TIME);
        xcb_flush(app.c);
        std::optional<std::string> got;
        test::wait_until(
            [&] {
                serve();
                if (auto c = bridge.poll()) {
                    CHECK_FALSE(c->png);
                    got = std::move(c->data);
                }
                return got.has_value();
            },
            5s, 5ms);
        return got;
    };
    CHECK(copy("copied in the session") == "copied in the session");
    CHECK(copy("second \xc3\xa9") == "second \xc3\xa9");
    CHECK_FALSE(copy("second \xc3\xa9"));  // the same text again is not news
    bridge.set_text("from the client");
    CHECK_FALSE(copy("from the client"));  // nor is the client's own text
}

// A tiny PNG file's bytes (a valid signature is all the bridge checks; the pixels travel untouched).
const std::string kPng = std::string("\x89PNG\r\n\x1a\n", 8) + std::string("\0\0\0\rIHDR rest of an image", 25);

TEST_CASE("clipboard: the client's image is pasted by X apps as image/png from CLIPBOARD", "[clipboard]") {
    test::TempDir dir;
    host::XvfbDisplay d(320, 240, dir.path);
    host::ClipboardBridge bridge(d.display(), d.xauthority());
    test::XConn app(d.display(), d.xauthority());
    xcb_window_t w = make_window(app, XCB_EVENT_MASK_PROPERTY_CHANGE);
    auto pump = [&] { CHECK_FALSE(bridge.poll()); };  // our own image is never reported back
    xcb_atom_t clipboard = app.atom("CLIPBOARD"), png = app.atom("image/png");

    bridge.set_text("text first");
    bridge.set_image(kPng);
    CHECK(paste(app, w, clipboard, png, pump) == kPng);
    auto targets = paste(app, w, clipboard, app.atom("TARGETS"), pump);
    REQUIRE(targets);
    std::vector<xcb_atom_t> offered(targets->size() / 4);
    std::memcpy(offered.data(), targets->data(), offered.size() * 4);
    CHECK(std::find(offered.begin(), offered.end(), png) != offered.end());
    CHECK(std::find(offered.begin(), offered.end(), app.atom("UTF8_STRING")) == offered.end());
    CHECK_FALSE(paste(app, w, clipboard, app.atom("UTF8_STRING"), pump));  // CLIPBOARD holds an image now
    CHECK(paste(app, w, XCB_ATOM_PRIMARY, app.atom("UTF8_STRING"), pump) == "text first");  // PRIMARY keeps its text
    bridge.set_text("text again");
    CHECK_FALSE(paste(app, w, clipboard, png, pump));
    CHECK(paste(app, w, clipboard, app.atom("UTF8_STRING"), pump) == "text again");
}

TEST_CASE("clipboard: an image an app copies is fetched as PNG unless the app offers text too", "[clipboard]") {
    test::TempDir dir;
    host::XvfbDisplay d(320, 240, dir.path);
    host::ClipboardBridge bridge(d.display(), d.xauthority());
    test::XConn app(d.display(), d.xauthority());
    xcb_window_t w = make_window(app, 0);
    xcb_atom_t clipboard = app.atom("CLIPBOARD");
    test::ClipboardOffer offer{app.atom("TARGETS"), app.atom("image/png"), app.atom("UTF8_STRING"), {}, {}};
    std::string &image = offer.image, &text = offer.text;  // what the app offers (empty: not offered)

    auto serve = [&] { serve_offer(app, offer); };
    auto copy = [&]() -> std::optional<host::ClipboardBridge::Copied> {
        xcb_set_selection_owner(app.c, w, clipboard, XCB_CURRENT_TIME);
        xcb_flush(app.c);
        std::optional<host::ClipboardBridge::Copied> got;
        test::wait_until(
            [&] {
                serve();
                got = bridge.poll();
                return got.has_value();
            },
            3s, 5ms);
        return got;
    };
    image = kPng;
    auto got = copy();
    REQUIRE(got);
    CHECK(got->png);
    CHECK(got->data == kPng);
    CHECK_FALSE(copy());  // the same image again is not news

    text = "the cells as text";  // an app offering both: the text wins
    image = kPng + "x";
    got = copy();
    REQUIRE(got);
    CHECK_FALSE(got->png);
    CHECK(got->data == "the cells as text");

    text.clear();
    image = "GIF89a not a png";  // offered as image/png but no PNG file: not sent
    CHECK_FALSE(copy());

    image = kPng + "y";
    bridge.set_image(image);  // the client's own image (the bridge owns CLIPBOARD now)
    CHECK_FALSE(copy());      // is not sent back when an app offers the same
}

TEST_CASE("key_char: characters arrive with the right keysym and modifiers", "[input][keychar]") {
    test::TempDir dir;
    host::XvfbDisplay d(320, 240, dir.path);
    test::XConn app(d.display(), d.xauthority());
    xcb_window_t w = make_window(app, XCB_EVENT_MASK_KEY_PRESS, true);
    host::InputInjector in(d.display(), d.xauthority());
    xcb_set_input_focus(app.c, XCB_INPUT_FOCUS_POINTER_ROOT, w, XCB_CURRENT_TIME);
    app.sync();

    // What the app sees: the keysym at the pressed keycode for the event's Shift state.
    auto typed = [&](std::uint32_t cp) -> std::pair<xcb_keysym_t, std::uint16_t> {
        in.key_char(cp, true);
        in.key_char(cp, false);
        for (;;) {  // the Shift the injector presses for a level-1 character comes first
            auto* ev = reinterpret_cast<xcb_key_press_event_t*>(wait_event(app, XCB_KEY_PRESS, [] {}));
            REQUIRE(ev);
            auto* km = xcb_get_keyboard_mapping_reply(app.c, xcb_get_keyboard_mapping(app.c, ev->detail, 1), nullptr);
            REQUIRE(km);
            const xcb_keysym_t* syms = xcb_get_keyboard_mapping_keysyms(km);
            bool modifier = syms[0] >= 0xffe1 && syms[0] <= 0xffee;
            xcb_keysym_t ks = syms[(ev->state & XCB_MOD_MASK_SHIFT) ? 1 : 0];
            std::uint16_t state = ev->state;
            std::free(km);
            std::free(ev);
            if (!modifier) return {ks, state};
        }
    };
    CHECK(typed('a').first == 'a');
    CHECK(typed('A').first == 'A');
    CHECK(typed('!').first == '!');
    CHECK(typed('@').first == '@');
    CHECK(typed(0xe9).first == 0xe9);          // é: not on a US keymap, bound to a spare keycode
    CHECK(typed(0x20ac).first == 0x010020ac);  // €
    CHECK(typed(0x20ac).first == 0x010020ac);  // again, reusing the binding

    // A held Shift (or Alt, as a client's AltGr would be) does not reach a plain character.
    in.key(42, true);  // Shift_L
    in.key(56, true);  // Alt_L
    auto [ks, state] = typed('z');
    CHECK(ks == 'z');
    CHECK((state & (XCB_MOD_MASK_SHIFT | XCB_MOD_MASK_1)) == 0);
    CHECK(typed('Z').first == 'Z');
    in.release_all();
}

TEST_CASE("cursor: the shape is reported at first and when it changes", "[cursor]") {
    test::TempDir dir;
    host::XvfbDisplay d(320, 240, dir.path);
    host::CursorWatcher watcher(d.display(), d.xauthority());
    auto first = watcher.poll();
    REQUIRE(first);
    CHECK(first->width > 0);
    CHECK(first->rgba.size() == std::size_t(first->width) * first->height * 4);
    CHECK_FALSE(watcher.poll());  // nothing changed

    // A window with the cursor font's I-beam (glyph 152, "xterm"), the pointer moved into it.
    test::XConn app(d.display(), d.xauthority());
    xcb_font_t font = xcb_generate_id(app.c);
    xcb_open_font(app.c, font, 6, "cursor");
    xcb_cursor_t cursor = xcb_generate_id(app.c);
    xcb_create_glyph_cursor(app.c, cursor, font, font, 152, 153, 0, 0, 0, 0xffff, 0xffff, 0xffff);
    xcb_window_t w = make_window(app, 0, true);
    xcb_change_window_attributes(app.c, w, XCB_CW_CURSOR, &cursor);
    host::InputInjector in(d.display(), d.xauthority());
    in.pointer(50, 50, 0);
    app.sync();
    std::optional<protocol::CursorShape> shape;
    REQUIRE(test::wait_until([&] { return (shape = watcher.poll()).has_value(); }, 5s, 10ms));
    CHECK(shape->id != first->id);
    CHECK(shape->height > shape->width);  // an I-beam
    CHECK(shape->hot_x < shape->width);

    watcher.resend();  // a viewer attached: the same shape again
    auto again = watcher.poll();
    REQUIRE(again);
    CHECK(again->id == shape->id);
}

TEST_CASE("cursor: premultiplied ARGB becomes straight RGBA", "[cursor]") {
    std::uint32_t px[] = {0xff102030, 0x80404040, 0x00000000};
    auto rgba = host::cursor_argb_to_rgba(px, 3);
    CHECK(std::vector<std::uint8_t>(rgba.begin(), rgba.begin() + 4) ==
          std::vector<std::uint8_t>{0x10, 0x20, 0x30, 0xff});
    CHECK(int(rgba[4]) == 0x80);  // 0x40 / (0x80 / 255)
    CHECK(int(rgba[7]) == 0x80);
    CHECK(int(rgba[11]) == 0);
}

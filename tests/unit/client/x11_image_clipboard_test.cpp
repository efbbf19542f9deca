// X11ImageClipboard against a real Xvfb, the test playing the other X programs on the client's
// display: one that copies an image (and sometimes text too), one that pastes.
#include "client/native/x11_image_clipboard.hpp"
#include "session-host/x11/x_display.hpp"

#include "tests/support/x_clipboard_offer.hpp"
#include "tests/support/x_test_util.hpp"

#include <catch2/catch.hpp>

#include <xcb/xcb.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

using namespace portico;
using namespace std::chrono_literals;

namespace {

const std::string kPng = std::string("\x89PNG\r\n\x1a\n", 8) + std::string(5000, '\x42');

// An X program on the display: owns CLIPBOARD offering `image` (image/png) and/or `text`, and
// pastes (ConvertSelection) what others own.
struct App {
    test::XConn x;
    xcb_window_t w = 0;
    xcb_atom_t clipboard, targets, png, utf8, prop;
    test::ClipboardOffer offer;
    std::string &image = offer.image, &text = offer.text;

    App(const std::string& display, const std::string& xauthority) : x(display, xauthority) {
        w = xcb_generate_id(x.c);
        std::uint32_t mask = XCB_EVENT_MASK_PROPERTY_CHANGE;
        xcb_create_window(x.c, XCB_COPY_FROM_PARENT, w, x.screen->root, 0, 0, 10, 10, 0, XCB_WINDOW_CLASS_INPUT_ONLY,
                          XCB_COPY_FROM_PARENT, XCB_CW_EVENT_MASK, &mask);
        clipboard = x.atom("CLIPBOARD");
        targets = x.atom("TARGETS");
        png = x.atom("image/png");
        utf8 = x.atom("UTF8_STRING");
        prop = x.atom("TEST_PASTE");
        offer.targets = targets;
        offer.png = png;
        offer.utf8 = utf8;
    }

    void copy() {
        xcb_set_selection_owner(x.c, w, clipboard, XCB_CURRENT_TIME);
        x.sync();
    }

    // Answers requests for what it owns; returns a SelectionNotify for its own paste, if one came.
    std::optional<xcb_selection_notify_event_t> serve() {
        std::optional<xcb_selection_notify_event_t> pasted;
        while (xcb_generic_event_t* ev = xcb_poll_for_event(x.c)) {
            const auto type = ev->response_type & 0x7f;
            if (type == XCB_SELECTION_NOTIFY) pasted = *reinterpret_cast<xcb_selection_notify_event_t*>(ev);
            if (type == XCB_SELECTION_REQUEST) offer.answer(x.c, *reinterpret_cast<xcb_selection_request_event_t*>(ev));
            std::free(ev);
        }
        return pasted;
    }

    // Pastes CLIPBOARD as `target`: the bytes, or nullopt if refused.
    std::optional<std::string> paste(xcb_atom_t target) {
        xcb_convert_selection(x.c, w, clipboard, target, prop, XCB_CURRENT_TIME);
        xcb_flush(x.c);
        std::optional<xcb_selection_notify_event_t> n;
        REQUIRE(test::wait_until([&] { return (n = serve()).has_value(); }, 5s, 5ms));
        if (n->property == XCB_NONE) return std::nullopt;
        auto* r = xcb_get_property_reply(x.c, xcb_get_property(x.c, 1, w, prop, XCB_GET_PROPERTY_TYPE_ANY, 0, 1 << 20),
                                         nullptr);
        REQUIRE(r);
        std::string out(static_cast<const char*>(xcb_get_property_value(r)),
                        static_cast<std::size_t>(xcb_get_property_value_length(r)));
        std::free(r);
        return out;
    }
};

}  // namespace

TEST_CASE("x11 image clipboard: another program's image is taken once, text wins, the session's image is served",
          "[clipboard]") {
    test::TempDir dir;
    host::XvfbDisplay d(320, 240, dir.path);
    ::setenv("XAUTHORITY", d.xauthority().c_str(), 1);
    std::atomic<int> changes{0};
    client::X11ImageClipboard clip(d.display(), [&] { ++changes; });
    App app(d.display(), d.xauthority());

    // An image alone: fetched, handed over once, and the callback said so.
    app.image = kPng;
    app.copy();
    std::optional<std::string> got;
    REQUIRE(test::wait_until(
        [&] {
            app.serve();
            return (got = clip.take()).has_value();
        },
        5s, 5ms));
    CHECK(*got == kPng);
    CHECK(changes >= 1);
    CHECK_FALSE(clip.take());

    // Image and text: the text is SDL's to send; no image is taken.
    app.text = "cells as text";
    app.image = kPng + "2";
    app.copy();
    for (int i = 0; i < 60; ++i) {  // 300 ms of serving: what would be fetched is fetched by then
        app.serve();
        std::this_thread::sleep_for(5ms);
    }
    CHECK_FALSE(clip.take());

    // An image from the session: the client owns CLIPBOARD and programs paste it as image/png.
    clip.set_image(kPng + "3");
    CHECK(app.paste(app.png) == kPng + "3");
    auto offered = app.paste(app.targets);
    REQUIRE(offered);
    std::vector<xcb_atom_t> list(offered->size() / 4);
    std::memcpy(list.data(), offered->data(), list.size() * 4);
    CHECK(std::find(list.begin(), list.end(), app.png) != list.end());
    CHECK_FALSE(app.paste(app.utf8));  // no text form
    CHECK_FALSE(clip.take());          // its own image is not news
}

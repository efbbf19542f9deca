#include "session-host/input_injector.hpp"

#include "capture/x11_connection.hpp"

#include <xcb/xcb.h>
#include <xcb/xtest.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace portico::host {

struct InputInjector::Impl {
    std::mutex mutex;
    xcb_connection_t* conn = nullptr;
    xcb_window_t root = 0;
    int width = 0, height = 0;
    std::set<std::uint8_t> held_keys;  // X keycodes currently pressed by us
    std::uint8_t buttons = 0;          // client button bits currently pressed by us

    ~Impl() {
        if (conn) xcb_disconnect(conn);
    }

    bool usable() const { return conn && !xcb_connection_has_error(conn); }

    void fake(std::uint8_t type, std::uint8_t detail, std::int16_t x = 0, std::int16_t y = 0) {
        xcb_test_fake_input(conn, type, detail, XCB_CURRENT_TIME, type == XCB_MOTION_NOTIFY ? root : XCB_NONE, x, y,
                            0);
    }

    // XTEST requests have no replies, but the server may still send errors/events; drop them so
    // they cannot pile up in xcb's queue for the life of the session.
    void flush() {
        xcb_flush(conn);
        while (xcb_generic_event_t* ev = xcb_poll_for_event(conn)) std::free(ev);
    }

    void set_buttons(std::uint8_t want) {
        static constexpr std::uint8_t kXButton[3] = {1, 2, 3};  // left, middle, right
        for (int i = 0; i < 3; ++i) {
            std::uint8_t bit = static_cast<std::uint8_t>(1u << i);
            if ((want & bit) == (buttons & bit)) continue;
            fake((want & bit) ? XCB_BUTTON_PRESS : XCB_BUTTON_RELEASE, kXButton[i]);
        }
        buttons = want & 0x7;
    }

    void click(std::uint8_t button, int times) {
        for (int i = 0; i < times; ++i) {
            fake(XCB_BUTTON_PRESS, button);
            fake(XCB_BUTTON_RELEASE, button);
        }
    }
};

InputInjector::InputInjector(const std::string& display, const std::string& xauthority)
    : impl_(std::make_unique<Impl>()) {
    int screen_number = 0;
    impl_->conn = capture::connect_x11(display, xauthority, &screen_number);
    const xcb_query_extension_reply_t* ext = xcb_get_extension_data(impl_->conn, &xcb_test_id);
    if (!ext || !ext->present) throw std::runtime_error("X display " + display + " lacks XTEST");
    xcb_test_get_version_reply_t* ver =
        xcb_test_get_version_reply(impl_->conn, xcb_test_get_version(impl_->conn, 2, 2), nullptr);
    if (!ver) throw std::runtime_error("XTEST version query failed on " + display);
    std::free(ver);
    xcb_screen_iterator_t it = xcb_setup_roots_iterator(xcb_get_setup(impl_->conn));
    for (int i = 0; i < screen_number && it.rem; ++i) xcb_screen_next(&it);
    if (!it.rem) throw std::runtime_error("X display " + display + " has no screen " + std::to_string(screen_number));
    impl_->root = it.data->root;
    impl_->width = it.data->width_in_pixels;
    impl_->height = it.data->height_in_pixels;
}

InputInjector::~InputInjector() {
    // Never leave a key or button stuck in the session's display when the injector goes away.
    release_all();
}

void InputInjector::key(std::uint16_t evdev_code, bool down) {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->usable() || evdev_code > 255 - 8) return;  // X keycodes are 8..255
    auto keycode = static_cast<std::uint8_t>(evdev_code + 8);
    if (!down && !impl_->held_keys.count(keycode)) return;  // never release what we did not press
    impl_->fake(down ? XCB_KEY_PRESS : XCB_KEY_RELEASE, keycode);
    if (down) impl_->held_keys.insert(keycode);
    else impl_->held_keys.erase(keycode);
    impl_->flush();
}

void InputInjector::pointer(int x, int y, std::uint8_t buttons) {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->usable()) return;
    x = std::clamp(x, 0, std::max(0, impl_->width - 1));
    y = std::clamp(y, 0, std::max(0, impl_->height - 1));
    impl_->fake(XCB_MOTION_NOTIFY, 0 /* absolute */, static_cast<std::int16_t>(x), static_cast<std::int16_t>(y));
    impl_->set_buttons(buttons);
    impl_->flush();
}

void InputInjector::wheel(int dx, int dy) {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->usable()) return;
    // Bound a single message's effect; a client asking for thousands of notches is broken.
    constexpr int kMaxNotches = 20;
    dx = std::clamp(dx, -kMaxNotches, kMaxNotches);
    dy = std::clamp(dy, -kMaxNotches, kMaxNotches);
    if (dy) impl_->click(dy > 0 ? 5 : 4, std::abs(dy));  // positive dy scrolls down
    if (dx) impl_->click(dx > 0 ? 7 : 6, std::abs(dx));  // positive dx scrolls right
    impl_->flush();
}

void InputInjector::release_all() {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->usable()) {
        impl_->held_keys.clear();
        impl_->buttons = 0;
        return;
    }
    for (std::uint8_t keycode : impl_->held_keys) impl_->fake(XCB_KEY_RELEASE, keycode);
    impl_->held_keys.clear();
    impl_->set_buttons(0);
    impl_->flush();
}

}  // namespace portico::host

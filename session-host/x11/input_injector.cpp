#include "session-host/x11/input_injector.hpp"

#include "capture/x11/x11_connection.hpp"

#include <xcb/xcb.h>
#include <xcb/xtest.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <tuple>
#include <vector>

namespace portico::host {

struct InputInjector::Impl {
    std::mutex mutex;
    xcb_connection_t* conn = nullptr;
    xcb_window_t root = 0;
    int width = 0, height = 0;
    std::set<std::uint8_t> held_keys;                  // X keycodes currently pressed by us
    std::uint8_t buttons = 0;                          // client button bits currently pressed by us
    std::map<std::uint32_t, std::uint8_t> held_chars;  // code point -> keycode its press used

    // The core keyboard and modifier maps, fetched when first needed and again after a change.
    bool maps_stale = true;
    std::uint8_t min_keycode = 8, max_keycode = 255;
    int per_keycode = 0;
    std::vector<xcb_keysym_t> keysyms;                         // (max - min + 1) * per_keycode
    std::set<std::uint8_t> shift_keycodes, modifier_keycodes;  // modifier_keycodes excludes Lock
    std::uint8_t shift_keycode = 0;
    std::vector<std::uint8_t> spare;             // keycodes with no keysym, free for binding
    std::map<xcb_keysym_t, std::uint8_t> bound;  // keysyms we bound to spare keycodes
    std::vector<std::uint8_t> bound_order;       // least recently bound first

    ~Impl() {
        if (conn) xcb_disconnect(conn);
    }

    bool usable() const { return conn && !xcb_connection_has_error(conn); }

    void fake(std::uint8_t type, std::uint8_t detail, std::int16_t x = 0, std::int16_t y = 0) {
        xcb_test_fake_input(conn, type, detail, XCB_CURRENT_TIME, type == XCB_MOTION_NOTIFY ? root : XCB_NONE, x, y, 0);
    }

    // XTEST requests have no replies, but the server may still send errors/events; drop them so
    // they cannot pile up in xcb's queue for the life of the session.
    void flush() {
        xcb_flush(conn);
        while (xcb_generic_event_t* ev = xcb_poll_for_event(conn)) {
            if ((ev->response_type & 0x7f) == XCB_MAPPING_NOTIFY) maps_stale = true;
            std::free(ev);
        }
    }

    void load_maps() {
        maps_stale = false;
        const xcb_setup_t* setup = xcb_get_setup(conn);
        min_keycode = setup->min_keycode;
        max_keycode = setup->max_keycode;
        auto* km = xcb_get_keyboard_mapping_reply(
            conn, xcb_get_keyboard_mapping(conn, min_keycode, static_cast<std::uint8_t>(max_keycode - min_keycode + 1)),
            nullptr);
        if (km) {
            per_keycode = km->keysyms_per_keycode;
            const xcb_keysym_t* ks = xcb_get_keyboard_mapping_keysyms(km);
            keysyms.assign(ks, ks + xcb_get_keyboard_mapping_keysyms_length(km));
            std::free(km);
        }
        shift_keycodes.clear();
        modifier_keycodes.clear();
        shift_keycode = 0;
        auto* mm = xcb_get_modifier_mapping_reply(conn, xcb_get_modifier_mapping(conn), nullptr);
        if (mm) {
            const xcb_keycode_t* codes = xcb_get_modifier_mapping_keycodes(mm);
            int per = mm->keycodes_per_modifier;
            for (int mod = 0; mod < 8; ++mod)
                for (int i = 0; i < per; ++i) {
                    xcb_keycode_t kc = codes[mod * per + i];
                    if (!kc) continue;
                    if (mod == 0) {
                        shift_keycodes.insert(kc);
                        if (!shift_keycode) shift_keycode = kc;
                    }
                    if (mod != 1) modifier_keycodes.insert(kc);  // Lock is a state, not a held key
                }
            std::free(mm);
        }
        spare.clear();
        for (int kc = max_keycode; kc >= min_keycode && per_keycode > 0; --kc) {
            bool empty = true;
            for (int i = 0; i < per_keycode && empty; ++i) empty = sym(static_cast<std::uint8_t>(kc), i) == 0;
            if (empty && !modifier_keycodes.count(static_cast<std::uint8_t>(kc)))
                spare.push_back(static_cast<std::uint8_t>(kc));
        }
    }

    xcb_keysym_t sym(std::uint8_t keycode, int index) const {
        std::size_t at = static_cast<std::size_t>(keycode - min_keycode) * static_cast<std::size_t>(per_keycode) +
                         static_cast<std::size_t>(index);
        return at < keysyms.size() ? keysyms[at] : 0;
    }

    // {keycode, level (0 plain, 1 Shift)} that types `keysym`, or {0, 0}.
    std::pair<std::uint8_t, int> find(xcb_keysym_t keysym) const {
        if (per_keycode <= 0) return {0, 0};
        for (int level = 0; level < std::min(2, per_keycode); ++level)
            for (int kc = min_keycode; kc <= max_keycode; ++kc)
                if (sym(static_cast<std::uint8_t>(kc), level) == keysym) {
                    // A letter's lowercase keysym also sits at level 1 of some maps: prefer level 0.
                    return {static_cast<std::uint8_t>(kc), level};
                }
        return {0, 0};
    }

    // Binds `keysym` to a spare keycode (every level), reusing the least recently bound one.
    std::uint8_t bind(xcb_keysym_t keysym) {
        if (auto it = bound.find(keysym); it != bound.end() && sym(it->second, 0) == keysym) return it->second;
        std::uint8_t kc = 0;
        if (!spare.empty()) {
            kc = spare.back();
            spare.pop_back();
        } else {
            for (auto it = bound_order.begin(); it != bound_order.end(); ++it) {
                if (held_keys.count(*it)) continue;
                kc = *it;
                bound_order.erase(it);
                break;
            }
            if (!kc) return 0;
            for (auto it = bound.begin(); it != bound.end(); ++it)
                if (it->second == kc) {
                    bound.erase(it);
                    break;
                }
        }
        std::vector<xcb_keysym_t> syms(static_cast<std::size_t>(per_keycode), keysym);
        xcb_change_keyboard_mapping(conn, 1, kc, static_cast<std::uint8_t>(per_keycode), syms.data());
        for (int i = 0; i < per_keycode; ++i)
            keysyms[static_cast<std::size_t>(kc - min_keycode) * static_cast<std::size_t>(per_keycode) +
                    static_cast<std::size_t>(i)] = keysym;
        bound[keysym] = kc;
        bound_order.push_back(kc);
        return kc;
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
    // Key repeat is the client's: a held key arrives as repeated presses. The X server's own
    // autorepeat would type extra characters whenever a release reaches it late (over 660 ms after
    // the press, Xvfb's default delay), as on a loaded host or a slow link. (Xpra does the same.)
    const std::uint32_t repeat_off[] = {XCB_AUTO_REPEAT_MODE_OFF};
    // Checked, so it is in force before the first key (an X error here would only leave repeat on).
    std::free(xcb_request_check(impl_->conn,
                                xcb_change_keyboard_control_checked(impl_->conn, XCB_KB_AUTO_REPEAT_MODE, repeat_off)));
    const xcb_screen_t& screen = capture::screen_of(impl_->conn, screen_number, display);
    impl_->root = screen.root;
    impl_->width = screen.width_in_pixels;
    impl_->height = screen.height_in_pixels;
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
    if (down)
        impl_->held_keys.insert(keycode);
    else
        impl_->held_keys.erase(keycode);
    impl_->flush();
}

namespace {

// Latin-1 keysyms equal their code point; other characters use the Unicode keysym range.
xcb_keysym_t keysym_for(std::uint32_t cp) {
    if ((cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xff)) return cp;
    return 0x01000000 | cp;
}

// Keysyms some layouts carry for characters beyond Latin-1 (checked before binding a spare key).
xcb_keysym_t legacy_keysym_for(std::uint32_t cp) {
    switch (cp) {
        case 0x20ac: return 0x20ac;  // EuroSign
        default: return 0;
    }
}

}  // namespace

void InputInjector::key_char(std::uint32_t codepoint, bool down) {
    std::lock_guard lock(impl_->mutex);
    auto& d = *impl_;
    if (!d.usable()) return;
    if (!down) {
        auto it = d.held_chars.find(codepoint);
        if (it == d.held_chars.end()) return;
        d.fake(XCB_KEY_RELEASE, it->second);
        d.held_keys.erase(it->second);
        d.held_chars.erase(it);
        d.flush();
        return;
    }
    if (d.maps_stale) d.load_maps();
    xcb_keysym_t keysym = keysym_for(codepoint);
    auto [keycode, level] = d.find(keysym);
    if (!keycode) {
        if (xcb_keysym_t legacy = legacy_keysym_for(codepoint)) std::tie(keycode, level) = d.find(legacy);
    }
    if (!keycode) {
        keycode = d.bind(keysym);
        level = 0;
        if (!keycode) return;  // no keycode to spare: the character cannot be typed
    }
    // The press must see exactly the Shift state its level needs and no other modifier (the
    // client's AltGr, say, produced the character and must not reach the app as Alt).
    bool want_shift = level == 1;
    std::vector<std::uint8_t> lifted;
    bool shift_held = false;
    for (std::uint8_t kc : d.held_keys) {
        if (!d.modifier_keycodes.count(kc)) continue;
        if (want_shift && d.shift_keycodes.count(kc)) {
            shift_held = true;
            continue;
        }
        lifted.push_back(kc);
    }
    for (std::uint8_t kc : lifted) d.fake(XCB_KEY_RELEASE, kc);
    bool pressed_shift = want_shift && !shift_held && d.shift_keycode;
    if (pressed_shift) d.fake(XCB_KEY_PRESS, d.shift_keycode);
    if (auto it = d.held_chars.find(codepoint); it != d.held_chars.end() && it->second != keycode) {
        d.fake(XCB_KEY_RELEASE, it->second);  // the same character via another key (map changed)
        d.held_keys.erase(it->second);
    }
    d.fake(XCB_KEY_PRESS, keycode);
    d.held_keys.insert(keycode);
    d.held_chars[codepoint] = keycode;
    if (pressed_shift) d.fake(XCB_KEY_RELEASE, d.shift_keycode);
    for (std::uint8_t kc : lifted) d.fake(XCB_KEY_PRESS, kc);
    d.flush();
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

void InputInjector::pointer_relative(int dx, int dy, std::uint8_t buttons) {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->usable()) return;
    // One message moves at most a screen's width: a larger delta is a broken client.
    dx = std::clamp(dx, -impl_->width, impl_->width);
    dy = std::clamp(dy, -impl_->height, impl_->height);
    if (dx || dy)
        impl_->fake(XCB_MOTION_NOTIFY, 1 /* relative */, static_cast<std::int16_t>(dx), static_cast<std::int16_t>(dy));
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
    impl_->held_chars.clear();
    impl_->set_buttons(0);
    impl_->flush();
}

}  // namespace portico::host

#include "session-host/x11/cursor_watcher.hpp"

#include "capture/x11/x11_connection.hpp"

#include <xcb/xcb.h>
#include <xcb/xfixes.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace portico::host {

std::vector<std::uint8_t> cursor_argb_to_rgba(const std::uint32_t* argb, std::size_t count) {
    std::vector<std::uint8_t> out(count * 4);
    for (std::size_t i = 0; i < count; ++i) {
        std::uint32_t p = argb[i];
        std::uint32_t a = p >> 24, r = (p >> 16) & 0xff, g = (p >> 8) & 0xff, b = p & 0xff;
        if (a != 0 && a != 255) {  // undo the premultiplication
            r = std::min<std::uint32_t>(255, (r * 255 + a / 2) / a);
            g = std::min<std::uint32_t>(255, (g * 255 + a / 2) / a);
            b = std::min<std::uint32_t>(255, (b * 255 + a / 2) / a);
        }
        out[i * 4] = static_cast<std::uint8_t>(r);
        out[i * 4 + 1] = static_cast<std::uint8_t>(g);
        out[i * 4 + 2] = static_cast<std::uint8_t>(b);
        out[i * 4 + 3] = static_cast<std::uint8_t>(a);
    }
    return out;
}

struct CursorWatcher::Impl {
    xcb_connection_t* conn = nullptr;
    std::uint8_t xfixes_event = 0;
    bool changed = true;
    std::uint32_t last_serial = 0;
    bool sent_any = false;
    bool hidden = false;

    ~Impl() {
        if (conn) xcb_disconnect(conn);
    }
};

CursorWatcher::CursorWatcher(const std::string& display, const std::string& xauthority)
    : impl_(std::make_unique<Impl>()) {
    auto& d = *impl_;
    int screen_number = 0;
    d.conn = capture::connect_x11(display, xauthority, &screen_number);
    d.xfixes_event = capture::init_xfixes(d.conn, display);
    xcb_xfixes_select_cursor_input(d.conn, capture::screen_of(d.conn, screen_number, display).root,
                                   XCB_XFIXES_CURSOR_NOTIFY_MASK_DISPLAY_CURSOR);
    xcb_flush(d.conn);
}

CursorWatcher::~CursorWatcher() = default;

std::optional<protocol::CursorShape> CursorWatcher::poll() {
    auto& d = *impl_;
    if (xcb_connection_has_error(d.conn)) return std::nullopt;
    while (xcb_generic_event_t* ev = xcb_poll_for_event(d.conn)) {
        if ((ev->response_type & 0x7f) == d.xfixes_event + XCB_XFIXES_CURSOR_NOTIFY) {
            auto* c = reinterpret_cast<xcb_xfixes_cursor_notify_event_t*>(ev);
            if (!d.sent_any || c->cursor_serial != d.last_serial) d.changed = true;
        }
        std::free(ev);
    }
    bool resend = resend_.exchange(false);
    if (!d.changed && !resend) return std::nullopt;
    d.changed = false;
    auto* img = xcb_xfixes_get_cursor_image_reply(d.conn, xcb_xfixes_get_cursor_image(d.conn), nullptr);
    if (!img) return std::nullopt;
    const auto* argb = xcb_xfixes_get_cursor_image_cursor_image(img);
    const std::size_t pixels = static_cast<std::size_t>(img->width) * img->height;
    d.hidden = std::none_of(argb, argb + pixels, [](std::uint32_t p) { return (p >> 24) != 0; });
    std::optional<protocol::CursorShape> out;
    if (img->width <= protocol::kMaxCursorDim && img->height <= protocol::kMaxCursorDim &&
        (!d.sent_any || img->cursor_serial != d.last_serial || resend)) {
        protocol::CursorShape s;
        s.id = img->cursor_serial;
        s.width = img->width;
        s.height = img->height;
        s.hot_x = std::min<std::uint16_t>(img->xhot, s.width ? s.width - 1 : 0);
        s.hot_y = std::min<std::uint16_t>(img->yhot, s.height ? s.height - 1 : 0);
        if (s.width && s.height) s.rgba = cursor_argb_to_rgba(argb, pixels);
        d.last_serial = img->cursor_serial;
        d.sent_any = true;
        out = std::move(s);
    }
    std::free(img);
    return out;
}

bool CursorWatcher::hidden() const { return impl_->hidden; }

}  // namespace portico::host

#include "session-host/x11/pointer_grab_watch.hpp"

#include "capture/x11/x11_connection.hpp"

#include <xcb/xcb.h>

#include <cstdlib>

namespace portico::host {

struct PointerGrabWatch::Impl {
    xcb_connection_t* conn = nullptr;
    xcb_window_t root = 0;
    xcb_window_t clock = 0;  // an unmapped window of ours whose property changes tell the server's time
    xcb_atom_t tick = 0;
    ~Impl() {
        if (conn) xcb_disconnect(conn);
    }

    // The X server's current time: the timestamp of a PropertyNotify our own change caused.
    std::optional<xcb_timestamp_t> server_time() {
        xcb_change_property(conn, XCB_PROP_MODE_APPEND, clock, tick, XCB_ATOM_STRING, 8, 0, nullptr);
        xcb_flush(conn);
        while (xcb_generic_event_t* ev = xcb_wait_for_event(conn)) {
            std::optional<xcb_timestamp_t> time;
            if ((ev->response_type & 0x7f) == XCB_PROPERTY_NOTIFY)
                time = reinterpret_cast<xcb_property_notify_event_t*>(ev)->time;
            std::free(ev);
            if (time) return time;
        }
        return std::nullopt;  // the connection broke
    }
};

PointerGrabWatch::PointerGrabWatch(const std::string& display, const std::string& xauthority)
    : impl_(std::make_unique<Impl>()) {
    auto& d = *impl_;
    int screen_number = 0;
    d.conn = capture::connect_x11(display, xauthority, &screen_number);
    d.root = capture::screen_of(d.conn, screen_number, display).root;
    d.clock = xcb_generate_id(d.conn);
    const std::uint32_t events = XCB_EVENT_MASK_PROPERTY_CHANGE;
    xcb_create_window(d.conn, 0, d.clock, d.root, 0, 0, 1, 1, 0, XCB_WINDOW_CLASS_INPUT_ONLY, XCB_COPY_FROM_PARENT,
                      XCB_CW_EVENT_MASK, &events);
    static constexpr char kName[] = "PORTICO_GRAB_CLOCK";
    auto* atom = xcb_intern_atom_reply(d.conn, xcb_intern_atom(d.conn, 0, sizeof kName - 1, kName), nullptr);
    if (atom) d.tick = atom->atom;
    std::free(atom);
}

PointerGrabWatch::~PointerGrabWatch() = default;

bool PointerGrabWatch::grabbed_by_another_client() {
    auto& d = *impl_;
    if (xcb_connection_has_error(d.conn) || !d.tick) return false;
    const auto now = d.server_time();
    if (!now) return false;
    constexpr xcb_timestamp_t kFuture = 60'000;  // ms; well inside the half month X compares times within
    auto* reply = xcb_grab_pointer_reply(d.conn,
                                         xcb_grab_pointer(d.conn, 0, d.root, 0, XCB_GRAB_MODE_ASYNC,
                                                          XCB_GRAB_MODE_ASYNC, XCB_NONE, XCB_NONE, *now + kFuture),
                                         nullptr);
    if (!reply) return false;
    const auto status = reply->status;
    std::free(reply);
    if (status == XCB_GRAB_STATUS_SUCCESS) {  // never expected; do not keep a grab by accident
        xcb_ungrab_pointer(d.conn, XCB_CURRENT_TIME);
        xcb_flush(d.conn);
    }
    return status == XCB_GRAB_STATUS_ALREADY_GRABBED;
}

std::optional<bool> PointerGrabWatch::poll(bool cursor_hidden, Clock::time_point now) {
    bool relative = false;
    if (!cursor_hidden) {
        last_try_.reset();
    } else if (!last_try_ || now - *last_try_ >= kInterval) {
        last_try_ = now;
        relative = grabbed_by_another_client();
    } else {
        relative = relative_;
    }
    if (relative == relative_) return std::nullopt;
    relative_ = relative;
    return relative;
}

}  // namespace portico::host

#include "session-host/x11/window_keeper.hpp"

#include "capture/x11/x11_connection.hpp"

#include <xcb/xcb.h>

#include <cstdlib>
#include <stdexcept>

namespace portico::host {

WindowKeeper::WindowKeeper(const std::string& display, const std::string& xauthority) {
    int screen_number = 0;
    conn_ = capture::connect_x11(display, xauthority, &screen_number);
    const xcb_screen_t* screen = nullptr;
    try {
        screen = &capture::screen_of(conn_, screen_number, display);
    } catch (...) {
        xcb_disconnect(conn_);
        throw;
    }
    root_ = screen->root;
    width_ = screen->width_in_pixels;
    height_ = screen->height_in_pixels;
    const std::uint32_t mask = XCB_EVENT_MASK_SUBSTRUCTURE_NOTIFY;
    xcb_change_window_attributes(conn_, root_, XCB_CW_EVENT_MASK, &mask);
    xcb_flush(conn_);
}

WindowKeeper::~WindowKeeper() {
    if (conn_) xcb_disconnect(conn_);
}

void WindowKeeper::focus(std::uint32_t window) {
    // RevertToPointerRoot: if the window goes away, focus falls back to pointer-follows, which is
    // what the session had before any window was mapped.
    xcb_set_input_focus(conn_, XCB_INPUT_FOCUS_POINTER_ROOT, window, XCB_CURRENT_TIME);
    focused_ = window;
}

void WindowKeeper::fit_main_window() {
    const std::uint32_t geometry[] = {0, 0, static_cast<std::uint32_t>(width_), static_cast<std::uint32_t>(height_), 0};
    xcb_configure_window(conn_, main_,
                         XCB_CONFIG_WINDOW_X | XCB_CONFIG_WINDOW_Y | XCB_CONFIG_WINDOW_WIDTH |
                             XCB_CONFIG_WINDOW_HEIGHT | XCB_CONFIG_WINDOW_BORDER_WIDTH,
                         geometry);
}

void WindowKeeper::set_screen_size(int width, int height) {
    width_ = width;
    height_ = height;
    if (!conn_ || xcb_connection_has_error(conn_) || !main_) return;
    fit_main_window();
    xcb_flush(conn_);
}

void WindowKeeper::poll() {
    if (!conn_ || xcb_connection_has_error(conn_)) return;
    bool changed = false;
    while (xcb_generic_event_t* ev = xcb_poll_for_event(conn_)) {
        switch (ev->response_type & 0x7f) {
            case XCB_MAP_NOTIFY: {
                auto* m = reinterpret_cast<xcb_map_notify_event_t*>(ev);
                // Only top-level windows (children of the root); menus and tooltips are
                // override-redirect and must keep their own size and not take focus.
                if (m->event != root_ || m->override_redirect) break;
                if (!main_) {
                    main_ = m->window;
                    fit_main_window();
                }
                focus(m->window);
                changed = true;
                break;
            }
            case XCB_DESTROY_NOTIFY: {
                auto* d = reinterpret_cast<xcb_destroy_notify_event_t*>(ev);
                if (d->window == main_) main_ = 0;
                if (d->window == focused_) {
                    focused_ = 0;
                    if (main_) {
                        focus(main_);
                        changed = true;
                    }
                }
                break;
            }
            default: break;  // errors (e.g. focusing a window that just vanished) are harmless here
        }
        std::free(ev);
    }
    if (changed) xcb_flush(conn_);
}

}  // namespace portico::host

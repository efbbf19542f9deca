#include "client/native/x11_errors.hpp"

#include "common/log.hpp"

#include <X11/Xlib.h>
#include <X11/Xproto.h>

#include <cstdio>

namespace portico::client {

namespace {

XErrorHandler previous_handler = nullptr;

int on_x_error(Display* display, XErrorEvent* e) {
    if (e->error_code == BadWindow && e->request_code == X_SendEvent) {
        char id[24];
        std::snprintf(id, sizeof id, "0x%lx", e->resourceid);
        log::info("X: window ", id, " went away before an event sent to it");
        return 0;
    }
    return previous_handler ? previous_handler(display, e) : 0;
}

}  // namespace

void tolerate_vanished_windows() {
    const XErrorHandler was = XSetErrorHandler(on_x_error);
    if (was != on_x_error) previous_handler = was;
}

}  // namespace portico::client

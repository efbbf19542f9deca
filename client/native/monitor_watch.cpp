#include "client/native/monitor_watch.hpp"

#include <xcb/randr.h>
#include <xcb/xcb.h>

#include <cstdlib>

namespace portico::client {

std::unique_ptr<MonitorWatch> MonitorWatch::open() {
    if (!std::getenv("DISPLAY")) return nullptr;
    xcb_connection_t* c = xcb_connect(nullptr, nullptr);
    if (xcb_connection_has_error(c)) {
        xcb_disconnect(c);
        return nullptr;
    }
    const xcb_query_extension_reply_t* randr = xcb_get_extension_data(c, &xcb_randr_id);
    const xcb_screen_t* screen = xcb_setup_roots_iterator(xcb_get_setup(c)).data;
    if (!randr || !randr->present || !screen) {
        xcb_disconnect(c);
        return nullptr;
    }
    // RandR 1.5 (monitors); the version must be asked before its requests are used.
    auto* version = xcb_randr_query_version_reply(c, xcb_randr_query_version(c, 1, 5), nullptr);
    const bool has_monitors = version && (version->major_version > 1 || version->minor_version >= 5);
    std::free(version);
    if (!has_monitors) {
        xcb_disconnect(c);
        return nullptr;
    }
    std::unique_ptr<MonitorWatch> w(new MonitorWatch(c, screen->root));
    w->randr_event_base_ = randr->first_event;
    // The screen's size and a CRTC's mode or position: every way the monitors can change.
    xcb_randr_select_input(
        c, screen->root,
        XCB_RANDR_NOTIFY_MASK_SCREEN_CHANGE | XCB_RANDR_NOTIFY_MASK_CRTC_CHANGE | XCB_RANDR_NOTIFY_MASK_OUTPUT_CHANGE);
    xcb_flush(c);
    return w;
}

MonitorWatch::~MonitorWatch() { xcb_disconnect(c_); }

bool MonitorWatch::changed() {
    bool any = false;
    while (xcb_generic_event_t* e = xcb_poll_for_event(c_)) {
        const unsigned type = e->response_type & 0x7f;
        if (type == randr_event_base_ + XCB_RANDR_SCREEN_CHANGE_NOTIFY || type == randr_event_base_ + XCB_RANDR_NOTIFY)
            any = true;
        std::free(e);
    }
    return any;
}

std::vector<NamedMonitor> MonitorWatch::monitors() {
    std::vector<NamedMonitor> out;
    auto* reply = xcb_randr_get_monitors_reply(c_, xcb_randr_get_monitors(c_, root_, 1), nullptr);
    if (!reply) return out;
    for (auto it = xcb_randr_get_monitors_monitors_iterator(reply); it.rem; xcb_randr_monitor_info_next(&it)) {
        const xcb_randr_monitor_info_t* m = it.data;
        NamedMonitor nm{{}, {m->x, m->y, m->width, m->height}};
        if (auto* name = xcb_get_atom_name_reply(c_, xcb_get_atom_name(c_, m->name), nullptr)) {
            nm.name.assign(xcb_get_atom_name_name(name), xcb_get_atom_name_name_length(name));
            std::free(name);
        }
        if (m->primary)
            out.insert(out.begin(), std::move(nm));
        else
            out.push_back(std::move(nm));
    }
    std::free(reply);
    return out;
}

}  // namespace portico::client

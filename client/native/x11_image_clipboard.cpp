#include "client/native/x11_image_clipboard.hpp"

#include "common/log.hpp"
#include "protocol/display.hpp"

#include <poll.h>
#include <xcb/xcb.h>
#include <xcb/xfixes.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace portico::client {

namespace {
constexpr std::size_t kMaxImage = protocol::kMaxClipboardImageBytes;
constexpr auto kFetchTimeout = std::chrono::seconds(5);  // an owner that never answers is given up
}  // namespace

struct X11ImageClipboard::Impl {
    xcb_connection_t* conn = nullptr;
    xcb_window_t window = 0;
    std::uint8_t xfixes_event = 0;
    xcb_atom_t clipboard = 0, targets = 0, image_png = 0, incr = 0, timestamp = 0, property = 0;
    xcb_atom_t text_atoms[4] = {};  // what counts as the owner offering text
    std::size_t max_request_bytes = 0;
    std::function<void()> changed;

    std::mutex mu;      // owned, taken, and the X requests set_image makes
    std::string owned;  // the image we serve while we own CLIPBOARD
    bool own = false;
    std::optional<std::string> taken;  // fetched, not yet take()n

    // The thread's fetch (only the thread touches these).
    xcb_atom_t fetch_target = XCB_NONE;  // XCB_NONE: no fetch running
    bool fetch_incr = false, fetch_again = false;
    std::string fetch_data;
    std::chrono::steady_clock::time_point fetch_started;

    std::atomic<bool> stop{false};
    std::thread thread;

    ~Impl() {
        stop = true;
        if (thread.joinable()) thread.join();
        if (conn) xcb_disconnect(conn);
    }

    xcb_atom_t atom(const char* name) {
        auto* r = xcb_intern_atom_reply(
            conn, xcb_intern_atom(conn, 0, static_cast<std::uint16_t>(std::strlen(name)), name), nullptr);
        if (!r) throw std::runtime_error(std::string("cannot intern X atom ") + name);
        xcb_atom_t a = r->atom;
        std::free(r);
        return a;
    }

    void start_fetch(xcb_atom_t target) {
        fetch_target = target;
        fetch_incr = false;
        fetch_data.clear();
        fetch_started = std::chrono::steady_clock::now();
        xcb_delete_property(conn, window, property);
        xcb_convert_selection(conn, window, clipboard, target, property, XCB_CURRENT_TIME);
        xcb_flush(conn);
    }

    void end_fetch() {
        fetch_target = XCB_NONE;
        fetch_data.clear();
        if (fetch_again) {  // the owner changed while we were asking the previous one
            fetch_again = false;
            start_fetch(targets);
        }
    }

    // Reads and deletes our property (deleting asks an INCR owner for the next piece).
    std::optional<std::pair<xcb_atom_t, std::string>> take_property() {
        constexpr std::uint32_t kMaxWords = (kMaxImage + 4096) / 4;
        auto* r = xcb_get_property_reply(
            conn, xcb_get_property(conn, 1, window, property, XCB_GET_PROPERTY_TYPE_ANY, 0, kMaxWords), nullptr);
        if (!r) return std::nullopt;
        std::optional<std::pair<xcb_atom_t, std::string>> out;
        if (r->type != XCB_NONE) {
            const int len = xcb_get_property_value_length(r);
            out.emplace(r->type, std::string(static_cast<const char*>(xcb_get_property_value(r)),
                                             static_cast<std::size_t>(std::max(len, 0))));
        }
        std::free(r);
        xcb_flush(conn);
        return out;
    }

    void finish_image() {
        if (fetch_data.size() > kMaxImage)
            log::warn("clipboard: the local image is larger than ", kMaxImage >> 20, " MiB; not sent to the session");
        else if (!protocol::looks_like_png(fetch_data))
            log::warn("clipboard: the local image/png is not a PNG file; not sent to the session");
        else {
            std::lock_guard lk(mu);
            taken = std::move(fetch_data);
            if (changed) changed();
        }
        end_fetch();
    }

    void on_targets(const std::string& list) {
        bool text = false, png = false;
        for (std::size_t i = 0; i + 4 <= list.size(); i += 4) {
            xcb_atom_t a;
            std::memcpy(&a, list.data() + i, 4);
            for (xcb_atom_t t : text_atoms) text = text || a == t;
            png = png || a == image_png;
        }
        fetch_target = XCB_NONE;
        if (png && !text)
            start_fetch(image_png);
        else
            end_fetch();  // text (SDL's clipboard API sends it) or nothing we carry
    }

    void on_selection_notify(const xcb_selection_notify_event_t* ev) {
        if (fetch_target == XCB_NONE || ev->requestor != window || ev->selection != clipboard) return;
        if (ev->property == XCB_NONE) return end_fetch();  // refused
        auto p = take_property();
        if (!p) return end_fetch();
        if (p->first == incr) {
            fetch_incr = true;  // pieces follow, one per deletion of our property
            log::info("clipboard: the local image comes in pieces (INCR)");
            return;
        }
        if (fetch_target == targets) return on_targets(p->second);
        fetch_data = std::move(p->second);
        finish_image();
    }

    void on_property_notify(const xcb_property_notify_event_t* ev) {
        if (fetch_target != image_png || !fetch_incr || ev->window != window || ev->atom != property ||
            ev->state != XCB_PROPERTY_NEW_VALUE)
            return;
        auto p = take_property();
        if (!p) return;
        if (p->second.empty()) return finish_image();                 // the zero-length piece ends the transfer
        if (fetch_data.size() <= kMaxImage) fetch_data += p->second;  // past the limit: read on, keep nothing
    }

    void on_owner_change(const xcb_xfixes_selection_notify_event_t* ev) {
        // (Losing ownership is SelectionClear's to say: this event may predate a set_image.)
        if (ev->selection != clipboard) return;
        if (ev->owner == window || ev->owner == XCB_NONE) return;
        if (fetch_target != XCB_NONE && std::chrono::steady_clock::now() - fetch_started < kFetchTimeout) {
            fetch_again = true;
            return;
        }
        start_fetch(targets);
    }

    void on_selection_request(const xcb_selection_request_event_t* ev) {
        xcb_selection_notify_event_t reply{};
        reply.response_type = XCB_SELECTION_NOTIFY;
        reply.time = ev->time;
        reply.requestor = ev->requestor;
        reply.selection = ev->selection;
        reply.target = ev->target;
        reply.property = XCB_NONE;
        const xcb_atom_t prop = ev->property == XCB_NONE ? ev->target : ev->property;  // obsolete clients
        std::lock_guard lk(mu);
        if (own && ev->selection == clipboard) {
            if (ev->target == targets) {
                xcb_atom_t list[] = {targets, image_png, timestamp};
                xcb_change_property(conn, XCB_PROP_MODE_REPLACE, ev->requestor, prop, XCB_ATOM_ATOM, 32, 3, list);
                reply.property = prop;
            } else if (ev->target == image_png && owned.size() + 64 <= max_request_bytes) {
                xcb_change_property(conn, XCB_PROP_MODE_REPLACE, ev->requestor, prop, image_png, 8,
                                    static_cast<std::uint32_t>(owned.size()), owned.data());
                reply.property = prop;
            } else if (ev->target == timestamp) {
                std::uint32_t t = XCB_CURRENT_TIME;
                xcb_change_property(conn, XCB_PROP_MODE_REPLACE, ev->requestor, prop, XCB_ATOM_INTEGER, 32, 1, &t);
                reply.property = prop;
            }
        }
        xcb_send_event(conn, 0, ev->requestor, XCB_EVENT_MASK_NO_EVENT, reinterpret_cast<const char*>(&reply));
        xcb_flush(conn);
    }

    void run() {
        pollfd pfd{xcb_get_file_descriptor(conn), POLLIN, 0};
        while (!stop && !xcb_connection_has_error(conn)) {
            ::poll(&pfd, 1, 100);  // the timeout only bounds how long stopping takes
            while (xcb_generic_event_t* ev = xcb_poll_for_event(conn)) {
                const std::uint8_t type = ev->response_type & 0x7f;
                if (type == xfixes_event + XCB_XFIXES_SELECTION_NOTIFY)
                    on_owner_change(reinterpret_cast<xcb_xfixes_selection_notify_event_t*>(ev));
                else if (type == XCB_SELECTION_NOTIFY)
                    on_selection_notify(reinterpret_cast<xcb_selection_notify_event_t*>(ev));
                else if (type == XCB_PROPERTY_NOTIFY)
                    on_property_notify(reinterpret_cast<xcb_property_notify_event_t*>(ev));
                else if (type == XCB_SELECTION_REQUEST)
                    on_selection_request(reinterpret_cast<xcb_selection_request_event_t*>(ev));
                else if (type == XCB_SELECTION_CLEAR) {
                    std::lock_guard lk(mu);
                    own = false;
                }
                std::free(ev);
            }
        }
    }
};

X11ImageClipboard::X11ImageClipboard(const std::string& display, std::function<void()> changed)
    : impl_(std::make_unique<Impl>()) {
    auto& d = *impl_;
    d.changed = std::move(changed);
    int screen_number = 0;
    d.conn = xcb_connect(display.c_str(), &screen_number);
    if (xcb_connection_has_error(d.conn)) throw std::runtime_error("cannot connect to X display " + display);
    xcb_prefetch_extension_data(d.conn, &xcb_xfixes_id);
    const auto* ext = xcb_get_extension_data(d.conn, &xcb_xfixes_id);
    if (!ext || !ext->present) throw std::runtime_error("X display " + display + " has no XFIXES");
    d.xfixes_event = ext->first_event;
    std::free(xcb_xfixes_query_version_reply(d.conn, xcb_xfixes_query_version(d.conn, 5, 0), nullptr));
    auto it = xcb_setup_roots_iterator(xcb_get_setup(d.conn));
    for (int i = 0; i < screen_number && it.rem; ++i) xcb_screen_next(&it);
    if (!it.rem) throw std::runtime_error("X display " + display + " has no screen " + std::to_string(screen_number));
    d.window = xcb_generate_id(d.conn);
    std::uint32_t mask = XCB_EVENT_MASK_PROPERTY_CHANGE;
    xcb_create_window(d.conn, XCB_COPY_FROM_PARENT, d.window, it.data->root, -10, -10, 1, 1, 0,
                      XCB_WINDOW_CLASS_INPUT_ONLY, XCB_COPY_FROM_PARENT, XCB_CW_EVENT_MASK, &mask);
    d.clipboard = d.atom("CLIPBOARD");
    d.targets = d.atom("TARGETS");
    d.image_png = d.atom("image/png");
    d.incr = d.atom("INCR");
    d.timestamp = d.atom("TIMESTAMP");
    d.property = d.atom("PORTICO_IMAGE");
    d.text_atoms[0] = d.atom("UTF8_STRING");
    d.text_atoms[1] = XCB_ATOM_STRING;
    d.text_atoms[2] = d.atom("TEXT");
    d.text_atoms[3] = d.atom("text/plain;charset=utf-8");
    d.max_request_bytes = std::size_t{xcb_get_maximum_request_length(d.conn)} * 4;
    xcb_xfixes_select_selection_input(d.conn, d.window, d.clipboard,
                                      XCB_XFIXES_SELECTION_EVENT_MASK_SET_SELECTION_OWNER);
    xcb_flush(d.conn);
    if (xcb_connection_has_error(d.conn)) throw std::runtime_error("X connection to " + display + " failed");
    d.thread = std::thread([&d] { d.run(); });
}

X11ImageClipboard::~X11ImageClipboard() = default;

void X11ImageClipboard::set_image(std::string png) {
    auto& d = *impl_;
    std::lock_guard lk(d.mu);
    d.owned = std::move(png);
    d.own = true;
    xcb_set_selection_owner(d.conn, d.window, d.clipboard, XCB_CURRENT_TIME);
    // A round trip: once it returns the server has made us the owner, so a paste right after
    // (another program's request, on another connection) asks us, not the previous owner.
    std::free(xcb_get_selection_owner_reply(d.conn, xcb_get_selection_owner(d.conn, d.clipboard), nullptr));
}

std::optional<std::string> X11ImageClipboard::take() {
    std::lock_guard lk(impl_->mu);
    auto out = std::move(impl_->taken);
    impl_->taken.reset();
    return out;
}

}  // namespace portico::client

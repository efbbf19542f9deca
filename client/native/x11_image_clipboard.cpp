#include "client/native/x11_image_clipboard.hpp"

#include "common/log.hpp"
#include "protocol/display.hpp"
#include "x11/selection.hpp"

#include <poll.h>
#include <xcb/xcb.h>
#include <xcb/xfixes.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
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
    std::optional<x11::SelectionAtoms> atoms;
    xcb_atom_t property = 0;
    std::function<void()> changed;

    std::mutex mu;      // owned, taken, and the X requests set_image makes
    std::string owned;  // the image we serve while we own CLIPBOARD
    bool own = false;
    std::optional<std::string> taken;  // fetched, not yet take()n

    // The thread's fetch (only the thread touches these).
    std::optional<x11::SelectionTransfer> fetch;
    bool fetch_again = false;

    std::atomic<bool> stop{false};
    std::thread thread;

    ~Impl() {
        stop = true;
        if (thread.joinable()) thread.join();
        if (conn) xcb_disconnect(conn);
    }

    void start_fetch(xcb_atom_t target) {
        fetch.emplace(conn, window, atoms->clipboard, target, property, atoms->incr, kMaxImage);
    }

    void end_fetch() {
        fetch.reset();
        if (fetch_again) {  // the owner changed while we were asking the previous one
            fetch_again = false;
            start_fetch(atoms->targets);
        }
    }

    void finish_image() {
        std::string& data = fetch->data();
        if (data.size() > kMaxImage)
            log::warn("clipboard: the local image is larger than ", kMaxImage >> 20, " MiB; not sent to the session");
        else if (!protocol::looks_like_png(data))
            log::warn("clipboard: the local image/png is not a PNG file; not sent to the session");
        else {
            std::lock_guard lk(mu);
            taken = std::move(data);
            if (changed) changed();
        }
        end_fetch();
    }

    void on_targets(const std::string& list) {
        bool text = false, png = false;
        for (xcb_atom_t a : x11::atom_list(list)) {
            text = text || atoms->is_text(a);
            png = png || a == atoms->image_png;
        }
        if (png && !text)
            start_fetch(atoms->image_png);
        else
            end_fetch();  // text (SDL's clipboard API sends it) or nothing we carry
    }

    void on_done() {
        if (fetch->target() != atoms->targets) return finish_image();
        const std::string list = std::move(fetch->data());
        on_targets(list);
    }

    void on_selection_notify(const xcb_selection_notify_event_t* ev) {
        if (!fetch) return;
        switch (fetch->on_selection_notify(*ev)) {
            case x11::SelectionTransfer::Step::refused:
            case x11::SelectionTransfer::Step::failed: return end_fetch();
            case x11::SelectionTransfer::Step::incr:
                log::info("clipboard: the local image comes in pieces (INCR)");
                return;
            case x11::SelectionTransfer::Step::done: return on_done();
            default: return;
        }
    }

    void on_property_notify(const xcb_property_notify_event_t* ev) {
        if (fetch && fetch->on_property_notify(*ev) == x11::SelectionTransfer::Step::done) on_done();
    }

    void on_owner_change(const xcb_xfixes_selection_notify_event_t* ev) {
        // (Losing ownership is SelectionClear's to say: this event may predate a set_image.)
        if (ev->selection != atoms->clipboard) return;
        if (ev->owner == window || ev->owner == XCB_NONE) return;
        if (fetch && std::chrono::steady_clock::now() - fetch->started() < kFetchTimeout) {
            fetch_again = true;
            return;
        }
        start_fetch(atoms->targets);
    }

    void on_selection_request(const xcb_selection_request_event_t* ev) {
        const auto& a = *atoms;
        x11::SelectionReply reply(conn, *ev);
        std::lock_guard lk(mu);
        if (own && ev->selection == a.clipboard) {
            if (ev->target == a.targets)
                reply.atoms({a.targets, a.image_png, a.timestamp});
            else if (ev->target == a.image_png)
                reply.bytes(a.image_png, owned);
            else if (ev->target == a.timestamp)
                reply.timestamp();
        }
        reply.send();
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
    d.atoms.emplace(d.conn);
    d.property = x11::intern_atom(d.conn, "PORTICO_IMAGE");
    d.window = x11::create_selection_window(d.conn, it.data->root, {d.atoms->clipboard});
    if (xcb_connection_has_error(d.conn)) throw std::runtime_error("X connection to " + display + " failed");
    d.thread = std::thread([&d] { d.run(); });
}

X11ImageClipboard::~X11ImageClipboard() = default;

void X11ImageClipboard::set_image(std::string png) {
    auto& d = *impl_;
    std::lock_guard lk(d.mu);
    d.owned = std::move(png);
    d.own = true;
    x11::take_ownership(d.conn, d.window, {d.atoms->clipboard});
}

std::optional<std::string> X11ImageClipboard::take() {
    std::lock_guard lk(impl_->mu);
    auto out = std::move(impl_->taken);
    impl_->taken.reset();
    return out;
}

}  // namespace portico::client

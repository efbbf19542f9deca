#include "session-host/x11/clipboard_bridge.hpp"

#include "capture/x11/x11_connection.hpp"
#include "common/log.hpp"
#include "protocol/display.hpp"
#include "x11/selection.hpp"

#include <xcb/xcb.h>
#include <xcb/xfixes.h>

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <stdexcept>

namespace portico::host {

namespace {

std::string latin1_to_utf8(const std::string& in) {
    std::string out;
    out.reserve(in.size());
    for (unsigned char c : in) {
        if (c < 0x80) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back(static_cast<char>(0xc0 | (c >> 6)));
            out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
        }
    }
    return out;
}

// STRING is Latin-1 by definition; characters beyond it become '?'.
std::string utf8_to_latin1(const std::string& in) {
    std::string out;
    for (std::size_t i = 0; i < in.size();) {
        auto c = static_cast<unsigned char>(in[i]);
        int n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : 3;
        std::uint32_t cp = n == 0 ? c : n == 1 ? (c & 0x1f) : n == 2 ? (c & 0x0f) : (c & 0x07);
        for (int k = 1; k <= n && i + static_cast<std::size_t>(k) < in.size(); ++k)
            cp = (cp << 6) | (static_cast<unsigned char>(in[i + static_cast<std::size_t>(k)]) & 0x3f);
        out.push_back(cp <= 0xff ? static_cast<char>(cp) : '?');
        i += static_cast<std::size_t>(n) + 1;
    }
    return out;
}

// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
void cut_utf8(std::string& s, std::size_t max) {
    if (s.size() <= max) return;
    std::size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;
    s.resize(n);
}

// Apps put invalid bytes on the clipboard now and then; the protocol carries valid UTF-8 only.
std::string sanitize_utf8(const std::string& in) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size();) {
        auto c = static_cast<unsigned char>(in[i]);
        int n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
        bool ok = n >= 0 && i + static_cast<std::size_t>(n) < in.size();
        std::uint32_t cp = 0;
        if (ok) {
            cp = n == 0 ? c : n == 1 ? (c & 0x1f) : n == 2 ? (c & 0x0f) : (c & 0x07);
            for (int k = 1; k <= n && ok; ++k) {
                auto cc = static_cast<unsigned char>(in[i + static_cast<std::size_t>(k)]);
                ok = (cc & 0xc0) == 0x80;
                cp = (cp << 6) | (cc & 0x3f);
            }
            static constexpr std::uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
            ok = ok && cp >= kMin[n] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
        }
        if (!ok) {
            out += "\xef\xbf\xbd";  // U+FFFD
            ++i;
            continue;
        }
        out.append(in, i, static_cast<std::size_t>(n) + 1);
        i += static_cast<std::size_t>(n) + 1;
    }
    return out;
}

}  // namespace

struct ClipboardBridge::Impl {
    std::mutex mu;
    xcb_connection_t* conn = nullptr;
    xcb_window_t window = 0;
    std::uint8_t xfixes_event = 0;
    std::optional<x11::SelectionAtoms> atoms;
    xcb_atom_t primary = XCB_ATOM_PRIMARY, prop_clipboard = 0, prop_primary = 0;

    std::string owned;      // the text we serve while we own the selections
    std::string owned_png;  // non-empty: CLIPBOARD holds this image instead of `owned`
    std::string last;       // the last text either way (set_text or fetched): suppresses echoes
    std::string last_png;   // the same for images
    bool own_clipboard = false, own_primary = false;

    // One conversion at a time; a newer owner change replaces it.
    std::optional<x11::SelectionTransfer> fetch;
    std::optional<xcb_atom_t> fetch_next;  // an owner change seen while a fetch was running

    ~Impl() {
        if (conn) xcb_disconnect(conn);
    }

    // CLIPBOARD may hold an image: ask what the owner offers first. PRIMARY is a text selection.
    void start_fetch(xcb_atom_t selection) {
        start_fetch(selection, selection == atoms->clipboard ? atoms->targets : atoms->utf8);
    }

    void start_fetch(xcb_atom_t selection, xcb_atom_t target) {
        // Text is cut to kMaxText later; the +3 keeps a last character whole for the cut to see.
        const std::size_t max_bytes = target == atoms->image_png ? kMaxImage : kMaxText + 3;
        fetch.emplace(conn, window, selection, target, selection == atoms->clipboard ? prop_clipboard : prop_primary,
                      atoms->incr, max_bytes);
    }

    // The fetch is over (done or failed): start the one an owner change queued meanwhile.
    void end_fetch() {
        fetch.reset();
        if (fetch_next) {
            start_fetch(*fetch_next);
            fetch_next.reset();
        }
    }

    std::optional<Copied> finish_fetch() {
        if (fetch->target() == atoms->targets) {
            const xcb_atom_t selection = fetch->selection();
            const std::string list = std::move(fetch->data());
            on_targets(selection, list);  // replaces the fetch
            return std::nullopt;
        }
        const xcb_atom_t target = fetch->target();
        std::string data = std::move(fetch->data());
        end_fetch();
        if (target == atoms->image_png) {
            if (data.size() > kMaxImage) {
                log::warn("clipboard: an app copied an image larger than ", kMaxImage >> 20, " MiB; not sent");
                return std::nullopt;
            }
            if (!protocol::looks_like_png(data)) {
                log::warn("clipboard: an app offered image/png that is not a PNG file; not sent");
                return std::nullopt;
            }
            if (data == last_png) return std::nullopt;
            last_png = data;
            return Copied{std::move(data), true};
        }
        std::string t = target == XCB_ATOM_STRING ? latin1_to_utf8(data) : sanitize_utf8(data);
        cut_utf8(t, kMaxText);
        if (t.empty() || t == last) return std::nullopt;
        last = t;
        return Copied{std::move(t), false};
    }

    // The owner's TARGETS: image/png only when it offers no text (see the header).
    void on_targets(xcb_atom_t selection, const std::string& list) {
        bool text_offered = false, png_offered = false;
        for (xcb_atom_t a : x11::atom_list(list)) {
            text_offered = text_offered || atoms->is_text(a);
            png_offered = png_offered || a == atoms->image_png;
        }
        start_fetch(selection, png_offered && !text_offered ? atoms->image_png : atoms->utf8);
    }

    std::optional<Copied> on_selection_notify(const xcb_selection_notify_event_t* ev) {
        if (!fetch) return std::nullopt;
        switch (fetch->on_selection_notify(*ev)) {
            case x11::SelectionTransfer::Step::refused:
                // An owner without TARGETS may still give text; one without UTF8_STRING may still
                // speak STRING (old clients).
                if (fetch->target() == atoms->targets)
                    start_fetch(fetch->selection(), atoms->utf8);
                else if (fetch->target() == atoms->utf8)
                    start_fetch(fetch->selection(), XCB_ATOM_STRING);
                else
                    end_fetch();
                return std::nullopt;
            case x11::SelectionTransfer::Step::failed: end_fetch(); return std::nullopt;
            case x11::SelectionTransfer::Step::incr:
                log::info("clipboard: an app sends its ", fetch->target() == atoms->image_png ? "image" : "text",
                          " in pieces (INCR)");
                return std::nullopt;
            case x11::SelectionTransfer::Step::done: return finish_fetch();
            default: return std::nullopt;
        }
    }

    std::optional<Copied> on_property_notify(const xcb_property_notify_event_t* ev) {
        if (!fetch || fetch->on_property_notify(*ev) != x11::SelectionTransfer::Step::done) return std::nullopt;
        return finish_fetch();
    }

    void on_owner_change(const xcb_xfixes_selection_notify_event_t* ev) {
        if (ev->owner == window || ev->owner == XCB_NONE) return;
        if (ev->selection == atoms->clipboard) own_clipboard = false;
        if (ev->selection == primary) own_primary = false;
        if (fetch && std::chrono::steady_clock::now() - fetch->started() < std::chrono::seconds(2)) {
            fetch_next = ev->selection;
            return;
        }
        start_fetch(ev->selection);  // a stuck fetch (owner never answered) is abandoned
    }

    void on_selection_request(const xcb_selection_request_event_t* ev) {
        const auto& a = *atoms;
        x11::SelectionReply reply(conn, *ev);
        const bool owned_selection =
            (ev->selection == a.clipboard && own_clipboard) || (ev->selection == primary && own_primary);
        if (owned_selection && ev->target == a.timestamp) {
            reply.timestamp();
        } else if (owned_selection && ev->selection == a.clipboard && !owned_png.empty()) {
            if (ev->target == a.targets)
                reply.atoms({a.targets, a.image_png, a.timestamp});
            else if (ev->target == a.image_png && !reply.bytes(a.image_png, owned_png))
                log::warn("clipboard: the image (", owned_png.size(), " bytes) exceeds the X server's request size");
        } else if (owned_selection) {
            if (ev->target == a.targets)
                reply.atoms({a.targets, a.utf8, a.text, a.text_plain, XCB_ATOM_STRING, a.timestamp});
            else if (ev->target == a.utf8 || ev->target == a.text || ev->target == a.text_plain)
                reply.bytes(a.utf8, owned);
            else if (ev->target == XCB_ATOM_STRING)
                reply.bytes(XCB_ATOM_STRING, utf8_to_latin1(owned));
        }
        reply.send();
    }
};

ClipboardBridge::ClipboardBridge(const std::string& display, const std::string& xauthority)
    : impl_(std::make_unique<Impl>()) {
    auto& d = *impl_;
    int screen_number = 0;
    d.conn = capture::connect_x11(display, xauthority, &screen_number);
    d.xfixes_event = capture::init_xfixes(d.conn, display);
    const xcb_window_t root = capture::screen_of(d.conn, screen_number, display).root;
    d.atoms.emplace(d.conn);
    d.prop_clipboard = x11::intern_atom(d.conn, "PORTICO_CLIPBOARD");
    d.prop_primary = x11::intern_atom(d.conn, "PORTICO_PRIMARY");
    d.window = x11::create_selection_window(d.conn, root, {d.atoms->clipboard, d.primary});
    if (xcb_connection_has_error(d.conn)) throw std::runtime_error("X connection to " + display + " failed");
}

ClipboardBridge::~ClipboardBridge() = default;

void ClipboardBridge::set_text(std::string text) {
    cut_utf8(text, kMaxText);
    std::lock_guard lk(impl_->mu);
    auto& d = *impl_;
    if (xcb_connection_has_error(d.conn)) return;
    d.owned = std::move(text);
    d.owned_png.clear();
    d.last = d.owned;
    // Waits until the server has made us the owner: the client's next message is often the paste
    // keystroke, injected over another connection, and the app must not ask an old owner (or none).
    x11::take_ownership(d.conn, d.window, {d.atoms->clipboard, d.primary});
    d.own_clipboard = d.own_primary = true;
}

void ClipboardBridge::set_image(std::string png) {
    if (png.empty() || png.size() > kMaxImage) return;
    std::lock_guard lk(impl_->mu);
    auto& d = *impl_;
    if (xcb_connection_has_error(d.conn)) return;
    d.owned_png = std::move(png);
    d.last_png = d.owned_png;
    x11::take_ownership(d.conn, d.window, {d.atoms->clipboard});
    d.own_clipboard = true;
}

std::optional<ClipboardBridge::Copied> ClipboardBridge::poll() {
    std::lock_guard lk(impl_->mu);
    auto& d = *impl_;
    if (xcb_connection_has_error(d.conn)) return std::nullopt;
    std::optional<Copied> copied;
    while (xcb_generic_event_t* ev = xcb_poll_for_event(d.conn)) {
        std::uint8_t type = ev->response_type & 0x7f;
        std::optional<Copied> got;
        if (type == d.xfixes_event + XCB_XFIXES_SELECTION_NOTIFY)
            d.on_owner_change(reinterpret_cast<xcb_xfixes_selection_notify_event_t*>(ev));
        else if (type == XCB_SELECTION_NOTIFY)
            got = d.on_selection_notify(reinterpret_cast<xcb_selection_notify_event_t*>(ev));
        else if (type == XCB_PROPERTY_NOTIFY)
            got = d.on_property_notify(reinterpret_cast<xcb_property_notify_event_t*>(ev));
        else if (type == XCB_SELECTION_REQUEST)
            d.on_selection_request(reinterpret_cast<xcb_selection_request_event_t*>(ev));
        else if (type == XCB_SELECTION_CLEAR) {
            auto* c = reinterpret_cast<xcb_selection_clear_event_t*>(ev);
            if (c->selection == d.atoms->clipboard) d.own_clipboard = false;
            if (c->selection == d.primary) d.own_primary = false;
        }
        std::free(ev);
        if (got) copied = std::move(got);
    }
    xcb_flush(d.conn);
    return copied;
}

}  // namespace portico::host

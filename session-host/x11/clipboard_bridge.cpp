#include "session-host/x11/clipboard_bridge.hpp"

#include "capture/x11/x11_connection.hpp"
#include "common/log.hpp"
#include "protocol/display.hpp"

#include <xcb/xcb.h>
#include <xcb/xfixes.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <vector>

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
    xcb_atom_t clipboard = 0, primary = XCB_ATOM_PRIMARY, utf8 = 0, text = 0, targets = 0, incr = 0, timestamp = 0;
    xcb_atom_t prop_clipboard = 0, prop_primary = 0, text_plain = 0, image_png = 0;
    std::size_t max_request_bytes = 0;  // what one ChangeProperty may carry on this connection

    std::string owned;      // the text we serve while we own the selections
    std::string owned_png;  // non-empty: CLIPBOARD holds this image instead of `owned`
    std::string last;       // the last text either way (set_text or fetched): suppresses echoes
    std::string last_png;   // the same for images
    bool own_clipboard = false, own_primary = false;

    // One conversion at a time; a newer owner change replaces it.
    struct Fetch {
        xcb_atom_t selection = 0, target = 0, property = 0;
        bool incr = false;
        std::string data;
        std::chrono::steady_clock::time_point started;
    };
    std::optional<Fetch> fetch;
    std::optional<xcb_atom_t> fetch_next;  // an owner change seen while a fetch was running

    ~Impl() {
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

    xcb_atom_t property_for(xcb_atom_t selection) const {
        return selection == clipboard ? prop_clipboard : prop_primary;
    }

    // CLIPBOARD may hold an image: ask what the owner offers first. PRIMARY is a text selection.
    void start_fetch(xcb_atom_t selection) { start_fetch(selection, selection == clipboard ? targets : utf8); }

    void start_fetch(xcb_atom_t selection, xcb_atom_t target) {
        Fetch f;
        f.selection = selection;
        f.target = target;
        f.property = property_for(selection);
        f.started = std::chrono::steady_clock::now();
        xcb_delete_property(conn, window, f.property);
        xcb_convert_selection(conn, window, selection, target, f.property, XCB_CURRENT_TIME);
        fetch = std::move(f);
    }

    // Reads and deletes our property; nullopt if it is missing.
    std::optional<std::pair<xcb_atom_t, std::string>> take_property(xcb_atom_t property) {
        constexpr std::uint32_t kMaxWords = (kMaxImage + 4096) / 4;
        auto* r = xcb_get_property_reply(
            conn, xcb_get_property(conn, 1, window, property, XCB_GET_PROPERTY_TYPE_ANY, 0, kMaxWords), nullptr);
        if (!r) return std::nullopt;
        std::pair<xcb_atom_t, std::string> out{r->type, {}};
        if (r->type != XCB_NONE) {
            int len = xcb_get_property_value_length(r);
            auto* p = static_cast<const char*>(xcb_get_property_value(r));
            if (len > 0) out.second.assign(p, static_cast<std::size_t>(len));
        }
        bool missing = r->type == XCB_NONE;
        std::free(r);
        if (missing) return std::nullopt;
        return out;
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
        Fetch f = std::move(*fetch);
        end_fetch();
        if (f.target == image_png) {
            if (f.data.size() > kMaxImage) {
                log::warn("clipboard: an app copied an image larger than ", kMaxImage >> 20, " MiB; not sent");
                return std::nullopt;
            }
            if (!protocol::looks_like_png(f.data)) {
                log::warn("clipboard: an app offered image/png that is not a PNG file; not sent");
                return std::nullopt;
            }
            if (f.data == last_png) return std::nullopt;
            last_png = f.data;
            return Copied{std::move(f.data), true};
        }
        std::string t = f.target == XCB_ATOM_STRING ? latin1_to_utf8(f.data) : sanitize_utf8(f.data);
        cut_utf8(t, kMaxText);
        if (t.empty() || t == last) return std::nullopt;
        last = t;
        return Copied{std::move(t), false};
    }

    // The owner's TARGETS: image/png only when it offers no text (see the header).
    void on_targets(xcb_atom_t selection, const std::string& list) {
        bool text_offered = false, png_offered = false;
        for (std::size_t i = 0; i + 4 <= list.size(); i += 4) {
            xcb_atom_t a;
            std::memcpy(&a, list.data() + i, 4);
            text_offered = text_offered || a == utf8 || a == XCB_ATOM_STRING || a == text || a == text_plain;
            png_offered = png_offered || a == image_png;
        }
        start_fetch(selection, png_offered && !text_offered ? image_png : utf8);
    }

    std::optional<Copied> on_selection_notify(const xcb_selection_notify_event_t* ev) {
        if (!fetch || ev->requestor != window || ev->selection != fetch->selection) return std::nullopt;
        if (ev->property == XCB_NONE) {
            // An owner without TARGETS may still give text; one without UTF8_STRING may still
            // speak STRING (old clients).
            if (fetch->target == targets)
                start_fetch(fetch->selection, utf8);
            else if (fetch->target == utf8)
                start_fetch(fetch->selection, XCB_ATOM_STRING);
            else
                end_fetch();
            return std::nullopt;
        }
        auto p = take_property(fetch->property);
        if (!p) {
            end_fetch();
            return std::nullopt;
        }
        if (p->first == incr) {
            // The owner sends the text in pieces, each written after we delete the last one
            // (take_property deleted the INCR marker, which starts the transfer).
            fetch->incr = true;
            log::info("clipboard: an app sends its ", fetch->target == image_png ? "image" : "text",
                      " in pieces (INCR)");
            xcb_flush(conn);
            return std::nullopt;
        }
        if (fetch->target == targets) {
            on_targets(fetch->selection, p->second);
            xcb_flush(conn);
            return std::nullopt;
        }
        fetch->data = std::move(p->second);
        return finish_fetch();
    }

    std::optional<Copied> on_property_notify(const xcb_property_notify_event_t* ev) {
        if (!fetch || !fetch->incr || ev->window != window || ev->atom != fetch->property ||
            ev->state != XCB_PROPERTY_NEW_VALUE)
            return std::nullopt;
        auto p = take_property(fetch->property);
        if (!p) return std::nullopt;
        if (p->second.empty()) return finish_fetch();  // a zero-length piece ends the transfer
        // Keep reading but drop the excess: cut text still pastes; an image that long is refused.
        const std::size_t keep = fetch->target == image_png ? kMaxImage + 1 : kMaxText + 4;
        if (fetch->data.size() < keep) fetch->data += p->second;
        xcb_flush(conn);
        return std::nullopt;
    }

    void on_owner_change(const xcb_xfixes_selection_notify_event_t* ev) {
        if (ev->owner == window || ev->owner == XCB_NONE) return;
        if (ev->selection == clipboard) own_clipboard = false;
        if (ev->selection == primary) own_primary = false;
        if (fetch && std::chrono::steady_clock::now() - fetch->started < std::chrono::seconds(2)) {
            fetch_next = ev->selection;
            return;
        }
        start_fetch(ev->selection);  // a stuck fetch (owner never answered) is abandoned
    }

    void on_selection_request(const xcb_selection_request_event_t* ev) {
        xcb_selection_notify_event_t reply{};
        reply.response_type = XCB_SELECTION_NOTIFY;
        reply.time = ev->time;
        reply.requestor = ev->requestor;
        reply.selection = ev->selection;
        reply.target = ev->target;
        reply.property = XCB_NONE;
        xcb_atom_t property = ev->property == XCB_NONE ? ev->target : ev->property;  // obsolete clients
        bool owned_selection =
            (ev->selection == clipboard && own_clipboard) || (ev->selection == primary && own_primary);
        if (owned_selection && ev->selection == clipboard && !owned_png.empty()) {
            if (ev->target == targets) {
                xcb_atom_t list[] = {targets, image_png, timestamp};
                xcb_change_property(conn, XCB_PROP_MODE_REPLACE, ev->requestor, property, XCB_ATOM_ATOM, 32,
                                    sizeof(list) / sizeof(list[0]), list);
                reply.property = property;
            } else if (ev->target == image_png) {
                // One ChangeProperty: Xvfb's BIG-REQUESTS takes 16 MiB, twice the largest image.
                if (owned_png.size() + 64 <= max_request_bytes) {
                    xcb_change_property(conn, XCB_PROP_MODE_REPLACE, ev->requestor, property, image_png, 8,
                                        static_cast<std::uint32_t>(owned_png.size()), owned_png.data());
                    reply.property = property;
                } else {
                    log::warn("clipboard: the image (", owned_png.size(),
                              " bytes) exceeds the X server's request size");
                }
            } else if (ev->target == timestamp) {
                std::uint32_t t = XCB_CURRENT_TIME;
                xcb_change_property(conn, XCB_PROP_MODE_REPLACE, ev->requestor, property, XCB_ATOM_INTEGER, 32, 1, &t);
                reply.property = property;
            }
        } else if (owned_selection) {
            if (ev->target == targets) {
                xcb_atom_t list[] = {targets, utf8, text, text_plain, XCB_ATOM_STRING, timestamp};
                xcb_change_property(conn, XCB_PROP_MODE_REPLACE, ev->requestor, property, XCB_ATOM_ATOM, 32,
                                    sizeof(list) / sizeof(list[0]), list);
                reply.property = property;
            } else if (ev->target == utf8 || ev->target == text || ev->target == text_plain) {
                xcb_change_property(conn, XCB_PROP_MODE_REPLACE, ev->requestor, property, utf8, 8,
                                    static_cast<std::uint32_t>(owned.size()), owned.data());
                reply.property = property;
            } else if (ev->target == XCB_ATOM_STRING) {
                std::string l1 = utf8_to_latin1(owned);
                xcb_change_property(conn, XCB_PROP_MODE_REPLACE, ev->requestor, property, XCB_ATOM_STRING, 8,
                                    static_cast<std::uint32_t>(l1.size()), l1.data());
                reply.property = property;
            } else if (ev->target == timestamp) {
                std::uint32_t t = XCB_CURRENT_TIME;
                xcb_change_property(conn, XCB_PROP_MODE_REPLACE, ev->requestor, property, XCB_ATOM_INTEGER, 32, 1, &t);
                reply.property = property;
            }
        }
        xcb_send_event(conn, 0, ev->requestor, XCB_EVENT_MASK_NO_EVENT, reinterpret_cast<const char*>(&reply));
        xcb_flush(conn);
    }
};

ClipboardBridge::ClipboardBridge(const std::string& display, const std::string& xauthority)
    : impl_(std::make_unique<Impl>()) {
    auto& d = *impl_;
    int screen_number = 0;
    d.conn = capture::connect_x11(display, xauthority, &screen_number);
    d.xfixes_event = capture::init_xfixes(d.conn, display);
    const xcb_window_t root = capture::screen_of(d.conn, screen_number, display).root;
    d.window = xcb_generate_id(d.conn);
    std::uint32_t mask = XCB_EVENT_MASK_PROPERTY_CHANGE;
    xcb_create_window(d.conn, XCB_COPY_FROM_PARENT, d.window, root, -10, -10, 1, 1, 0, XCB_WINDOW_CLASS_INPUT_ONLY,
                      XCB_COPY_FROM_PARENT, XCB_CW_EVENT_MASK, &mask);
    d.clipboard = d.atom("CLIPBOARD");
    d.utf8 = d.atom("UTF8_STRING");
    d.text = d.atom("TEXT");
    d.text_plain = d.atom("text/plain;charset=utf-8");
    d.targets = d.atom("TARGETS");
    d.incr = d.atom("INCR");
    d.timestamp = d.atom("TIMESTAMP");
    d.prop_clipboard = d.atom("PORTICO_CLIPBOARD");
    d.prop_primary = d.atom("PORTICO_PRIMARY");
    d.image_png = d.atom("image/png");
    d.max_request_bytes = std::size_t{xcb_get_maximum_request_length(d.conn)} * 4;
    for (xcb_atom_t sel : {d.clipboard, d.primary})
        xcb_xfixes_select_selection_input(d.conn, d.window, sel, XCB_XFIXES_SELECTION_EVENT_MASK_SET_SELECTION_OWNER);
    xcb_flush(d.conn);
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
    for (xcb_atom_t sel : {d.clipboard, d.primary}) xcb_set_selection_owner(d.conn, d.window, sel, XCB_CURRENT_TIME);
    d.own_clipboard = d.own_primary = true;
    // Wait until the server has made us the owner: the client's next message is often the paste
    // keystroke, injected over another connection, and the app must not ask an old owner (or none).
    std::free(xcb_get_selection_owner_reply(d.conn, xcb_get_selection_owner(d.conn, d.primary), nullptr));
}

void ClipboardBridge::set_image(std::string png) {
    if (png.empty() || png.size() > kMaxImage) return;
    std::lock_guard lk(impl_->mu);
    auto& d = *impl_;
    if (xcb_connection_has_error(d.conn)) return;
    d.owned_png = std::move(png);
    d.last_png = d.owned_png;
    xcb_set_selection_owner(d.conn, d.window, d.clipboard, XCB_CURRENT_TIME);
    d.own_clipboard = true;
    std::free(xcb_get_selection_owner_reply(d.conn, xcb_get_selection_owner(d.conn, d.clipboard), nullptr));
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
            if (c->selection == d.clipboard) d.own_clipboard = false;
            if (c->selection == d.primary) d.own_primary = false;
        }
        std::free(ev);
        if (got) copied = std::move(got);
    }
    xcb_flush(d.conn);
    return copied;
}

}  // namespace portico::host

#include "x11/selection.hpp"

#include <xcb/xfixes.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace portico::x11 {

xcb_atom_t intern_atom(xcb_connection_t* conn, const char* name) {
    auto* r = xcb_intern_atom_reply(conn, xcb_intern_atom(conn, 0, static_cast<std::uint16_t>(std::strlen(name)), name),
                                    nullptr);
    if (!r) throw std::runtime_error(std::string("cannot intern X atom ") + name);
    xcb_atom_t a = r->atom;
    std::free(r);
    return a;
}

SelectionAtoms::SelectionAtoms(xcb_connection_t* conn)
    : clipboard(intern_atom(conn, "CLIPBOARD")),
      targets(intern_atom(conn, "TARGETS")),
      incr(intern_atom(conn, "INCR")),
      timestamp(intern_atom(conn, "TIMESTAMP")),
      utf8(intern_atom(conn, "UTF8_STRING")),
      text(intern_atom(conn, "TEXT")),
      text_plain(intern_atom(conn, "text/plain;charset=utf-8")),
      image_png(intern_atom(conn, "image/png")) {}

bool SelectionAtoms::is_text(xcb_atom_t target) const {
    return target == utf8 || target == XCB_ATOM_STRING || target == text || target == text_plain;
}

xcb_window_t create_selection_window(xcb_connection_t* conn, xcb_window_t root,
                                     std::initializer_list<xcb_atom_t> watched) {
    const xcb_window_t window = xcb_generate_id(conn);
    const std::uint32_t mask = XCB_EVENT_MASK_PROPERTY_CHANGE;
    xcb_create_window(conn, XCB_COPY_FROM_PARENT, window, root, -10, -10, 1, 1, 0, XCB_WINDOW_CLASS_INPUT_ONLY,
                      XCB_COPY_FROM_PARENT, XCB_CW_EVENT_MASK, &mask);
    for (xcb_atom_t selection : watched)
        xcb_xfixes_select_selection_input(conn, window, selection, XCB_XFIXES_SELECTION_EVENT_MASK_SET_SELECTION_OWNER);
    xcb_flush(conn);
    return window;
}

void take_ownership(xcb_connection_t* conn, xcb_window_t window, std::initializer_list<xcb_atom_t> selections) {
    for (xcb_atom_t selection : selections) xcb_set_selection_owner(conn, window, selection, XCB_CURRENT_TIME);
    // Any round trip would do: the server handles one connection's requests in order.
    std::free(xcb_get_selection_owner_reply(conn, xcb_get_selection_owner(conn, *selections.begin()), nullptr));
}

std::vector<xcb_atom_t> atom_list(std::string_view property_data) {
    std::vector<xcb_atom_t> out(property_data.size() / 4);
    if (!out.empty()) std::memcpy(out.data(), property_data.data(), out.size() * 4);
    return out;
}

SelectionReply::SelectionReply(xcb_connection_t* conn, const xcb_selection_request_event_t& request)
    : conn_(conn), property_(request.property == XCB_NONE ? request.target : request.property) {
    notify_.response_type = XCB_SELECTION_NOTIFY;
    notify_.time = request.time;
    notify_.requestor = request.requestor;
    notify_.selection = request.selection;
    notify_.target = request.target;
    notify_.property = XCB_NONE;
}

void SelectionReply::atoms(std::initializer_list<xcb_atom_t> list) {
    xcb_change_property(conn_, XCB_PROP_MODE_REPLACE, notify_.requestor, property_, XCB_ATOM_ATOM, 32,
                        static_cast<std::uint32_t>(list.size()), list.begin());
    notify_.property = property_;
}

void SelectionReply::timestamp() {
    const std::uint32_t t = XCB_CURRENT_TIME;
    xcb_change_property(conn_, XCB_PROP_MODE_REPLACE, notify_.requestor, property_, XCB_ATOM_INTEGER, 32, 1, &t);
    notify_.property = property_;
}

bool SelectionReply::bytes(xcb_atom_t type, std::string_view data) {
    // 64: the ChangeProperty header with room to spare. Xvfb's BIG-REQUESTS takes 16 MiB.
    const std::size_t max_request_bytes = std::size_t{xcb_get_maximum_request_length(conn_)} * 4;
    if (data.size() + 64 > max_request_bytes) return false;
    xcb_change_property(conn_, XCB_PROP_MODE_REPLACE, notify_.requestor, property_, type, 8,
                        static_cast<std::uint32_t>(data.size()), data.data());
    notify_.property = property_;
    return true;
}

void SelectionReply::send() {
    xcb_send_event(conn_, 0, notify_.requestor, XCB_EVENT_MASK_NO_EVENT, reinterpret_cast<const char*>(&notify_));
    xcb_flush(conn_);
}

SelectionTransfer::SelectionTransfer(xcb_connection_t* conn, xcb_window_t window, xcb_atom_t selection,
                                     xcb_atom_t target, xcb_atom_t property, xcb_atom_t incr_atom,
                                     std::size_t max_bytes)
    : conn_(conn),
      window_(window),
      selection_(selection),
      target_(target),
      property_(property),
      incr_atom_(incr_atom),
      max_bytes_(max_bytes),
      started_(std::chrono::steady_clock::now()) {
    xcb_delete_property(conn_, window_, property_);
    xcb_convert_selection(conn_, window_, selection_, target_, property_, XCB_CURRENT_TIME);
    xcb_flush(conn_);
}

std::optional<std::string> SelectionTransfer::take_property(xcb_atom_t* type) {
    const auto max_words = static_cast<std::uint32_t>((max_bytes_ + 4096) / 4);
    auto* r = xcb_get_property_reply(
        conn_, xcb_get_property(conn_, 1, window_, property_, XCB_GET_PROPERTY_TYPE_ANY, 0, max_words), nullptr);
    if (!r) return std::nullopt;
    std::optional<std::string> out;
    if (r->type != XCB_NONE) {
        const int len = xcb_get_property_value_length(r);
        out.emplace(static_cast<const char*>(xcb_get_property_value(r)), static_cast<std::size_t>(len > 0 ? len : 0));
        *type = r->type;
    }
    std::free(r);
    return out;
}

SelectionTransfer::Step SelectionTransfer::on_selection_notify(const xcb_selection_notify_event_t& ev) {
    if (ev.requestor != window_ || ev.selection != selection_) return Step::ignored;
    if (ev.property == XCB_NONE) return Step::refused;
    xcb_atom_t type = XCB_NONE;
    auto value = take_property(&type);
    if (!value) return Step::failed;
    if (type == incr_atom_) {
        // Deleting the INCR marker (take_property did) starts the transfer.
        incr_ = true;
        return Step::incr;
    }
    data_ = std::move(*value);
    return Step::done;
}

SelectionTransfer::Step SelectionTransfer::on_property_notify(const xcb_property_notify_event_t& ev) {
    if (!incr_ || ev.window != window_ || ev.atom != property_ || ev.state != XCB_PROPERTY_NEW_VALUE)
        return Step::ignored;
    xcb_atom_t type = XCB_NONE;
    auto piece = take_property(&type);
    if (!piece) return Step::pending;
    if (piece->empty()) return Step::done;  // a zero-length piece ends the transfer
    if (data_.size() <= max_bytes_) data_ += *piece;
    return Step::pending;
}

}  // namespace portico::x11

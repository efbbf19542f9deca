#pragma once
// The X selection protocol (ICCCM section 2) over XCB, shared by the session host's ClipboardBridge
// and the native client's X11ImageClipboard. Only the protocol: which selections to own or watch,
// which targets to offer or prefer, size limits and logging are the callers' policy. Not
// thread-safe; each caller serialises its use of the connection.

#include <xcb/xcb.h>

#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portico::x11 {

// Interns `name`; throws std::runtime_error when the server does not answer.
xcb_atom_t intern_atom(xcb_connection_t* conn, const char* name);

// The atoms a clipboard speaks, interned once.
struct SelectionAtoms {
    explicit SelectionAtoms(xcb_connection_t* conn);
    xcb_atom_t clipboard, targets, incr, timestamp, utf8, text, text_plain, image_png;
    // The targets that carry text: UTF8_STRING, STRING, TEXT and text/plain;charset=utf-8.
    bool is_text(xcb_atom_t target) const;
};

// An unmapped InputOnly window on `root` that receives PropertyNotify (INCR pieces arrive that way)
// and XFIXES SelectionNotify when another client takes one of `watched`. XFIXES must have been
// initialised on the connection (its first event code tells the caller which events are its).
xcb_window_t create_selection_window(xcb_connection_t* conn, xcb_window_t root,
                                     std::initializer_list<xcb_atom_t> watched);

// Makes `window` the owner of `selections` and waits until the server has done so: a paste right
// after (another client's request, on another connection) must ask us, not the previous owner.
void take_ownership(xcb_connection_t* conn, xcb_window_t window, std::initializer_list<xcb_atom_t> selections);

// The atoms of a TARGETS reply (format 32 items in the server's byte order).
std::vector<xcb_atom_t> atom_list(std::string_view property_data);

// The answer to one SelectionRequest. Each setter writes the requestor's property (the request's,
// or the target itself for an obsolete client that named none); send() then tells the requestor
// with SelectionNotify, a refusal (property None) when nothing was written.
class SelectionReply {
public:
    SelectionReply(xcb_connection_t* conn, const xcb_selection_request_event_t& request);
    // A list of atoms (the TARGETS answer).
    void atoms(std::initializer_list<xcb_atom_t> list);
    // TIMESTAMP: when we took the selection; we always take it at CurrentTime.
    void timestamp();
    // 8-bit data of type `type`. Written in one ChangeProperty (no INCR): returns false, leaving
    // the reply a refusal, when it does not fit the server's maximum request length.
    bool bytes(xcb_atom_t type, std::string_view data);
    void send();

private:
    xcb_connection_t* conn_;
    xcb_selection_notify_event_t notify_{};
    xcb_atom_t property_;
};

// One conversion of a selection's owner data into a property of our window, read in one piece or,
// when the owner answers INCR, as the pieces it writes each time we delete the property. Feed it
// the window's SelectionNotify and PropertyNotify events; each says how far the transfer is.
class SelectionTransfer {
public:
    enum class Step {
        ignored,  // not this transfer's event
        pending,  // an INCR piece was read (or skipped); more follow
        incr,     // the owner starts an INCR transfer
        refused,  // the owner cannot convert to this target
        failed,   // the property was missing
        done,     // data() holds the value
    };
    // Deletes `property` and asks for the conversion. An INCR transfer keeps appending while data()
    // holds at most `max_bytes` (after that it reads on and drops), so data().size() > max_bytes
    // says the owner sent more; a value in one piece is read up to max_bytes + 4 KiB.
    SelectionTransfer(xcb_connection_t* conn, xcb_window_t window, xcb_atom_t selection, xcb_atom_t target,
                      xcb_atom_t property, xcb_atom_t incr_atom, std::size_t max_bytes);

    Step on_selection_notify(const xcb_selection_notify_event_t& ev);
    Step on_property_notify(const xcb_property_notify_event_t& ev);

    xcb_atom_t selection() const { return selection_; }
    xcb_atom_t target() const { return target_; }
    std::chrono::steady_clock::time_point started() const { return started_; }
    std::string& data() { return data_; }

private:
    // Reads and deletes the property (deleting asks an INCR owner for its next piece).
    std::optional<std::string> take_property(xcb_atom_t* type);

    xcb_connection_t* conn_;
    xcb_window_t window_;
    xcb_atom_t selection_, target_, property_, incr_atom_;
    std::size_t max_bytes_;
    bool incr_ = false;
    std::string data_;
    std::chrono::steady_clock::time_point started_;
};

}  // namespace portico::x11

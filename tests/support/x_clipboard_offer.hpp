#pragma once
// What an X program in a test offers on a selection it owns, answered by hand (not through
// x11/selection.hpp, the code under test): TARGETS, image/png when it has an image, UTF8_STRING
// when it has text; anything else is refused.

#include <xcb/xcb.h>

#include <string>
#include <vector>

namespace portico::test {

struct ClipboardOffer {
    xcb_atom_t targets = 0, png = 0, utf8 = 0;
    std::string image, text;  // empty: not offered

    void answer(xcb_connection_t* c, const xcb_selection_request_event_t& req) const {
        xcb_selection_notify_event_t n{};
        n.response_type = XCB_SELECTION_NOTIFY;
        n.requestor = req.requestor;
        n.selection = req.selection;
        n.target = req.target;
        n.time = req.time;
        n.property = req.property;
        if (req.target == targets) {
            std::vector<xcb_atom_t> list{targets};
            if (!image.empty()) list.push_back(png);
            if (!text.empty()) list.push_back(utf8);
            xcb_change_property(c, XCB_PROP_MODE_REPLACE, req.requestor, req.property, XCB_ATOM_ATOM, 32,
                                static_cast<std::uint32_t>(list.size()), list.data());
        } else if (req.target == png && !image.empty()) {
            xcb_change_property(c, XCB_PROP_MODE_REPLACE, req.requestor, req.property, png, 8,
                                static_cast<std::uint32_t>(image.size()), image.data());
        } else if (req.target == utf8 && !text.empty()) {
            xcb_change_property(c, XCB_PROP_MODE_REPLACE, req.requestor, req.property, utf8, 8,
                                static_cast<std::uint32_t>(text.size()), text.data());
        } else {
            n.property = XCB_NONE;
        }
        xcb_send_event(c, 0, req.requestor, 0, reinterpret_cast<const char*>(&n));
        xcb_flush(c);
    }
};

}  // namespace portico::test

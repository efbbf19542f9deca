// x11/selection.hpp on a real Xvfb: the test plays the other X client by hand, so the module's own
// rules are seen from outside (INCR reading and its limit, a refusal, the obsolete-client property,
// data beyond the server's request limit). ClipboardBridge's and X11ImageClipboard's tests cover
// the policies on top.
#include "session-host/x11/x_display.hpp"
#include "x11/selection.hpp"

#include "tests/support/x_test_util.hpp"

#include <catch2/catch.hpp>

#include <xcb/xcb.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

using namespace portico;
using namespace std::chrono_literals;

namespace {

using TransferStep = x11::SelectionTransfer::Step;

// A plain window on its own connection: an ordinary X client taking part in a selection.
struct SelectionPeer {
    test::XConn x;
    xcb_window_t w = 0;
    SelectionPeer(const std::string& display, const std::string& xauthority) : x(display, xauthority) {
        w = xcb_generate_id(x.c);
        const std::uint32_t mask = XCB_EVENT_MASK_PROPERTY_CHANGE;
        xcb_create_window(x.c, XCB_COPY_FROM_PARENT, w, x.screen->root, 0, 0, 10, 10, 0, XCB_WINDOW_CLASS_INPUT_ONLY,
                          XCB_COPY_FROM_PARENT, XCB_CW_EVENT_MASK, &mask);
        x.sync();
    }
    // The next event of `type` (others are dropped), waiting up to 5 s.
    template <typename Event>
    std::optional<Event> next(std::uint8_t type) {
        std::optional<Event> out;
        test::wait_until(
            [&] {
                while (!out) {
                    xcb_generic_event_t* ev = xcb_poll_for_event(x.c);
                    if (!ev) return false;
                    if ((ev->response_type & 0x7f) == type) out = *reinterpret_cast<Event*>(ev);
                    std::free(ev);
                }
                return true;
            },
            5s, 2ms);
        return out;
    }
    // The next PropertyNotify with this state (deleted or new value).
    std::optional<xcb_property_notify_event_t> next_property(std::uint8_t state) {
        std::optional<xcb_property_notify_event_t> ev;
        while ((ev = next<xcb_property_notify_event_t>(XCB_PROPERTY_NOTIFY)) && ev->state != state) {
        }
        return ev;
    }
};

// One Xvfb with two clients: `us` (the module's window, property and atoms) and `owner`.
struct Scene {
    test::TempDir dir;
    host::XvfbDisplay d{320, 240, dir.path};
    SelectionPeer us{d.display(), d.xauthority()}, owner{d.display(), d.xauthority()};
    std::uint8_t xfixes = capture::init_xfixes(us.x.c, d.display());
    x11::SelectionAtoms atoms{us.x.c};
    xcb_atom_t prop = x11::intern_atom(us.x.c, "TEST_SELECTION");
    xcb_window_t window = x11::create_selection_window(us.x.c, us.x.screen->root, {});
};

}  // namespace

TEST_CASE("x11 selection: a transfer reads INCR pieces, keeps up to its limit and reads on to the end", "[clipboard]") {
    Scene scene;
    auto &us = scene.us, &owner = scene.owner;
    const auto& atoms = scene.atoms;
    const xcb_atom_t prop = scene.prop, window = scene.window;
    xcb_set_selection_owner(owner.x.c, owner.w, atoms.clipboard, XCB_CURRENT_TIME);
    owner.x.sync();

    x11::SelectionTransfer t(us.x.c, window, atoms.clipboard, atoms.image_png, prop, atoms.incr, 10);
    auto req = owner.next<xcb_selection_request_event_t>(XCB_SELECTION_REQUEST);
    REQUIRE(req);
    CHECK(req->requestor == window);
    CHECK(req->target == atoms.image_png);
    CHECK(req->property == prop);
    // The owner starts INCR: it watches the requestor's property and writes the INCR marker.
    const std::uint32_t events = XCB_EVENT_MASK_PROPERTY_CHANGE;
    xcb_change_window_attributes(owner.x.c, window, XCB_CW_EVENT_MASK, &events);
    const std::uint32_t lower_bound = 24;
    xcb_change_property(owner.x.c, XCB_PROP_MODE_REPLACE, window, prop, atoms.incr, 32, 1, &lower_bound);
    xcb_selection_notify_event_t n{};
    n.response_type = XCB_SELECTION_NOTIFY;
    n.requestor = window;
    n.selection = atoms.clipboard;
    n.target = atoms.image_png;
    n.property = prop;
    xcb_send_event(owner.x.c, 0, window, 0, reinterpret_cast<const char*>(&n));
    xcb_flush(owner.x.c);

    auto notify = us.next<xcb_selection_notify_event_t>(XCB_SELECTION_NOTIFY);
    REQUIRE(notify);
    REQUIRE(t.on_selection_notify(*notify) == TransferStep::incr);

    // Each deletion (the marker's, then each piece's) asks for the next piece; an empty one ends.
    const std::vector<std::string> pieces{"aaaaaaaa", "bbbbbbbb", "cccccccc", ""};
    std::vector<TransferStep> steps;
    for (const std::string& piece : pieces) {
        REQUIRE(owner.next_property(XCB_PROPERTY_DELETE));
        xcb_change_property(owner.x.c, XCB_PROP_MODE_REPLACE, window, prop, atoms.image_png, 8,
                            static_cast<std::uint32_t>(piece.size()), piece.data());
        xcb_flush(owner.x.c);
        auto written = us.next_property(XCB_PROPERTY_NEW_VALUE);
        REQUIRE(written);
        steps.push_back(t.on_property_notify(*written));
    }
    CHECK(steps == std::vector<TransferStep>{TransferStep::pending, TransferStep::pending, TransferStep::pending,
                                             TransferStep::done});
    // Appending stops once the data holds more than 10 bytes: the third piece was read and dropped.
    CHECK(t.data() == "aaaaaaaabbbbbbbb");
}

TEST_CASE("x11 selection: replies in one piece, refusals, the obsolete-client property, the request limit",
          "[clipboard]") {
    Scene scene;
    auto &us = scene.us, &owner = scene.owner;
    const auto& atoms = scene.atoms;
    const xcb_atom_t prop = scene.prop, window = scene.window;
    x11::take_ownership(owner.x.c, owner.w, {atoms.clipboard});

    // The owner answers with SelectionReply; `answer` writes what it offers for the request.
    auto serve = [&](auto answer) {
        auto req = owner.next<xcb_selection_request_event_t>(XCB_SELECTION_REQUEST);
        REQUIRE(req);
        x11::SelectionReply reply(owner.x.c, *req);
        answer(reply, *req);
        reply.send();
    };
    auto transfer = [&](xcb_atom_t target, auto answer) {
        x11::SelectionTransfer t(us.x.c, window, atoms.clipboard, target, prop, atoms.incr, 1 << 20);
        serve(answer);
        auto notify = us.next<xcb_selection_notify_event_t>(XCB_SELECTION_NOTIFY);
        REQUIRE(notify);
        const TransferStep step = t.on_selection_notify(*notify);
        return std::pair{step, t.data()};
    };

    auto [s1, targets] = transfer(atoms.targets, [&](x11::SelectionReply& r, auto&) {
        r.atoms({atoms.targets, atoms.utf8, atoms.timestamp});
    });
    CHECK(s1 == TransferStep::done);
    CHECK(x11::atom_list(targets) == std::vector<xcb_atom_t>{atoms.targets, atoms.utf8, atoms.timestamp});

    auto [s2, text] = transfer(atoms.utf8, [&](x11::SelectionReply& r, auto&) { CHECK(r.bytes(atoms.utf8, "héllo")); });
    CHECK(s2 == TransferStep::done);
    CHECK(text == "héllo");

    CHECK(transfer(atoms.image_png, [](x11::SelectionReply&, auto&) {}).first == TransferStep::refused);

    // More than one request may carry (BIG-REQUESTS: 16 MiB on Xvfb) is refused, not an X error.
    const std::string huge(std::size_t{xcb_get_maximum_request_length(owner.x.c)} * 4, 'x');
    const TransferStep too_large = transfer(atoms.image_png, [&](x11::SelectionReply& r, auto&) {
                                       CHECK_FALSE(r.bytes(atoms.image_png, huge));
                                   }).first;
    CHECK(too_large == TransferStep::refused);

    // An obsolete client names no property: the answer goes into the property named by the target.
    xcb_convert_selection(us.x.c, window, atoms.clipboard, atoms.timestamp, XCB_NONE, XCB_CURRENT_TIME);
    xcb_flush(us.x.c);
    serve([](x11::SelectionReply& r, auto&) { r.timestamp(); });
    auto notify = us.next<xcb_selection_notify_event_t>(XCB_SELECTION_NOTIFY);
    REQUIRE(notify);
    CHECK(notify->property == atoms.timestamp);
    auto* r = xcb_get_property_reply(
        us.x.c, xcb_get_property(us.x.c, 1, window, atoms.timestamp, XCB_GET_PROPERTY_TYPE_ANY, 0, 1), nullptr);
    REQUIRE(r);
    CHECK(r->type == XCB_ATOM_INTEGER);
    CHECK(xcb_get_property_value_length(r) == 4);
    std::free(r);
    CHECK(xcb_connection_has_error(owner.x.c) == 0);
}

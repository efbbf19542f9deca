// An app session at the client's device pixel ratio: Xvfb's DPI, Xft.dpi on the root window, the
// DPI kept across RandR resizes, GTK's variables, and a real Xft xterm drawn twice as tall at 2x.
#include "session-host/x11/display_scale.hpp"
#include "session-host/app/app_process.hpp"
#include "session-host/x11/screen_sizer.hpp"
#include "session-host/x11/x_display.hpp"

#include "tests/support/x_test_util.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

using namespace portico;
using namespace std::chrono_literals;

namespace {

std::string root_resources(test::XConn& x) {
    auto* r = xcb_get_property_reply(
        x.c, xcb_get_property(x.c, 0, x.screen->root, XCB_ATOM_RESOURCE_MANAGER, XCB_ATOM_STRING, 0, 4096), nullptr);
    REQUIRE(r);
    std::string text(static_cast<const char*>(xcb_get_property_value(r)),
                     static_cast<std::size_t>(xcb_get_property_value_length(r)));
    std::free(r);
    return text;
}

// DPI as an app computes it from the screen's pixel and physical size (DisplayWidthMM).
double screen_dpi(const std::string& display, const std::string& xauthority) {
    test::XConn x(display, xauthority);  // a fresh connection: the setup block carries the current size
    return x.screen->width_in_pixels * 25.4 / x.screen->width_in_millimeters;
}

// Height in pixels of the first top-level window (an app started without a window manager).
int top_level_height(const std::string& display, const std::string& xauthority) {
    test::XConn x(display, xauthority);
    int height = 0;
    auto* tree = xcb_query_tree_reply(x.c, xcb_query_tree(x.c, x.screen->root), nullptr);
    if (!tree) return 0;
    const xcb_window_t* kids = xcb_query_tree_children(tree);
    for (int i = 0; i < xcb_query_tree_children_length(tree) && height == 0; ++i) {
        auto* attr = xcb_get_window_attributes_reply(x.c, xcb_get_window_attributes(x.c, kids[i]), nullptr);
        const bool viewable = attr && attr->map_state == XCB_MAP_STATE_VIEWABLE && !attr->override_redirect;
        std::free(attr);
        if (!viewable) continue;
        if (auto* g = xcb_get_geometry_reply(x.c, xcb_get_geometry(x.c, kids[i]), nullptr)) {
            height = g->height;
            std::free(g);
        }
    }
    std::free(tree);
    return height;
}

// An 80x24 xterm with an Xft font (what the demo Terminal runs) on a display at `dpi`.
int xterm_height_at(int dpi) {
    test::TempDir dir;
    host::XvfbDisplay d(1920, 1200, dir.path, dpi);
    host::AppProcess xterm({"xterm", "-fa", "Monospace", "-fs", "11", "-geometry", "80x24"}, d.display(),
                           d.xauthority(), dir.path + "/xterm.log");
    int height = 0;
    REQUIRE(test::wait_until([&] { return (height = top_level_height(d.display(), d.xauthority())) > 0; }, 15s));
    return height;
}

}  // namespace

TEST_CASE("display scale: DPI and toolkit variables per device pixel ratio", "[hidpi]") {
    using V = std::vector<std::string>;
    CHECK(host::display_scale(1).dpi == 96);
    CHECK(host::display_scale(1).env.empty());
    CHECK(host::display_scale(1.25).dpi == 120);
    CHECK(host::display_scale(1.5).dpi == 144);
    CHECK(host::display_scale(1.5).env.empty());  // fractional: fonts only, through Xft.dpi
    CHECK(host::display_scale(2).dpi == 192);
    CHECK(host::display_scale(2).env == V{"GDK_SCALE=2", "GDK_DPI_SCALE=0.5"});
    CHECK(host::display_scale(2.02).env == V{"GDK_SCALE=2", "GDK_DPI_SCALE=0.5"});  // a zoomed page's 2.0000001
    CHECK(host::display_scale(2.625).dpi == 252);
    CHECK(host::display_scale(2.625).env.empty());
    CHECK(host::display_scale(3).env == V{"GDK_SCALE=3", "GDK_DPI_SCALE=0.333333"});
    CHECK(host::display_scale(4).dpi == 384);
    // Out of range (the protocol refuses these) is clamped.
    CHECK(host::display_scale(0.5).dpi == 96);
    CHECK(host::display_scale(std::nan("")).dpi == 96);
    CHECK(host::display_scale(9).dpi == 384);
    CHECK(host::xft_resources(192) == "Xft.dpi:\t192\n");
}

TEST_CASE("xvfb at a DPI: Xft.dpi on the root window, the physical size kept by RandR resizes", "[hidpi][xvfb]") {
    test::TempDir dir;
    host::XvfbDisplay d(3840, 2160, dir.path, 192);
    {
        test::XConn x(d.display(), d.xauthority());
        CHECK(root_resources(x) == "Xft.dpi:\t192\n");
    }
    CHECK(screen_dpi(d.display(), d.xauthority()) == Approx(192).margin(1));
    host::ScreenSizer sizer(d.display(), d.xauthority(), 192);
    for (auto [w, h] : {std::pair{2800, 1600}, std::pair{1000, 640}, std::pair{3000, 1800}}) {
        std::string why;
        REQUIRE(sizer.set_size(w, h, why));
        INFO(w << "x" << h);
        CHECK(screen_dpi(d.display(), d.xauthority()) == Approx(192).margin(1));
    }

    // The default stays what apps assume of a virtual screen, and says so explicitly.
    test::TempDir dir2;
    host::XvfbDisplay plain(640, 480, dir2.path);
    test::XConn x(plain.display(), plain.xauthority());
    CHECK(root_resources(x) == "Xft.dpi:\t96\n");
    CHECK(screen_dpi(plain.display(), plain.xauthority()) == Approx(96).margin(1));
}

TEST_CASE("app process: the scale's variables replace inherited ones", "[hidpi][app]") {
    test::TempDir dir;
    const std::string log = dir.path + "/app.log";
    ::setenv("GDK_SCALE", "7", 1);
    host::AppProcess p({"sh", "-c", "echo \"s=$GDK_SCALE d=$GDK_DPI_SCALE x=$DISPLAY\"; env | grep -c '^GDK_SCALE='"},
                       ":5", "/dev/null", log, host::display_scale(2).env);
    ::unsetenv("GDK_SCALE");
    REQUIRE(test::wait_until([&] { return p.exited(); }, 10s));
    std::ifstream in(log);
    std::stringstream ss;
    ss << in.rdbuf();
    CHECK(ss.str() == "s=2 d=0.5 x=:5\n1\n");
}

TEST_CASE("a real Xft xterm is twice as tall at 192 dpi as at 96", "[hidpi][xterm]") {
    const int at96 = xterm_height_at(96), at192 = xterm_height_at(192);
    const double ratio = static_cast<double>(at192) / at96;
    INFO("80x24 xterm: " << at96 << " px high at 96 dpi, " << at192 << " px at 192 dpi");
    CHECK(ratio > 1.7);
    CHECK(ratio < 2.3);
}

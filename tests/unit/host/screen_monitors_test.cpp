// ScreenSizer::set_monitors on a real Xvfb: the RandR monitors a spanning client's layout makes,
// read back with RandR GetMonitors as any app in the session would.
#include "session-host/x11/screen_sizer.hpp"
#include "session-host/x11/x_display.hpp"

#include "tests/support/x_test_util.hpp"

#include <xcb/randr.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <tuple>

using namespace portico;

namespace {

struct Seen {
    int x, y, w, h;
    bool primary;
    bool operator==(const Seen&) const = default;
    bool operator<(const Seen& o) const { return std::tie(y, x) < std::tie(o.y, o.x); }
};

std::vector<Seen> monitors(const std::string& display, const std::string& xauthority) {
    test::XConn x(display, xauthority);
    std::free(xcb_randr_query_version_reply(x.c, xcb_randr_query_version(x.c, 1, 5), nullptr));
    auto* r = xcb_randr_get_monitors_reply(x.c, xcb_randr_get_monitors(x.c, x.screen->root, 1), nullptr);
    REQUIRE(r);
    std::vector<Seen> out;
    for (auto it = xcb_randr_get_monitors_monitors_iterator(r); it.rem; xcb_randr_monitor_info_next(&it))
        out.push_back({it.data->x, it.data->y, it.data->width, it.data->height, it.data->primary != 0});
    std::free(r);
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST_CASE("screen sizer: the RandR monitors become a client's layout, and one whole-screen monitor again",
          "[xvfb][monitors]") {
    test::TempDir dir;
    host::XvfbDisplay d(3840, 2160, dir.path);
    host::ScreenSizer sizer(d.display(), d.xauthority());
    std::string why;
    REQUIRE(sizer.set_size(1824, 768, why));
    // Before any layout: the output's own monitor, the whole screen.
    CHECK(monitors(d.display(), d.xauthority()) == std::vector<Seen>{{0, 0, 1824, 768, false}});

    REQUIRE(sizer.set_monitors({{0, 0, 1024, 768}, {1024, 0, 800, 600}}, 1, why));
    CHECK(monitors(d.display(), d.xauthority()) ==
          std::vector<Seen>{{0, 0, 1024, 768, false}, {1024, 0, 800, 600, true}});

    // A new layout replaces the old one whole: three monitors, then two again.
    REQUIRE(sizer.set_size(1920, 1080, why));
    REQUIRE(sizer.set_monitors({{0, 0, 640, 1080}, {640, 0, 640, 1080}, {1280, 0, 640, 1080}}, 0, why));
    CHECK(monitors(d.display(), d.xauthority()) ==
          std::vector<Seen>{{0, 0, 640, 1080, true}, {640, 0, 640, 1080, false}, {1280, 0, 640, 1080, false}});
    REQUIRE(sizer.set_monitors({{0, 0, 960, 1080}, {960, 0, 960, 1080}}, 0, why));
    CHECK(monitors(d.display(), d.xauthority()).size() == 2);

    REQUIRE(sizer.set_monitors({}, 0, why));
    CHECK(monitors(d.display(), d.xauthority()) == std::vector<Seen>{{0, 0, 1920, 1080, false}});
}

// Spanning monitors (monitor_layout.hpp): --monitors parsing, the window over the chosen monitors,
// the layout sent to the host, and the choices that cannot be spanned. Also ResizeFollower
// carrying that layout.
#include "client/native/monitor_layout.hpp"
#include "client/native/options.hpp"
#include "client/native/resize_follower.hpp"

#include <catch2/catch.hpp>

using namespace portico::client;
namespace proto = portico::protocol;

TEST_CASE("monitors: --monitors takes all or distinct numbers, and says what is wrong otherwise") {
    CHECK(parse_monitor_selection("all")->all);
    CHECK(parse_monitor_selection("2,1")->numbers == std::vector<int>{1, 2});
    CHECK(parse_monitor_selection("3")->numbers == std::vector<int>{3});
    for (const char* bad : {"", "0", "1,", ",1", "a", "1;2", "17", "-1", "1,,2"}) {
        auto r = parse_monitor_selection(bad);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ClientError::usage);
        CHECK_THAT(r.error().message, Catch::Contains("--list-monitors"));
    }
    CHECK_THAT(parse_monitor_selection("1,2,1").error().message, Catch::Contains("monitor 1 twice"));
}

TEST_CASE("monitors: the window covers the chosen ones, laid out relative to it, monitor 1 primary") {
    // A 1024x768 primary with an 800x600 monitor right of it, top-aligned.
    const std::vector<DisplayRect> two{{0, 0, 1024, 768}, {1024, 0, 800, 600}};
    auto all = span_layout(two, MonitorSelection{true, {}});
    REQUIRE(all);
    CHECK(all->window == DisplayRect{0, 0, 1824, 768});
    CHECK(all->layout == std::vector<proto::MonitorRect>{{0, 0, 1024, 768}, {1024, 0, 800, 600}});
    CHECK(all->primary == 0);
    CHECK(proto::monitor_layout_error(1824, 768, all->layout, all->primary).empty());

    auto second = span_layout(two, MonitorSelection{false, {2}});
    REQUIRE(second);
    CHECK(second->window == DisplayRect{1024, 0, 800, 600});
    CHECK(second->layout == std::vector<proto::MonitorRect>{{0, 0, 800, 600}});

    // Monitors left of and above the primary: coordinates relative to the union's corner.
    const std::vector<DisplayRect> left{{1280, 200, 1920, 1080}, {0, 0, 1280, 1024}};
    auto l = span_layout(left, MonitorSelection{true, {}});
    REQUIRE(l);
    CHECK(l->window == DisplayRect{0, 0, 3200, 1280});
    CHECK(l->layout == std::vector<proto::MonitorRect>{{1280, 200, 1920, 1080}, {0, 0, 1280, 1024}});
    CHECK(l->primary == 0);
    // Without monitor 1 the first chosen one is primary.
    const std::vector<DisplayRect> three{{0, 0, 800, 600}, {800, 0, 800, 600}, {1600, 0, 800, 600}};
    auto two_three = span_layout(three, MonitorSelection{false, {2, 3}});
    REQUIRE(two_three);
    CHECK(two_three->window == DisplayRect{800, 0, 1600, 600});
    CHECK(two_three->primary == 0);
}

TEST_CASE("monitors: one chosen monitor needs no layout") {
    const std::vector<DisplayRect> two{{0, 0, 1024, 768}, {1024, 0, 800, 600}};
    auto one = span_layout(two, MonitorSelection{false, {2}});
    REQUIRE(one);
    CHECK(one->window == DisplayRect{1024, 0, 800, 600});
    CHECK(one->layout.size() == 1);  // one monitor: no layout goes to the host
}

TEST_CASE("monitors: what cannot be spanned is refused with the reason") {
    const std::vector<DisplayRect> three{{0, 0, 800, 600}, {800, 0, 800, 600}, {1600, 0, 800, 600}};
    auto gap = span_layout(three, MonitorSelection{false, {1, 3}});
    REQUIRE_FALSE(gap);
    CHECK_THAT(gap.error().message, Catch::Contains("cover part of monitor 2"));
    auto missing = span_layout(three, MonitorSelection{false, {4}});
    REQUIRE_FALSE(missing);
    CHECK_THAT(missing.error().message, Catch::Contains("there is no monitor 4: this display has 3"));
    const std::vector<DisplayRect> mirrored{{0, 0, 1024, 768}, {0, 0, 1024, 768}};
    auto m = span_layout(mirrored, MonitorSelection{true, {}});
    REQUIRE_FALSE(m);
    CHECK_THAT(m.error().message, Catch::Contains("monitors 1 and 2 overlap"));
    const std::vector<DisplayRect> wide{{0, 0, 5000, 1000}, {5000, 0, 5000, 1000}};
    CHECK_THAT(span_layout(wide, MonitorSelection{true, {}}).error().message, Catch::Contains("more than a session's"));
}

TEST_CASE("resize follower: a layout goes with every request, asked once per connection, cut to the rounded size") {
    ResizeFollower r;
    r.set_layout({{0, 0, 1024, 768}, {1024, 0, 799, 600}}, 1);
    r.announced(1822, 768);
    // The host has this size, but not the layout: asked anyway, the size rounded to even and the
    // right monitor cut to it.
    auto q = r.want(1823, 768);
    REQUIRE(q);
    CHECK(q->width == 1822);
    CHECK(q->monitors == std::vector<proto::MonitorRect>{{0, 0, 1024, 768}, {1024, 0, 798, 600}});
    CHECK(q->primary == 1);
    CHECK(proto::monitor_layout_error(q->width, q->height, q->monitors, q->primary).empty());
    CHECK_FALSE(r.want(1823, 768));  // asked already
    q = r.reconnected(1822, 768);    // a new connection: the layout is news again
    REQUIRE(q);
    CHECK(q->monitors.size() == 2);
}

TEST_CASE("resize follower: a monitor plugged in or out is asked for, even at the same size") {
    ResizeFollower r;
    r.set_layout({{0, 0, 1024, 768}, {1024, 0, 800, 600}}, 0);
    r.announced(1280, 800);
    REQUIRE(r.want(1824, 768));
    // Rearranged into the same union: only a request tells the host the new layout.
    r.set_layout({{0, 0, 800, 600}, {800, 0, 1024, 768}}, 1);
    auto q = r.want(1824, 768);
    REQUIRE(q);
    CHECK(q->monitors == std::vector<proto::MonitorRect>{{0, 0, 800, 600}, {800, 0, 1024, 768}});
    CHECK(q->primary == 1);
    CHECK_FALSE(r.want(1824, 768));
    // The same layout again is no news.
    r.set_layout({{0, 0, 800, 600}, {800, 0, 1024, 768}}, 1);
    CHECK_FALSE(r.want(1824, 768));
    // Down to one monitor: a request without a layout (one monitor, the whole screen).
    r.set_layout({}, 0);
    q = r.want(1024, 768);
    REQUIRE(q);
    CHECK(q->monitors.empty());
    CHECK_FALSE(r.want(1024, 768));
}

TEST_CASE("options: --monitors goes with the window alone, --list-monitors needs nothing else") {
    const std::vector<std::string> window{"https://127.0.0.1:8443", "--resource", "Desktop", "--user", "demo"};
    auto with = [&](std::vector<std::string> extra) {
        auto a = window;
        a.insert(a.end(), extra.begin(), extra.end());
        return parse_options(a, std::string("secret"));
    };
    auto all = with({"--monitors", "all"});
    REQUIRE(all);
    REQUIRE(all->monitors);
    CHECK(all->monitors->all);
    CHECK(with({"--monitors", "2,1"})->monitors->numbers == std::vector<int>{1, 2});
    for (const auto& extra : std::vector<std::vector<std::string>>{
             {"--monitors", "all", "--fullscreen"}, {"--monitors", "1", "--size", "800x600"}, {"--monitors", "x"}}) {
        auto r = with(extra);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ClientError::usage);
    }
    auto headless = with({"--headless", "--monitors", "all"});
    REQUIRE_FALSE(headless);
    CHECK_THAT(headless.error().message, Catch::Contains("--monitors"));
    auto list = parse_options({"--list-monitors"}, std::nullopt);
    REQUIRE(list);
    CHECK(list->list_monitors);
}

// FramePlanner without X or sockets: frames made in memory, the plan checked for what it must say.

#include "session-host/stream/frame_planner.hpp"
#include "session-host/stream/refine_timer.hpp"
#include "session-host/stream/scroll_detector.hpp"
#include "tests/support/test_frames.hpp"

#include <catch2/catch.hpp>

#include <cstring>

using namespace portico;
using namespace portico::host;
namespace ct = portico::codec::test;
using Kind = FramePlan::Kind;

namespace {

constexpr int kW = 640, kH = 480;

capture::DamageRegion region(const capture::Rect& r) {
    capture::DamageRegion d;
    d.add(r);
    return d;
}

// The frame scrolled up by `lines` pixel rows, new rows at the bottom from `fresh`.
capture::Frame scrolled(const capture::Frame& f, int lines, const capture::Frame& fresh) {
    capture::Frame out = f;
    for (int y = 0; y < f.height; ++y) {
        const capture::Frame& src = y + lines < f.height ? f : fresh;
        const int sy = y + lines < f.height ? y + lines : y;
        std::memcpy(out.at(0, y), src.at(0, sy), static_cast<std::size_t>(f.width) * 4);
    }
    return out;
}

}  // namespace

TEST_CASE("planner: a required keyframe is a keyframe whatever the damage", "[stream][planner]") {
    FramePlanner planner;
    RefineTimer motion;
    motion.reset(kW, kH);
    const auto f = ct::make_text_frame(kW, kH, 1);
    const auto plan = planner.plan(f, region({0, 0, 8, 8}), f, motion, true);
    CHECK(plan.kind == Kind::keyframe);
    CHECK(std::string(plan.name) == "h264_key");
}

TEST_CASE("planner: a typed glyph is one small tile and no copies", "[stream][planner]") {
    FramePlanner planner;
    RefineTimer motion;
    motion.reset(kW, kH);
    const auto before = ct::make_text_frame(kW, kH, 2);
    auto after = before;
    ct::fill(after, {100, 100, 8, 14}, 0xff, 0xff, 0xff);
    const auto plan = planner.plan(after, region({100, 100, 8, 14}), before, motion, false);
    REQUIRE(plan.kind == Kind::tiles);
    CHECK(plan.copies.empty());
    REQUIRE(plan.tiles.size() == 1);
    CHECK(plan.tiles[0].area() <= 8 * 14 * 4);  // the glyph, not the screen
    CHECK(std::string(plan.name) == "tiles");
}

TEST_CASE("planner: a scroll becomes copies of what the client has plus the new rows", "[stream][planner]") {
    FramePlanner planner;
    RefineTimer motion;
    motion.reset(kW, kH);
    const auto before = ct::make_text_frame(kW, kH, 3);
    const auto after = scrolled(before, 16, ct::make_text_frame(kW, kH, 4));
    const auto plan = planner.plan(after, region({0, 0, kW, kH}), before, motion, false);
    REQUIRE(plan.kind == Kind::tiles);
    CHECK(std::string(plan.name) == "scroll");
    REQUIRE_FALSE(plan.copies.empty());
    for (const auto& c : plan.copies)
        CHECK(static_cast<int>(c.y) - static_cast<int>(c.dy) == 16);  // from 16 rows lower
    long long tiled = 0;
    for (const auto& t : plan.tiles) tiled += t.area();
    CHECK(tiled < static_cast<long long>(kW) * kH / 4);  // only the uncovered rows (and lines that differ) as tiles
}

TEST_CASE("planner: a page scrolling beside its scrollbar is copies plus the bar and the new rows",
          "[stream][planner]") {
    FramePlanner planner;
    RefineTimer motion;
    motion.reset(kW, kH);
    auto before = ct::make_text_frame(kW, kH, 5);
    ct::fill(before, {kW - 16, 0, 16, 100}, 0x40, 0x40, 0x40);  // the thumb at the top...
    auto after = scrolled(before, 16, ct::make_text_frame(kW, kH, 6));
    ct::fill(after, {kW - 16, 0, 16, kH}, 0xd0, 0xd0, 0xd0);
    ct::fill(after, {kW - 16, 150, 16, 100}, 0x40, 0x40, 0x40);  // ...further down
    const auto plan = planner.plan(after, region({0, 0, kW, kH}), before, motion, false);
    REQUIRE(plan.kind == Kind::tiles);
    CHECK(std::string(plan.name) == "scroll");
    REQUIRE_FALSE(plan.copies.empty());
    for (const auto& c : plan.copies) CHECK(c.x + c.w <= kW - 16);
    long long tiled = 0;
    capture::DamageRegion covered;
    for (const auto& t : plan.tiles) {
        tiled += t.area();
        covered.add(t);
    }
    CHECK(tiled < static_cast<long long>(kW) * kH / 4);
    // Every column of the bar is sent as pixels.
    capture::DamageRegion bar = region({kW - 16, 0, 16, kH});
    for (const auto& t : plan.tiles) {
        capture::DamageRegion rest;
        for (const auto& r : bar.rects())
            for (const auto& piece : subtract(r, t)) rest.add(piece);
        bar = rest;
    }
    CHECK(bar.area() == 0);
}

TEST_CASE("planner: small changes beside scroll steps do not rest the search", "[stream][planner]") {
    FramePlanner planner;
    RefineTimer motion;
    motion.reset(kW, kH);
    auto f = ct::make_text_frame(kW, kH, 7);
    for (unsigned i = 0; i < 5; ++i) {
        auto bar = f;
        ct::fill(bar, {kW - 16, 0, 16, kH}, static_cast<std::uint8_t>(i * 10), 0x80, 0x80);  // a scrollbar redraw
        (void)planner.plan(bar, region({kW - 16, 0, 16, kH}), f, motion, false);
        f = bar;
    }
    const auto plan =
        planner.plan(scrolled(f, 16, ct::make_text_frame(kW, kH, 8)), region({0, 0, kW, kH}), f, motion, false);
    CHECK(std::string(plan.name) == "scroll");
}

TEST_CASE("planner: tiles carry only what differs from what the client shows", "[stream][planner]") {
    FramePlanner planner;
    RefineTimer motion;
    motion.reset(kW, kH);
    const auto before = ct::make_text_frame(kW, kH, 9);
    auto after = before;
    ct::fill(after, {100, 200, 8, 14}, 0xff, 0xff, 0xff);  // one glyph changes...
    // ...in a row the application redrew whole, and a redraw that changed nothing at all.
    capture::DamageRegion damage = region({0, 196, kW, 20});
    damage.add({0, 300, 200, 20});
    const auto plan = planner.plan(after, damage, before, motion, false);
    REQUIRE(plan.kind == Kind::tiles);
    REQUIRE(plan.tiles.size() == 1);
    CHECK(plan.tiles[0] == capture::Rect{100, 200, 8, 14});
}

TEST_CASE("planner: without what the client shows there is nothing to copy from", "[stream][planner]") {
    FramePlanner planner;
    RefineTimer motion;
    motion.reset(kW, kH);
    const auto before = ct::make_text_frame(kW, kH, 5);
    const auto after = scrolled(before, 16, ct::make_text_frame(kW, kH, 6));
    const capture::Frame nothing;  // e.g. right after a resize
    const auto plan = planner.plan(after, region({0, 0, 200, 100}), nothing, motion, false);
    CHECK(plan.copies.empty());
}

TEST_CASE("planner: most of the screen changing is video, painted only where it changed", "[stream][planner]") {
    FramePlanner planner;
    RefineTimer motion;
    motion.reset(kW, kH);
    const auto before = ct::make_text_frame(kW, kH, 7);
    const auto after = ct::make_gradient_frame(kW, kH);
    const capture::Rect changed{0, 0, kW, kH * 3 / 4};
    const auto plan = planner.plan(after, region(changed), before, motion, false);
    REQUIRE(plan.kind == Kind::video);
    CHECK(plan.tiles.empty());
    CHECK(plan.video_dirty.area() == changed.area());
}

TEST_CASE("planner: a small part in sustained motion (a video in a window) is video", "[stream][planner]") {
    FramePlanner planner;
    RefineTimer motion;
    motion.reset(kW, kH);
    const capture::Rect player{64, 64, 320, 192};  // 20% of the screen
    auto t = RefineTimer::Clock::time_point{} + std::chrono::seconds(10);
    auto frame = ct::make_text_frame(kW, kH, 8);
    capture::Frame before = frame;
    FramePlan plan;
    for (int i = 0; i < 40; ++i) {  // 1.3 s at 30 frames/s
        motion.changed(player, t);
        before = frame;
        ct::fill(frame, player, static_cast<std::uint8_t>(i * 6), static_cast<std::uint8_t>(255 - i * 6), 0x80);
        plan = planner.plan(frame, region(player), before, motion, false);
        t += std::chrono::milliseconds(33);
    }
    CHECK(plan.kind == Kind::video);
}

TEST_CASE("planner: after three misses the moved-content search backs off for ten frames", "[stream][planner]") {
    FramePlanner planner;
    RefineTimer motion;
    motion.reset(kW, kH);
    // Three changes that neither scroll nor move (fresh noise each time)...
    auto f = ct::make_text_frame(kW, kH, 9);
    for (unsigned i = 0; i < 3; ++i) {
        const auto before = f;
        f = ct::make_text_frame(kW, kH, 100 + i);
        (void)planner.plan(f, region({0, 32, 400, 64}), before, motion, false);
    }
    // ... then a real scroll is not looked for: tiles without copies.
    const auto before = f;
    const auto after = scrolled(before, 16, ct::make_text_frame(kW, kH, 200));
    const auto missed = planner.plan(after, region({0, 0, kW - 170, 200}), before, motion, false);
    CHECK(missed.copies.empty());
    // Ten frames later it looks again.
    for (int i = 0; i < 9; ++i) (void)planner.plan(after, region({0, 0, 8, 8}), after, motion, false);
    const auto again = planner.plan(scrolled(after, 16, ct::make_text_frame(kW, kH, 201)), region({0, 0, kW, kH}),
                                    after, motion, false);
    CHECK_FALSE(again.copies.empty());
}

TEST_CASE("planner: a scroll found in a frame that still goes as video is a miss", "[stream][planner]") {
    // A video's moving parts can look like a scroll; the frame goes as H.264 anyway, so the search
    // was wasted and must back off as after any miss (it cost ~5 ms per 1080p frame).
    FramePlanner planner;
    RefineTimer motion;
    motion.reset(kW, kH);
    auto f = ct::make_text_frame(kW, kH, 11);
    for (unsigned i = 0; i < 3; ++i) {
        const auto before = f;
        f = scrolled(before, 16, ct::make_text_frame(kW, kH, 300 + i));
        const auto fresh = ct::make_text_frame(kW, kH, 400 + i);  // the top three quarters change throughout
        for (int y = 0; y < kH * 3 / 4; ++y) std::memcpy(f.at(0, y), fresh.at(0, y), static_cast<std::size_t>(kW) * 4);
        REQUIRE(find_vertical_scroll(before, f, {0, 0, kW, kH}).has_value());
        REQUIRE(planner.plan(f, region({0, 0, kW, kH}), before, motion, false).kind == Kind::video);
    }
    const auto before = f;
    const auto plain_scroll = scrolled(before, 16, ct::make_text_frame(kW, kH, 500));
    CHECK(planner.plan(plain_scroll, region({0, 0, kW, kH}), before, motion, false).copies.empty());
}

TEST_CASE("planner: as_video keeps the damage as the painted area", "[stream][planner]") {
    const auto plan = FramePlanner::as_video(region({10, 20, 30, 40}));
    CHECK(plan.kind == Kind::video);
    CHECK(plan.video_dirty.area() >= 30 * 40);
}

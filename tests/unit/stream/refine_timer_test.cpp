#include "session-host/stream/refine_timer.hpp"
#include "session-host/stream/lossy_map.hpp"

#include <catch2/catch.hpp>

using namespace portico::host;
using portico::capture::Rect;
using namespace std::chrono_literals;

namespace {

// A fake clock: time points are offsets from an arbitrary origin.
RefineTimer::Clock::time_point at_ms(long long ms) {
    return RefineTimer::Clock::time_point{} + std::chrono::milliseconds(ms);
}

constexpr Rect kScreen{0, 0, 1920, 1080};

}  // namespace

TEST_CASE("refine timer: a still screen and a single change refine after 150 ms", "[refine]") {
    RefineTimer t;
    t.reset(1920, 1080);
    CHECK(t.ready(0, 0, at_ms(0)));  // nothing ever changed

    // A key press: one small change.
    t.changed({100, 100, 8, 16}, at_ms(1000));
    CHECK_FALSE(t.in_motion(1, 1));
    CHECK(t.delay(1, 1) == RefineTimer::kFastDelay);
    CHECK_FALSE(t.ready(1, 1, at_ms(1149)));
    CHECK(t.ready(1, 1, at_ms(1150)));
    // Other cells were untouched and are ready all along.
    CHECK(t.ready(5, 5, at_ms(1001)));

    // A burst of typing shorter than the motion threshold, after a pause, keeps the fast refinement.
    for (int i = 0; i < 7; ++i) t.changed({100, 100, 8, 16}, at_ms(2500 + i * 60));
    CHECK_FALSE(t.in_motion(1, 1));
    CHECK_FALSE(t.ready(1, 1, at_ms(2860 + 149)));
    CHECK(t.ready(1, 1, at_ms(2860 + 150)));
}

TEST_CASE("refine timer: sustained motion defers refinement by its own cadence", "[refine]") {
    RefineTimer t;
    t.reset(1920, 1080);
    // A full-screen video captured every 120 ms for 2 s.
    long long now = 0;
    for (; now <= 2000; now += 120) t.changed(kScreen, at_ms(now));
    const long long last = now - 120;
    CHECK(t.in_motion(0, 0));
    CHECK(t.in_motion(29, 16));
    CHECK(t.delay(10, 10) == 360ms);  // 3 x 120 ms
    // A player stall of 300 ms (longer than the fast 150 ms delay) does not refine...
    CHECK_FALSE(t.ready(10, 10, at_ms(last + 300)));
    // ...but the screen is refined once it has been still for three of its intervals.
    CHECK(t.ready(10, 10, at_ms(last + 360)));

    // The cadence adapts: a player that slows to one frame in 250 ms waits longer (capped below).
    for (int i = 1; i <= 12; ++i) t.changed(kScreen, at_ms(last + i * 250));
    CHECK(t.in_motion(0, 0));
    CHECK(t.delay(0, 0) == RefineTimer::kMaxDelay);

    // Motion in one region leaves the rest of the screen on the fast path.
    RefineTimer u;
    u.reset(1920, 1080);
    for (long long ms = 0; ms <= 1000; ms += 40) u.changed({0, 0, 640, 360}, at_ms(ms));
    u.changed({1500, 900, 8, 16}, at_ms(1000));  // a key press elsewhere
    CHECK(u.in_motion(0, 0));
    CHECK_FALSE(u.in_motion(1500 / 64, 900 / 64));
    CHECK(u.ready(1500 / 64, 900 / 64, at_ms(1150)));
    CHECK(u.delay(0, 0) == RefineTimer::kFastDelay);  // 3 x 40 ms = 120 ms, but never below 150 ms
    CHECK_FALSE(u.ready(0, 0, at_ms(1149)));
    CHECK(u.ready(0, 0, at_ms(1150)));
}

TEST_CASE("refine timer: a video's first frames defer refinement before motion is established", "[refine]") {
    RefineTimer t;
    t.reset(1920, 1080);
    // Two whole-screen redraws 100 ms apart: too early to call it motion, but a cadence is known.
    t.changed(kScreen, at_ms(0));
    t.changed(kScreen, at_ms(100));
    CHECK_FALSE(t.in_motion(4, 4));
    CHECK(t.delay(4, 4) == 300ms);
    CHECK_FALSE(t.ready(4, 4, at_ms(100 + 200)));
    CHECK(t.ready(4, 4, at_ms(100 + 300)));
    // Small changes in a cell (a caret, typed characters) are not redraws: fast refinement.
    t.changed({1000, 500, 6, 13}, at_ms(2000));
    t.changed({1006, 500, 6, 13}, at_ms(2060));
    t.changed({1012, 500, 6, 13}, at_ms(2120));
    CHECK(t.delay(1000 / 64, 500 / 64) == RefineTimer::kFastDelay);
}

TEST_CASE("refine timer: irregular frames (a player under load) widen the wait", "[refine]") {
    RefineTimer steady, jittery;
    steady.reset(1920, 1080);
    jittery.reset(1920, 1080);
    long long a = 0, b = 0;
    const long long gaps[] = {40, 160, 40, 160, 40, 160, 40, 160, 40, 160, 40, 160};
    for (long long g : gaps) {
        steady.changed(kScreen, at_ms(a += 100));
        jittery.changed(kScreen, at_ms(b += g));
    }
    // The same mean interval (100 ms), but a stall of 350 ms is normal only for the jittery one.
    CHECK(steady.delay(0, 0) == 300ms);
    CHECK(jittery.delay(0, 0) > 350ms);
    CHECK(jittery.delay(0, 0) <= RefineTimer::kMaxDelay);
}

TEST_CASE("refine timer: the cap holds, so text ends exact within a second", "[refine]") {
    RefineTimer t;
    t.reset(1920, 1080);
    // Motion with long, irregular gaps (a stuttering player: up to 900 ms between frames).
    const long long gaps[] = {100, 900, 50, 800, 700, 900, 120, 850};
    long long now = 0;
    t.changed(kScreen, at_ms(now));
    for (long long g : gaps) t.changed(kScreen, at_ms(now += g));
    REQUIRE(t.in_motion(3, 3));
    CHECK(t.delay(3, 3) <= RefineTimer::kMaxDelay);
    CHECK(t.ready(3, 3, at_ms(now) + RefineTimer::kMaxDelay));
    // Every cell, whatever its history, is ready kMaxDelay after its last change.
    for (int cy = 0; cy < 17; ++cy)
        for (int cx = 0; cx < 30; ++cx) CHECK(t.ready(cx, cy, at_ms(now) + RefineTimer::kMaxDelay));
    static_assert(RefineTimer::kMaxDelay <= std::chrono::milliseconds(700),
                  "refinement needs time to reach the client within the 1 s of the lossless target");

    // A pause longer than kPause ends the motion: the next change is refined fast again.
    t.changed({0, 0, 64, 64}, at_ms(now + 1500));
    CHECK_FALSE(t.in_motion(0, 0));
    CHECK(t.ready(0, 0, at_ms(now + 1500 + 150)));
}

TEST_CASE("refine timer: reset forgets, rectangles outside the screen are ignored", "[refine]") {
    RefineTimer t;
    t.reset(640, 480);
    for (long long ms = 0; ms <= 1000; ms += 30) t.changed({0, 0, 640, 480}, at_ms(ms));
    REQUIRE(t.in_motion(0, 0));
    t.changed({700, 500, 100, 100}, at_ms(1100));  // outside: nothing to do, no crash
    CHECK_FALSE(t.ready(-1, 0, at_ms(0)));
    CHECK_FALSE(t.ready(10, 0, at_ms(0)));  // 640 / 64 = 10 columns: 0..9
    t.reset(640, 480);
    CHECK_FALSE(t.in_motion(0, 0));
    CHECK(t.ready(0, 0, at_ms(1001)));
}

TEST_CASE("refine timer: motion_area counts only damage in cells in sustained motion", "[refine]") {
    RefineTimer t;
    t.reset(1920, 1080);
    for (long long ms = 0; ms <= 1000; ms += 40) t.changed({64, 64, 640, 384}, at_ms(ms));
    t.changed({1280, 640, 128, 128}, at_ms(1000));  // changed once: not motion
    portico::capture::DamageRegion d;
    d.add({64, 64, 640, 384});
    d.add({1280, 640, 128, 128});
    CHECK(t.motion_area(d) == 640LL * 384);
    portico::capture::DamageRegion part;
    part.add({100, 100, 10, 10});  // inside a moving cell
    part.add({0, 0, 64, 64});      // never changed
    CHECK(t.motion_area(part) == 100);
}

TEST_CASE("the lossy map hands back only cells the filter accepts", "[refine]") {
    LossyMap m;
    m.reset(640, 128);
    m.mark_lossy({0, 0, 640, 128});
    // Columns 2..4 are still in motion: runs break around them.
    auto rects = m.take(1LL << 30, [](int cx, int) { return cx < 2 || cx > 4; });
    REQUIRE(rects.size() == 4);
    CHECK(rects[0] == Rect{0, 0, 128, 64});
    CHECK(rects[1] == Rect{320, 0, 320, 64});
    CHECK(rects[2] == Rect{0, 64, 128, 64});
    CHECK(rects[3] == Rect{320, 64, 320, 64});
    CHECK(m.take(1LL << 30, [](int, int) { return false; }).empty());
    CHECK(m.take(1LL << 30).size() == 2);  // no filter: everything lossy
}

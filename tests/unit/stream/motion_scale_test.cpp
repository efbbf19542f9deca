// MotionScale: full-motion video shrinks for clients that paint it too slowly, and grows back
// only when the client clearly has room.
#include "session-host/stream/motion_scale.hpp"

#include <catch2/catch.hpp>

using portico::host::MotionScale;

namespace {

// Sends `n` frames in the current mode and reports each painted in `ms`; returns the next id.
std::uint32_t paint(MotionScale& m, std::uint32_t id, int n, double ms) {
    for (int i = 0; i < n; ++i, ++id) {
        m.on_sent(id, m.half());
        m.on_painted(id, static_cast<std::uint32_t>(ms * 1000));
    }
    return id;
}

}  // namespace

TEST_CASE("motion scale: a fast client keeps full resolution") {
    MotionScale m;
    paint(m, 1, 50, 6.0);
    CHECK_FALSE(m.half());
}

TEST_CASE("motion scale: a client slower than the budget gets half resolution, after a few reports") {
    MotionScale m;
    auto id = paint(m, 1, static_cast<int>(MotionScale::kMinReports) - 1, 18.0);
    CHECK_FALSE(m.half());  // too few reports to judge
    paint(m, id, 1, 18.0);
    CHECK(m.half());
}

TEST_CASE("motion scale: one slow frame among fast ones changes nothing (median)") {
    MotionScale m;
    auto id = paint(m, 1, 6, 5.0);
    id = paint(m, id, 1, 80.0);
    id = paint(m, id, 1, 80.0);
    paint(m, id, 6, 5.0);
    CHECK_FALSE(m.half());
}

TEST_CASE("motion scale: back to full only when four times the half cost clearly fits") {
    MotionScale m;
    auto id = paint(m, 1, 10, 20.0);
    REQUIRE(m.half());
    id = paint(m, id, 20, 4.0);  // 4 x 4 = 16 ms: full resolution would not fit
    CHECK(m.half());
    paint(m, id, 20, 1.0);  // 4 x 1 = 4 ms < 0.6 x 10: it would
    CHECK_FALSE(m.half());
}

TEST_CASE("motion scale: reports of frames sent before a switch, unknown frames and zeros are ignored") {
    MotionScale m;
    for (std::uint32_t id = 1; id <= 10; ++id) m.on_sent(id, false);
    for (std::uint32_t id = 1; id <= 5; ++id) m.on_painted(id, 20000);
    REQUIRE(m.half());
    // The rest of the full-size frames come in late and fast: they are not about half frames.
    for (std::uint32_t id = 6; id <= 10; ++id) m.on_painted(id, 500);
    CHECK(m.half());
    for (std::uint32_t id = 1000; id < 1010; ++id) m.on_painted(id, 500);  // never sent
    CHECK(m.half());
    for (std::uint32_t id = 11; id < 30; ++id) {
        m.on_sent(id, true);
        m.on_painted(id, 0);  // not reported
    }
    CHECK(m.half());
}

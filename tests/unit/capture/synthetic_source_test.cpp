// SyntheticFrameSource: full damage first, then small honest damage that matches the pixel changes.
#include "capture/synthetic_source.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>

using namespace portico::capture;
using namespace std::chrono_literals;

TEST_CASE("synthetic source: first capture and invalidate report the whole frame", "[synthetic]") {
    SyntheticFrameSource src(320, 240);
    CHECK(src.width() == 320);
    CHECK(src.height() == 240);
    auto c = src.capture(0ms);
    REQUIRE(c);
    REQUIRE(c->frame);
    CHECK(c->frame->width == 320);
    CHECK(c->frame->height == 240);
    CHECK(c->damage.area() == 320LL * 240);

    auto d = src.capture(0ms);
    REQUIRE(d);
    CHECK(d->damage.area() < 320LL * 240);
    src.invalidate();
    auto e = src.capture(0ms);
    REQUIRE(e);
    CHECK(e->damage.area() == 320LL * 240);
}

TEST_CASE("synthetic source: every step changes a small region and damage covers every changed pixel", "[synthetic]") {
    SyntheticFrameSource src(200, 150);
    auto first = src.capture(0ms);
    REQUIRE(first);
    Frame prev = *first->frame;
    for (int step = 1; step < 60; ++step) {
        auto c = src.capture(0ms);
        REQUIRE(c);
        const Frame& f = *c->frame;
        CHECK_FALSE(c->damage.empty());
        CHECK(c->damage.area() < 200LL * 150 / 4);
        CHECK(f.bounds().contains(c->damage.bounding_box()));
        long changed = 0;
        bool all_covered = true;
        for (int y = 0; y < f.height; ++y)
            for (int x = 0; x < f.width; ++x)
                if (std::memcmp(f.at(x, y), prev.at(x, y), 4) != 0) {
                    ++changed;
                    all_covered = all_covered && c->damage.contains_point(x, y);
                }
        CHECK(changed > 0);
        CHECK(all_covered);
        prev = f;
    }
}

TEST_CASE("synthetic source: the pattern is deterministic", "[synthetic]") {
    SyntheticFrameSource a(160, 120), b(160, 120);
    for (int i = 0; i < 25; ++i) {
        auto ca = a.capture(0ms), cb = b.capture(0ms);
        REQUIRE(ca);
        REQUIRE(cb);
        CHECK(ca->frame->pixels == cb->frame->pixels);
        CHECK(ca->damage.rects() == cb->damage.rects());
    }
}

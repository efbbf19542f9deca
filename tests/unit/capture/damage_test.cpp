// DamageRegion arithmetic: disjointness, exact area, clipping, simplification never losing damage.
#include "capture/damage.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace portico::capture;

TEST_CASE("rect intersection and union", "[damage]") {
    Rect a{0, 0, 10, 10}, b{5, 5, 10, 10};
    CHECK(a.intersected(b) == Rect{5, 5, 5, 5});
    CHECK(a.united(b) == Rect{0, 0, 15, 15});
    CHECK(a.intersected(Rect{20, 20, 1, 1}).empty());
    CHECK(Rect{}.united(b) == b);
}

TEST_CASE("overlapping rectangles are counted once", "[damage]") {
    DamageRegion d;
    d.add({0, 0, 10, 10});
    d.add({5, 5, 10, 10});
    CHECK(d.area() == 100 + 100 - 25);
    d.add({2, 2, 3, 3});  // already covered
    CHECK(d.area() == 175);
    CHECK(d.bounding_box() == Rect{0, 0, 15, 15});
    for (std::size_t i = 0; i < d.rects().size(); ++i)
        for (std::size_t j = i + 1; j < d.rects().size(); ++j) CHECK_FALSE(d.rects()[i].intersects(d.rects()[j]));
}

TEST_CASE("empty rectangles add nothing and clip removes outside parts", "[damage]") {
    DamageRegion d;
    d.add({3, 3, 0, 5});
    CHECK(d.empty());
    d.add({-5, -5, 10, 10});
    d.add({630, 470, 20, 20});
    d.clip({0, 0, 640, 480});
    CHECK(d.area() == 25 + 100);
}

TEST_CASE("simplify covers every damaged pixel and bounds the rectangle count", "[damage]") {
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> pos(0, 1900), size(1, 60);
    DamageRegion d;
    for (int i = 0; i < 200; ++i) d.add({pos(rng), pos(rng) / 2, size(rng), size(rng)});
    DamageRegion before = d;
    d.simplify(16);
    CHECK(d.rects().size() <= 16);
    CHECK(d.area() >= before.area());
    for (const Rect& r : before.rects())
        for (int y = r.y; y < r.bottom(); y += 7)
            for (int x = r.x; x < r.right(); x += 7) REQUIRE(d.contains_point(x, y));
}

TEST_CASE("adjacent rectangles merge without waste", "[damage]") {
    DamageRegion d;
    d.add({0, 0, 10, 10});
    d.add({10, 0, 10, 10});
    d.simplify();
    REQUIRE(d.rects().size() == 1);
    CHECK(d.rects()[0] == Rect{0, 0, 20, 10});
}

TEST_CASE("tiles split along the grid and cover the region exactly", "[damage]") {
    DamageRegion d;
    d.add({100, 50, 300, 70});
    auto tiles = d.tiles(64);
    long long area = 0;
    for (const Rect& t : tiles) {
        CHECK(t.w <= 64);
        CHECK(t.h <= 64);
        CHECK(Rect{100, 50, 300, 70}.contains(t));
        area += t.area();
    }
    CHECK(area == 300 * 70);
    // A strip that fits a tile's height stays whole across a grid line (one line of text, one tile).
    DamageRegion strip;
    strip.add({0, 1018, 900, 37});
    CHECK(strip.tiles(1024, 256) == std::vector<Rect>{{0, 1018, 900, 37}});
}

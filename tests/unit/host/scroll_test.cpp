#include "session-host/stream/lossy_map.hpp"
#include "session-host/stream/scroll_detector.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <random>

using portico::capture::Frame;
using portico::capture::Rect;
using namespace portico::host;

namespace {

// A terminal-like screen: text rows of random "glyph" noise on white, with blank lines between
// paragraphs (repeated rows, which must not confuse the detector).
Frame terminal(int w, int h, unsigned seed) {
    Frame f(w, h);
    std::memset(f.pixels.data(), 0xff, f.pixels.size());
    std::mt19937 rng(seed);
    for (int y = 0; y < h; ++y) {
        if ((y / 16) % 5 == 4) continue;  // a blank text line
        for (int x = 8; x < w - 8; ++x)
            if (rng() % 7 == 0) {
                auto* p = f.at(x, y);
                p[0] = p[1] = p[2] = static_cast<std::uint8_t>(rng() % 64);
            }
    }
    return f;
}

// `before` scrolled up by `lines` rows, with fresh text in the exposed rows at the bottom.
Frame scrolled(const Frame& before, int rows, unsigned seed) {
    Frame after = terminal(before.width, before.height, seed);
    for (int y = 0; y + rows < before.height; ++y)
        std::memcpy(after.row(y), before.row(y + rows), static_cast<std::size_t>(before.stride));
    return after;
}

// Applies a detected scroll to `shown` the way a client does: copies, then the changed rows from `after`.
void apply(Frame& shown, const VerticalScroll& s, const Frame& after) {
    for (const auto& r : s.moved)
        for (int i = 0; i < r.h; ++i) {
            int y = s.offset > 0 ? r.y + i : r.bottom() - 1 - i;
            std::memmove(shown.at(r.x, y), shown.at(r.x, y + s.offset), static_cast<std::size_t>(r.w) * 4);
        }
    for (const auto& r : s.changed)
        for (int y = r.y; y < r.bottom(); ++y)
            std::memcpy(shown.at(r.x, y), after.at(r.x, y), static_cast<std::size_t>(r.w) * 4);
}

}  // namespace

TEST_CASE("a terminal scrolling up is found as one move plus the new rows", "[scroll]") {
    const Frame before = terminal(640, 480, 1);
    const Frame after = scrolled(before, 16, 2);
    auto s = find_vertical_scroll(before, after, {0, 0, 640, 480});
    REQUIRE(s);
    CHECK(s->offset == 16);
    int moved = 0, changed = 0;
    for (const auto& r : s->moved) moved += r.h;
    for (const auto& r : s->changed) changed += r.h;
    CHECK(moved >= 464 - 16);  // nearly everything is a copy...
    CHECK(changed <= 16);      // ...and only the exposed line is new pixels
    Frame shown = before;
    apply(shown, *s, after);
    CHECK(shown.pixels == after.pixels);
}

TEST_CASE("the new rows of a scroll are one rectangle across rows that happen to be unchanged", "[scroll]") {
    const Frame before = terminal(640, 480, 21);
    Frame after = scrolled(before, 16, 22);
    // A new bottom line of text, one row of which equals the old (blank) one there.
    const Frame text = terminal(640, 480, 23);
    for (int y = 464; y < 480; ++y)
        std::memcpy(after.row(y), text.row(y - 464), static_cast<std::size_t>(before.stride));
    std::memcpy(after.row(470), before.row(470), static_cast<std::size_t>(before.stride));
    auto s = find_vertical_scroll(before, after, {0, 0, 640, 480});
    REQUIRE(s);
    REQUIRE(s->changed.size() == 1);
    CHECK(s->changed[0] == Rect{0, 464, 640, 16});
}

TEST_CASE("scrolling down and scrolling inside a region are found too", "[scroll]") {
    const Frame before = terminal(640, 480, 3);
    // Content moves down by 32 rows inside the area y 100..400 only (a scrolling pane).
    Frame after = before;
    for (int y = 399; y >= 132; --y)
        std::memcpy(after.row(y), before.row(y - 32), static_cast<std::size_t>(before.stride));
    const Frame fresh = terminal(640, 480, 4);
    for (int y = 100; y < 132; ++y) std::memcpy(after.row(y), fresh.row(y), static_cast<std::size_t>(before.stride));
    auto s = find_vertical_scroll(before, after, {0, 100, 640, 300});
    REQUIRE(s);
    CHECK(s->offset == -32);
    Frame shown = before;
    apply(shown, *s, after);
    CHECK(shown.pixels == after.pixels);
}

namespace {

// A scrollbar in columns [x, frame width): light track, dark thumb over rows [top, top + 100).
void scrollbar(Frame& f, int x, int top) {
    for (int y = 0; y < f.height; ++y)
        for (int c = x; c < f.width; ++c) std::memset(f.at(c, y), y >= top && y < top + 100 ? 0x40 : 0xd0, 4);
}

}  // namespace

TEST_CASE("a page scrolling beside a scrollbar that moves otherwise is a scroll of the page's columns", "[scroll]") {
    // One damage rectangle over page and scrollbar (what a browser's scroll step gives): no row
    // matches across the whole width, yet all but the bar's 32 columns are a copy.
    Frame before = terminal(640, 480, 11);
    scrollbar(before, 608, 0);
    Frame after = scrolled(before, 16, 12);
    scrollbar(after, 608, 150);  // the thumb moved by more than its length
    auto s = find_vertical_scroll(before, after, {0, 0, 640, 480});
    REQUIRE(s);
    CHECK(s->offset == 16);
    CHECK(s->area == Rect{0, 0, 608, 480});
    int moved = 0;
    for (const auto& r : s->moved) {
        CHECK(r.right() <= 608);
        moved += r.h;
    }
    CHECK(moved >= 464 - 16);
    // The client's picture: the copies and changed rows inside the band, the bar's columns whole.
    Frame shown = before;
    apply(shown, *s, after);
    for (int y = 0; y < 480; ++y) std::memcpy(shown.at(608, y), after.at(608, y), 32 * 4);
    CHECK(shown.pixels == after.pixels);
}

TEST_CASE("a band reaches past rows that are blank in the middle but new beside it", "[scroll]") {
    // A page over a status bar whose short text (left only, blank across the middle) changed:
    // its rows look moved in the middle band; they must not hold the band to the middle.
    auto status = [](Frame& f, unsigned seed) {
        const Frame text = terminal(640, 24, seed);
        for (int y = 440; y < 464; ++y) {
            std::memset(f.at(0, y), 0xff, 640 * 4);
            std::memcpy(f.at(8, y), text.at(8, y - 440), 142 * 4);
        }
    };
    Frame before = terminal(640, 480, 31);
    status(before, 41);
    scrollbar(before, 608, 0);
    Frame after = before;
    const Frame fresh = terminal(640, 480, 32);
    for (int y = 0; y < 440; ++y)
        std::memcpy(after.row(y), y + 16 < 440 ? before.row(y + 16) : fresh.row(y),
                    static_cast<std::size_t>(after.stride));
    status(after, 42);
    scrollbar(after, 608, 150);
    auto s = find_vertical_scroll(before, after, {0, 0, 640, 480});
    REQUIRE(s);
    CHECK(s->offset == 16);
    CHECK(s->area == Rect{0, 0, 608, 480});
    Frame shown = before;
    apply(shown, *s, after);
    for (int y = 0; y < 480; ++y) std::memcpy(shown.at(608, y), after.at(608, y), 32 * 4);
    CHECK(shown.pixels == after.pixels);
}

TEST_CASE("a band search finds nothing where nothing scrolled", "[scroll]") {
    Frame before = terminal(640, 480, 13);
    scrollbar(before, 608, 0);
    Frame after = terminal(640, 480, 14);
    scrollbar(after, 608, 20);
    CHECK_FALSE(find_vertical_scroll(before, after, {0, 0, 640, 480}));
}

TEST_CASE("unrelated changes, tiny areas and identical frames are not scrolls", "[scroll]") {
    const Frame a = terminal(640, 480, 5);
    const Frame b = terminal(640, 480, 6);
    CHECK_FALSE(find_vertical_scroll(a, b, {0, 0, 640, 480}));
    CHECK_FALSE(find_vertical_scroll(a, a, {0, 0, 640, 480}));
    CHECK_FALSE(find_vertical_scroll(a, scrolled(a, 4, 7), {0, 0, 640, 16}));
    CHECK_FALSE(find_vertical_scroll(a, a, {600, 0, 64, 480}));  // outside the frame
}

TEST_CASE("the lossy map tracks what is approximate and hands it back in bounded slices", "[scroll]") {
    LossyMap m;
    m.reset(1000, 500);
    CHECK(m.empty());
    m.mark_lossy({0, 0, 1000, 500});
    CHECK_FALSE(m.empty());
    // An exact update covering only part of a cell leaves that cell lossy.
    m.mark_exact({0, 0, 1000, 100});
    auto slice = m.take(1000LL * 64);
    REQUIRE_FALSE(slice.empty());
    CHECK(slice.front().y == 64);
    long long area = 0;
    for (const auto& r : slice) area += r.area();
    CHECK(area <= 1000LL * 64);
    m.mark_exact({0, 0, 1000, 500});
    CHECK(m.empty());
    // A copy carries the source's state to the destination.
    m.mark_lossy({0, 0, 64, 64});
    m.copy({0, 0, 64, 64}, 128, 128);
    auto all = m.take(1LL << 30);
    REQUIRE(all.size() == 2);
    CHECK(all[1] == Rect{128, 128, 64, 64});
    m.mark_exact({0, 0, 64, 64});
    m.copy({0, 0, 64, 64}, 128, 128);
    CHECK(m.empty());
}

TEST_CASE("a copy carries each cell's state, not the worst of the whole source", "[scroll]") {
    LossyMap m;
    m.reset(640, 640);
    m.mark_lossy({128, 320, 64, 64});  // one approximate cell in a page
    // The page scrolls up by 32 rows: the lossy cell's pixels now straddle rows 288..352.
    m.copy({0, 32, 640, 608}, 0, 0);
    auto all = m.take(1LL << 30);
    long long area = 0;
    for (const auto& r : all) {
        area += r.area();
        CHECK(r.x == 128);
        CHECK(r.w == 64);
    }
    CHECK(area == 2 * 64 * 64);  // the two cells it lands on, not the whole page
    // What an exact copy covers whole becomes exact; a cell it covers in part keeps its state.
    m.copy({0, 0, 640, 64}, 0, 256);
    CHECK(m.take(1LL << 30).size() == 1);
    m.copy({0, 0, 640, 32}, 0, 320);
    CHECK(m.take(1LL << 30).size() == 1);
}

namespace {

// A terminal-like desktop with a "window" (its own text, a border) at (wx, wy).
Frame desktop_with_window(const Frame& desk, const Frame& win, int wx, int wy) {
    Frame f = desk;
    for (int y = 0; y < win.height; ++y)
        std::memcpy(f.at(wx, wy + y), win.row(y), static_cast<std::size_t>(win.stride));
    return f;
}

Frame window_content(int w, int h) {
    Frame win = terminal(w, h, 99);
    for (int x = 0; x < w; ++x) {  // a dark border, like a window frame
        std::memset(win.at(x, 0), 0x20, 4);
        std::memset(win.at(x, h - 1), 0x20, 4);
    }
    for (int y = 0; y < h; ++y) {
        std::memset(win.at(0, y), 0x20, 4);
        std::memset(win.at(w - 1, y), 0x20, 4);
    }
    return win;
}

// What a client shows after a TileFrame: copies in order (from what it shows), then pixels of
// `after` for `exposed` (everything the copies do not cover inside the damage).
Frame apply_move(const Frame& shown_before, const Move& m, const Frame& after, const std::vector<Rect>& damage) {
    Frame shown = shown_before;
    for (const auto& r : m.moved) {
        const bool down = m.dy < 0;
        for (int i = 0; i < r.h; ++i) {
            int y = down ? r.bottom() - 1 - i : r.y + i;
            std::memmove(shown.at(r.x, y), shown.at(r.x + m.dx, y + m.dy), static_cast<std::size_t>(r.w) * 4);
        }
    }
    for (const auto& d : damage) {
        std::vector<Rect> left{d};
        for (const auto& c : m.moved) {
            std::vector<Rect> next;
            for (const auto& p : left)
                for (const auto& q : subtract(p, c)) next.push_back(q);
            left.swap(next);
        }
        for (const auto& p : left)
            for (int y = p.y; y < p.bottom(); ++y)
                std::memcpy(shown.at(p.x, y), after.at(p.x, y), static_cast<std::size_t>(p.w) * 4);
    }
    return shown;
}

long long area_of(const std::vector<Rect>& rs) {
    long long a = 0;
    for (const auto& r : rs) a += r.area();
    return a;
}

}  // namespace

TEST_CASE("a dragged window is found as one 2-D move, the rest is only the exposed area", "[scroll][move]") {
    const Frame desk = terminal(1280, 800, 3);
    const Frame win = window_content(400, 260);
    struct Case {
        int x0, y0, x1, y1;
    };
    for (auto c :
         {Case{200, 150, 237, 171}, Case{500, 300, 470, 281}, Case{100, 100, 160, 100}, Case{300, 400, 300, 330}}) {
        CAPTURE(c.x0, c.y0, c.x1, c.y1);
        const Frame before = desktop_with_window(desk, win, c.x0, c.y0);
        const Frame after = desktop_with_window(desk, win, c.x1, c.y1);
        const Rect old_r{c.x0, c.y0, win.width, win.height}, new_r{c.x1, c.y1, win.width, win.height};
        const Rect area = old_r.united(new_r);
        auto m = find_move(before, after, area);
        REQUIRE(m);
        CHECK(m->dx == c.x0 - c.x1);
        CHECK(m->dy == c.y0 - c.y1);
        // The copies cover (nearly) the whole window at its new place, and only verified pixels.
        CHECK(area_of(m->moved) >= new_r.area() * 95 / 100);
        for (const auto& r : m->moved) CHECK(area.contains(r));
        // Decoded frame equals the source.
        auto shown = apply_move(before, *m, after, {old_r, new_r});
        CHECK(shown.pixels == after.pixels);
        // What is left to send as pixels is about the uncovered strip of the old place.
        std::vector<Rect> left{old_r, new_r};
        for (const auto& cp : m->moved) {
            std::vector<Rect> next;
            for (const auto& p : left)
                for (const auto& q : subtract(p, cp)) next.push_back(q);
            left.swap(next);
        }
        long long exposed = old_r.area() - old_r.intersected(new_r).area();
        CHECK(area_of(left) <= exposed + new_r.area() / 20);
    }
}

TEST_CASE("no move is reported for unrelated changes or identical frames", "[scroll][move]") {
    const Frame a = terminal(640, 480, 5), b = terminal(640, 480, 6);
    CHECK_FALSE(find_move(a, b, {0, 0, 640, 480}));
    CHECK_FALSE(find_move(a, a, {0, 0, 640, 480}));
    CHECK_FALSE(find_move(a, b, {0, 0, 20, 20}));
    CHECK(subtract({0, 0, 10, 10}, {20, 20, 5, 5}) == std::vector<Rect>{{0, 0, 10, 10}});
    CHECK(subtract({0, 0, 10, 10}, {0, 0, 10, 10}).empty());
    CHECK(area_of(subtract({0, 0, 10, 10}, {2, 3, 4, 5})) == 100 - 20);
}

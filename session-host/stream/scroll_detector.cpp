#include "session-host/stream/scroll_detector.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_map>

namespace portico::host {

namespace {

constexpr int kMinRows = 32;  // smaller areas are cheap to send as pixels anyway
constexpr int kMinWidth = 32;
constexpr int kMinMatchedRows = 8;  // an offset must explain at least this many changed rows
constexpr int kJoinGap = 8;         // changed rows at most this far apart are sent as one rectangle

std::uint64_t mix(std::uint64_t h, std::uint64_t w) {
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    return h ^ (h >> 29);
}

std::uint64_t row_hash(const std::uint8_t* p, int width) {
    // Word-at-a-time multiply-xorshift: fast, and collisions only cost a memcmp (rows are compared
    // before being trusted). Four independent lanes, because one chain waits on each multiply:
    // a video frame hashes ~25 MB of rows before the detectors give up, 1.6 ms a frame with one.
    const int words = width / 2;  // two BGRX pixels per 64-bit word
    std::uint64_t lane[4] = {0x9e3779b97f4a7c15ull ^ static_cast<std::uint64_t>(width), 0x3c6ef372fe94f82bull,
                             0xdaa66d2c7ddf743full, 0x78dde6e5fd29f053ull};
    auto word = [p](int i) {
        std::uint64_t w;
        std::memcpy(&w, p + static_cast<std::size_t>(i) * 8, 8);
        return w;
    };
    int i = 0;
    for (; i + 4 <= words; i += 4)
        for (int k = 0; k < 4; ++k) lane[k] = mix(lane[k], word(i + k));
    for (; i < words; ++i) lane[0] = mix(lane[0], word(i));
    std::uint64_t h = mix(mix(mix(lane[0], lane[1]), lane[2]), lane[3]);
    if (width & 1) {
        std::uint32_t w;
        std::memcpy(&w, p + static_cast<std::size_t>(width - 1) * 4, 4);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
        h ^= h >> 31;
    }
    return h;
}

bool rows_equal(const capture::Frame& a, int ya, const capture::Frame& b, int yb, const capture::Rect& area) {
    return std::memcmp(a.at(area.x, ya), b.at(area.x, yb), static_cast<std::size_t>(area.w) * 4) == 0;
}

// Consecutive rows [first, last) of the area where `keep(y)` holds, as rectangles.
template <class Pred>
std::vector<capture::Rect> runs(const capture::Rect& area, Pred keep) {
    std::vector<capture::Rect> out;
    int start = -1;
    for (int y = area.y; y <= area.bottom(); ++y) {
        bool k = y < area.bottom() && keep(y);
        if (k && start < 0) start = y;
        if (!k && start >= 0) {
            out.push_back({area.x, start, area.w, y - start});
            start = -1;
        }
    }
    return out;
}

// One offset for the whole width of `area` (find_vertical_scroll without the band search).
std::optional<VerticalScroll> scroll_across(const capture::Frame& before, const capture::Frame& after,
                                            const capture::Rect& area) {
    if (area.h < kMinRows || area.w < kMinWidth || !before.bounds().contains(area) || !after.bounds().contains(area) ||
        before.width != after.width || before.height != after.height)
        return std::nullopt;

    const int n = area.h;
    std::vector<std::uint64_t> hb(static_cast<std::size_t>(n)), ha(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        hb[static_cast<std::size_t>(i)] = row_hash(before.at(area.x, area.y + i), area.w);
        ha[static_cast<std::size_t>(i)] = row_hash(after.at(area.x, area.y + i), area.w);
    }

    // Rows that occur once in `before` vote for the offset that brings them to their new place;
    // repeated rows (blank lines, borders) would vote for every offset and are left out.
    std::unordered_map<std::uint64_t, int> where;  // hash -> row index, or -1 if repeated
    where.reserve(static_cast<std::size_t>(n) * 2);
    for (int i = 0; i < n; ++i) {
        auto [it, fresh] = where.emplace(hb[static_cast<std::size_t>(i)], i);
        if (!fresh) it->second = -1;
    }
    std::unordered_map<int, int> votes;
    for (int i = 0; i < n; ++i) {
        if (ha[static_cast<std::size_t>(i)] == hb[static_cast<std::size_t>(i)]) continue;  // unchanged here
        auto it = where.find(ha[static_cast<std::size_t>(i)]);
        if (it == where.end() || it->second < 0) continue;
        ++votes[it->second - i];
    }
    int offset = 0, best = 0;
    for (auto [o, v] : votes)
        if (v > best || (v == best && std::abs(o) < std::abs(offset))) offset = o, best = v;
    if (offset == 0 || best < kMinMatchedRows) return std::nullopt;

    auto unchanged = [&](int y) {
        int i = y - area.y;
        return ha[static_cast<std::size_t>(i)] == hb[static_cast<std::size_t>(i)] &&
               rows_equal(after, y, before, y, area);
    };
    auto moved = [&](int y) {
        int i = y - area.y, j = i + offset;
        return j >= 0 && j < n && ha[static_cast<std::size_t>(i)] == hb[static_cast<std::size_t>(j)] &&
               rows_equal(after, y, before, y + offset, area);
    };
    VerticalScroll s;
    s.area = area;
    s.offset = offset;
    // A moved row that is also unchanged (blank on blank) still joins its run: fewer, larger copies.
    s.moved = runs(area, moved);
    // The client applies copies one after another, so each must read rows no earlier copy wrote:
    // content moving up (offset > 0) is copied top first, content moving down bottom first.
    if (offset < 0) std::reverse(s.moved.begin(), s.moved.end());
    s.changed = runs(area, [&](int y) { return !moved(y) && !unchanged(y); });
    // New text lines come with rows that happen to equal the old ones (a glyph's blank row):
    // across such short gaps the changed rows go as one rectangle, so one tile (one palette and
    // deflate stream) carries a whole line instead of slivers of 5 and 6 rows.
    std::vector<capture::Rect> joined;
    for (const auto& r : s.changed) {
        if (!joined.empty() && r.y - joined.back().bottom() <= kJoinGap)
            joined.back().h = r.bottom() - joined.back().y;
        else
            joined.push_back(r);
    }
    s.changed = std::move(joined);
    int moved_rows = 0;
    for (const auto& r : s.moved) moved_rows += r.h;
    if (moved_rows < kMinMatchedRows) return std::nullopt;
    return s;
}

bool same_pixel(const std::uint8_t* a, const std::uint8_t* b) {
    // The X (padding) byte may differ between captures of the same picture.
    return a[0] == b[0] && a[1] == b[1] && a[2] == b[2];
}

// The columns [x0, x1) of `area` around the band `s` was found in where nearly every moved row of
// `s` equals `before` at the offset: how far the scrolling content reaches left and right. Nearly:
// a row that is blank across the band can still be new text beside it (a page's short lines);
// the band is checked row by row again afterwards, and such rows become changed rows.
std::pair<int, int> scrolling_columns(const capture::Frame& before, const capture::Frame& after,
                                      const capture::Rect& area, const VerticalScroll& s) {
    std::vector<int> lefts, rights;
    for (const auto& r : s.moved)
        for (int y = r.y; y < r.bottom(); ++y) {
            const std::uint8_t* now = after.at(0, y);
            const std::uint8_t* was = before.at(0, y + s.offset);
            int left = s.area.x;
            while (left > area.x && same_pixel(now + (left - 1) * 4, was + (left - 1) * 4)) --left;
            int right = s.area.right();
            while (right < area.right() && same_pixel(now + right * 4, was + right * 4)) ++right;
            lefts.push_back(left);
            rights.push_back(right);
        }
    if (lefts.empty()) return {s.area.x, s.area.right()};
    // As far as nine rows in ten reach.
    const auto tenth = lefts.size() / 10;
    std::nth_element(lefts.begin(), lefts.end() - 1 - static_cast<std::ptrdiff_t>(tenth), lefts.end());
    std::nth_element(rights.begin(), rights.begin() + static_cast<std::ptrdiff_t>(tenth), rights.end());
    return {lefts[lefts.size() - 1 - tenth], rights[tenth]};
}

// Pixels left to send in `area` after `s`: its changed rows, and the columns beside its band.
long long left_over(const VerticalScroll& s, const capture::Rect& area) {
    long long px = area.area() - s.area.area();
    for (const auto& r : s.changed) px += r.area();
    return px;
}

}  // namespace

std::optional<VerticalScroll> find_vertical_scroll(const capture::Frame& before, const capture::Frame& after,
                                                   const capture::Rect& area) {
    auto whole = scroll_across(before, after, area);
    // A scroll across the whole width that leaves a few new lines is the common case (a terminal,
    // an editor) and needs no second look, which would cost as much again.
    if (whole && left_over(*whole, area) * 4 < area.area()) return whole;
    // Columns that do not move with the rest (a scrollbar's thumb, a panel) spoil the rows they
    // cross across the whole width (all of them, when the panel changes throughout): look in the
    // middle half, then widen to the columns that moved with it, and keep whichever leaves fewer
    // pixels to send.
    if (area.w < 4 * kMinWidth) return whole;
    const capture::Rect middle{area.x + area.w / 4, area.y, area.w / 2, area.h};
    auto band = scroll_across(before, after, middle);
    if (!band) return whole;
    const auto [x0, x1] = scrolling_columns(before, after, area, *band);
    if (x0 != middle.x || x1 != middle.right()) {
        // Again over the whole band: its rows must match across every column it covers.
        if (auto wide = scroll_across(before, after, {x0, area.y, x1 - x0, area.h})) band = std::move(wide);
    }
    if (whole && left_over(*whole, area) <= left_over(*band, area)) return whole;
    return band;
}

namespace {

constexpr int kStrip = 16;          // pixels per hashed strip
constexpr int kAnchorRowStep = 4;   // anchors are taken from every 4th row...
constexpr int kAnchorColStep = 16;  // ...every 16th column
constexpr std::size_t kMaxAnchors = 512;
constexpr int kMinMoveVotes = 6;
constexpr long long kMinMovedArea = 48 * 32;
constexpr std::uint64_t kBase = 0x100000001b3ull;

std::uint32_t px(const capture::Frame& f, int x, int y) {
    std::uint32_t v;
    std::memcpy(&v, f.at(x, y), 4);
    return v & 0x00ffffffu;  // X (padding) bytes may differ between captures of the same picture
}

std::uint64_t strip_hash(const capture::Frame& f, int x, int y) {
    std::uint64_t h = 0;
    for (int k = 0; k < kStrip; ++k) h = h * kBase + px(f, x + k, y);
    return h;
}

bool pixels_equal(const capture::Frame& a, int ax, int ay, const capture::Frame& b, int bx, int by, int w) {
    for (int k = 0; k < w; ++k)
        if (px(a, ax + k, ay) != px(b, bx + k, by)) return false;
    return true;
}

}  // namespace

std::vector<capture::Rect> subtract(const capture::Rect& r, const capture::Rect& hole) {
    if (!r.intersects(hole)) return {r};
    const capture::Rect h = r.intersected(hole);
    std::vector<capture::Rect> out;
    if (h.y > r.y) out.push_back({r.x, r.y, r.w, h.y - r.y});
    if (h.bottom() < r.bottom()) out.push_back({r.x, h.bottom(), r.w, r.bottom() - h.bottom()});
    if (h.x > r.x) out.push_back({r.x, h.y, h.x - r.x, h.h});
    if (h.right() < r.right()) out.push_back({h.right(), h.y, r.right() - h.right(), h.h});
    return out;
}

std::optional<Move> find_move(const capture::Frame& before, const capture::Frame& after, const capture::Rect& area) {
    if (area.h < kMinRows || area.w < kMinWidth || !before.bounds().contains(area) || !after.bounds().contains(area) ||
        before.width != after.width || before.height != after.height)
        return std::nullopt;

    // Anchors: strips of the new frame that changed and are not flat (a flat strip matches anywhere).
    std::unordered_map<std::uint64_t, std::vector<std::pair<int, int>>> anchors;
    std::size_t n_anchors = 0;
    for (int y = area.y; y < area.bottom() && n_anchors < kMaxAnchors; y += kAnchorRowStep)
        for (int x = area.x; x + kStrip <= area.right() && n_anchors < kMaxAnchors; x += kAnchorColStep) {
            if (pixels_equal(after, x, y, before, x, y, kStrip)) continue;
            const std::uint32_t first = px(after, x, y);
            bool flat = true;
            for (int k = 1; k < kStrip && flat; ++k) flat = px(after, x + k, y) == first;
            if (flat) continue;
            anchors[strip_hash(after, x, y)].push_back({x, y});
            ++n_anchors;
        }
    if (n_anchors < static_cast<std::size_t>(kMinMoveVotes)) return std::nullopt;

    // Find them again in the old frame (rolling hash along each row) and vote for their offsets.
    std::uint64_t top = 1;  // kBase^(kStrip-1)
    for (int k = 1; k < kStrip; ++k) top *= kBase;
    std::unordered_map<std::uint64_t, int> votes;  // (dx, dy) packed
    auto pack = [](int dx, int dy) {
        return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(dx)) << 32) | static_cast<std::uint32_t>(dy);
    };
    for (int y = area.y; y < area.bottom(); ++y) {
        if (area.w < kStrip) break;
        std::uint64_t h = strip_hash(before, area.x, y);
        for (int x = area.x;; ++x) {
            if (auto it = anchors.find(h); it != anchors.end() && it->second.size() <= 4)
                for (auto [ax, ay] : it->second)
                    if (x != ax || y != ay) ++votes[pack(x - ax, y - ay)];
            if (x + kStrip >= area.right()) break;
            h = (h - top * px(before, x, y)) * kBase + px(before, x + kStrip, y);
        }
    }
    int dx = 0, dy = 0, best = 0;
    for (auto [key, v] : votes)
        if (v > best) {
            best = v;
            dx = static_cast<int>(static_cast<std::int32_t>(key >> 32));
            dy = static_cast<int>(static_cast<std::int32_t>(key & 0xffffffffu));
        }
    if (best < kMinMoveVotes || (dx == 0 && dy == 0)) return std::nullopt;

    // Destinations whose source also lies in the area.
    const capture::Rect span = area.intersected({area.x - dx, area.y - dy, area.w, area.h});
    if (span.w < kMinWidth || span.h < 8) return std::nullopt;
    auto agrees = [&](int x, int y) { return px(after, x, y) == px(before, x + dx, y + dy); };
    // Seed: the columns and rows where changed pixels agree with the offset.
    std::vector<int> col(static_cast<std::size_t>(span.w)), row(static_cast<std::size_t>(span.h));
    for (int y = span.y; y < span.bottom(); ++y)
        for (int x = span.x; x < span.right(); ++x)
            if (agrees(x, y) && px(after, x, y) != px(before, x, y)) {
                ++col[static_cast<std::size_t>(x - span.x)];
                ++row[static_cast<std::size_t>(y - span.y)];
            }
    // The longest stretch of columns (rows) with agreeing changed pixels, bridging short gaps (a
    // blank column inside a window); a count of 1 is coincidence.
    auto longest_run = [](const std::vector<int>& c) {
        constexpr int kGap = 8;
        int bs = 0, bl = 0, s = -1, last = -1;
        for (int i = 0; i <= static_cast<int>(c.size()); ++i) {
            const bool in = i < static_cast<int>(c.size()) && c[static_cast<std::size_t>(i)] >= 2;
            if (in) {
                if (s < 0 || i - last > kGap) s = i;
                last = i;
                if (last - s + 1 > bl) bl = last - s + 1, bs = s;
            }
        }
        return std::pair<int, int>{bs, bl};
    };
    auto [c0, cw] = longest_run(col);
    auto [r0, rh] = longest_run(row);
    if (cw < kMinWidth / 2 || rh < 8) return std::nullopt;
    capture::Rect r{span.x + c0, span.y + r0, cw, rh};
    // Grow over flat margins (window background) while whole edges agree.
    auto col_agrees = [&](int x, int y0, int y1) {
        for (int y = y0; y < y1; ++y)
            if (!agrees(x, y)) return false;
        return true;
    };
    auto row_agrees = [&](int y, int x0, int x1) {
        return pixels_equal(after, x0, y, before, x0 + dx, y + dy, x1 - x0);
    };
    while (r.x > span.x && col_agrees(r.x - 1, r.y, r.bottom())) --r.x, ++r.w;
    while (r.right() < span.right() && col_agrees(r.right(), r.y, r.bottom())) ++r.w;
    while (r.y > span.y && row_agrees(r.y - 1, r.x, r.right())) --r.y, ++r.h;
    while (r.bottom() < span.bottom() && row_agrees(r.bottom(), r.x, r.right())) ++r.h;

    // Every row of a copy must agree exactly; rows that do not are left to the pixels.
    Move m{dx, dy, {}};
    long long moved_area = 0;
    int start = -1;
    for (int y = r.y; y <= r.bottom(); ++y) {
        bool ok = y < r.bottom() && row_agrees(y, r.x, r.right());
        if (ok && start < 0) start = y;
        if (!ok && start >= 0) {
            if (y - start >= 2) {
                m.moved.push_back({r.x, start, r.w, y - start});
                moved_area += static_cast<long long>(r.w) * (y - start);
            }
            start = -1;
        }
    }
    if (moved_area < kMinMovedArea) return std::nullopt;
    // Copies run in order: content moving down (source above, dy < 0) is copied bottom first.
    if (dy < 0) std::reverse(m.moved.begin(), m.moved.end());
    return m;
}

}  // namespace portico::host

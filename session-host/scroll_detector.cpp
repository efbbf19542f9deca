#include "session-host/scroll_detector.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_map>

namespace portico::host {

namespace {

constexpr int kMinRows = 32;        // smaller areas are cheap to send as pixels anyway
constexpr int kMinWidth = 32;
constexpr int kMinMatchedRows = 8;  // an offset must explain at least this many changed rows

std::uint64_t row_hash(const std::uint8_t* p, int width) {
    // Word-at-a-time multiply-xorshift: fast, and collisions only cost a memcmp (rows are compared
    // before being trusted).
    std::uint64_t h = 0x9e3779b97f4a7c15ull ^ static_cast<std::uint64_t>(width);
    const int words = width / 2;  // two BGRX pixels per 64-bit word
    for (int i = 0; i < words; ++i) {
        std::uint64_t w;
        std::memcpy(&w, p + static_cast<std::size_t>(i) * 8, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 29;
    }
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

}  // namespace

std::optional<VerticalScroll> find_vertical_scroll(const capture::Frame& before, const capture::Frame& after,
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
        return ha[static_cast<std::size_t>(i)] == hb[static_cast<std::size_t>(i)] && rows_equal(after, y, before, y, area);
    };
    auto moved = [&](int y) {
        int i = y - area.y, j = i + offset;
        return j >= 0 && j < n && ha[static_cast<std::size_t>(i)] == hb[static_cast<std::size_t>(j)] &&
               rows_equal(after, y, before, y + offset, area);
    };
    VerticalScroll s;
    s.offset = offset;
    // A moved row that is also unchanged (blank on blank) still joins its run: fewer, larger copies.
    s.moved = runs(area, moved);
    // The client applies copies one after another, so each must read rows no earlier copy wrote:
    // content moving up (offset > 0) is copied top first, content moving down bottom first.
    if (offset < 0) std::reverse(s.moved.begin(), s.moved.end());
    s.changed = runs(area, [&](int y) { return !moved(y) && !unchanged(y); });
    int moved_rows = 0;
    for (const auto& r : s.moved) moved_rows += r.h;
    if (moved_rows < kMinMatchedRows) return std::nullopt;
    return s;
}

}  // namespace portico::host

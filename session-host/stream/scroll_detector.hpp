#pragma once
// Finds content that moved between two frames — vertically (a terminal or a page scrolling) or
// in 2-D (a dragged window) — so the host can send "copy these pixels" plus only the newly exposed
// parts instead of re-encoding the area: what Xpra's scroll encoding, RDP's ScrBlt and VNC's
// CopyRect do. Pure functions on frames; capture thread.

#include "capture/frame.hpp"

#include <optional>
#include <vector>

namespace portico::host {

struct VerticalScroll {
    // The columns that scroll: the whole area, or a band of it when the rest does not move with it.
    capture::Rect area;
    // after(x, y) == before(x, y + offset) for every row of `moved`.
    int offset = 0;
    // Destination rectangles (full width of `area`), in the order they must be applied.
    std::vector<capture::Rect> moved;
    std::vector<capture::Rect> changed;  // rows of the area that need new pixels
};

// Looks for one vertical offset that explains most changed rows of `area` (inside both frames,
// which have the same size), across its whole width or, failing that, across a band of its columns
// around the middle: a page that scrolls beside a scrollbar or a side panel that does not (a
// browser's damage is one rectangle over both). The band is as wide as the columns that moved with
// the middle; what lies outside it is the caller's to send. nullopt when there is none worth
// sending as moves: too few rows match, or the area is too small to bother.
std::optional<VerticalScroll> find_vertical_scroll(const capture::Frame& before, const capture::Frame& after,
                                                   const capture::Rect& area);

struct Move {
    // after(x, y) == before(x + dx, y + dy) for every pixel of `moved`.
    int dx = 0, dy = 0;
    // Destination rectangles, in the order they must be applied (none reads what an earlier one wrote).
    std::vector<capture::Rect> moved;
};

// Looks for one 2-D offset that explains a rectangle of changed content inside `area` (a dragged
// window: its old and new places both lie in the damage). Candidate offsets come from hashes of
// short pixel strips of the new frame found again in the old one; the moved rectangle is grown
// from the pixels that agree and every row of it is verified exactly. nullopt when nothing
// sizeable moved.
std::optional<Move> find_move(const capture::Frame& before, const capture::Frame& after, const capture::Rect& area);

// `r` minus `hole`: up to four rectangles.
std::vector<capture::Rect> subtract(const capture::Rect& r, const capture::Rect& hole);

}  // namespace portico::host

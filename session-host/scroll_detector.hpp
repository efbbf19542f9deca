#pragma once
// Finds content that moved vertically between two frames (a terminal or a page scrolling), so
// the host can send "copy these rows" plus only the newly exposed strip instead of re-encoding
// the area — what Xpra's scroll encoding, RDP's ScrBlt and VNC's CopyRect do. Pure functions on
// frames; capture thread.

#include "capture/frame.hpp"

#include <optional>
#include <vector>

namespace portico::host {

struct VerticalScroll {
    // after(x, y) == before(x, y + offset) for every row of `moved`.
    int offset = 0;
    // Destination rectangles (full width of the area), in the order they must be applied.
    std::vector<capture::Rect> moved;
    std::vector<capture::Rect> changed;  // rows of the area that need new pixels
};

// Looks for one vertical offset that explains most changed rows of `area` (inside both frames,
// which have the same size). nullopt when there is none worth sending as moves: too few rows
// match, or the area is too small to bother.
std::optional<VerticalScroll> find_vertical_scroll(const capture::Frame& before, const capture::Frame& after,
                                                   const capture::Rect& area);

}  // namespace portico::host

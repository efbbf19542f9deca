#pragma once
// Spanning a session over several monitors: which monitors --monitors names (numbers as
// --list-monitors prints them: SDL's display index + 1), the rectangle the window covers (their
// union, which must be theirs alone) and the layout the host lays the session's RandR monitors out
// by (each monitor's rectangle in session pixels, and the primary). Pure; main thread.

#include "client/native/client_error.hpp"
#include "protocol/display.hpp"

#include <string>
#include <vector>

namespace portico::client {

// A monitor of the local display, in SDL's global desktop coordinates (SDL_GetDisplayBounds).
struct DisplayRect {
    int x = 0, y = 0, w = 0, h = 0;
    bool operator==(const DisplayRect&) const = default;
};

// --monitors: "all", or numbers separated by commas ("1,2"). Empty numbers with all = false
// never comes out of parse_monitor_selection.
struct MonitorSelection {
    bool all = false;
    std::vector<int> numbers;  // 1-based, ascending, no repeats
};
ClientResult<MonitorSelection> parse_monitor_selection(const std::string& text);

struct SpanLayout {
    DisplayRect window;                         // what the window covers, in desktop coordinates
    std::vector<protocol::MonitorRect> layout;  // the chosen monitors, relative to the window
    int primary = 0;                            // index in layout
};

// The window and layout for `chosen` among `displays` (SDL's order: on X11 the primary output
// first, so number 1 is the primary when chosen; otherwise the first chosen one is). Errors
// (usage): a number the display does not have, monitors that overlap (mirrored), or a union that
// reaches over a monitor not chosen (the window would cover part of it).
ClientResult<SpanLayout> span_layout(const std::vector<DisplayRect>& displays, const MonitorSelection& chosen);

}  // namespace portico::client

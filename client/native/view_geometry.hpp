#pragma once
// Where the session's picture goes in the window, and which session pixel a window point is. The
// session is shown one session pixel per output pixel at the window's top-left corner whenever it
// fits (the usual case: resize follows the window, and the host rounds sizes down to even
// numbers); only a session larger than the window (a host that cannot follow, or before it has)
// is scaled down to fit, keeping its aspect. Pure; any thread.

#include <optional>

namespace portico::client {

struct ViewRect {
    int x = 0, y = 0, w = 0, h = 0;
    bool operator==(const ViewRect&) const = default;
};

// The output-pixel rectangle showing a session_w x session_h picture in an out_w x out_h window.
ViewRect fit_view(int session_w, int session_h, int out_w, int out_h);

struct SessionPoint {
    int x = 0, y = 0;
    bool operator==(const SessionPoint&) const = default;
};

// The session pixel under output pixel (px, py), clamped to the picture's edges (a drag may
// leave the picture). nullopt when the view is empty.
std::optional<SessionPoint> session_point(const ViewRect& view, int session_w, int session_h, double px, double py);

}  // namespace portico::client

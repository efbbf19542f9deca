#pragma once
// ScreenSizer: changes an Xvfb screen's size with RandR 1.2 so an app session follows its
// client's window. Xvfb cannot grow past the size it was started with, so sessions start it at
// their largest size and shrink it right away (XvfbDisplay::kMaxWidth/kMaxHeight). The connection
// stays open for the session's life because RandR modes belong to the client that created them.
// It also lays out the screen's RandR monitors (RandR 1.5) for a client spanning several
// monitors, so window managers and toolkits in the session maximise onto one of them.
// Called from the session's capture thread only.

#include "protocol/display.hpp"

#include <cstdint>
#include <string>
#include <vector>

struct xcb_connection_t;

namespace portico::host {

class ScreenSizer {
public:
    // Throws std::runtime_error if the display is unreachable or lacks RandR 1.2. Every size it
    // sets keeps `dpi` (the physical size RandR reports), so apps see the DPI the session started at.
    ScreenSizer(const std::string& display, const std::string& xauthority, int dpi = 96);
    ~ScreenSizer();
    ScreenSizer(const ScreenSizer&) = delete;
    ScreenSizer& operator=(const ScreenSizer&) = delete;

    int max_width() const { return max_width_; }
    int max_height() const { return max_height_; }
    // Sets the screen (and its one CRTC) to width x height, clamped to 1..max. Returns false with
    // the reason in `why` if the server refused; the screen is then unchanged or at a valid size.
    bool set_size(int width, int height, std::string& why);
    // The screen's RandR monitors become `monitors` (inside the screen, not overlapping;
    // monitors[primary] is the primary one); empty: one monitor, the whole screen (the output's
    // own). Replaces the monitors an earlier call set. False with the reason in `why` if the server
    // refused; the screen then has the output's own monitor or part of the layout.
    bool set_monitors(const std::vector<protocol::MonitorRect>& monitors, int primary, std::string& why);

private:
    xcb_connection_t* conn_ = nullptr;
    std::uint32_t root_ = 0;
    int max_width_ = 0, max_height_ = 0;
    int dpi_ = 96;
    bool has_monitors_ = false;  // RandR 1.5
};

}  // namespace portico::host

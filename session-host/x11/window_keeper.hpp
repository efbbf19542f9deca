#pragma once
// WindowKeeper: the little a single-app session needs of a window manager. An app session has no
// window manager, so without help keyboard focus follows the pointer and the app's window sits at
// its default size in a corner. The keeper sizes the app's first top-level window to the screen
// and gives keyboard focus to the newest mapped top-level window (the main window, then dialogs).
// Called from the session's capture thread only.

#include <cstdint>
#include <string>

struct xcb_connection_t;

namespace portico::host {

class WindowKeeper {
public:
    // Connects and starts watching the root window; create it before the app starts so the app's
    // first window is seen. Throws std::runtime_error if the display is unreachable.
    WindowKeeper(const std::string& display, const std::string& xauthority);
    ~WindowKeeper();
    WindowKeeper(const WindowKeeper&) = delete;
    WindowKeeper& operator=(const WindowKeeper&) = delete;

    // Handles pending window events without blocking.
    void poll();
    // The screen changed size (RandR): the main window follows it.
    void set_screen_size(int width, int height);
    std::uint32_t main_window() const { return main_; }
    std::uint32_t focused_window() const { return focused_; }

private:
    void focus(std::uint32_t window);
    void fit_main_window();
    xcb_connection_t* conn_ = nullptr;
    std::uint32_t root_ = 0, main_ = 0, focused_ = 0;
    int width_ = 0, height_ = 0;
};

}  // namespace portico::host

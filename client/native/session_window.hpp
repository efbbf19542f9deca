#pragma once
// SessionWindow: the SDL window showing a session. The decoded screen (Framebuffer) is copied
// into a streaming texture, only the rectangles that changed; present() draws it (fit_view), the
// stats overlay on top when shown, and presents. The session's pointer shape is the window's
// cursor (SDL_CreateColorCursor), so moving the pointer costs no frame. Full screen and the
// keyboard grab live here too. Owned and used by the window (main) thread only; SDL must be
// initialised (SDL_INIT_VIDEO) before one is made and quit after the last is gone.

#include "capture/frame.hpp"
#include "client/native/monitor_layout.hpp"
#include "client/native/view_geometry.hpp"
#include "protocol/display.hpp"

#include <SDL.h>

#include <string>
#include <vector>

namespace portico::client {

class SessionWindow {
public:
    // A window of w x h points (the session's size, within the display), not yet showing anything.
    // Throws std::runtime_error with SDL's message if the window or renderer cannot be made.
    SessionWindow(const std::string& title, int w, int h, bool fullscreen);
    // A borderless window covering `span` (desktop coordinates: the union of the monitors the
    // session spans, monitor_layout.hpp), keyboard grabbed as in full screen. Throws as above.
    SessionWindow(const std::string& title, const DisplayRect& span);
    ~SessionWindow();
    SessionWindow(const SessionWindow&) = delete;
    SessionWindow& operator=(const SessionWindow&) = delete;

    // The session's screen is now w x h: a new texture, painted in full by the next upload.
    void set_session_size(int w, int h);
    // Copies the changed rectangles of frame (the whole frame when full) into the texture.
    void upload(const capture::Frame& frame, const std::vector<capture::Rect>& dirty, bool full);
    // Draws the picture and the overlay lines (none: no overlay) and presents.
    void present(const std::vector<std::string>& overlay);

    // A CursorShape: becomes the window's cursor; width 0 hides it.
    void set_cursor(const protocol::CursorShape& c);

    // The window's size in output pixels (what the session should be), and the view in them.
    SDL_Point output_size() const;
    ViewRect view() const { return fit_view(session_w_, session_h_, out_w_, out_h_); }
    // The session pixel under a window point (SDL mouse coordinates are points).
    std::optional<SessionPoint> to_session(int x, int y) const;
    // Output pixels per point (above 1 on HiDPI displays where SDL scales windows).
    double pixel_ratio() const;

    // Moves and resizes a spanning window to cover `span` (the monitors changed).
    void cover(const DisplayRect& span);
    // Re-reads the output size after SDL reports a size change.
    void size_changed();

    bool fullscreen() const;
    void set_fullscreen(bool on);
    // Takes the keyboard (Alt+Tab and the like go to the session) or gives it back.
    void grab_keyboard(bool on);
    bool keyboard_grabbed() const;

    void set_title(const std::string& title);
    Uint32 id() const { return SDL_GetWindowID(window_); }

private:
    void make_renderer();
    SDL_Window* window_ = nullptr;
    SDL_Renderer* renderer_ = nullptr;
    SDL_Texture* texture_ = nullptr;
    SDL_Cursor* cursor_ = nullptr;
    int session_w_ = 0, session_h_ = 0;
    int out_w_ = 0, out_h_ = 0;
};

}  // namespace portico::client

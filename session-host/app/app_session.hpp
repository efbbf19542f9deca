#pragma once
// AppSession: one published application on its own Xvfb — the screen and the input a
// StreamSession streams (session_parts.hpp). start() blocks while Xvfb and the app come up, so it
// runs on a session worker thread; after that the capture thread owns the X connection and
// teardown. Input methods are called from network threads and never block. The cursor shape and
// the clipboard are its other channels, polled between frames.

#include "session-host/stream/session_parts.hpp"
#include "session-host/stream/stream_session.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace portico::capture {
class X11FrameSource;
}

namespace portico::host {

class XvfbDisplay;
class AppHandle;
class AppLauncher;
class InputInjector;
class WindowKeeper;
class ScreenSizer;
class ClipboardBridge;
class CursorWatcher;
class PointerGrabWatch;

class AppSession final : public SessionScreen, public SessionInput {
public:
    struct Options {
        std::string id;
        std::vector<std::string> command;  // argv
        int width = 1280, height = 800;    // rounded down to even, at least 64
        double scale = 1;                  // the client's device pixel ratio: DPI 96 * scale (display_scale.hpp)
        std::string runtime_dir;           // the host's own, created 0700, removed when the session ends
        std::string user;                  // the portal user the app runs for (as, with the helper)
        AppLauncher* launcher = nullptr;   // how the app is started; outlives the session
    };

    // Blocking (starts Xvfb and the app, then waits up to 10 s for the app's first window, so the
    // session is ready when the user can type into it). Throws std::runtime_error saying what
    // failed (including an app that exits before showing a window); nothing is left running and
    // the runtime directory is removed in that case.
    static std::shared_ptr<StreamSession> start(Options options, StreamSession::EndedFn on_ended,
                                                StreamSession::Options stream = {});
    ~AppSession() override;

    // SessionInput (network threads)
    void key(std::uint16_t evdev_code, bool down) override;
    void pointer(int x, int y, std::uint8_t buttons) override;
    bool pointer_relative(int dx, int dy, std::uint8_t buttons) override;
    void wheel(int dx, int dy) override;
    void key_char(std::uint32_t codepoint, std::uint16_t evdev_code, bool down) override;
    void clipboard(const std::string& data, bool more, bool png) override;
    void release_all() override;

    // SessionScreen (capture thread)
    capture::FrameSource& frame_source() override;
    std::optional<SessionEnding> poll(ViewerChannel& viewers, const std::string* display_lost) override;
    void change_size(int width, int height) override;
    void set_monitors(const std::vector<protocol::MonitorRect>& monitors, int primary) override;
    void teardown() override;
    void viewer_attached() override;

    // Xvfb starts at least this large, then shrinks to the session's size: RandR cannot grow an
    // Xvfb screen past its start size, and untouched framebuffer pages cost no memory.
    static constexpr int kMaxWidth = 3840, kMaxHeight = 2160;

private:
    explicit AppSession(Options options);
    void wait_for_first_window();
    std::optional<SessionEnding> app_ended();

    Options options_;
    std::unique_ptr<XvfbDisplay> xvfb_;
    std::unique_ptr<WindowKeeper> windows_;
    std::unique_ptr<ScreenSizer> sizer_;
    std::vector<protocol::MonitorRect> monitors_;  // the layout in place (clipped to the screen)
    int primary_ = 0;
    bool monitors_known_ = true;  // false after a failed layout: the next request sets it whatever it is
    std::unique_ptr<AppHandle> app_;
    std::unique_ptr<capture::X11FrameSource> source_;
    std::mutex input_mu_;  // the injector is used by network threads and torn down by the capture thread
    std::unique_ptr<InputInjector> injector_;
    std::unique_ptr<ClipboardBridge> clipboard_;  // guarded by input_mu_ for set_text and teardown
    std::string clipboard_in_;                    // pieces of the client's text or image so far (input_mu_)
    bool clipboard_in_png_ = false;               // ... and which of the two they are
    bool clipboard_dropped_ = false;              // the current transfer is dropped (too long, mixed kinds)
    std::unique_ptr<CursorWatcher> cursor_;       // capture thread
    std::atomic<bool> cursor_resend_{false};      // a viewer attached: send it the current shape
    std::unique_ptr<PointerGrabWatch> grab_;      // capture thread: the app took the pointer (relative)
    std::atomic<bool> mode_resend_{false};        // a viewer attached: tell it the pointer mode if relative
};

}  // namespace portico::host

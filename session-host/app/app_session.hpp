#pragma once
// AppSession: one published application on its own Xvfb, streamed to the viewers attached to it
// (the owner; later a shadowing helpdesk). start() blocks while Xvfb and the app come up, so it
// runs on a session worker thread; after that the capture thread (see StreamSession) owns the X
// connection and teardown. Input methods are called from network threads and never block.

#include "session-host/stream/stream_session.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace portico::capture { class X11FrameSource; }

namespace portico::host {

class XvfbDisplay;
class AppHandle;
class AppLauncher;
class InputInjector;
class WindowKeeper;
class ScreenSizer;
class ClipboardBridge;
class CursorWatcher;

class AppSession final : public StreamSession {
public:
    struct Options {
        std::string id;
        std::vector<std::string> command;  // argv
        int width = 1280, height = 800;     // rounded down to even, at least 64
        double scale = 1;                   // the client's device pixel ratio: DPI 96 * scale (display_scale.hpp)
        std::string runtime_dir;            // the host's own, created 0700, removed when the session ends
        std::string user;                   // the portal user the app runs for (as, with the helper)
        AppLauncher* launcher = nullptr;    // how the app is started; outlives the session
    };

    // Blocking (starts Xvfb and the app, then waits up to 10 s for the app's first window, so the
    // session is ready when the user can type into it). Throws std::runtime_error saying what
    // failed (including an app that exits before showing a window); nothing is left running and
    // the runtime directory is removed in that case.
    static std::shared_ptr<AppSession> start(Options options, EndedFn on_ended);
    ~AppSession() override;

    void key(std::uint16_t evdev_code, bool down) override;
    void pointer(int x, int y, std::uint8_t buttons) override;
    void wheel(int dx, int dy) override;
    void key_char(std::uint32_t codepoint, std::uint16_t evdev_code, bool down) override;
    void clipboard(const std::string& text, bool more) override;

    // Xvfb starts at least this large, then shrinks to the session's size: RandR cannot grow an
    // Xvfb screen past its start size, and untouched framebuffer pages cost no memory.
    static constexpr int kMaxWidth = 3840, kMaxHeight = 2160;

private:
    AppSession(Options options, EndedFn on_ended);
    void wait_for_first_window();
    std::optional<Ending> app_ended();

    // StreamSession hooks (capture thread)
    capture::FrameSource& frame_source() override;
    std::optional<Ending> poll() override;
    void change_size(int width, int height) override;
    void release_input() override;
    void teardown() override;
    void viewer_attached() override;

    Options options_;
    std::unique_ptr<XvfbDisplay> xvfb_;
    std::unique_ptr<WindowKeeper> windows_;
    std::unique_ptr<ScreenSizer> sizer_;
    std::unique_ptr<AppHandle> app_;
    std::unique_ptr<capture::X11FrameSource> source_;
    std::mutex input_mu_;  // the injector is used by network threads and torn down by the capture thread
    std::unique_ptr<InputInjector> injector_;
    std::unique_ptr<ClipboardBridge> clipboard_;  // guarded by input_mu_ for set_text and teardown
    std::string clipboard_in_;                    // pieces of the client's text so far (input_mu_)
    std::uint8_t last_buttons_ = 0;               // input_mu_: a button change is input that may show
    bool clipboard_overflow_ = false;             // the current text passed 1 MiB: dropped
    std::unique_ptr<CursorWatcher> cursor_;       // capture thread
    std::atomic<bool> cursor_resend_{false};      // a viewer attached: send it the current shape
};

}  // namespace portico::host

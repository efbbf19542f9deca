#pragma once
// AppSession: one published application on its own Xvfb, captured, encoded and streamed to the
// viewers attached to it (the owner; later a shadowing helpdesk). start() blocks while Xvfb and
// the app come up, so it runs on a session worker thread; after that the session's own capture
// thread (role: capture) owns the X connection, the encoders and teardown. The DisplayTarget
// methods are called from network threads and never block.

#include "protocol/display.hpp"
#include "session-host/flow_control.hpp"
#include "session-host/viewer.hpp"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace portico::capture { class X11FrameSource; }
namespace portico::codec { class H264Encoder; class JpegTileEncoder; }

namespace portico::host {

class XvfbDisplay;
class AppProcess;
class InputInjector;
class WindowKeeper;
class ScreenSizer;

class AppSession final : public DisplayTarget, public std::enable_shared_from_this<AppSession> {
public:
    struct Options {
        std::string id;
        std::vector<std::string> command;  // argv
        int width = 1280, height = 800;     // rounded down to even, at least 64
        std::string runtime_dir;            // created 0700, removed when the session ends
    };
    // Called once, on the capture thread, after the session is torn down.
    using EndedFn = std::function<void(const std::string& id, protocol::EndReason reason, const std::string& message)>;

    // Blocking (starts Xvfb and the app, then waits up to 10 s for the app's first window, so the
    // session is ready when the user can type into it). Throws std::runtime_error saying what
    // failed (including an app that exits before showing a window); nothing is left running and
    // the runtime directory is removed in that case.
    static std::shared_ptr<AppSession> start(Options options, EndedFn on_ended);
    ~AppSession() override;

    // Asks the capture thread to end the session (viewers get SessionEnded(reason)). Non-blocking.
    void end(protocol::EndReason reason, std::string message = {});
    bool ending() const { return ending_.load(); }
    // Blocks until the capture thread has torn everything down. Not for network threads.
    void wait_finished();

    // DisplayTarget
    const std::string& id() const override { return options_.id; }
    int width() const override { return width_.load(); }
    int height() const override { return height_.load(); }
    void attach(std::shared_ptr<ViewerSink> viewer) override;
    void detach(const ViewerSink* viewer) override;
    void key(std::uint16_t evdev_code, bool down) override;
    void pointer(int x, int y, std::uint8_t buttons) override;
    void wheel(int dx, int dy) override;
    void frame_ack(const ViewerSink* viewer, std::uint32_t frame_id) override;
    void keyframe_request() override;
    void logoff() override;
    void resize(int width, int height) override;

    // Xvfb starts at least this large, then shrinks to the session's size: RandR cannot grow an
    // Xvfb screen past its start size, and untouched framebuffer pages cost no memory.
    static constexpr int kMaxWidth = 3840, kMaxHeight = 2160;

    std::size_t viewer_count();

private:
    struct Viewer {
        std::shared_ptr<ViewerSink> sink;
        FlowControl flow;
        bool needs_keyframe = true;  // gets nothing until the next keyframe
    };

    AppSession(Options options, EndedFn on_ended);
    void run();
    void wait_for_first_window();
    void encode_and_send();
    void apply_resize(int width, int height);
    void make_encoder(int width, int height);
    void teardown();
    // Drops viewers stuck too long; returns {have viewers, any viewer blocked}. Caller holds mu_.
    std::pair<bool, bool> prune_viewers_locked();

    Options options_;
    EndedFn on_ended_;

    // Owned by the capture thread once it runs (the injector also by input calls, under input_mu_).
    std::unique_ptr<XvfbDisplay> xvfb_;
    std::unique_ptr<WindowKeeper> windows_;
    std::unique_ptr<ScreenSizer> sizer_;
    std::unique_ptr<AppProcess> app_;
    std::unique_ptr<capture::X11FrameSource> source_;
    std::unique_ptr<codec::H264Encoder> h264_;
    std::unique_ptr<codec::JpegTileEncoder> jpeg_;
    std::mutex input_mu_;
    std::unique_ptr<InputInjector> injector_;

    std::mutex mu_;  // guards viewers_, end request, finished_
    std::condition_variable wake_;
    std::vector<Viewer> viewers_;
    std::atomic<bool> need_keyframe_{true};
    std::atomic<int> width_{0}, height_{0};  // current screen size; changed by the capture thread
    int resize_w_ = 0, resize_h_ = 0;        // latest ResizeRequest not yet applied (0: none); under mu_
    std::atomic<bool> ending_{false};
    bool end_requested_ = false;
    protocol::EndReason end_reason_ = protocol::EndReason::logged_off;
    std::string end_message_;
    bool finished_ = false;
    std::condition_variable finished_cv_;

    std::uint32_t next_frame_id_ = 1;
    bool sent_keyframe_ = false;
    std::thread thread_;
};

}  // namespace portico::host

#pragma once
// StreamSession: what every kind of session (an app on Xvfb, a desktop in a VM) shares — the
// viewers attached to it, per-viewer flow control, and the capture thread that takes frames from
// a FrameSource, encodes them (H.264 or JPEG tiles) and fans them out. Subclasses own the screen
// and the input; they start the capture thread with start_streaming() once the screen is up.
// DisplayTarget methods are called from network threads and never block; the hooks below are
// called on the capture thread.

#include "capture/frame.hpp"
#include "protocol/display.hpp"
#include "session-host/stream/flow_control.hpp"
#include "session-host/stream/lossy_map.hpp"
#include "session-host/stream/link_quality.hpp"
#include "session-host/stream/motion_scale.hpp"
#include "session-host/stream/refine_timer.hpp"
#include "session-host/stream/rolling_stats.hpp"
#include "session-host/stream/viewer.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace portico::capture { class FrameSource; class DamageRegion; }
namespace portico::codec { class H264Encoder; class JpegTileEncoder; class PngTileEncoder; }

namespace portico::host {

class StreamSession : public DisplayTarget, public std::enable_shared_from_this<StreamSession> {
public:
    // Called once, on the capture thread, after the session is torn down.
    using EndedFn = std::function<void(const std::string& id, protocol::EndReason reason, const std::string& message)>;
    struct Ending {
        protocol::EndReason reason;
        std::string message;
    };

    ~StreamSession() override;

    // Asks the capture thread to end the session (viewers get SessionEnded(reason)). Non-blocking.
    void end(protocol::EndReason reason, std::string message = {});
    bool ending() const { return ending_.load(); }
    // Blocks until the capture thread has torn everything down. Not for network threads.
    void wait_finished();
    std::size_t viewer_count();

    // DisplayTarget: viewers, flow control and requests common to every session kind.
    const std::string& id() const override { return id_; }
    int width() const override { return width_.load(); }
    int height() const override { return height_.load(); }
    void attach(std::shared_ptr<ViewerSink> viewer) override;
    void detach(const ViewerSink* viewer) override;
    bool attach_view_only(std::shared_ptr<ViewerSink> viewer) override;
    void frame_ack(const ViewerSink* viewer, std::uint32_t frame_id, std::uint32_t paint_us) override;
    void keyframe_request() override;
    void logoff() override;
    void resize(int width, int height) override;

    // Policy: whether what the user copies (ClipboardData) also goes to view-only viewers. Off by
    // default: a helpdesk shadow sees the screen, not the user's clipboard. Any thread.
    void set_shadow_clipboard(bool on) { shadow_clipboard_ = on; }
    bool shadow_clipboard() const { return shadow_clipboard_.load(); }

    // The session's figures over the last ~2 s (any thread; takes a short lock).
    struct Stats {
        RollingStats::Snapshot rolling;
        int viewers = 0;
    };
    Stats stats();

protected:
    StreamSession(std::string id, int width, int height, EndedFn on_ended);

    // Starts the capture thread (call once, when the source is ready).
    void start_streaming();

    // ---- hooks, called on the capture thread ----
    virtual capture::FrameSource& frame_source() = 0;
    // Once per loop turn (about every 20–33 ms): the subclass's housekeeping; a value ends the session.
    virtual std::optional<Ending> poll() = 0;
    // A client asked for this size. The subclass changes its screen if it can; the new size takes
    // effect when the source delivers frames of it.
    virtual void change_size(int /*width*/, int /*height*/) {}
    // A viewer went away or was dropped: release keys and buttons it may have held.
    virtual void release_input() {}
    // Stops the screen and everything the session started; must leave nothing running.
    virtual void teardown() = 0;
    // A viewer attached (network thread, must not block): state it needs besides frames (the
    // cursor shape, say) should be sent again.
    virtual void viewer_attached() {}

    // Sends a message that is not a frame to every viewer (any thread; drops a viewer whose queue
    // is full). then_needs_keyframe: viewers get no delta frame until the next keyframe.
    // ClipboardData reaches view-only viewers only if set_shadow_clipboard(true).
    void broadcast(const Bytes& message, bool then_needs_keyframe = false);
    // Subclasses call this (any thread) when a viewer's input that may change the screen arrives:
    // a key press, a button change, the wheel. Feeds the input-to-photon figure.
    void input_arrived();

    std::atomic<int> width_{0}, height_{0};  // the size viewers see; set by the capture thread

private:
    struct Viewer {
        std::shared_ptr<ViewerSink> sink;
        FlowControl flow;
        bool needs_keyframe = true;  // gets nothing until the next keyframe
        bool view_only = false;      // a shadow: never replaced by (nor replacing) the owner
    };

    using Clock = std::chrono::steady_clock;
    // Lossy parts are refined once RefineTimer says they are still, a bounded area per turn: an
    // eighth of a megapixel (about one 64-pixel band of a 1080p screen, ≤ 9 tiles) decodes in a
    // few ms even in a browser with one CPU, where 1 Mpixel (up to 72 tiles) took ~36 ms at p95
    // and ¼ Mpixel 8.5 ms on one CPU (bench/web); a whole 1080p screen ends exact in 16 turns.
    static constexpr long long kRefinePixelsPerFrame = 256 * 512;

    void run();
    void encode_and_send();
    void refine_when_still();
    // PNG when the rectangle has few colours (text, UI), else JPEG (at refinement quality if `refine`).
    protocol::Tile make_tile(const capture::Frame& frame, const capture::Rect& r, bool refine);
    static constexpr int kRefineJpegQuality = 95;
    static constexpr auto kFrameInterval = std::chrono::milliseconds(33);
    void remember_sent(const capture::Frame& frame, const capture::DamageRegion& damage, bool whole);
    // Returns how many viewers it was sent to.
    int send_frame(std::uint32_t frame_id, const Bytes& bytes, bool keyframe);
    // Frame log line and rolling stats for a frame that went out. captured: when its pixels were
    // read (none for refinement, which re-sends what the host already had).
    // damage_px: how much of the screen the frame updates (for the frame log).
    void account_frame(std::uint32_t frame_id, const char* kind, std::size_t bytes, int receivers,
                       Clock::time_point encode_start, std::int64_t cpu_start,
                       std::optional<Clock::time_point> captured, long long damage_px);
    void follow_frame_size(int width, int height);
    void make_encoder(int width, int height);
    // An x264 encoder for the session's video at width x height and the current quality level.
    std::unique_ptr<codec::H264Encoder> video_encoder(int width, int height) const;
    // LinkQuality changed level: the encoders follow (from their next frame, no keyframe).
    void apply_quality();
    // The next full-motion or keyframe H.264 frame, at half size when the viewers paint slowly.
    protocol::VideoFrame encode_video(std::uint32_t frame_id, const capture::Frame& frame, bool keyframe,
                                      Clock::time_point captured);
    // Drops viewers stuck too long and says whether capture must wait for the others. Caller holds mu_.
    struct ViewerState {
        bool any = false;           // at least one viewer
        bool link_blocked = false;  // a viewer's link has all it can carry (LinkQuality reacts)
        bool held = false;          // ... or a viewer is still painting the frames it has
    };
    ViewerState prune_viewers_locked();

    const std::string id_;
    EndedFn on_ended_;

    // Owned by the capture thread.
    std::unique_ptr<codec::H264Encoder> h264_;
    // Reduced-resolution motion (MotionScale): a second encoder at half size, made when first
    // needed, and which of the two the viewers' decoders last got (switching needs a keyframe).
    std::unique_ptr<codec::H264Encoder> h264_half_;
    capture::Frame half_frame_;
    bool video_half_ = false;
    LinkQuality quality_;  // CRF and JPEG quality, lowered while the viewers' links hold capture back
    std::unique_ptr<codec::JpegTileEncoder> jpeg_;
    std::unique_ptr<codec::PngTileEncoder> png_;
    int encoder_w_ = 0, encoder_h_ = 0;
    capture::Frame reference_;  // what the client shows, for finding moved content
    LossyMap lossy_;            // where what the client shows is only approximate
    RefineTimer refine_timer_;  // when each part has been still long enough to refine
    int scroll_misses_ = 0, scroll_backoff_ = 0;  // scroll detection attempts that found nothing
    std::uint32_t next_frame_id_ = 1;
    bool sent_keyframe_ = false;
    // Per-frame costs for benchmarks: one JSON line per frame in $PORTICO_FRAME_LOG_DIR/<id>.jsonl.
    std::FILE* frame_log_ = nullptr;
    // Frame intervals spent blocked by flow control; they count as skipped frames if the screen
    // turns out to have changed meanwhile.
    std::optional<Clock::time_point> blocked_since_;
    std::int64_t blocked_intervals_ = 0;

    std::mutex stats_mu_;  // guards stats_ (capture thread, network threads, the stats reader)
    RollingStats stats_;

    std::mutex mu_;  // guards viewers_, the end request, resize_*, finished_
    std::condition_variable wake_;
    std::vector<Viewer> viewers_;
    MotionScale motion_;  // fed by every viewer's acks
    std::atomic<bool> need_keyframe_{true};
    std::atomic<bool> shadow_clipboard_{false};
    int resize_w_ = 0, resize_h_ = 0;  // latest ResizeRequest not yet applied (0: none)
    std::atomic<bool> ending_{false};
    bool end_requested_ = false;
    Ending end_request_{protocol::EndReason::logged_off, {}};
    bool finished_ = false;
    std::condition_variable finished_cv_;
    std::thread thread_;
};

}  // namespace portico::host

#pragma once
// StreamSession: one session's picture and input, whatever kind of session it is. It owns the
// capture thread, which reads the screen (SessionScreen) when the viewers can take a frame, plans
// it (FramePlanner), encodes it (codec::TileEncoder / codec::VideoEncoder), fans it out
// (ViewerSet), and refines lossy parts once they are still. Kinds of sessions plug in a screen and
// an input sink (session_parts.hpp) instead of subclassing. DisplayTarget methods are called from
// network threads and never block.

#include "capture/frame.hpp"
#include "common/result.hpp"
#include "protocol/display.hpp"
#include "session-host/stream/frame_planner.hpp"
#include "session-host/stream/link_quality.hpp"
#include "session-host/stream/lossy_map.hpp"
#include "session-host/stream/motion_scale.hpp"
#include "session-host/stream/refine_timer.hpp"
#include "session-host/stream/rolling_stats.hpp"
#include "session-host/stream/session_parts.hpp"
#include "session-host/stream/stream_counters.hpp"
#include "session-host/stream/viewer.hpp"
#include "session-host/stream/viewer_set.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace portico::codec {
class PaletteTileEncoder;
class TileEncoder;
class VideoEncoder;
}  // namespace portico::codec

namespace portico::host {

class StreamSession final : public DisplayTarget,
                            private ViewerChannel,
                            public std::enable_shared_from_this<StreamSession> {
public:
    // Called once, on the capture thread, after the session is torn down.
    using EndedFn = std::function<void(const std::string& id, protocol::EndReason reason, const std::string& message)>;
    using Ending = SessionEnding;

    struct Options {
        // Frames a second the session sends at most while the screen changes by itself (scrolling
        // output, video): changes within one interval go out as one frame, so a fast scroll costs
        // one copy per interval, not one per repaint. A frame that follows a viewer's input is
        // never held back, so typing and clicks keep their latency.
        int max_fps = 30;
        // Full-motion video at half resolution to a viewer that paints frames slower than its
        // budget (MotionScale). Off: always the screen's resolution (the link's own quality
        // levels may still halve it).
        bool halve_for_slow_viewers = true;
        // The host's totals for GET /metrics; must outlive the session. None: not counted (tests).
        StreamCounters* counters = nullptr;
    };

    // Starts the capture thread over a ready screen. input may be null (nothing to type into).
    static std::shared_ptr<StreamSession> start(std::string id, std::shared_ptr<SessionScreen> screen,
                                                std::shared_ptr<SessionInput> input, EndedFn on_ended, Options options);
    static std::shared_ptr<StreamSession> start(std::string id, std::shared_ptr<SessionScreen> screen,
                                                std::shared_ptr<SessionInput> input, EndedFn on_ended) {
        return start(std::move(id), std::move(screen), std::move(input), std::move(on_ended), Options{});
    }
    ~StreamSession() override;

    // Asks the capture thread to end the session (viewers get SessionEnded(reason)). Non-blocking.
    void end(protocol::EndReason reason, std::string message = {});
    bool ending() const { return ending_.load(); }
    // Blocks until the capture thread has torn everything down. Not for network threads.
    void wait_finished();
    std::size_t viewer_count() { return viewers_.size(); }

    // DisplayTarget
    const std::string& id() const override { return id_; }
    int width() const override { return width_.load(); }
    int height() const override { return height_.load(); }
    void attach(std::shared_ptr<ViewerSink> viewer) override;
    void detach(const ViewerSink* viewer) override;
    bool attach_view_only(std::shared_ptr<ViewerSink> viewer) override;
    void key(std::uint16_t evdev_code, bool down) override;
    void pointer(int x, int y, std::uint8_t buttons) override;
    void pointer_relative(int dx, int dy, std::uint8_t buttons) override;
    void wheel(int dx, int dy) override;
    void key_char(std::uint32_t codepoint, std::uint16_t evdev_code, bool down) override;
    void clipboard(const std::string& data, bool more, bool png) override;
    void frame_ack(const ViewerSink* viewer, std::uint32_t frame_id, std::uint32_t paint_us) override;
    void keyframe_request() override;
    void logoff() override;
    void resize(const protocol::ResizeRequest& request) override;

    // Policy: whether what the user copies (ClipboardData) also goes to view-only viewers. Off by
    // default: a helpdesk shadow sees the screen, not the user's clipboard. Any thread.
    void set_shadow_clipboard(bool on) { shadow_clipboard_ = on; }
    bool shadow_clipboard() const { return shadow_clipboard_.load(); }

    // A JPEG of the screen now, fitted into max_width x max_height (the portal's live thumbnail).
    // `done` is called once, on the capture thread (within a loop turn), or at once when the
    // session is ending or too many requests wait. Any thread; never blocks.
    using ThumbnailDone = std::function<void(Result<std::vector<std::uint8_t>, std::string>)>;
    void request_thumbnail(int max_width, int max_height, ThumbnailDone done);
    static constexpr int kThumbnailQuality = 70;
    static constexpr std::size_t kMaxThumbnailBytes = 32 * 1024;  // base64 stays within the control bound
    static constexpr std::size_t kMaxWaitingThumbnails = 8;

    // The session's figures over the last ~2 s (any thread; takes a short lock).
    struct Stats {
        RollingStats::Snapshot rolling;
        int viewers = 0;
    };
    Stats stats();

private:
    using Clock = std::chrono::steady_clock;
    // Lossy parts are refined once RefineTimer says they are still, a bounded area per turn: an
    // eighth of a megapixel (about one 64-pixel band of a 1080p screen, ≤ 9 tiles) decodes in a
    // few ms even in a browser with one CPU, where 1 Mpixel (up to 72 tiles) took ~36 ms at p95
    // and ¼ Mpixel 8.5 ms on one CPU (bench/web); a whole 1080p screen ends exact in 16 turns.
    static constexpr long long kRefinePixelsPerFrame = 256 * 512;
    static constexpr int kRefineJpegQuality = 95;
    static constexpr int kExactPiece = 64;  // pieces a many-coloured tile is tried again in as palette tiles
    static constexpr auto kFrameInterval = std::chrono::milliseconds(33);
    // Consecutive temporary capture errors (each one loop turn) before the display counts as lost.
    static constexpr int kMaxTemporaryErrors = 50;

    StreamSession(std::string id, std::shared_ptr<SessionScreen> screen, std::shared_ptr<SessionInput> input,
                  EndedFn on_ended, Options options);
    void run();
    // One loop turn's wait: whether capture may go ahead now (viewers can take a frame and the
    // frame interval allows it). Blocks at most ~20 ms.
    bool wait_for_turn();
    void capture_and_send();
    void refine_when_still();
    void send_planned(const capture::Frame& frame, capture::DamageRegion damage, FramePlan plan,
                      Clock::time_point captured, Clock::time_point encode_start, std::int64_t cpu_start);
    // A palette tile when the rectangle has at most 256 colours (text, UI), else JPEG (at refinement quality if `refine`).
    // `r` as palette tiles where it has few enough colours (whole, else in kExactPiece pieces), JPEG
    // where it does not (refine: at kRefineJpegQuality), appended to `out`.
    void add_tiles(const capture::Frame& frame, const capture::Rect& r, bool refine, std::vector<protocol::Tile>& out);
    // Before a frame's tiles: the palette form every attached viewer reads.
    void choose_palette_form();
    // The next full-motion or keyframe H.264 frame, at half size when the viewers paint slowly;
    // nothing if the encoder held the frame back.
    std::optional<protocol::VideoFrame> encode_video(std::uint32_t frame_id, const capture::Frame& frame, bool keyframe,
                                                     Clock::time_point captured);
    void remember_sent(const capture::Frame& frame, const capture::DamageRegion& damage, bool whole);
    int send_frame(std::uint32_t frame_id, const Bytes& bytes, bool keyframe);
    // Frame log line and rolling stats for a frame that went out. captured: when its pixels were
    // read (none for refinement, which re-sends what the host already had).
    void account_frame(std::uint32_t frame_id, const char* kind, std::size_t bytes, int receivers,
                       Clock::time_point encode_start, std::int64_t cpu_start,
                       std::optional<Clock::time_point> captured, long long damage_px);
    void follow_frame_size(int width, int height);
    // Answers the waiting thumbnail requests from thumbnail_frame() (capture thread).
    void serve_thumbnails();
    // The screen as it is now: what the viewers see (the reference) while anyone watches, else a
    // whole fresh capture; null when the screen has given no picture.
    const capture::Frame* thumbnail_frame();
    void make_encoders(int width, int height);
    std::unique_ptr<codec::VideoEncoder> video_encoder(int width, int height) const;
    // LinkQuality changed level: the encoders follow (from their next frame, no keyframe).
    void apply_quality();
    // ViewerChannel: the screen's other channels (cursor, clipboard) send through this.
    void broadcast(Bytes message) override;
    // A viewer's input that may change the screen arrived (a key press, a button change, the wheel):
    // feeds the input-to-photon figure and lets the next frame out without waiting for the interval.
    void input_arrived();

    const std::string id_;
    const Options options_;
    const std::shared_ptr<SessionScreen> screen_;
    const std::shared_ptr<SessionInput> input_;
    EndedFn on_ended_;
    std::atomic<int> width_{0}, height_{0};  // the size viewers see; set by the capture thread
    ViewerSet viewers_;

    // Owned by the capture thread.
    std::unique_ptr<codec::VideoEncoder> video_;
    // Reduced-resolution motion (MotionScale): a second encoder at half size, made when first
    // needed, and which of the two the viewers' decoders last got (switching needs a keyframe).
    std::unique_ptr<codec::VideoEncoder> video_half_;
    capture::Frame half_frame_;
    bool video_is_half_ = false;
    LinkQuality quality_;  // CRF and JPEG quality, lowered while the viewers' links hold capture back
    // Palette tiles: decline photo-like rectangles; their form is the one every viewer of this frame reads.
    std::unique_ptr<codec::PaletteTileEncoder> palette_tiles_;
    protocol::TileEncoding palette_encoding_ = protocol::TileEncoding::palette;  // ... and its TileEncoding
    bool refining_ = false;  // the last turn sent a refinement slice and more is left: capture briefly
    std::unique_ptr<codec::TileEncoder> rgb_tiles_;    // PNG: what refinement sends exact in a partly photo-like tile
    std::unique_ptr<codec::TileEncoder> photo_tiles_;  // JPEG 4:4:4
    int encoder_w_ = 0, encoder_h_ = 0;
    FramePlanner planner_;
    capture::Frame reference_;  // what the client shows, for finding moved content
    LossyMap lossy_;            // where what the client shows is only approximate
    RefineTimer refine_timer_;  // when each part has been still long enough to refine
    std::uint32_t next_frame_id_ = 1;
    bool sent_keyframe_ = false;
    std::optional<std::string> display_lost_;  // the source's permanent error
    int temporary_errors_ = 0;                 // in a row
    Clock::time_point last_frame_at_{};        // when the last picture sent was captured
    // Per-frame costs for benchmarks: one JSON line per frame in $PORTICO_FRAME_LOG_DIR/<id>.jsonl.
    std::FILE* frame_log_ = nullptr;
    // Frame intervals spent blocked by flow control; they count as skipped frames if the screen
    // turns out to have changed meanwhile.
    std::optional<Clock::time_point> blocked_since_;
    std::int64_t blocked_intervals_ = 0;

    std::mutex stats_mu_;  // guards stats_ (capture thread, network threads, the stats reader)
    RollingStats stats_;

    std::mutex mu_;  // guards motion_, the end request, resize_*, input_since_frame_, finished_
    std::condition_variable wake_;
    MotionScale motion_;  // fed by every viewer's acks
    std::atomic<bool> need_keyframe_{true};
    std::atomic<bool> shadow_clipboard_{false};
    std::atomic<bool> relative_dropped_logged_{false};  // a RelativePointer to an absolute-only session
    std::atomic<std::uint8_t> last_buttons_{0};         // a button change is input that may show
    bool input_since_frame_ = false;
    std::optional<protocol::ResizeRequest> resize_;  // latest ResizeRequest not yet applied
    std::atomic<bool> ending_{false};
    bool end_requested_ = false;
    Ending end_request_{protocol::EndReason::logged_off, {}};
    bool finished_ = false;
    std::condition_variable finished_cv_;
    struct ThumbnailJob {
        int max_width, max_height;
        ThumbnailDone done;
    };
    std::vector<ThumbnailJob> thumbnail_jobs_;  // under mu_
    std::thread thread_;
};

}  // namespace portico::host

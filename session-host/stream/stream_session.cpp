#include "session-host/stream/stream_session.hpp"

#include "capture/frame_source.hpp"
#include "codec/color.hpp"
#include "codec/h264_encoder.hpp"
#include "codec/jpeg_tile.hpp"
#include "codec/palette_tile.hpp"
#include "codec/png_tile.hpp"
#include "common/log.hpp"
#include "session-host/stream/encode_policy.hpp"
#include "session-host/stream/thumbnail.hpp"

#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace portico::host {

using namespace std::chrono_literals;

namespace {

Bytes encoded(const protocol::Message& m) {
    return std::make_shared<const std::vector<std::uint8_t>>(protocol::encode(m));
}

std::uint64_t wall_time_us(std::chrono::steady_clock::time_point t) {
    // The capture time is steady-clock; clients compare against wall time.
    auto age = std::chrono::steady_clock::now() - t;
    auto wall = std::chrono::system_clock::now() - age;
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(wall.time_since_epoch()).count());
}

// CPU time of the whole process: x264's slice threads work for the capture thread.
std::int64_t process_cpu_us() {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

std::int64_t micros(std::chrono::steady_clock::duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

}  // namespace

std::shared_ptr<StreamSession> StreamSession::start(std::string id, std::shared_ptr<SessionScreen> screen,
                                                    std::shared_ptr<SessionInput> input, EndedFn on_ended,
                                                    Options options) {
    std::shared_ptr<StreamSession> s(
        new StreamSession(std::move(id), std::move(screen), std::move(input), std::move(on_ended), options));
    s->thread_ = std::thread([s] { s->run(); });
    return s;
}

StreamSession::StreamSession(std::string id, std::shared_ptr<SessionScreen> screen, std::shared_ptr<SessionInput> input,
                             EndedFn on_ended, Options options)
    : id_(std::move(id)),
      options_(options),
      screen_(std::move(screen)),
      input_(std::move(input)),
      on_ended_(std::move(on_ended)),
      viewers_(id_, [this] {
          if (input_) input_->release_all();
      }) {
    auto& source = screen_->frame_source();
    width_ = source.width();
    height_ = source.height();
    palette_tiles_ = std::make_unique<codec::PaletteTileEncoder>();
    rgb_tiles_ = std::make_unique<codec::PngTileEncoder>();
    photo_tiles_ = std::make_unique<codec::JpegTileEncoder>(quality_.current().jpeg_quality, /*chroma_full=*/true);
    make_encoders(width_.load(), height_.load());
    if (const char* dir = std::getenv("PORTICO_FRAME_LOG_DIR"); dir && *dir) {
        auto path = std::string(dir) + "/" + id_ + ".jsonl";
        frame_log_ = std::fopen(path.c_str(), "w");
        if (!frame_log_) log::warn("session ", id_, ": cannot write the frame log ", path);
    }
}

StreamSession::~StreamSession() {
    if (frame_log_) std::fclose(frame_log_);
    if (thread_.joinable()) {
        // The capture thread holds a reference to the session, so the last one may be dropped on it.
        if (thread_.get_id() == std::this_thread::get_id())
            thread_.detach();
        else
            thread_.join();
    }
}

std::unique_ptr<codec::VideoEncoder> StreamSession::video_encoder(int width, int height) const {
    codec::H264Encoder::Options eo;
    eo.width = width;
    eo.height = height;
    eo.fps = 30;
    // Full-screen H.264 frames still carry text (the first keyframe, large redraws): CRF 18 at the
    // best quality level keeps it readable (≥ 35 dB on text-like frames, tests/unit/codec/h264_test.cpp).
    eo.crf = quality_.current().crf;
    eo.keyint = 100000;  // keyframes only when a viewer needs one
    return std::make_unique<codec::H264Encoder>(eo);
}

void StreamSession::make_encoders(int width, int height) {
    video_ = video_encoder(width, height);
    video_half_.reset();
    video_is_half_ = false;
    encoder_w_ = width;
    encoder_h_ = height;
    lossy_.reset(width, height);
    refine_timer_.reset(width, height);
}

void StreamSession::end(protocol::EndReason reason, std::string message) {
    std::lock_guard lk(mu_);
    if (end_requested_) return;
    end_requested_ = true;
    end_request_ = {reason, std::move(message)};
    ending_ = true;
    wake_.notify_all();
}

void StreamSession::wait_finished() {
    std::unique_lock lk(mu_);
    finished_cv_.wait(lk, [this] { return finished_; });
}

// ---- network side ----

void StreamSession::attach(std::shared_ptr<ViewerSink> viewer) {
    {
        std::lock_guard lk(mu_);
        if (ending_) {
            viewer->close(encoded(protocol::SessionEnded{end_request_.reason, "the session is ending"}));
            return;
        }
        viewers_.attach_owner(std::move(viewer));
        need_keyframe_ = true;
        wake_.notify_all();
    }
    screen_->viewer_attached();
}

bool StreamSession::attach_view_only(std::shared_ptr<ViewerSink> viewer) {
    std::lock_guard lk(mu_);
    if (ending_) {
        viewer->close(encoded(protocol::SessionEnded{end_request_.reason, "the session is ending"}));
        return true;
    }
    viewers_.attach_view_only(std::move(viewer));
    need_keyframe_ = true;
    wake_.notify_all();
    return true;
}

void StreamSession::detach(const ViewerSink* viewer) { viewers_.detach(viewer); }

void StreamSession::key(std::uint16_t evdev_code, bool down) {
    if (down) input_arrived();
    if (input_) input_->key(evdev_code, down);
}

void StreamSession::pointer(int x, int y, std::uint8_t buttons) {
    x = std::clamp(x, 0, std::max(0, width_.load() - 1));
    y = std::clamp(y, 0, std::max(0, height_.load() - 1));
    if (last_buttons_.exchange(buttons) != buttons) input_arrived();
    if (input_) input_->pointer(x, y, buttons);
}

void StreamSession::pointer_relative(int dx, int dy, std::uint8_t buttons) {
    if (last_buttons_.exchange(buttons) != buttons) input_arrived();
    if (input_ && input_->pointer_relative(dx, dy, buttons)) return;
    // A client only captures the pointer after PointerMode(relative), which absolute-only sessions
    // never send: this is a client bug, worth one line, not a closed connection.
    if (!relative_dropped_logged_.exchange(true))
        log::warn("session ", id_, ": relative pointer motion dropped (this session's pointer is absolute only)");
}

void StreamSession::wheel(int dx, int dy) {
    input_arrived();
    if (input_) input_->wheel(dx, dy);
}

void StreamSession::key_char(std::uint32_t codepoint, std::uint16_t evdev_code, bool down) {
    if (down) input_arrived();
    if (input_) input_->key_char(codepoint, evdev_code, down);
}

void StreamSession::clipboard(const std::string& data, bool more, bool png) {
    if (input_) input_->clipboard(data, more, png);
}

void StreamSession::frame_ack(const ViewerSink* viewer, std::uint32_t frame_id, std::uint32_t paint_us) {
    const auto now = FlowControl::Clock::now();
    const auto rtt = viewers_.on_ack(viewer, frame_id, now, std::chrono::microseconds(paint_us));
    {
        std::lock_guard lk(mu_);
        motion_.on_painted(frame_id, paint_us);
        wake_.notify_all();
    }
    if (rtt) {
        std::lock_guard lk(stats_mu_);
        stats_.on_rtt(now, *rtt);
    }
}

void StreamSession::input_arrived() {
    {
        std::lock_guard lk(stats_mu_);
        stats_.on_input(Clock::now());
    }
    std::lock_guard lk(mu_);
    input_since_frame_ = true;
    wake_.notify_all();
}

StreamSession::Stats StreamSession::stats() {
    Stats s;
    s.viewers = static_cast<int>(viewer_count());
    std::lock_guard lk(stats_mu_);
    s.rolling = stats_.snapshot(Clock::now());
    return s;
}

void StreamSession::keyframe_request() {
    need_keyframe_ = true;
    std::lock_guard lk(mu_);
    wake_.notify_all();
}

void StreamSession::resize(const protocol::ResizeRequest& request) {
    std::lock_guard lk(mu_);
    resize_ = request;
    wake_.notify_all();
}

void StreamSession::request_thumbnail(int max_width, int max_height, ThumbnailDone done) {
    {
        std::lock_guard lk(mu_);
        if (!ending_ && thumbnail_jobs_.size() < kMaxWaitingThumbnails) {
            thumbnail_jobs_.push_back({max_width, max_height, std::move(done)});
            wake_.notify_all();
            return;
        }
    }
    done(Error<std::string>{"", ending_ ? "the session is ending" : "too many thumbnail requests"});
}

void StreamSession::logoff() { end(protocol::EndReason::logged_off, "logged off"); }

void StreamSession::broadcast(Bytes message) {
    // Decided here, by the message's type, so no channel can forget it: the user's clipboard is
    // theirs, the picture (cursor shapes) is everyone's.
    const bool owner_only = message && !message->empty() &&
                            (*message)[0] == static_cast<std::uint8_t>(protocol::MsgType::clipboard_data) &&
                            !shadow_clipboard_.load();
    viewers_.broadcast(message, false, owner_only);
}

// ---- capture thread ----

void StreamSession::run() {
    pthread_setname_np(pthread_self(), "capture");
    Ending ending{protocol::EndReason::error, {}};
    try {
        for (;;) {
            if (auto e = screen_->poll(*this, display_lost_ ? &*display_lost_ : nullptr)) {
                ending = std::move(*e);
                break;
            }
            if (display_lost_) {  // the screen had nothing better to say
                ending = {protocol::EndReason::error, "lost the session's display: " + *display_lost_};
                break;
            }
            std::optional<protocol::ResizeRequest> resize;
            {
                std::unique_lock lk(mu_);
                if (end_requested_) {
                    ending = end_request_;
                    break;
                }
                std::swap(resize, resize_);
            }
            if (resize) {
                // A request for the size the screen already has (a client states its size on
                // every connect) changes nothing and costs no keyframe.
                if (resize->width != width_.load() || resize->height != height_.load()) {
                    screen_->change_size(resize->width, resize->height);
                    // The new screen must reach the viewers whole, not just its damaged parts.
                    need_keyframe_ = true;
                }
                // Monitors change no pixel: no keyframe for them.
                screen_->set_monitors(resize->monitors, resize->primary);
            }
            if (wait_for_turn()) capture_and_send();
            serve_thumbnails();
        }
    } catch (const std::exception& e) {
        log::error("session ", id_, ": ", e.what());
        ending = {protocol::EndReason::error, e.what()};
    }
    log::info("session ", id_, ": ending (", ending.message.empty() ? "no reason given" : ending.message, ")");
    {
        // Under mu_, so attach() either sees ending_ or adds its viewer before this closes them all.
        std::lock_guard lk(mu_);
        ending_ = true;
        viewers_.close_all(encoded(protocol::SessionEnded{ending.reason, ending.message}));
    }
    std::vector<ThumbnailJob> unanswered;
    {
        std::lock_guard lk(mu_);
        unanswered.swap(thumbnail_jobs_);
    }
    for (auto& job : unanswered) job.done(Error<std::string>{"", "the session is ending"});
    video_.reset();
    video_half_.reset();
    palette_tiles_.reset();
    rgb_tiles_.reset();
    photo_tiles_.reset();
    screen_->teardown();
    try {
        if (on_ended_) on_ended_(id_, ending.reason, ending.message);
    } catch (const std::exception& e) {
        log::error("session ", id_, ": end notification failed: ", e.what());
    }
    {
        std::lock_guard lk(mu_);
        finished_ = true;
        finished_cv_.notify_all();
    }
}

bool StreamSession::wait_for_turn() {
    const auto now = Clock::now();
    const ViewerSet::State viewers = viewers_.prune(now);
    // Only the link lowers quality: a viewer that paints slowly gets fewer frames (pacing) and
    // smaller ones (MotionScale), not worse ones.
    if (quality_.on_turn(now, viewers.any && viewers.link_blocked)) apply_quality();
    std::unique_lock lk(mu_);
    if (viewers.any && viewers.held) {
        if (!blocked_since_) blocked_since_ = now;
    } else if (blocked_since_) {
        blocked_intervals_ += (now - *blocked_since_) / kFrameInterval;
        blocked_since_.reset();
    }
    if (!viewers.any || viewers.held) {
        // Nothing to send: the source accumulates damage until someone can take it.
        wake_.wait_for(lk, 20ms);
        return false;
    }
    // The frame-rate cap: changes the screen makes by itself wait for the interval to end and go
    // out together; a frame after input (or a keyframe someone waits for) does not wait.
    const auto interval = std::chrono::microseconds(1000000 / std::max(1, options_.max_fps));
    const auto next = last_frame_at_ + interval;
    if (now < next && !input_since_frame_ && !need_keyframe_.load()) {
        wake_.wait_until(lk, std::min(next, now + 20ms));
        return false;
    }
    return true;
}

void StreamSession::capture_and_send() {
    auto& source = screen_->frame_source();
    bool keyframe = need_keyframe_.load() || !sent_keyframe_;
    if (keyframe) source.invalidate();  // the keyframe carries the whole screen
    // Waiting for damage costs no CPU, so CPU from here to the send is capture + convert + encode.
    const auto cpu_start = frame_log_ ? process_cpu_us() : 0;
    // While refinement is under way its slices follow each other as fast as they encode (and the
    // viewers take them), not one per 33 ms wait: a whole screen left approximate (a page scrolled
    // as H.264) then ends exact in ~0.2 s instead of ~0.6 s, inside the 1 s text exactness.
    auto cap = source.capture(refining_ ? 2ms : 33ms);
    switch (cap.status()) {
        case capture::CaptureResult::Status::permanent_error:
            log::warn("session ", id_, ": the display is lost: ", cap.error());
            display_lost_ = cap.error();
            if (options_.counters) ++options_.counters->capture_lost;
            return;
        case capture::CaptureResult::Status::temporary_error:
            if (++temporary_errors_ >= kMaxTemporaryErrors) {
                display_lost_ = cap.error() + " (" + std::to_string(temporary_errors_) + " times in a row)";
                if (options_.counters) ++options_.counters->capture_lost;
                return;
            }
            if (options_.counters) ++options_.counters->capture_retried;
            log::info("session ", id_, ": capture failed, trying again: ", cap.error());
            source.invalidate();  // what this turn missed is read whole next time
            return;
        case capture::CaptureResult::Status::no_change:
            temporary_errors_ = 0;
            blocked_intervals_ = 0;  // nothing changed while blocked: nothing was skipped
            return refine_when_still();
        case capture::CaptureResult::Status::frame: temporary_errors_ = 0; break;
    }
    const auto encode_start = Clock::now();
    if (blocked_intervals_ > 0 && !cap->damage.empty()) {
        std::lock_guard lk(stats_mu_);
        stats_.on_skipped(encode_start, blocked_intervals_);
    }
    blocked_intervals_ = 0;

    const capture::Frame& frame = *cap->frame;
    const int w = frame.width, h = frame.height;
    if (w != encoder_w_ || h != encoder_h_) return follow_frame_size(w, h);  // this frame may be partial
    keyframe = need_keyframe_.exchange(false) || keyframe;
    {
        std::lock_guard lk(mu_);
        input_since_frame_ = false;
    }

    capture::DamageRegion damage = cap->damage;
    damage.clip({0, 0, w, h});
    if (!keyframe && damage.empty()) return;
    for (const auto& r : damage.rects()) refine_timer_.changed(r, encode_start);

    FramePlan plan = planner_.plan(frame, damage, reference_, refine_timer_, keyframe);
    send_planned(frame, std::move(damage), std::move(plan), cap->time, encode_start, cpu_start);
}

// Encodes a plan and sends it: tiles (falling back to video when the message would be too large)
// or an H.264 frame.
void StreamSession::send_planned(const capture::Frame& frame, capture::DamageRegion damage, FramePlan plan,
                                 Clock::time_point captured, Clock::time_point encode_start, std::int64_t cpu_start) {
    const int w = frame.width, h = frame.height;
    const std::uint32_t frame_id = next_frame_id_;
    Bytes bytes;
    if (plan.kind == FramePlan::Kind::tiles) {
        protocol::TileFrame tf{frame_id, static_cast<std::uint16_t>(w), static_cast<std::uint16_t>(h), {}, {}};
        tf.copies = std::move(plan.copies);
        tf.tiles.reserve(plan.tiles.size());
        choose_palette_form();
        for (const auto& r : plan.tiles) add_tiles(frame, r, false, tf.tiles);
        if (tf.tiles.empty() && tf.copies.empty()) return;
        bytes = encoded(tf);
        if (bytes->size() > protocol::kMaxMessageBytes) {
            plan = FramePlanner::as_video(damage);
        } else {
            for (const auto& c : tf.copies) lossy_.copy({c.x, c.y, c.w, c.h}, c.dx, c.dy);
            for (const auto& t : tf.tiles) {
                capture::Rect r{t.x, t.y, t.w, t.h};
                if (t.encoding != protocol::TileEncoding::jpeg)
                    lossy_.mark_exact(r);
                else
                    lossy_.mark_lossy(r);
            }
        }
    }
    const bool keyframe = plan.kind == FramePlan::Kind::keyframe;
    if (plan.kind != FramePlan::Kind::tiles) {
        // Only a requested keyframe repaints the whole screen (and serves viewers waiting for one);
        // a keyframe that starts the other resolution mid-motion still paints just what changed.
        auto vf = encode_video(frame_id, frame, keyframe, captured);
        if (!vf) {
            // The encoder held this frame back; send the whole screen as the next keyframe instead
            // of leaving the client with a hole.
            need_keyframe_ = true;
            return;
        }
        if (keyframe) {
            sent_keyframe_ = true;
            lossy_.reset(w, h);
            lossy_.mark_lossy({0, 0, w, h});
        } else {
            for (const auto& r : plan.video_dirty.rects()) {
                vf->dirty.push_back({static_cast<std::uint16_t>(r.x), static_cast<std::uint16_t>(r.y),
                                     static_cast<std::uint16_t>(r.w), static_cast<std::uint16_t>(r.h)});
                lossy_.mark_lossy(r);
            }
            plan.name = vf->coded_width != 0 ? "h264_half" : "h264";
        }
        bytes = encoded(*vf);
    }
    remember_sent(frame, keyframe ? capture::DamageRegion{} : damage, keyframe);
    const int receivers = send_frame(frame_id, bytes, keyframe);
    // The cap spaces pictures by when they were captured, not sent: counted from the send, every
    // frame's encoding time was added to the interval (a 1080p video at 14 ms per frame got 21
    // frames/s, not 30).
    last_frame_at_ = captured;
    account_frame(frame_id, plan.name, bytes->size(), receivers, encode_start, cpu_start, captured,
                  keyframe ? static_cast<long long>(w) * h : damage.area());
}

// The source's frames changed size (a client's resize was applied, or a VM guest changed its
// resolution): new encoders, Resize to every viewer, then a whole keyframe of the new size.
void StreamSession::follow_frame_size(int width, int height) {
    make_encoders(width, height);
    width_ = width;
    height_ = height;
    log::info("session ", id_, ": screen is now ", width, "x", height);
    viewers_.broadcast(encoded(protocol::Resize{static_cast<std::uint16_t>(width), static_cast<std::uint16_t>(height)}),
                       /*then_needs_keyframe=*/true, /*owner_only=*/false);
    sent_keyframe_ = false;
    need_keyframe_ = true;
    screen_->frame_source().invalidate();
}

void StreamSession::serve_thumbnails() {
    std::vector<ThumbnailJob> jobs;
    {
        std::lock_guard lk(mu_);
        jobs.swap(thumbnail_jobs_);
    }
    if (jobs.empty()) return;
    const capture::Frame* frame = thumbnail_frame();
    for (auto& job : jobs) {
        Result<std::vector<std::uint8_t>, std::string> r =
            frame ? make_thumbnail(*frame, job.max_width, job.max_height, kThumbnailQuality, kMaxThumbnailBytes)
                  : Result<std::vector<std::uint8_t>, std::string>(
                        Error<std::string>{"", "the session has no picture yet"});
        try {
            job.done(std::move(r));
        } catch (const std::exception& e) {
            log::error("session ", id_, ": answering a thumbnail request failed: ", e.what());
        }
    }
}

const capture::Frame* StreamSession::thumbnail_frame() {
    // While viewers watch, the reference is what they see (at most a frame interval old); reading
    // the source here would take damage the stream has yet to send.
    if (viewers_.size() > 0 && sent_keyframe_ && reference_.width > 0 && reference_.width == encoder_w_ &&
        reference_.height == encoder_h_)
        return &reference_;
    // Nobody watches (or nothing went out yet): read the whole screen. The damage this takes from
    // the source is not lost: the stream's next frame is a keyframe (a viewer's attach asks for
    // one, and none was sent yet otherwise), which reads the whole screen again.
    auto& source = screen_->frame_source();
    source.invalidate();
    auto cap = source.capture(std::chrono::milliseconds(200));
    if (!cap) {
        // Errors are the stream's to report (its own captures, or poll()); read whole next time.
        source.invalidate();
        return nullptr;
    }
    return cap->frame;
}

void StreamSession::apply_quality() {
    const auto& q = quality_.current();
    log::info("session ", id_, ": viewers' links ", quality_.level() == 0 ? "keep up again" : "hold capture back",
              "; quality level ", quality_.level(), " (CRF ", q.crf, ", JPEG ", q.jpeg_quality, ")");
    video_->set_quality(q.crf);
    if (video_half_) video_half_->set_quality(q.crf);
}

std::optional<protocol::VideoFrame> StreamSession::encode_video(std::uint32_t frame_id, const capture::Frame& frame,
                                                                bool keyframe, Clock::time_point captured) {
    const int w = frame.width, h = frame.height;
    // Keyframes stay full size: they are what a new viewer first reads.
    bool half = false;
    if (!keyframe) {
        std::lock_guard lk(mu_);
        // A slow client, or a link slow enough for the lower quality levels: a quarter of the pixels.
        half = (options_.halve_for_slow_viewers && motion_.half()) || quality_.level() >= 2;
    }
    const int half_w = (w / 2) & ~1, half_h = (h / 2) & ~1;
    if (half_w < kMinSessionDim || half_h < kMinSessionDim) half = false;
    std::optional<codec::VideoPacket> packet;
    if (half) {
        if (!video_half_) video_half_ = video_encoder(half_w, half_h);
        codec::scale_bgra(frame, half_frame_, half_w, half_h);
        // The viewers' decoders hold the other size's pictures: start this one with a keyframe.
        packet = video_half_->encode(half_frame_, !video_is_half_);
    } else {
        packet = video_->encode(frame, keyframe || video_is_half_);
    }
    if (!packet) return std::nullopt;
    video_is_half_ = half;
    protocol::VideoFrame vf{frame_id,
                            packet->keyframe,
                            static_cast<std::uint16_t>(w),
                            static_cast<std::uint16_t>(h),
                            wall_time_us(captured),
                            {},
                            std::move(packet->data)};
    if (half) {
        vf.coded_width = static_cast<std::uint16_t>(half_w);
        vf.coded_height = static_cast<std::uint16_t>(half_h);
    }
    std::lock_guard lk(mu_);
    motion_.on_sent(frame_id, half);
    return vf;
}

void StreamSession::choose_palette_form() {
    using Form = codec::PaletteTileEncoder::Form;
    const auto version = viewers_.min_version();
    palette_tiles_->set_form(version >= protocol::kPaletteColumnsVersion   ? Form::compact_columns
                             : version >= protocol::kCompactPaletteVersion ? Form::compact
                                                                           : Form::classic);
    palette_encoding_ = version >= protocol::kCompactPaletteVersion ? protocol::TileEncoding::palette_compact
                                                                    : protocol::TileEncoding::palette;
}

void StreamSession::add_tiles(const capture::Frame& frame, const capture::Rect& r, bool refine,
                              std::vector<protocol::Tile>& out) {
    const auto palette = palette_encoding_;
    auto tile = [](const capture::Rect& at, protocol::TileEncoding encoding, std::vector<std::uint8_t> data) {
        return protocol::Tile{static_cast<std::uint16_t>(at.x),
                              static_cast<std::uint16_t>(at.y),
                              static_cast<std::uint16_t>(at.w),
                              static_cast<std::uint16_t>(at.h),
                              encoding,
                              std::move(data)};
    };
    auto photo = [&](const capture::Rect& at) {
        // Photo-like content (> 256 colours): a lossless tile would cost several bytes per pixel, so
        // the refinement pass settles for a visually lossless JPEG.
        photo_tiles_->set_quality(refine ? kRefineJpegQuality : quality_.current().jpeg_quality);
        return tile(at, protocol::TileEncoding::jpeg, photo_tiles_->encode(frame, at).value());  // JPEG never declines
    };
    if (auto exact = palette_tiles_->encode(frame, r)) {
        out.push_back(tile(r, palette, std::move(*exact)));
        return;
    }
    // Refinement ends exact: what still declines in a tile that is not all photo (icons in a
    // toolbar, a thumbnail in a page) goes as RGB PNG, which a JPEG at any quality is not.
    auto lossless = [&](const capture::Rect& at) {
        return tile(at, protocol::TileEncoding::png, rgb_tiles_->encode(frame, at).value());  // PNG never declines
    };
    if (r.w <= kExactPiece && r.h <= kExactPiece) {
        out.push_back(refine ? lossless(r) : photo(r));
        return;
    }
    // Many colours over the whole tile is often text on several backgrounds (a page's coloured
    // table cells, antialiased): in smaller pieces it fits a palette and is exact at once, where a
    // JPEG tile would leave it approximate until refinement re-sends it. Pieces that still decline
    // go as JPEG (PNG when refining), a row's neighbours together (each JPEG carries its own
    // tables); a photo declines everywhere and stays one JPEG.
    const std::size_t first = out.size();
    std::vector<capture::Rect> declined;
    for (int y = r.y; y < r.bottom(); y += kExactPiece)
        for (int x = r.x; x < r.right(); x += kExactPiece) {
            const capture::Rect piece = capture::Rect{x, y, kExactPiece, kExactPiece}.intersected(r);
            if (auto exact = palette_tiles_->encode(frame, piece)) {
                out.push_back(tile(piece, palette, std::move(*exact)));
            } else if (!declined.empty() && declined.back().y == piece.y && declined.back().right() == piece.x) {
                declined.back().w += piece.w;
            } else {
                declined.push_back(piece);
            }
        }
    if (out.size() == first) {
        out.push_back(photo(r));
        return;
    }
    for (const auto& piece : declined) out.push_back(refine ? lossless(piece) : photo(piece));
}

// The reference is what the client's screen shows once this frame is painted (exactly, where the
// update was lossless): the planner compares new frames against it to find moved content.
void StreamSession::remember_sent(const capture::Frame& frame, const capture::DamageRegion& damage, bool whole) {
    if (whole || reference_.width != frame.width || reference_.height != frame.height) {
        reference_ = frame;
        return;
    }
    for (const auto& r : damage.rects())
        for (int y = r.y; y < r.bottom(); ++y)
            std::memcpy(reference_.at(r.x, y), frame.at(r.x, y), static_cast<std::size_t>(r.w) * 4);
}

// Build to lossless: once a part has been still for its own change cadence (RefineTimer),
// whatever was sent lossy there is re-sent as palette tiles, or JPEG 95 if photo-like.
void StreamSession::refine_when_still() {
    refining_ = false;
    if (lossy_.empty() || reference_.width != encoder_w_ || reference_.height != encoder_h_) return;
    const auto cpu_start = frame_log_ ? process_cpu_us() : 0;
    const auto start = Clock::now();
    // Only parts that have been still long enough (a video between frames is not), and a bounded
    // slice per turn, so input and new damage are never stuck behind a whole screen.
    auto rects = lossy_.take(kRefinePixelsPerFrame, [&](int cx, int cy) { return refine_timer_.ready(cx, cy, start); });
    if (rects.empty()) return;
    const std::uint32_t frame_id = next_frame_id_;
    protocol::TileFrame tf{
        frame_id, static_cast<std::uint16_t>(encoder_w_), static_cast<std::uint16_t>(encoder_h_), {}, {}};
    capture::DamageRegion region;
    for (const auto& area : rects) region.add(area);
    choose_palette_form();
    for (const auto& r : damage_tiles(region, encoder_w_, encoder_h_)) add_tiles(reference_, r, true, tf.tiles);
    for (const auto& area : rects) lossy_.mark_exact(area);
    if (tf.tiles.empty()) return;
    auto bytes = encoded(tf);
    const int receivers = send_frame(frame_id, bytes, false);
    refining_ = !lossy_.empty();
    account_frame(frame_id, "refine", bytes->size(), receivers, start, cpu_start, std::nullopt, region.area());
}

int StreamSession::send_frame(std::uint32_t frame_id, const Bytes& bytes, bool keyframe) {
    if (frame_id == next_frame_id_) ++next_frame_id_;
    return viewers_.send_frame(frame_id, bytes, keyframe);
}

void StreamSession::account_frame(std::uint32_t frame_id, const char* kind, std::size_t bytes, int receivers,
                                  Clock::time_point encode_start, std::int64_t cpu_start,
                                  std::optional<Clock::time_point> captured, long long damage_px) {
    const auto now = Clock::now();
    if (receivers > 0) {
        {
            std::lock_guard lk(stats_mu_);
            stats_.on_frame(now, bytes, now - encode_start, captured.has_value());
        }
        if (options_.counters)
            options_.counters->frame_sent(kind, bytes, receivers,
                                          std::chrono::duration<double>(now - encode_start).count());
    }
    if (!frame_log_) return;
    // capture_us/sent_us are wall-clock (CLOCK_REALTIME) microseconds, so a bench on the same
    // machine can join them with when a client received the frame.
    std::fprintf(frame_log_,
                 "{\"id\":%u,\"kind\":\"%s\",\"bytes\":%zu,\"encode_us\":%lld,\"cpu_us\":%lld,\"capture_us\":%llu,"
                 "\"sent_us\":%llu,\"receivers\":%d,\"damage_px\":%lld}\n",
                 frame_id, kind, bytes, static_cast<long long>(micros(now - encode_start)),
                 static_cast<long long>(process_cpu_us() - cpu_start),
                 static_cast<unsigned long long>(wall_time_us(captured.value_or(encode_start))),
                 static_cast<unsigned long long>(wall_time_us(now)), receivers, damage_px);
    std::fflush(frame_log_);
}

}  // namespace portico::host

#include "session-host/stream/stream_session.hpp"

#include "capture/frame_source.hpp"
#include "codec/color.hpp"
#include "codec/h264_encoder.hpp"
#include "codec/jpeg_tile.hpp"
#include "codec/png_tile.hpp"
#include "common/log.hpp"
#include "session-host/stream/encode_policy.hpp"
#include "session-host/stream/scroll_detector.hpp"

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

std::int64_t micros(std::chrono::steady_clock::duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); }

}  // namespace

StreamSession::StreamSession(std::string id, int width, int height, EndedFn on_ended)
    : width_(width), height_(height), id_(std::move(id)), on_ended_(std::move(on_ended)) {
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

void StreamSession::start_streaming() {
    jpeg_ = std::make_unique<codec::JpegTileEncoder>();
    png_ = std::make_unique<codec::PngTileEncoder>();
    make_encoder(width_.load(), height_.load());
    thread_ = std::thread([self = shared_from_this()] { self->run(); });
}

std::unique_ptr<codec::H264Encoder> StreamSession::video_encoder(int width, int height) const {
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

void StreamSession::make_encoder(int width, int height) {
    h264_ = video_encoder(width, height);
    h264_half_.reset();
    video_half_ = false;
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

std::size_t StreamSession::viewer_count() {
    std::lock_guard lk(mu_);
    return viewers_.size();
}

void StreamSession::attach(std::shared_ptr<ViewerSink> viewer) {
    std::vector<std::shared_ptr<ViewerSink>> replaced;
    {
        std::lock_guard lk(mu_);
        if (ending_) {
            viewer->close(encoded(protocol::SessionEnded{end_request_.reason, "the session is ending"}));
            return;
        }
        // One owner per session: a new connection is the same user reconnecting. Shadows stay.
        for (auto it = viewers_.begin(); it != viewers_.end();) {
            if (it->view_only) {
                ++it;
                continue;
            }
            replaced.push_back(std::move(it->sink));
            it = viewers_.erase(it);
        }
        viewers_.push_back(Viewer{std::move(viewer), {}, true});
        need_keyframe_ = true;
        wake_.notify_all();
    }
    for (auto& r : replaced) {
        log::info("session ", id_, ": viewer ", r->peer(), " replaced by a new connection");
        r->close(nullptr);
    }
    viewer_attached();
}

bool StreamSession::attach_view_only(std::shared_ptr<ViewerSink> viewer) {
    std::lock_guard lk(mu_);
    if (ending_) {
        viewer->close(encoded(protocol::SessionEnded{end_request_.reason, "the session is ending"}));
        return true;
    }
    Viewer v{std::move(viewer), {}, true};
    v.view_only = true;
    viewers_.push_back(std::move(v));
    need_keyframe_ = true;
    wake_.notify_all();
    return true;
}

void StreamSession::detach(const ViewerSink* viewer) {
    bool removed = false;
    {
        std::lock_guard lk(mu_);
        auto it = std::remove_if(viewers_.begin(), viewers_.end(), [&](const Viewer& v) { return v.sink.get() == viewer; });
        removed = it != viewers_.end();
        viewers_.erase(it, viewers_.end());
    }
    if (removed) release_input();
}

void StreamSession::frame_ack(const ViewerSink* viewer, std::uint32_t frame_id, std::uint32_t paint_us) {
    std::optional<FlowControl::Clock::duration> rtt;
    const auto now = FlowControl::Clock::now();
    {
        std::lock_guard lk(mu_);
        for (auto& v : viewers_)
            if (v.sink.get() == viewer) rtt = v.flow.on_ack(frame_id, now, std::chrono::microseconds(paint_us));
        motion_.on_painted(frame_id, paint_us);
        wake_.notify_all();
    }
    if (rtt) {
        std::lock_guard lk(stats_mu_);
        stats_.on_rtt(now, *rtt);
    }
}

void StreamSession::input_arrived() {
    std::lock_guard lk(stats_mu_);
    stats_.on_input(Clock::now());
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

void StreamSession::resize(int width, int height) {
    std::lock_guard lk(mu_);
    resize_w_ = width;
    resize_h_ = height;
    wake_.notify_all();
}

void StreamSession::logoff() { end(protocol::EndReason::logged_off, "logged off"); }

StreamSession::ViewerState StreamSession::prune_viewers_locked() {
    auto now = FlowControl::Clock::now();
    ViewerState state;
    for (auto it = viewers_.begin(); it != viewers_.end();) {
        if (it->flow.stalled(now)) {
            log::warn("session ", id_, ": viewer ", it->sink->peer(), " acknowledged nothing for ",
                      FlowControl::kStallLimit.count(), " s; disconnecting it");
            it->sink->close(nullptr);
            it = viewers_.erase(it);
            continue;
        }
        state.link_blocked = state.link_blocked || it->flow.blocked();
        // The session is paced to its owner: a shadowing viewer's slower paint must not slow the
        // user's picture, only its link or its backlog (kMaxUnacked) holds capture back.
        state.held = state.held || (it->view_only ? it->flow.blocked() : it->flow.held());
        ++it;
    }
    state.any = !viewers_.empty();
    return state;
}

void StreamSession::run() {
    pthread_setname_np(pthread_self(), "capture");
    Ending ending{protocol::EndReason::error, {}};
    try {
        for (;;) {
            if (auto e = poll()) {
                ending = std::move(*e);
                break;
            }
            int resize_w = 0, resize_h = 0;
            {
                std::unique_lock lk(mu_);
                if (end_requested_) {
                    ending = end_request_;
                    break;
                }
                std::swap(resize_w, resize_w_);
                std::swap(resize_h, resize_h_);
            }
            // A request for the size the screen already has (a client states its size on every
            // connect) changes nothing and costs no keyframe.
            if (resize_w > 0 && (resize_w != width_.load() || resize_h != height_.load())) {
                change_size(resize_w, resize_h);
                // The new screen must reach the viewers whole, not just its damaged parts.
                need_keyframe_ = true;
            }
            bool link_blocked = false, idle = false;
            {
                std::unique_lock lk(mu_);
                const ViewerState viewers = prune_viewers_locked();
                link_blocked = viewers.any && viewers.link_blocked;
                if (viewers.any && viewers.held) {
                    if (!blocked_since_) blocked_since_ = Clock::now();
                } else if (blocked_since_) {
                    blocked_intervals_ += (Clock::now() - *blocked_since_) / kFrameInterval;
                    blocked_since_.reset();
                }
                if (!viewers.any || viewers.held) {
                    // Nothing to send: the source accumulates damage until someone can take it.
                    wake_.wait_for(lk, 20ms);
                    idle = true;
                }
            }
            // Only the link lowers quality: a viewer that paints slowly gets fewer frames (pacing)
            // and smaller ones (MotionScale), not worse ones.
            if (quality_.on_turn(Clock::now(), link_blocked)) apply_quality();
            if (idle) continue;
            encode_and_send();
        }
    } catch (const std::exception& e) {
        log::error("session ", id_, ": ", e.what());
        ending = {protocol::EndReason::error, e.what()};
    }
    ending_ = true;
    log::info("session ", id_, ": ending (", ending.message.empty() ? "no reason given" : ending.message, ")");

    std::vector<Viewer> viewers;
    {
        std::lock_guard lk(mu_);
        viewers.swap(viewers_);
    }
    auto ended = encoded(protocol::SessionEnded{ending.reason, ending.message});
    for (auto& v : viewers) v.sink->close(ended);
    viewers.clear();

    h264_.reset();
    jpeg_.reset();
    png_.reset();
    teardown();
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

// The source's frames changed size (a client's resize was applied, or a VM guest changed its
// resolution): new encoder, Resize to every viewer, then a whole keyframe of the new size.
void StreamSession::follow_frame_size(int width, int height) {
    make_encoder(width, height);
    width_ = width;
    height_ = height;
    log::info("session ", id_, ": screen is now ", width, "x", height);
    broadcast(encoded(protocol::Resize{static_cast<std::uint16_t>(width), static_cast<std::uint16_t>(height)}), true);
    sent_keyframe_ = false;
    need_keyframe_ = true;
    frame_source().invalidate();
}

void StreamSession::broadcast(const Bytes& message, bool then_needs_keyframe) {
    // Decided here, by the message's type, so no caller can forget it: the user's clipboard is
    // theirs, the picture (cursor shapes, resizes) is everyone's.
    const bool owner_only = message && !message->empty() &&
                            (*message)[0] == static_cast<std::uint8_t>(protocol::MsgType::clipboard_data) &&
                            !shadow_clipboard_.load();
    std::vector<std::shared_ptr<ViewerSink>> dropped;
    {
        std::lock_guard lk(mu_);
        for (auto it = viewers_.begin(); it != viewers_.end();) {
            if (owner_only && it->view_only) {
                ++it;
                continue;
            }
            if (!it->sink->send(message)) {
                dropped.push_back(it->sink);
                it = viewers_.erase(it);
                continue;
            }
            if (then_needs_keyframe) it->needs_keyframe = true;
            ++it;
        }
    }
    for (auto& d : dropped) {
        log::warn("session ", id_, ": viewer ", d->peer(), " send queue full; disconnecting it");
        d->close(nullptr);
    }
    if (!dropped.empty()) release_input();
}

// Screen updates, cheapest faithful form first:
//  - keyframe (new viewer, resize, decoder error): the whole screen as H.264;
//  - content that moved (scrolling): copies of what the client already has + the new rows;
//  - small changes (typing, menus): lossless PNG tiles, JPEG for photo-like tiles;
//  - large changes (video, a dragged window), and parts in sustained motion (a video in a window):
//    H.264, painted only where the screen changed;
//  - once a part has been still for its own change cadence (RefineTimer), whatever was sent lossy
//    there is re-sent as PNG, or JPEG 95 if photo-like (build to lossless).
void StreamSession::encode_and_send() {
    auto& source = frame_source();
    bool keyframe = need_keyframe_.load() || !sent_keyframe_;
    if (keyframe) source.invalidate();  // the keyframe carries the whole screen
    // Waiting for damage costs no CPU, so CPU from here to the send is capture + convert + encode.
    const auto cpu_start = frame_log_ ? process_cpu_us() : 0;
    auto cap = source.capture(33ms);
    if (!cap || !cap->frame) {
        blocked_intervals_ = 0;  // nothing changed while blocked: nothing was skipped
        return refine_when_still();
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

    capture::DamageRegion damage = cap->damage;
    damage.clip({0, 0, w, h});
    if (!keyframe && damage.empty()) return;
    for (const auto& r : damage.rects()) refine_timer_.changed(r, encode_start);

    std::uint32_t frame_id = next_frame_id_;
    Bytes bytes;
    const char* kind_name = "tiles";
    const long long screen_area = static_cast<long long>(w) * h;
    FrameKind kind = keyframe ? FrameKind::h264_keyframe : FrameKind::tiles;

    if (kind == FrameKind::tiles) {
        protocol::TileFrame tf{frame_id, static_cast<std::uint16_t>(w), static_cast<std::uint16_t>(h), {}, {}};
        capture::DamageRegion residual = damage;
        std::optional<VerticalScroll> scroll;
        std::optional<Move> move;
        if (reference_.width == w && reference_.height == h && scroll_backoff_ == 0) {
            const auto box = damage.bounding_box();
            scroll = find_vertical_scroll(reference_, frame, box);
            // Not a scroll: maybe a window was dragged (its old and new places are both damaged).
            // Bounded to 60% of the screen so full-screen motion does not pay for the search.
            if (!scroll && box.area() * 5 <= screen_area * 3) move = find_move(reference_, frame, box);
            // Video and animations neither scroll nor move: after a few misses in a row, look less often.
            scroll_misses_ = (scroll || move) ? 0 : scroll_misses_ + 1;
            if (scroll_misses_ >= 3) scroll_backoff_ = 10;
        } else if (scroll_backoff_ > 0) {
            --scroll_backoff_;
        }
        auto add_copy = [&tf](const capture::Rect& dst, int dx, int dy) {
            tf.copies.push_back({static_cast<std::uint16_t>(dst.x + dx), static_cast<std::uint16_t>(dst.y + dy),
                                 static_cast<std::uint16_t>(dst.w), static_cast<std::uint16_t>(dst.h),
                                 static_cast<std::uint16_t>(dst.x), static_cast<std::uint16_t>(dst.y)});
        };
        if (scroll) {
            residual.clear();
            for (const auto& r : scroll->changed) residual.add(r);
            for (const auto& r : scroll->moved) add_copy(r, 0, scroll->offset);
        } else if (move) {
            // What the copies do not cover: the uncovered strips and anything else that changed.
            residual.clear();
            for (const auto& d : damage.rects()) {
                std::vector<capture::Rect> left{d};
                for (const auto& m : move->moved) {
                    std::vector<capture::Rect> next;
                    for (const auto& piece : left)
                        for (const auto& rest : subtract(piece, m)) next.push_back(rest);
                    left.swap(next);
                }
                for (const auto& piece : left) residual.add(piece);
            }
            for (const auto& r : move->moved) add_copy(r, move->dx, move->dy);
        }
        // Video mode decides on what copies leave over: a scroll or a drag leaves thin strips and
        // stays copies + tiles, but in a video the detectors find small "moves" that leave most of
        // the picture to JPEG tiles (measured: 40 kB per 640x360 frame against 12 kB as H.264).
        const long long motion_area = refine_timer_.motion_area(residual);
        if (choose_frame_kind(false, residual.area(), screen_area, motion_area) != FrameKind::tiles ||
            tf.copies.size() > protocol::kMaxCopies) {
            kind = FrameKind::h264_delta;
        } else {
            residual.simplify(32);
            auto rects = damage_tiles(residual, w, h);
            if (rects.size() > protocol::kMaxTiles) {
                kind = FrameKind::h264_delta;
            } else {
                tf.tiles.reserve(rects.size());
                for (const auto& r : rects) tf.tiles.push_back(make_tile(frame, r, false));
                if (tf.tiles.empty() && tf.copies.empty()) return;
                bytes = encoded(tf);
                if (bytes->size() > protocol::kMaxMessageBytes) kind = FrameKind::h264_delta;
            }
        }
        if (kind == FrameKind::tiles) {
            kind_name = tf.copies.empty() ? "tiles" : move ? "move" : "scroll";
            for (const auto& c : tf.copies) lossy_.copy({c.x, c.y, c.w, c.h}, c.dx, c.dy);
            for (const auto& t : tf.tiles) {
                capture::Rect r{t.x, t.y, t.w, t.h};
                if (t.encoding == protocol::TileEncoding::png)
                    lossy_.mark_exact(r);
                else
                    lossy_.mark_lossy(r);
            }
        }
    }
    if (kind != FrameKind::tiles) {
        // Only a requested keyframe repaints the whole screen (and serves viewers waiting for one);
        // a keyframe that starts the other resolution mid-motion still paints just what changed.
        keyframe = kind == FrameKind::h264_keyframe;
        protocol::VideoFrame vf = encode_video(frame_id, frame, keyframe, cap->time);
        if (keyframe) {
            sent_keyframe_ = true;
            lossy_.reset(w, h);
            lossy_.mark_lossy({0, 0, w, h});
            kind_name = "h264_key";
        } else {
            damage.simplify(64);
            for (const auto& r : damage.rects()) {
                vf.dirty.push_back({static_cast<std::uint16_t>(r.x), static_cast<std::uint16_t>(r.y),
                                    static_cast<std::uint16_t>(r.w), static_cast<std::uint16_t>(r.h)});
                lossy_.mark_lossy(r);
            }
            kind_name = vf.coded_width != 0 ? "h264_half" : "h264";
        }
        bytes = encoded(vf);
    }
    remember_sent(frame, keyframe ? capture::DamageRegion{} : damage, keyframe);
    const int receivers = send_frame(frame_id, bytes, keyframe);
    account_frame(frame_id, kind_name, bytes->size(), receivers, encode_start, cpu_start, cap->time,
                  keyframe ? screen_area : damage.area());
}

void StreamSession::apply_quality() {
    const auto& q = quality_.current();
    log::info("session ", id_, ": viewers' links ", quality_.level() == 0 ? "keep up again" : "hold capture back",
              "; quality level ", quality_.level(), " (CRF ", q.crf, ", JPEG ", q.jpeg_quality, ")");
    h264_->set_crf(q.crf);
    if (h264_half_) h264_half_->set_crf(q.crf);
}

protocol::VideoFrame StreamSession::encode_video(std::uint32_t frame_id, const capture::Frame& frame, bool keyframe,
                                                Clock::time_point captured) {
    const int w = frame.width, h = frame.height;
    // Keyframes stay full size: they are what a new viewer first reads.
    bool half = false;
    if (!keyframe) {
        std::lock_guard lk(mu_);
        // A slow client, or a link slow enough for the lower quality levels: a quarter of the pixels.
        half = motion_.half() || quality_.level() >= 2;
    }
    const int half_w = (w / 2) & ~1, half_h = (h / 2) & ~1;
    if (half_w < kMinSessionDim || half_h < kMinSessionDim) half = false;
    codec::H264Encoder::Encoded enc;
    if (half) {
        if (!h264_half_) h264_half_ = video_encoder(half_w, half_h);
        codec::scale_bgra(frame, half_frame_, half_w, half_h);
        // The viewers' decoders hold the other size's pictures: start this one with a keyframe.
        enc = h264_half_->encode(half_frame_, !video_half_);
    } else {
        enc = h264_->encode(frame, keyframe || video_half_);
    }
    video_half_ = half;
    protocol::VideoFrame vf{frame_id, enc.keyframe, static_cast<std::uint16_t>(w), static_cast<std::uint16_t>(h),
                            wall_time_us(captured), {}, std::move(enc.data)};
    if (half) {
        vf.coded_width = static_cast<std::uint16_t>(half_w);
        vf.coded_height = static_cast<std::uint16_t>(half_h);
    }
    std::lock_guard lk(mu_);
    motion_.on_sent(frame_id, half);
    return vf;
}

protocol::Tile StreamSession::make_tile(const capture::Frame& frame, const capture::Rect& r, bool refine) {
    protocol::Tile t{static_cast<std::uint16_t>(r.x), static_cast<std::uint16_t>(r.y), static_cast<std::uint16_t>(r.w),
                     static_cast<std::uint16_t>(r.h), protocol::TileEncoding::png, {}};
    t.data = png_->encode_if_few_colours(frame, r);
    if (t.data.empty()) {
        // Photo-like content (> 256 colours): a lossless PNG would cost several bytes per pixel,
        // so the refinement pass settles for a visually lossless JPEG.
        t.encoding = protocol::TileEncoding::jpeg;
        t.data = jpeg_->encode(frame, r, refine ? kRefineJpegQuality : quality_.current().jpeg_quality, true);
    }
    return t;
}

// The reference is what the client's screen shows once this frame is painted (exactly, where the
// update was lossless): the scroll detector compares new frames against it.
void StreamSession::remember_sent(const capture::Frame& frame, const capture::DamageRegion& damage, bool whole) {
    if (whole || reference_.width != frame.width || reference_.height != frame.height) {
        reference_ = frame;
        return;
    }
    for (const auto& r : damage.rects())
        for (int y = r.y; y < r.bottom(); ++y)
            std::memcpy(reference_.at(r.x, y), frame.at(r.x, y), static_cast<std::size_t>(r.w) * 4);
}

void StreamSession::refine_when_still() {
    if (lossy_.empty() || reference_.width != encoder_w_ || reference_.height != encoder_h_) return;
    const auto cpu_start = frame_log_ ? process_cpu_us() : 0;
    const auto start = Clock::now();
    // Only parts that have been still long enough (a video between frames is not), and a bounded
    // slice per turn, so input and new damage are never stuck behind a whole screen.
    auto rects = lossy_.take(kRefinePixelsPerFrame, [&](int cx, int cy) { return refine_timer_.ready(cx, cy, start); });
    if (rects.empty()) return;
    const std::uint32_t frame_id = next_frame_id_;
    protocol::TileFrame tf{frame_id, static_cast<std::uint16_t>(encoder_w_), static_cast<std::uint16_t>(encoder_h_), {}, {}};
    capture::DamageRegion region;
    for (const auto& area : rects) region.add(area);
    for (const auto& r : damage_tiles(region, encoder_w_, encoder_h_)) tf.tiles.push_back(make_tile(reference_, r, true));
    for (const auto& area : rects) lossy_.mark_exact(area);
    if (tf.tiles.empty()) return;
    auto bytes = encoded(tf);
    const int receivers = send_frame(frame_id, bytes, false);
    account_frame(frame_id, "refine", bytes->size(), receivers, start, cpu_start, std::nullopt, region.area());
}

int StreamSession::send_frame(std::uint32_t frame_id, const Bytes& bytes, bool keyframe) {
    if (frame_id == next_frame_id_) ++next_frame_id_;
    std::vector<std::shared_ptr<ViewerSink>> dropped;
    int receivers = 0;
    {
        std::lock_guard lk(mu_);
        auto now = FlowControl::Clock::now();
        for (auto it = viewers_.begin(); it != viewers_.end();) {
            if (it->needs_keyframe && !keyframe) {
                ++it;
                continue;
            }
            if (!it->sink->send(bytes)) {
                dropped.push_back(it->sink);
                it = viewers_.erase(it);
                continue;
            }
            it->needs_keyframe = false;
            it->flow.on_sent(frame_id, now, bytes->size());
            ++receivers;
            ++it;
        }
    }
    for (auto& d : dropped) {
        log::warn("session ", id_, ": viewer ", d->peer(), " send queue full; disconnecting it");
        d->close(nullptr);
    }
    if (!dropped.empty()) release_input();
    return receivers;
}

void StreamSession::account_frame(std::uint32_t frame_id, const char* kind, std::size_t bytes, int receivers,
                                  Clock::time_point encode_start, std::int64_t cpu_start,
                                  std::optional<Clock::time_point> captured, long long damage_px) {
    const auto now = Clock::now();
    if (receivers > 0) {
        std::lock_guard lk(stats_mu_);
        stats_.on_frame(now, bytes, now - encode_start, captured.has_value());
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

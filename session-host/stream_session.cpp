#include "session-host/stream_session.hpp"

#include "capture/frame_source.hpp"
#include "codec/h264_encoder.hpp"
#include "codec/jpeg_tile.hpp"
#include "common/log.hpp"
#include "session-host/encode_policy.hpp"

#include <pthread.h>

#include <algorithm>

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

}  // namespace

StreamSession::StreamSession(std::string id, int width, int height, EndedFn on_ended)
    : width_(width), height_(height), id_(std::move(id)), on_ended_(std::move(on_ended)) {}

StreamSession::~StreamSession() {
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
    make_encoder(width_.load(), height_.load());
    thread_ = std::thread([self = shared_from_this()] { self->run(); });
}

void StreamSession::make_encoder(int width, int height) {
    codec::H264Encoder::Options eo;
    eo.width = width;
    eo.height = height;
    eo.fps = 30;
    // Full-screen H.264 frames still carry text (the first keyframe, large redraws): CRF 18
    // keeps it readable (≥ 35 dB on text-like frames, see tests/unit/codec/h264_test.cpp).
    eo.crf = 18;
    eo.keyint = 100000;  // keyframes only when a viewer needs one
    h264_ = std::make_unique<codec::H264Encoder>(eo);
    encoder_w_ = width;
    encoder_h_ = height;
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
        // One owner per session: a new connection is the same user reconnecting.
        for (auto& v : viewers_) replaced.push_back(std::move(v.sink));
        viewers_.clear();
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

void StreamSession::frame_ack(const ViewerSink* viewer, std::uint32_t frame_id) {
    std::lock_guard lk(mu_);
    for (auto& v : viewers_)
        if (v.sink.get() == viewer) v.flow.on_ack(frame_id, FlowControl::Clock::now());
    wake_.notify_all();
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

std::pair<bool, bool> StreamSession::prune_viewers_locked() {
    auto now = FlowControl::Clock::now();
    bool blocked = false;
    for (auto it = viewers_.begin(); it != viewers_.end();) {
        if (it->flow.stalled(now)) {
            log::warn("session ", id_, ": viewer ", it->sink->peer(), " acknowledged nothing for ",
                      FlowControl::kStallLimit.count(), " s; disconnecting it");
            it->sink->close(nullptr);
            it = viewers_.erase(it);
            continue;
        }
        blocked = blocked || it->flow.blocked();
        ++it;
    }
    return {!viewers_.empty(), blocked};
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
            if (resize_w > 0) {
                change_size(resize_w, resize_h);
                // The new screen must reach the viewers whole, not just its damaged parts.
                need_keyframe_ = true;
            }
            {
                std::unique_lock lk(mu_);
                auto [have_viewers, blocked] = prune_viewers_locked();
                if (!have_viewers || blocked) {
                    // Nothing to send: the source accumulates damage until someone can take it.
                    wake_.wait_for(lk, 20ms);
                    continue;
                }
            }
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
    std::vector<std::shared_ptr<ViewerSink>> dropped;
    {
        std::lock_guard lk(mu_);
        for (auto it = viewers_.begin(); it != viewers_.end();) {
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

void StreamSession::encode_and_send() {
    auto& source = frame_source();
    bool keyframe = need_keyframe_.load() || !sent_keyframe_;
    if (keyframe) source.invalidate();  // the keyframe carries the whole screen
    auto cap = source.capture(33ms);
    if (!cap || !cap->frame) return;

    const int w = cap->frame->width, h = cap->frame->height;
    if (w != encoder_w_ || h != encoder_h_) return follow_frame_size(w, h);  // this frame may be partial
    keyframe = need_keyframe_.exchange(false) || keyframe;

    capture::DamageRegion damage = cap->damage;
    damage.clip({0, 0, w, h});
    if (!keyframe && damage.empty()) return;
    FrameKind kind = choose_frame_kind(keyframe, damage.area(), static_cast<long long>(w) * h);

    std::uint32_t frame_id = next_frame_id_;
    Bytes bytes;
    if (kind == FrameKind::tiles) {
        damage.simplify(32);
        protocol::TileFrame tf{frame_id, static_cast<std::uint16_t>(w), static_cast<std::uint16_t>(h), {}};
        auto rects = damage_tiles(damage, w, h);
        if (rects.empty()) return;
        if (rects.size() > protocol::kMaxTiles) {
            kind = FrameKind::h264_delta;
        } else {
            tf.tiles.reserve(rects.size());
            for (const auto& r : rects)
                tf.tiles.push_back({static_cast<std::uint16_t>(r.x), static_cast<std::uint16_t>(r.y),
                                    static_cast<std::uint16_t>(r.w), static_cast<std::uint16_t>(r.h),
                                    protocol::TileEncoding::jpeg, jpeg_->encode(*cap->frame, r, kJpegQuality, true)});
            bytes = encoded(tf);
            if (bytes->size() > protocol::kMaxMessageBytes) kind = FrameKind::h264_delta;
        }
    }
    if (kind != FrameKind::tiles) {
        auto enc = h264_->encode(*cap->frame, kind == FrameKind::h264_keyframe);
        keyframe = enc.keyframe;
        protocol::VideoFrame vf{frame_id, enc.keyframe, static_cast<std::uint16_t>(w), static_cast<std::uint16_t>(h),
                                wall_time_us(cap->time), std::move(enc.data)};
        bytes = encoded(vf);
        if (enc.keyframe) sent_keyframe_ = true;
    }
    ++next_frame_id_;

    std::vector<std::shared_ptr<ViewerSink>> dropped;
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
            it->flow.on_sent(frame_id, now);
            ++it;
        }
    }
    for (auto& d : dropped) {
        log::warn("session ", id_, ": viewer ", d->peer(), " send queue full; disconnecting it");
        d->close(nullptr);
    }
    if (!dropped.empty()) release_input();
}

}  // namespace portico::host

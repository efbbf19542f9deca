#include "session-host/app_session.hpp"

#include "capture/x11_source.hpp"
#include "codec/h264_encoder.hpp"
#include "codec/jpeg_tile.hpp"
#include "common/log.hpp"
#include "session-host/app_process.hpp"
#include "session-host/encode_policy.hpp"
#include "session-host/input_injector.hpp"
#include "session-host/screen_sizer.hpp"
#include "session-host/window_keeper.hpp"
#include "session-host/x_display.hpp"

#include <pthread.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace portico::host {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

Bytes encoded(const protocol::Message& m) {
    return std::make_shared<const std::vector<std::uint8_t>>(protocol::encode(m));
}

void make_private_dir(const std::string& dir) {
    std::error_code ec;
    fs::remove_all(dir, ec);  // a leftover from a crashed host
    fs::create_directories(fs::path(dir).parent_path(), ec);
    if (::mkdir(dir.c_str(), 0700) != 0) throw std::runtime_error("cannot create runtime directory " + dir);
    ::chmod(dir.c_str(), 0700);
}

std::uint64_t wall_time_us(std::chrono::steady_clock::time_point t) {
    // The capture time is steady-clock; clients compare against wall time.
    auto age = std::chrono::steady_clock::now() - t;
    auto wall = std::chrono::system_clock::now() - age;
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(wall.time_since_epoch()).count());
}

}  // namespace

AppSession::AppSession(Options options, EndedFn on_ended) : options_(std::move(options)), on_ended_(std::move(on_ended)) {}

std::shared_ptr<AppSession> AppSession::start(Options options, EndedFn on_ended) {
    if (options.command.empty()) throw std::runtime_error("the application has no command");
    options.width = session_dimension(options.width);
    options.height = session_dimension(options.height);
    std::shared_ptr<AppSession> s(new AppSession(std::move(options), std::move(on_ended)));
    const auto& o = s->options_;
    make_private_dir(o.runtime_dir);
    try {
        s->xvfb_ = std::make_unique<XvfbDisplay>(std::max(o.width, kMaxWidth), std::max(o.height, kMaxHeight), o.runtime_dir);
        s->sizer_ = std::make_unique<ScreenSizer>(s->xvfb_->display(), s->xvfb_->xauthority());
        if (std::string why; !s->sizer_->set_size(o.width, o.height, why))
            throw std::runtime_error("cannot set the X screen to " + std::to_string(o.width) + "x" + std::to_string(o.height) + ": " + why);
        s->width_ = o.width;
        s->height_ = o.height;
        s->windows_ = std::make_unique<WindowKeeper>(s->xvfb_->display(), s->xvfb_->xauthority());
        s->app_ = std::make_unique<AppProcess>(o.command, s->xvfb_->display(), s->xvfb_->xauthority(),
                                               o.runtime_dir + "/app.log");
        s->source_ = std::make_unique<capture::X11FrameSource>(s->xvfb_->display(), s->xvfb_->xauthority());
        s->injector_ = std::make_unique<InputInjector>(s->xvfb_->display(), s->xvfb_->xauthority());
        s->make_encoder(o.width, o.height);
        s->jpeg_ = std::make_unique<codec::JpegTileEncoder>();
    } catch (...) {
        s->teardown();
        throw;
    }
    s->wait_for_first_window();
    s->thread_ = std::thread([self = s] { self->run(); });
    log::info("session ", o.id, ": started '", o.command.front(), "' on display ", s->xvfb_->display(), " (",
              o.width, "x", o.height, ")");
    return s;
}

void AppSession::make_encoder(int width, int height) {
    codec::H264Encoder::Options eo;
    eo.width = width;
    eo.height = height;
    eo.fps = 30;
    // Full-screen H.264 frames still carry text (the first keyframe, large redraws): CRF 18
    // keeps it readable (≥ 35 dB on text-like frames, see tests/unit/codec/h264_test.cpp).
    eo.crf = 18;
    eo.keyint = 100000;  // keyframes only when a viewer needs one
    h264_ = std::make_unique<codec::H264Encoder>(eo);
}

// Keys typed before the app's window exists would go nowhere (there is no window manager to hold
// focus), so the session is announced ready only once the window is mapped and focused.
void AppSession::wait_for_first_window() {
    constexpr auto kTimeout = 10s;
    auto deadline = std::chrono::steady_clock::now() + kTimeout;
    for (;;) {
        windows_->poll();
        if (windows_->main_window()) return;
        if (app_->exited()) {
            std::string log_tail;
            if (std::ifstream in{options_.runtime_dir + "/app.log"}) {
                std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
                log_tail = all.substr(all.size() > 400 ? all.size() - 400 : 0);
            }
            std::string msg = "'" + options_.command.front() + "' exited (status " + std::to_string(app_->exit_status()) +
                              ") before showing a window";
            if (!log_tail.empty()) msg += ": " + log_tail;
            teardown();
            throw std::runtime_error(msg);
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            log::warn("session ", options_.id, ": '", options_.command.front(), "' showed no window within ",
                      kTimeout.count(), " s; starting the session anyway");
            return;
        }
        std::this_thread::sleep_for(20ms);
    }
}

AppSession::~AppSession() {
    if (thread_.joinable()) {
        // The capture thread holds a reference to the session, so the last one may be dropped on it.
        if (thread_.get_id() == std::this_thread::get_id())
            thread_.detach();
        else
            thread_.join();
    }
}

void AppSession::end(protocol::EndReason reason, std::string message) {
    std::lock_guard lk(mu_);
    if (end_requested_) return;
    end_requested_ = true;
    end_reason_ = reason;
    end_message_ = std::move(message);
    ending_ = true;
    wake_.notify_all();
}

void AppSession::wait_finished() {
    std::unique_lock lk(mu_);
    finished_cv_.wait(lk, [this] { return finished_; });
}

void AppSession::attach(std::shared_ptr<ViewerSink> viewer) {
    std::vector<std::shared_ptr<ViewerSink>> replaced;
    {
        std::lock_guard lk(mu_);
        if (ending_) {
            viewer->close(encoded(protocol::SessionEnded{end_reason_, "the session is ending"}));
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
        log::info("session ", options_.id, ": viewer ", r->peer(), " replaced by a new connection");
        r->close(nullptr);
    }
}

void AppSession::detach(const ViewerSink* viewer) {
    bool removed = false;
    {
        std::lock_guard lk(mu_);
        auto it = std::remove_if(viewers_.begin(), viewers_.end(), [&](const Viewer& v) { return v.sink.get() == viewer; });
        removed = it != viewers_.end();
        viewers_.erase(it, viewers_.end());
    }
    if (removed) {
        std::lock_guard lk(input_mu_);
        if (injector_) injector_->release_all();
    }
}

void AppSession::key(std::uint16_t code, bool down) {
    std::lock_guard lk(input_mu_);
    if (injector_) injector_->key(code, down);
}

void AppSession::pointer(int x, int y, std::uint8_t buttons) {
    x = std::clamp(x, 0, width_.load() - 1);
    y = std::clamp(y, 0, height_.load() - 1);
    std::lock_guard lk(input_mu_);
    if (injector_) injector_->pointer(x, y, buttons);
}

void AppSession::wheel(int dx, int dy) {
    std::lock_guard lk(input_mu_);
    if (injector_) injector_->wheel(dx, dy);
}

void AppSession::frame_ack(const ViewerSink* viewer, std::uint32_t frame_id) {
    std::lock_guard lk(mu_);
    for (auto& v : viewers_)
        if (v.sink.get() == viewer) v.flow.on_ack(frame_id, FlowControl::Clock::now());
    wake_.notify_all();
}

void AppSession::keyframe_request() {
    need_keyframe_ = true;
    std::lock_guard lk(mu_);
    wake_.notify_all();
}

void AppSession::resize(int width, int height) {
    std::lock_guard lk(mu_);
    resize_w_ = width;
    resize_h_ = height;
    wake_.notify_all();
}

// On the capture thread: screen, capture buffer, encoder and main window move to the new size,
// then every viewer gets Resize followed (via need_keyframe_) by a keyframe of that size.
void AppSession::apply_resize(int width, int height) {
    width = session_dimension(std::min(width, sizer_->max_width()));
    height = session_dimension(std::min(height, sizer_->max_height()));
    if (width == width_.load() && height == height_.load()) return;
    std::string why;
    if (!sizer_->set_size(width, height, why)) {
        log::warn("session ", options_.id, ": cannot resize the screen to ", width, "x", height, ": ", why);
        return;
    }
    source_->follow_root_size();
    width = source_->width();
    height = source_->height();
    make_encoder(width, height);
    windows_->set_screen_size(width, height);
    width_ = width;
    height_ = height;
    log::info("session ", options_.id, ": screen resized to ", width, "x", height);

    auto msg = encoded(protocol::Resize{static_cast<std::uint16_t>(width), static_cast<std::uint16_t>(height)});
    std::vector<std::shared_ptr<ViewerSink>> dropped;
    {
        std::lock_guard lk(mu_);
        for (auto it = viewers_.begin(); it != viewers_.end();) {
            if (!it->sink->send(msg)) {
                dropped.push_back(it->sink);
                it = viewers_.erase(it);
                continue;
            }
            it->needs_keyframe = true;
            ++it;
        }
    }
    for (auto& d : dropped) d->close(nullptr);
    sent_keyframe_ = false;
    need_keyframe_ = true;
}

void AppSession::logoff() { end(protocol::EndReason::logged_off, "logged off"); }

std::size_t AppSession::viewer_count() {
    std::lock_guard lk(mu_);
    return viewers_.size();
}

std::pair<bool, bool> AppSession::prune_viewers_locked() {
    auto now = FlowControl::Clock::now();
    bool blocked = false;
    for (auto it = viewers_.begin(); it != viewers_.end();) {
        if (it->flow.stalled(now)) {
            log::warn("session ", options_.id, ": viewer ", it->sink->peer(), " acknowledged nothing for ",
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

void AppSession::run() {
    pthread_setname_np(pthread_self(), "capture");
    protocol::EndReason reason = protocol::EndReason::error;
    std::string message;
    try {
        for (;;) {
            windows_->poll();
            int resize_w = 0, resize_h = 0;
            {
                std::lock_guard lk(mu_);
                std::swap(resize_w, resize_w_);
                std::swap(resize_h, resize_h_);
            }
            if (resize_w > 0) apply_resize(resize_w, resize_h);
            {
                std::unique_lock lk(mu_);
                if (end_requested_) {
                    reason = end_reason_;
                    message = end_message_;
                    break;
                }
                auto [have_viewers, blocked] = prune_viewers_locked();
                if (!have_viewers || blocked) {
                    // Nothing to send: the X server accumulates damage until someone can take it.
                    wake_.wait_for(lk, 20ms);
                    lk.unlock();
                    if (app_->exited()) {
                        reason = protocol::EndReason::app_exited;
                        message = "the application exited (status " + std::to_string(app_->exit_status()) + ")";
                        break;
                    }
                    continue;
                }
            }
            if (app_->exited()) {
                reason = protocol::EndReason::app_exited;
                message = "the application exited (status " + std::to_string(app_->exit_status()) + ")";
                break;
            }
            encode_and_send();
        }
    } catch (const std::exception& e) {
        log::error("session ", options_.id, ": ", e.what());
        reason = protocol::EndReason::error;
        message = e.what();
    }
    ending_ = true;
    log::info("session ", options_.id, ": ending (", message.empty() ? "no reason given" : message, ")");

    std::vector<Viewer> viewers;
    {
        std::lock_guard lk(mu_);
        viewers.swap(viewers_);
    }
    auto ended = encoded(protocol::SessionEnded{reason, message});
    for (auto& v : viewers) v.sink->close(ended);
    viewers.clear();

    teardown();
    try {
        if (on_ended_) on_ended_(options_.id, reason, message);
    } catch (const std::exception& e) {
        log::error("session ", options_.id, ": end notification failed: ", e.what());
    }
    {
        std::lock_guard lk(mu_);
        finished_ = true;
        finished_cv_.notify_all();
    }
}

void AppSession::encode_and_send() {
    bool keyframe = need_keyframe_.load() || !sent_keyframe_;
    if (keyframe) source_->invalidate();  // the keyframe carries the whole screen
    auto cap = source_->capture(33ms);
    if (!cap || !cap->frame) return;
    keyframe = need_keyframe_.exchange(false) || keyframe;

    const int w = cap->frame->width, h = cap->frame->height;
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
        log::warn("session ", options_.id, ": viewer ", d->peer(), " send queue full; disconnecting it");
        d->close(nullptr);
    }
    if (!dropped.empty()) {
        std::lock_guard lk(input_mu_);
        if (injector_) injector_->release_all();
    }
}

void AppSession::teardown() {
    {
        std::lock_guard lk(input_mu_);
        injector_.reset();
    }
    jpeg_.reset();
    h264_.reset();
    source_.reset();
    windows_.reset();
    sizer_.reset();
    if (app_) {
        if (!app_->exited()) app_->terminate();
        app_.reset();
    }
    xvfb_.reset();
    std::error_code ec;
    fs::remove_all(options_.runtime_dir, ec);
    if (ec) log::warn("session ", options_.id, ": cannot remove ", options_.runtime_dir, ": ", ec.message());
}

}  // namespace portico::host

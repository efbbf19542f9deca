#pragma once
// Test parts for driving a real StreamSession: ScriptedSource (a frame the test changes by hand,
// reporting exactly the damage the test names; the test thread writes, the session's capture
// thread reads), TestScreen (the smallest SessionScreen over such a source) and
// ClientViewer (a ViewerSink whose own thread decodes with the native client's Framebuffer and
// acknowledges each frame, as portico-client does).

#include "capture/frame_source.hpp"
#include "client/native/framebuffer.hpp"
#include "codec/palette_format.hpp"
#include "protocol/display.hpp"
#include "session-host/stream/stream_session.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace portico::pipeline_test {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Polls `pred` every 5 ms until it holds or `timeout` passes; returns its last value.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (pred()) return true;
        if (Clock::now() >= deadline) return pred();
        std::this_thread::sleep_for(5ms);
    }
}

// Same B, G, R in every pixel (X is padding and ignored); false for different sizes.
inline bool same_bgr(const capture::Frame& a, const capture::Frame& b) {
    if (a.width != b.width || a.height != b.height) return false;
    for (int y = 0; y < a.height; ++y) {
        const std::uint8_t* p = a.row(y);
        const std::uint8_t* q = b.row(y);
        for (int x = 0; x < a.width; ++x, p += 4, q += 4)
            if (p[0] != q[0] || p[1] != q[1] || p[2] != q[2]) return false;
    }
    return true;
}

// How many pixels differ in B, G or R (for failure messages).
inline long long differing_pixels(const capture::Frame& a, const capture::Frame& b) {
    if (a.width != b.width || a.height != b.height) return -1;
    long long n = 0;
    for (int y = 0; y < a.height; ++y)
        for (int x = 0; x < a.width; ++x) n += std::memcmp(a.at(x, y), b.at(x, y), 3) != 0;
    return n;
}

class ScriptedSource final : public capture::FrameSource {
public:
    explicit ScriptedSource(capture::Frame initial) : current_(std::move(initial)) {
        width_ = current_.width;
        height_ = current_.height;
        pending_.add(current_.bounds());
    }

    int width() const override { return width_.load(); }
    int height() const override { return height_.load(); }

    capture::CaptureResult capture(std::chrono::milliseconds timeout) override {
        std::unique_lock lk(mu_);
        ++calls_;
        cv_.wait_for(lk, timeout, [this] { return !pending_.empty() || invalidated_; });
        if (invalidated_) {
            pending_.clear();
            pending_.add(current_.bounds());
            invalidated_ = false;
        }
        if (pending_.empty() && !report_empty_) return capture::CaptureResult::nothing_new();
        published_ = current_;
        capture::Capture c;
        c.frame = &published_;
        c.damage = pending_;
        c.damage.clip(published_.bounds());
        c.time = Clock::now();
        pending_.clear();
        ++captures_;
        return capture::CaptureResult::got(std::move(c));
    }

    void invalidate() override {
        std::lock_guard lk(mu_);
        invalidated_ = true;
        cv_.notify_all();
    }

    // ---- the test thread ----
    // Lets `draw` change the frame and reports `damage` as what changed (the test's promise).
    void change(const std::function<void(capture::Frame&)>& draw, const capture::Rect& damage) {
        std::lock_guard lk(mu_);
        draw(current_);
        pending_.add(damage.intersected(current_.bounds()));
        cv_.notify_all();
    }
    // A new screen (possibly of another size): everything is damaged.
    void replace(capture::Frame frame) {
        std::lock_guard lk(mu_);
        current_ = std::move(frame);
        width_ = current_.width;
        height_ = current_.height;
        pending_.clear();
        pending_.add(current_.bounds());
        cv_.notify_all();
    }
    // When set, a capture that finds nothing returns a Capture with empty damage after the
    // timeout (as a source might after a spurious wake-up) instead of nothing_new.
    void report_empty_captures(bool on) {
        std::lock_guard lk(mu_);
        report_empty_ = on;
    }
    capture::Frame current() const {
        std::lock_guard lk(mu_);
        return current_;
    }
    long long captures() const {  // captures that returned a frame
        std::lock_guard lk(mu_);
        return captures_;
    }
    long long calls() const {  // every capture() call, including those that found nothing
        std::lock_guard lk(mu_);
        return calls_;
    }

private:
    mutable std::mutex mu_;
    std::condition_variable cv_;
    capture::Frame current_;    // what the screen shows now (test thread writes)
    capture::Frame published_;  // what the last capture returned (valid until the next one)
    capture::DamageRegion pending_;
    bool invalidated_ = false;
    bool report_empty_ = false;
    long long captures_ = 0, calls_ = 0;
    std::atomic<int> width_{0}, height_{0};
};

// The smallest screen a StreamSession can stream: a ScriptedSource, a resize that the test answers,
// and a clipboard channel. Input has nowhere to go: these tests are about the screen.
class TestScreen final : public host::SessionScreen {
public:
    explicit TestScreen(ScriptedSource& source) : source_(source) {}

    // A client asked for another size: the "screen" follows at once, with fresh content made by
    // `on_resize` (set by the test before the session starts), like Xvfb after RandR.
    std::function<capture::Frame(int, int)> on_resize;

    // Text copied in the "application": goes out as ClipboardData at the next loop turn, as
    // AppSession's clipboard channel sends it.
    void copy_in_session(const std::string& text) {
        std::lock_guard lk(mu_);
        copied_.push_back(text);
    }

    capture::FrameSource& frame_source() override { return source_; }
    std::optional<host::SessionEnding> poll(host::ViewerChannel& viewers, const std::string*) override {
        std::vector<std::string> copied;
        {
            std::lock_guard lk(mu_);
            copied.swap(copied_);
        }
        for (auto& text : copied)
            viewers.broadcast(
                std::make_shared<const std::vector<std::uint8_t>>(protocol::encode(protocol::ClipboardData{text})));
        return std::nullopt;
    }
    void change_size(int width, int height) override {
        if (on_resize) source_.replace(on_resize(width, height));
    }
    void teardown() override {}

private:
    ScriptedSource& source_;
    std::mutex mu_;
    std::vector<std::string> copied_;
};

inline std::shared_ptr<host::StreamSession> start_test_session(std::shared_ptr<TestScreen> screen) {
    return host::StreamSession::start("pipeline-test", std::move(screen), nullptr, nullptr);
}

inline void stop_test_session(host::StreamSession& session) {
    session.end(protocol::EndReason::logged_off, "test over");
    session.wait_finished();
}

// What the viewer received, in order.
struct Received {
    enum Kind { video, tiles, resize, ended, clipboard, other } kind = other;
    std::uint32_t frame_id = 0;
    bool keyframe = false;
    int width = 0, height = 0;
    std::size_t copies = 0, tile_count = 0, dirty = 0;
    std::size_t palette_tiles = 0, compact_palette_tiles = 0;  // of tile_count, by form
    std::size_t column_palette_tiles = 0;                      // of the compact ones, those in columns
    bool applied = true;                                       // the framebuffer took it without error
    std::string text;                                          // clipboard
    Clock::time_point at;
};

class ClientViewer final : public host::ViewerSink {
public:
    static constexpr std::size_t kQueueLimit = 64;  // like a display connection's bounded queue

    ClientViewer(int width, int height) : fb_(width, height) {
        thread_ = std::thread([this] { run(); });
    }
    ~ClientViewer() override { stop(); }

    // Must be called before attaching; the session outlives the viewer's thread (stop() first).
    void set_target(host::DisplayTarget* target) { target_ = target; }

    bool send(host::Bytes message) override {
        std::lock_guard lk(mu_);
        if (closed_ || queue_.size() >= kQueueLimit) {
            closed_ = true;
            cv_.notify_all();
            return false;
        }
        queue_.push_back(std::move(message));
        cv_.notify_all();
        return true;
    }
    void close(host::Bytes last) override {
        std::lock_guard lk(mu_);
        if (last) queue_.push_back(std::move(last));
        closed_ = true;
        cv_.notify_all();
    }
    std::string peer() const override { return "pipeline-test-viewer"; }
    // The display protocol version this viewer said Hello with (set before attaching).
    void set_version(std::uint16_t version) { version_ = version; }
    std::uint16_t version() const override { return version_; }

    // Stops acknowledging (frames are still decoded); resuming acknowledges the newest frame.
    void set_acking(bool on) {
        std::optional<std::uint32_t> ack;
        {
            std::lock_guard lk(mu_);
            acking_ = on;
            if (on && unacked_newest_) ack = std::exchange(unacked_newest_, std::nullopt);
        }
        if (ack && target_) target_->frame_ack(this, *ack, paint_us_);
    }
    // Report this arrival-to-painted time with every ack, as the web client does (0: none, as the
    // native client; below MotionScale's budget, so motion stays full size).
    void set_paint_report(std::uint32_t paint_us) { paint_us_ = paint_us; }

    std::vector<Received> received() {
        std::lock_guard lk(mu_);
        return log_;
    }
    std::size_t frame_count() {
        std::lock_guard lk(mu_);
        std::size_t n = 0;
        for (const auto& r : log_) n += r.kind == Received::video || r.kind == Received::tiles;
        return n;
    }
    bool closed() {
        std::lock_guard lk(mu_);
        return closed_;
    }
    capture::Frame screen() {
        std::lock_guard lk(fb_mu_);
        return fb_.frame();
    }
    // Every message taken off the queue has been applied (nothing in flight inside the viewer).
    bool idle() {
        std::lock_guard lk(mu_);
        return queue_.empty() && !busy_;
    }

    void stop() {
        {
            std::lock_guard lk(mu_);
            stopping_ = true;
            cv_.notify_all();
        }
        if (thread_.joinable()) thread_.join();
    }

private:
    void run() {
        for (;;) {
            host::Bytes msg;
            {
                std::unique_lock lk(mu_);
                cv_.wait(lk, [this] { return stopping_ || !queue_.empty(); });
                if (stopping_) return;
                msg = std::move(queue_.front());
                queue_.pop_front();
                busy_ = true;
            }
            Received r;
            r.at = Clock::now();
            std::optional<std::uint32_t> ack;
            auto decoded = protocol::decode(*msg);
            if (!decoded) {
                r.applied = false;
            } else {
                std::lock_guard fl(fb_mu_);
                auto& m = decoded.value();
                if (auto* v = std::get_if<protocol::VideoFrame>(&m)) {
                    r.kind = Received::video;
                    r.frame_id = v->frame_id;
                    r.keyframe = v->keyframe;
                    r.width = v->width;
                    r.height = v->height;
                    r.dirty = v->dirty.size();
                    r.applied = fb_.apply_video(*v);
                    ack = v->frame_id;
                } else if (auto* t = std::get_if<protocol::TileFrame>(&m)) {
                    // What Framebuffer::apply_tiles does, through its parts: copies first, then tiles.
                    bool ok = true;
                    if (t->width != fb_.width() || t->height != fb_.height()) ok = fb_.resize(t->width, t->height);
                    for (const auto& c : t->copies) ok = fb_.apply_copy(c) && ok;
                    for (const auto& tile : t->tiles) ok = fb_.apply_tile(tile) && ok;
                    r.kind = Received::tiles;
                    r.frame_id = t->frame_id;
                    r.width = t->width;
                    r.height = t->height;
                    r.copies = t->copies.size();
                    r.tile_count = t->tiles.size();
                    for (const auto& tile : t->tiles) {
                        r.palette_tiles += tile.encoding == protocol::TileEncoding::palette;
                        r.compact_palette_tiles += tile.encoding == protocol::TileEncoding::palette_compact;
                        r.column_palette_tiles += tile.encoding == protocol::TileEncoding::palette_compact &&
                                                  tile.data.size() > 1 && (tile.data[1] & codec::palette::form_columns);
                    }
                    r.applied = ok;
                    ack = t->frame_id;
                } else if (auto* z = std::get_if<protocol::Resize>(&m)) {
                    r.kind = Received::resize;
                    r.width = z->width;
                    r.height = z->height;
                    r.applied = fb_.resize(z->width, z->height);
                } else if (auto* c = std::get_if<protocol::ClipboardData>(&m)) {
                    r.kind = Received::clipboard;
                    r.text = c->text;
                } else if (std::holds_alternative<protocol::SessionEnded>(m)) {
                    r.kind = Received::ended;
                }
            }
            {
                std::lock_guard lk(mu_);
                log_.push_back(r);
                if (ack && !acking_) {
                    unacked_newest_ = ack;
                    ack.reset();
                }
            }
            // Outside our lock: the session calls send() with its own lock held.
            if (ack && target_) target_->frame_ack(this, *ack, paint_us_);
            {
                std::lock_guard lk(mu_);
                busy_ = false;
            }
        }
    }

    host::DisplayTarget* target_ = nullptr;
    std::mutex mu_;  // queue, log, flags
    std::condition_variable cv_;
    std::deque<host::Bytes> queue_;
    std::vector<Received> log_;
    bool closed_ = false, stopping_ = false, busy_ = false, acking_ = true;
    std::optional<std::uint32_t> unacked_newest_;
    std::atomic<std::uint32_t> paint_us_{0};
    std::mutex fb_mu_;  // the framebuffer (viewer thread writes, the test reads)
    client::Framebuffer fb_;
    std::thread thread_;
    std::atomic<std::uint16_t> version_{protocol::kDisplayVersion};
};

}  // namespace portico::pipeline_test

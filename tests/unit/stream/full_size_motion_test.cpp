// StreamSession's reduced-resolution motion (MotionScale) against a viewer that reports slow
// paints: by default full-motion video goes to it at half resolution after a few reports; with
// Options::halve_for_slow_viewers off (the host's --full-size-motion) every frame stays the
// screen's size. The screen is noise, new on every capture, so every frame is H.264.
#include "session-host/stream/stream_session.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

using namespace portico;
using namespace portico::host;
using namespace std::chrono_literals;

namespace {

class NoiseSource final : public capture::FrameSource {
public:
    NoiseSource() : frame_(640, 480) {}
    int width() const override { return frame_.width; }
    int height() const override { return frame_.height; }
    capture::CaptureResult capture(std::chrono::milliseconds) override {
        for (auto& b : frame_.pixels) b = static_cast<std::uint8_t>(rng_());
        capture::Capture c;
        c.frame = &frame_;
        c.damage.add(frame_.bounds());
        c.time = std::chrono::steady_clock::now();
        return capture::CaptureResult::got(std::move(c));
    }
    void invalidate() override {}

private:
    capture::Frame frame_;
    std::minstd_rand rng_{7};
};

class NoiseScreen final : public SessionScreen {
public:
    capture::FrameSource& frame_source() override { return source_; }
    std::optional<SessionEnding> poll(ViewerChannel&, const std::string*) override { return std::nullopt; }
    void teardown() override {}

private:
    NoiseSource source_;
};

// Records the video frames it gets: their ids and whether they came at reduced resolution.
class Viewer final : public ViewerSink {
public:
    bool send(Bytes message) override {
        auto m = protocol::decode(*message);
        if (!m) return true;
        if (const auto* f = std::get_if<protocol::VideoFrame>(&m.value())) {
            std::lock_guard lk(mu);
            frames.push_back({f->frame_id, f->coded_width != 0});
        }
        cv.notify_all();
        return true;
    }
    void close(Bytes) override {}
    std::string peer() const override { return "test"; }

    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::pair<std::uint32_t, bool>> frames;
};

// n video frames to a viewer that reports each as painted in 40 ms (four times MotionScale's
// budget), acknowledged from this thread as a client's network thread would: whether each was
// at reduced resolution.
std::vector<bool> video_frames(bool halve, std::size_t n) {
    StreamSession::Options o;
    o.halve_for_slow_viewers = halve;
    auto session = StreamSession::start(halve ? "halve" : "full", std::make_shared<NoiseScreen>(), nullptr, {}, o);
    auto viewer = std::make_shared<Viewer>();
    session->attach(viewer);
    std::vector<bool> reduced;
    while (reduced.size() < n) {
        std::pair<std::uint32_t, bool> f;
        {
            std::unique_lock lk(viewer->mu);
            if (!viewer->cv.wait_for(lk, 20s, [&] { return viewer->frames.size() > reduced.size(); })) break;
            f = viewer->frames[reduced.size()];
        }
        reduced.push_back(f.second);
        session->frame_ack(viewer.get(), f.first, 40000);
    }
    session->end(protocol::EndReason::logged_off, "test over");
    session->wait_finished();
    return reduced;
}

}  // namespace

TEST_CASE("a viewer that paints slowly gets half-resolution motion, unless the host keeps it full size", "[stream]") {
    const auto halved = video_frames(true, 20);
    REQUIRE(halved.size() >= 20);
    CHECK_FALSE(halved.front());  // the keyframe is full size
    CHECK(halved.back());         // a few slow reports later: half resolution

    const auto full = video_frames(false, 20);
    REQUIRE(full.size() >= 20);
    CHECK(std::count(full.begin(), full.end(), true) == 0);
}

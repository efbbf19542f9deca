// The session host's GET /metrics: what StreamSession counts into StreamCounters (checked against
// what two real viewers received), the /proc parsers, the rendered text, and --metrics-token-file.

#include "session-host/host_metrics.hpp"
#include "capture/synthetic_source.hpp"
#include "protocol/display.hpp"
#include "session-host/host_options.hpp"
#include "session-host/stream/stream_session.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <mutex>
#include <thread>

using namespace portico;
using namespace portico::host;

namespace {

class MetricsTestScreen final : public SessionScreen {
public:
    MetricsTestScreen(int w, int h) : source_(w, h) {}
    capture::FrameSource& frame_source() override { return source_; }
    std::optional<SessionEnding> poll(ViewerChannel&, const std::string*) override { return std::nullopt; }
    void teardown() override {}

private:
    capture::SyntheticFrameSource source_;
};

// A viewer that sorts the frames it gets as the counters should (video; tiles that move what the
// client shows; other tiles) and adds up their bytes. Never acknowledges: flow control then holds
// the session after a few frames, which is all the test needs.
class MetricsTestViewer final : public ViewerSink {
public:
    bool send(Bytes m) override {
        auto msg = protocol::decode(*m);
        std::lock_guard lk(mu_);
        if (!msg) return true;
        if (std::holds_alternative<protocol::VideoFrame>(msg.value())) {
            ++video;
        } else if (auto* t = std::get_if<protocol::TileFrame>(&msg.value())) {
            ++(t->copies.empty() ? tiles : copy);
        } else {
            return true;  // not a frame (cursor, resize): not counted as one
        }
        bytes += m->size();
        return true;
    }
    void close(Bytes) override {}
    std::string peer() const override { return "metrics-test"; }
    int frames() {
        std::lock_guard lk(mu_);
        return video + tiles + copy;
    }
    std::mutex mu_;
    int video = 0, tiles = 0, copy = 0;
    std::uint64_t bytes = 0;
};

bool has_line(const std::string& text, const std::string& line) { return text.find(line + "\n") != std::string::npos; }

}  // namespace

TEST_CASE("host metrics: every frame two viewers got is counted by kind, bytes per viewer, encode time",
          "[stream][metrics][unit]") {
    StreamCounters counters;
    StreamSession::Options options;
    options.counters = &counters;
    auto session = StreamSession::start("metrics", std::make_shared<MetricsTestScreen>(320, 200), nullptr, {}, options);
    auto owner = std::make_shared<MetricsTestViewer>();
    auto shadow = std::make_shared<MetricsTestViewer>();
    session->attach(owner);
    REQUIRE(session->attach_view_only(shadow));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while ((owner->frames() < 2 || shadow->frames() < 1) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    session->end(protocol::EndReason::logged_off, "test over");
    session->wait_finished();  // every frame that went out has been counted by now
    REQUIRE(owner->frames() >= 2);

    using K = StreamCounters::FrameKind;
    auto n = [&](K k) { return static_cast<int>(counters.frames[static_cast<std::size_t>(k)].load()); };
    // A frame is counted once, whatever the number of viewers; its bytes once per viewer.
    const int frames = n(K::video) + n(K::tiles) + n(K::copy);
    CHECK(frames == owner->frames());
    CHECK(n(K::video) == owner->video);
    CHECK(n(K::tiles) == owner->tiles);
    CHECK(n(K::copy) == owner->copy);
    CHECK(counters.frame_bytes.load() == owner->bytes + shadow->bytes);
    CHECK(shadow->bytes > 0);
    CHECK(counters.encode_seconds.count() == static_cast<std::uint64_t>(frames));
    CHECK(counters.encode_seconds.sum_seconds() > 0);
    CHECK(counters.capture_retried.load() == 0);
    CHECK(counters.capture_lost.load() == 0);
}

TEST_CASE("host metrics: the frame planner's names map to video, tiles and copy", "[stream][metrics][unit]") {
    using K = StreamCounters::FrameKind;
    CHECK(StreamCounters::kind_of("h264") == K::video);
    CHECK(StreamCounters::kind_of("h264_key") == K::video);
    CHECK(StreamCounters::kind_of("h264_half") == K::video);
    CHECK(StreamCounters::kind_of("tiles") == K::tiles);
    CHECK(StreamCounters::kind_of("refine") == K::tiles);
    CHECK(StreamCounters::kind_of("scroll") == K::copy);
    CHECK(StreamCounters::kind_of("move") == K::copy);
}

TEST_CASE("host metrics: /proc/stat, /proc/meminfo and /proc/self/stat are read", "[stream][metrics][unit]") {
    auto cpu = parse_proc_stat_cpu("cpu  1000 20 300 40000 50 6 7 8 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\n", 100);
    REQUIRE(cpu.size() == 8);
    CHECK(cpu[0] == std::pair<std::string, double>{"user", 10.0});
    CHECK(cpu[3] == std::pair<std::string, double>{"idle", 400.0});
    CHECK(cpu[7] == std::pair<std::string, double>{"steal", 0.08});
    CHECK(parse_proc_stat_cpu("intr 1 2 3\n", 100).empty());
    CHECK(parse_proc_stat_cpu("cpu  12 x 3\n", 100).empty());

    auto mem = parse_meminfo("MemTotal:        8000000 kB\nMemFree:  100 kB\nMemAvailable:    5000000 kB\n");
    REQUIRE(mem);
    CHECK(mem->first == 8000000ull * 1024);
    CHECK(mem->second == 5000000ull * 1024);
    CHECK_FALSE(parse_meminfo("MemTotal: 1 kB\n"));

    // The command may hold spaces and parentheses; utime 250 + stime 150 ticks.
    auto self = parse_self_stat_cpu("4242 (portico (x) host) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 3\n", 100);
    REQUIRE(self);
    CHECK(*self == Approx(4.0));
    CHECK_FALSE(parse_self_stat_cpu("garbage", 100));

    auto now = read_system_figures();  // this machine, now
    CHECK(now.cpus >= 1);
    CHECK(now.memory_total_bytes >= now.memory_available_bytes);
    CHECK(now.memory_available_bytes > 0);
    CHECK(now.process_resident_bytes > 0);
    CHECK(now.cpu_seconds.size() == 8);
}

TEST_CASE("host metrics: the rendered text has every family with its labels", "[stream][metrics][unit]") {
    StreamCounters counters;
    counters.frame_sent("h264_key", 1000, 2, 0.004);
    counters.frame_sent("scroll", 10, 1, 0.0005);
    ++counters.capture_retried;
    HostGauges g;
    g.host_id = "h-1";
    g.sessions.at(SessionManager::Kind::app, SessionManager::State::active) = 3;
    g.sessions.at(SessionManager::Kind::vm, SessionManager::State::starting) = 1;
    g.sessions.viewers = 4;
    g.session_limit = 20;
    g.display_connections = 5;
    g.vms.spare_ready = 2;
    g.system.cpu_seconds = {{"user", 1.5}, {"idle", 9}};
    g.system.memory_total_bytes = 8589934592ull;
    auto text = render_host_metrics(counters, g);
    INFO(text);
    CHECK(has_line(text, std::string("portico_host_build_info{version=\"") + host_version() + "\",host_id=\"h-1\"} 1"));
    CHECK(has_line(text, "# TYPE portico_host_sessions gauge"));
    CHECK(has_line(text, "portico_host_sessions{kind=\"app\",state=\"active\"} 3"));
    CHECK(has_line(text, "portico_host_sessions{kind=\"app\",state=\"disconnected\"} 0"));
    CHECK(has_line(text, "portico_host_sessions{kind=\"vm\",state=\"starting\"} 1"));
    CHECK(has_line(text, "portico_host_viewers 4"));
    CHECK(has_line(text, "portico_host_session_limit 20"));
    CHECK(has_line(text, "portico_host_display_connections 5"));
    CHECK(has_line(text, "portico_host_frames_total{kind=\"video\"} 1"));
    CHECK(has_line(text, "portico_host_frames_total{kind=\"copy\"} 1"));
    CHECK(has_line(text, "portico_host_frames_total{kind=\"tiles\"} 0"));
    CHECK(has_line(text, "portico_host_frame_bytes_total 2010"));
    CHECK(has_line(text, "# TYPE portico_host_encode_seconds histogram"));
    CHECK(has_line(text, "portico_host_encode_seconds_bucket{le=\"0.001\"} 1"));
    CHECK(has_line(text, "portico_host_encode_seconds_bucket{le=\"0.005\"} 2"));
    CHECK(has_line(text, "portico_host_encode_seconds_count 2"));
    CHECK(has_line(text, "portico_host_capture_failures_total{outcome=\"retried\"} 1"));
    CHECK(has_line(text, "portico_host_capture_failures_total{outcome=\"display_lost\"} 0"));
    CHECK(has_line(text, "portico_host_vms{state=\"spare_ready\"} 2"));
    CHECK(has_line(text, "portico_host_cpu_seconds_total{mode=\"user\"} 1.5"));
    CHECK(has_line(text, "portico_host_memory_bytes{state=\"total\"} 8589934592"));
    CHECK(text.back() == '\n');
}

TEST_CASE("host options: --metrics-token-file", "[stream][metrics][unit]") {
    const char* with[] = {"portico-host",
                          "--broker",
                          "wss://b/api",
                          "--broker-ca",
                          "a",
                          "--host-id",
                          "h",
                          "--metrics-token-file",
                          "/etc/portico/metrics-token"};
    CHECK(parse_host_options(9, with).metrics_token_file == "/etc/portico/metrics-token");
    const char* without[] = {"portico-host", "--broker", "wss://b/api", "--broker-ca", "a", "--host-id", "h"};
    CHECK(parse_host_options(7, without).metrics_token_file.empty());
    const char* empty[] = {"portico-host",         "--broker", "wss://b/api", "--broker-ca", "a", "--host-id", "h",
                           "--metrics-token-file", ""};
    CHECK_THROWS_AS(parse_host_options(9, empty), UsageError);
    CHECK(host_usage().find("--metrics-token-file") != std::string::npos);
}

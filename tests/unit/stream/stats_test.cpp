// Per-session rolling stats (fake clock) and the ack round trips FlowControl measures.
#include "session-host/stream/flow_control.hpp"
#include "session-host/stream/rolling_stats.hpp"

#include <catch2/catch.hpp>

using namespace portico::host;
using namespace std::chrono_literals;

TEST_CASE("flow control: an ack yields the round trip of the newest frame it released", "[stats]") {
    auto t0 = FlowControl::Clock::now();
    FlowControl f;
    f.on_sent(1, t0);
    f.on_sent(2, t0 + 10ms);
    f.on_sent(3, t0 + 20ms);
    auto rtt = f.on_ack(2, t0 + 35ms);  // covers 1 and 2; 2 was sent at +10 ms
    REQUIRE(rtt);
    CHECK(*rtt == 25ms);
    CHECK_FALSE(f.on_ack(2, t0 + 40ms));  // a repeated ack releases nothing
    CHECK(*f.on_ack(3, t0 + 24ms) == 4ms);
}

TEST_CASE("rolling stats over the last 2 s: fps, kbit/s, medians, skipped", "[stats]") {
    using C = RollingStats::Clock;
    const C::time_point t0{};  // a fake clock: only differences matter
    RollingStats s;
    auto empty = s.snapshot(t0 + 10s);
    CHECK(*empty.fps == 0);
    CHECK(*empty.kbps == 0);
    CHECK_FALSE(empty.rtt_ms);
    CHECK_FALSE(empty.encode_ms);
    CHECK_FALSE(empty.input_to_photon_ms);
    CHECK(empty.skipped == 0);

    // 50 frames of 5000 bytes over 2 s, encode times 1..50 ms: 25 fps, 1000 kbit/s, median 26 ms.
    for (int i = 0; i < 50; ++i) s.on_frame(t0 + 100s + i * 40ms, 5000, std::chrono::milliseconds(i + 1), true);
    s.on_rtt(t0 + 101s, 3ms);
    s.on_rtt(t0 + 101s, 9ms);
    s.on_rtt(t0 + 101s, 5ms);
    s.on_skipped(t0 + 101s, 4);
    s.on_skipped(t0 + 101s, 0);
    auto now = t0 + 100s + 49 * 40ms + 1ms;
    auto snap = s.snapshot(now);
    CHECK(*snap.fps == Approx(25));
    CHECK(*snap.kbps == Approx(1000));
    CHECK(*snap.encode_ms == Approx(26));
    CHECK(*snap.rtt_ms == Approx(5));
    CHECK(snap.skipped == 4);

    // 3 s later everything has aged out of the window.
    auto later = s.snapshot(now + 3s);
    CHECK(*later.fps == 0);
    CHECK_FALSE(later.rtt_ms);
    CHECK(later.skipped == 0);
}

TEST_CASE("input to photon: from the first input to the next frame with new content", "[stats]") {
    using C = RollingStats::Clock;
    const C::time_point t0{};
    RollingStats s;
    s.on_input(t0);
    s.on_input(t0 + 5ms);                   // the earlier input is still waiting: it counts from t0
    s.on_frame(t0 + 8ms, 100, 1ms, false);  // refinement of old content does not show the input
    s.on_frame(t0 + 12ms, 100, 1ms, true);
    CHECK(*s.snapshot(t0 + 20ms).input_to_photon_ms == Approx(12));
    s.on_frame(t0 + 30ms, 100, 1ms, true);  // no input waiting: no sample
    CHECK(*s.snapshot(t0 + 40ms).input_to_photon_ms == Approx(12));

    // An input that changes nothing (a modifier) must not be matched with an unrelated change later.
    RollingStats quiet;
    quiet.on_input(t0);
    quiet.on_frame(t0 + 1500ms, 100, 1ms, true);
    CHECK_FALSE(quiet.snapshot(t0 + 1600ms).input_to_photon_ms);
    quiet.on_input(t0 + 3000ms);
    quiet.on_frame(t0 + 3007ms, 100, 1ms, true);
    CHECK(*quiet.snapshot(t0 + 3010ms).input_to_photon_ms == Approx(7));
}

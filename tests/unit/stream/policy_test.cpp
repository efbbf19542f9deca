// Pure parts of the session host: encoder choice, tiling, sizes, flow control, command line.
#include "session-host/host_options.hpp"
#include "session-host/net/broker_link.hpp"
#include "session-host/session_manager.hpp"
#include "session-host/stream/encode_policy.hpp"
#include "session-host/stream/flow_control.hpp"

#include <catch2/catch.hpp>

using namespace portico::host;
using portico::capture::DamageRegion;
using portico::capture::Rect;

TEST_CASE("frame kind: keyframe when needed, H.264 delta above 25% damage, tiles below") {
    const long long screen = 1000 * 1000;
    CHECK(choose_frame_kind(true, 0, screen) == FrameKind::h264_keyframe);
    CHECK(choose_frame_kind(true, screen, screen) == FrameKind::h264_keyframe);
    CHECK(choose_frame_kind(false, screen / 4 + 1, screen) == FrameKind::h264_delta);
    CHECK(choose_frame_kind(false, screen, screen) == FrameKind::h264_delta);
    CHECK(choose_frame_kind(false, screen / 4, screen) == FrameKind::tiles);
    CHECK(choose_frame_kind(false, 16 * 16, screen) == FrameKind::tiles);
}

TEST_CASE("frame kind: a smaller region in sustained motion (video in a window) is H.264") {
    const long long screen = 1920 * 1080;
    const long long window = 640 * 360;                                      // 11% of the screen
    CHECK(choose_frame_kind(false, window, screen, 0) == FrameKind::tiles);  // not (yet) in motion
    CHECK(choose_frame_kind(false, window, screen, window) == FrameKind::h264_delta);
    // Mostly still parts (a menu opening next to a small animation) stay tiles.
    CHECK(choose_frame_kind(false, window, screen, window / 3) == FrameKind::tiles);
    // Small moving things (a spinner, a typed line) stay tiles, however long they move.
    CHECK(choose_frame_kind(false, 200 * 200, screen, 200 * 200) == FrameKind::tiles);
}

TEST_CASE("damage tiles are at most 1024x256, inside the screen, and cover the damage exactly") {
    DamageRegion d;
    d.add({10, 20, 1500, 300});   // a line of text 1500 pixels wide: two tiles across, not six
    d.add({900, 700, 500, 500});  // runs off a 2000x800 screen
    auto tiles = damage_tiles(d, 2000, 800);
    REQUIRE(!tiles.empty());
    long long area = 0;
    int in_line = 0;
    for (const auto& t : tiles) {
        in_line += t.y == 20;
        CHECK(t.w <= kTileWidth);
        CHECK(t.h <= kTileSize);
        CHECK(Rect{0, 0, 2000, 800}.contains(t));
        area += t.area();
    }
    CHECK(in_line == 2);
    CHECK(area == 1500LL * 300 + 500LL * 100);
}

TEST_CASE("session sizes are even and within limits") {
    CHECK(session_dimension(1281) == 1280);
    CHECK(session_dimension(800) == 800);
    CHECK(session_dimension(10) == 64);
    CHECK(session_dimension(-5) == 64);
    CHECK(session_dimension(100000) == 8192);
}

TEST_CASE("flow control counts unacknowledged frames and detects a stuck viewer") {
    using Clock = FlowControl::Clock;
    auto t0 = Clock::now();
    FlowControl f;
    CHECK_FALSE(f.blocked());
    for (std::uint32_t id = 1; id <= 3; ++id) f.on_sent(id, t0);
    CHECK(f.unacked() == 3);
    CHECK_FALSE(f.blocked());
    f.on_sent(4, t0);
    CHECK(f.blocked());
    CHECK_FALSE(f.stalled(t0 + std::chrono::seconds(9)));
    CHECK(f.stalled(t0 + std::chrono::seconds(11)));

    f.on_ack(2, t0 + std::chrono::seconds(1));  // cumulative: frames 1 and 2
    CHECK(f.unacked() == 2);
    CHECK_FALSE(f.blocked());
    CHECK_FALSE(f.stalled(t0 + std::chrono::seconds(60)));

    f.on_ack(1, t0);  // an old ack changes nothing
    CHECK(f.unacked() == 2);
    f.on_ack(1000, t0);  // acks beyond what was sent release only what was sent
    CHECK(f.unacked() == 0);
    f.on_sent(5, t0);
    CHECK(f.unacked() == 1);

    // Blocked again later: the stall clock starts afresh.
    auto t1 = t0 + std::chrono::seconds(100);
    for (std::uint32_t id = 6; id <= 8; ++id) f.on_sent(id, t1);
    CHECK(f.blocked());
    CHECK_FALSE(f.stalled(t1 + std::chrono::seconds(5)));
    CHECK(f.stalled(t1 + std::chrono::seconds(11)));
}

TEST_CASE("command line: required flags, defaults, bad values") {
    const char* ok[] = {"portico-host", "--broker",         "wss://127.0.0.1:8443/api/v1/control",
                        "--broker-ca",  "/tmp/ca.pem",      "--secret-file",
                        "/tmp/s",       "--host-id",        "h1",
                        "--listen",     "127.0.0.1:0",      "--apps",
                        "xterm,xclock", "--max-sessions=3", "--state-dir",
                        "/tmp/st"};
    auto o = parse_host_options(16, ok);
    CHECK(o.host_id == "h1");
    CHECK(o.name == "h1");
    CHECK(o.listen_address == "127.0.0.1");
    CHECK(o.listen_port == 0);
    CHECK(o.apps == std::vector<std::string>{"xterm", "xclock"});
    CHECK(o.max_sessions == 3);
    CHECK(o.state_dir == "/tmp/st");
    CHECK_FALSE(o.shadow_clipboard);  // shadows see no clipboard unless the admin allows it
    CHECK(o.max_display_connections == 1024);
    CHECK(o.max_display_connections_per_address == 64);

    const char* policy[] = {"portico-host",
                            "--broker",
                            "wss://b/api",
                            "--broker-ca",
                            "a",
                            "--host-id",
                            "h",
                            "--shadow-clipboard",
                            "--max-display-connections",
                            "200",
                            "--max-display-connections-per-address=10"};
    auto p = parse_host_options(11, policy);
    CHECK(p.shadow_clipboard);
    CHECK(p.max_display_connections == 200);
    CHECK(p.max_display_connections_per_address == 10);
    const char* inverted[] = {"portico-host",
                              "--broker",
                              "wss://b/api",
                              "--broker-ca",
                              "a",
                              "--host-id",
                              "h",
                              "--max-display-connections",
                              "10",
                              "--max-display-connections-per-address",
                              "20"};
    CHECK_THROWS_WITH(parse_host_options(11, inverted), Catch::Contains("must not exceed"));
    const char* zero[] = {"portico-host", "--max-display-connections", "0"};
    CHECK_THROWS_WITH(parse_host_options(3, zero), Catch::Contains("expected a number from 1"));

    const char* help[] = {"portico-host", "--help"};
    CHECK(parse_host_options(2, help).help);

    const char* missing[] = {"portico-host", "--broker", "wss://x/api"};
    CHECK_THROWS_AS(parse_host_options(3, missing), UsageError);
    const char* unknown[] = {"portico-host", "--frobnicate"};
    CHECK_THROWS_WITH(parse_host_options(2, unknown), Catch::Contains("unknown flag"));
    const char* no_value[] = {"portico-host", "--broker"};
    CHECK_THROWS_WITH(parse_host_options(2, no_value), Catch::Contains("needs a value"));
    const char* bad_max[] = {"portico-host", "--max-sessions", "lots"};
    CHECK_THROWS_WITH(parse_host_options(3, bad_max), Catch::Contains("--max-sessions"));
    const char* http[] = {"portico-host", "--broker", "http://x/", "--broker-ca", "a", "--secret-file", "b",
                          "--host-id",    "c"};
    CHECK_THROWS_WITH(parse_host_options(9, http), Catch::Contains("wss://"));

    CHECK(parse_listen("[::1]:8444") == std::pair<std::string, std::uint16_t>{"::1", 8444});
    CHECK_THROWS_AS(parse_listen("127.0.0.1"), UsageError);
    CHECK_THROWS_AS(parse_listen("127.0.0.1:99999"), UsageError);
}

TEST_CASE("broker URL parsing") {
    auto u = parse_broker_url("wss://127.0.0.1:8443/api/v1/control");
    CHECK(u.host == "127.0.0.1");
    CHECK(u.port == "8443");
    CHECK(u.target == "/api/v1/control");
    auto d = parse_broker_url("wss://broker.example");
    CHECK(d.port == "443");
    CHECK(d.target == "/");
    CHECK_THROWS(parse_broker_url("https://x/"));
    CHECK_THROWS(parse_broker_url("wss://x:0/"));
}

TEST_CASE("session ids are safe directory names") {
    CHECK(SessionManager::valid_session_id("s-1_A.b"));
    CHECK_FALSE(SessionManager::valid_session_id(""));
    CHECK_FALSE(SessionManager::valid_session_id(".."));
    CHECK_FALSE(SessionManager::valid_session_id("a/b"));
    CHECK_FALSE(SessionManager::valid_session_id(std::string(129, 'a')));
}

TEST_CASE("flow control bounds the bytes in flight by what the link delivers in 150 ms") {
    using namespace std::chrono_literals;
    using Clock = FlowControl::Clock;
    const auto t0 = Clock::time_point{} + 1h;
    FlowControl f;
    // Unmeasured: only the frame count limits.
    f.on_sent(1, t0, 300'000);
    CHECK_FALSE(f.blocked());
    CHECK(f.delivery_rate() == 0);
    // A 2 Mbit/s link: 250 kB/s. 100 kB alone take 400 ms.
    f.on_ack(1, t0 + 1200ms);
    f.on_sent(2, t0 + 1200ms, 100'000);
    f.on_ack(2, t0 + 1600ms);
    CHECK(f.delivery_rate() == Approx(250'000).epsilon(0.01));
    // Budget 250 kB/s x 150 ms = 37.5 kB: one big frame may go, a second waits for its ack.
    f.on_sent(3, t0 + 1600ms, 60'000);
    CHECK(f.bytes_in_flight() == 60'000);
    CHECK(f.blocked());
    f.on_ack(3, t0 + 1840ms);
    CHECK_FALSE(f.blocked());
    // Small frames still flow, up to the budget.
    f.on_sent(4, t0 + 1850ms, 10'000);
    f.on_sent(5, t0 + 1850ms, 10'000);
    f.on_sent(6, t0 + 1850ms, 10'000);
    CHECK_FALSE(f.blocked());
    f.on_sent(7, t0 + 1850ms, 10'000);
    CHECK(f.blocked());
}

TEST_CASE("flow control measures back-to-back deliveries and forgets rates older than 2 s") {
    using namespace std::chrono_literals;
    using Clock = FlowControl::Clock;
    const auto t0 = Clock::time_point{} + 1h;
    FlowControl f;
    // Three 50 kB frames queued at once on a 1 MB/s link: acks 50 ms apart.
    f.on_sent(1, t0, 50'000);
    f.on_sent(2, t0, 50'000);
    f.on_sent(3, t0, 50'000);
    f.on_ack(1, t0 + 55ms);
    f.on_ack(2, t0 + 105ms);
    f.on_ack(3, t0 + 155ms);
    CHECK(f.delivery_rate() == Approx(1'000'000).epsilon(0.01));  // 50 kB per 50 ms between acks
    // Small frames and a long idle spell: no new samples, the old ones age out.
    f.on_sent(4, t0 + 3s, 500);
    f.on_ack(4, t0 + 3s + 5ms);
    CHECK(f.delivery_rate() == 0);
    f.on_sent(5, t0 + 3s, 400'000);
    CHECK_FALSE(f.blocked());  // unmeasured again: frame count only
}

TEST_CASE("flow control paces a viewer that reports its paint time to the network's round trip") {
    using namespace std::chrono_literals;
    using Clock = FlowControl::Clock;
    const auto t0 = Clock::time_point{} + 1h;
    FlowControl f;
    // Before any report: 4 frames may be in flight, as for a viewer that never reports.
    CHECK(f.frame_window() == FlowControl::kMaxUnacked);
    f.on_sent(1, t0, 20'000);
    f.on_sent(2, t0, 20'000);
    CHECK_FALSE(f.held());

    // A LAN viewer: acked 12 ms after the send, 11.5 ms of which it spent decoding and painting.
    f.on_ack(2, t0 + 12ms, 11500us);
    CHECK(f.frame_window() == 1);
    f.on_sent(3, t0 + 12ms, 20'000);
    CHECK(f.held());           // it paints frame 3 before it gets another
    CHECK_FALSE(f.blocked());  // ... but its link is not what holds capture back
    CHECK_FALSE(f.stalled(t0 + 9s));
    CHECK(f.stalled(t0 + 11s));  // and a viewer that never acks is still dropped
    f.on_ack(3, t0 + 20ms, 7ms);
    CHECK_FALSE(f.held());

    // The viewer's own time came off the trip: the link's rate is 20 kB per 0.5 ms, not per 12 ms.
    CHECK(f.delivery_rate() > 20'000 / 0.002);

    // A 40 ms network round trip needs 3 frames in flight to keep the link busy.
    FlowControl wan;
    wan.on_sent(1, t0, 1'000);
    wan.on_ack(1, t0 + 45ms, 5ms);
    CHECK(wan.frame_window() == 3);
    for (std::uint32_t id = 2; id <= 3; ++id) wan.on_sent(id, t0 + 45ms, 1'000);
    CHECK_FALSE(wan.held());
    wan.on_sent(4, t0 + 45ms, 1'000);
    CHECK(wan.held());
    // The least round trip of the last 10 s counts; older samples are forgotten.
    wan.on_ack(4, t0 + 60ms, 2ms);  // 13 ms: one frame would do
    CHECK(wan.frame_window() == 1);
    wan.on_sent(5, t0 + 20s, 1'000);
    wan.on_ack(5, t0 + 20s + 70ms, 3ms);  // 67 ms: 5 wanted, capped at 4
    CHECK(wan.frame_window() == FlowControl::kMaxUnacked);
}

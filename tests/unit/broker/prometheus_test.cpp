// render_prometheus (broker/prometheus.hpp): the one place counters and gauges become text.

#include "broker/prometheus.hpp"

#include <catch2/catch.hpp>

#include <string>

TEST_CASE("prometheus: counters, gauges and the histogram in text format 0.0.4", "[broker][metrics][unit]") {
    portico::broker::Metrics m;
    m.launches_ok = 3;
    m.launches_denied = 1;
    m.logins_rate_limited = 2;
    m.sessions_lost = 4;
    m.observe_launch(0.004);  // in the 0.005 bucket and every larger one
    portico::broker::MetricsGauges g;
    g.sessions_active = 5;
    g.sessions_starting = 1;
    g.hosts_draining = 2;
    g.hosts_down = 1;
    g.session_viewers = 7;
    g.sessions_streaming = 6;
    auto text = portico::broker::render_prometheus(m, g);
    auto has = [&](const std::string& line) { return text.find(line + "\n") != std::string::npos; };
    CHECK(has("# TYPE portico_sessions gauge"));
    CHECK(has("portico_sessions{state=\"active\"} 5"));
    CHECK(has("portico_sessions{state=\"disconnected\"} 0"));
    CHECK(has("portico_sessions{state=\"starting\"} 1"));
    CHECK(has("portico_sessions_finished_total{state=\"lost\"} 4"));
    CHECK(has("portico_launches_total{result=\"ok\"} 3"));
    CHECK(has("portico_launches_total{result=\"denied\"} 1"));
    CHECK(has("portico_launch_latency_seconds_bucket{le=\"0.0025\"} 0"));
    CHECK(has("portico_launch_latency_seconds_bucket{le=\"0.005\"} 1"));
    CHECK(has("portico_launch_latency_seconds_bucket{le=\"+Inf\"} 1"));
    CHECK(has("portico_launch_latency_seconds_sum 0.004"));
    CHECK(has("portico_launch_latency_seconds_count 1"));
    CHECK(has("portico_hosts{state=\"up\"} 0"));
    CHECK(has("portico_hosts{state=\"draining\"} 2"));
    CHECK(has("portico_hosts{state=\"down\"} 1"));
    CHECK(has("portico_session_viewers 7"));
    CHECK(has("portico_sessions_streaming 6"));
    CHECK(has("portico_logins_total{result=\"rate_limited\"} 2"));
    // Gauges by state in a fixed order (as scrapes always had them), every line ends with \n.
    CHECK(text.find("state=\"active\"") < text.find("state=\"disconnected\""));
    CHECK(text.find("state=\"disconnected\"") < text.find("state=\"starting\""));
    REQUIRE_FALSE(text.empty());
    CHECK(text.back() == '\n');
}

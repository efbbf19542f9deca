#include "broker/prometheus.hpp"

#include <cstdio>

namespace portico::broker {

std::string render_prometheus(const Metrics& m, const MetricsGauges& g) {
    std::string out;
    auto line = [&](const std::string& s) { out += s + "\n"; };
    auto num = [](double v) {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "%.6g", v);
        return std::string(buf);
    };
    auto n = [](auto v) { return std::to_string(v); };
    line("# HELP portico_sessions Live display sessions by state.");
    line("# TYPE portico_sessions gauge");
    line("portico_sessions{state=\"active\"} " + n(g.sessions_active));
    line("portico_sessions{state=\"disconnected\"} " + n(g.sessions_disconnected));
    line("portico_sessions{state=\"starting\"} " + n(g.sessions_starting));
    line("# HELP portico_sessions_finished_total Sessions that ended or were lost since the broker started.");
    line("# TYPE portico_sessions_finished_total counter");
    line("portico_sessions_finished_total{state=\"ended\"} " + n(m.sessions_ended.load()));
    line("portico_sessions_finished_total{state=\"lost\"} " + n(m.sessions_lost.load()));
    line("# HELP portico_launches_total Launch requests by result.");
    line("# TYPE portico_launches_total counter");
    line("portico_launches_total{result=\"ok\"} " + n(m.launches_ok.load()));
    line("portico_launches_total{result=\"reconnect\"} " + n(m.launches_reconnect.load()));
    line("portico_launches_total{result=\"failed\"} " + n(m.launches_failed.load()));
    line("portico_launches_total{result=\"no_host\"} " + n(m.launches_no_host.load()));
    line("portico_launches_total{result=\"denied\"} " + n(m.launches_denied.load()));
    line("# HELP portico_launch_latency_seconds Time from a launch request to its answer (successful launches).");
    line("# TYPE portico_launch_latency_seconds histogram");
    for (std::size_t i = 0; i < Metrics::kBuckets.size(); ++i)
        line("portico_launch_latency_seconds_bucket{le=\"" + num(Metrics::kBuckets[i]) + "\"} " +
             n(m.latency_buckets[i].load()));
    line("portico_launch_latency_seconds_bucket{le=\"+Inf\"} " + n(m.latency_count.load()));
    line("portico_launch_latency_seconds_sum " + num(static_cast<double>(m.latency_sum_us.load()) / 1e6));
    line("portico_launch_latency_seconds_count " + n(m.latency_count.load()));
    line("# HELP portico_hosts Session hosts by state.");
    line("# TYPE portico_hosts gauge");
    line("portico_hosts{state=\"up\"} " + n(g.hosts_up));
    line("portico_hosts{state=\"draining\"} " + n(g.hosts_draining));
    line("portico_hosts{state=\"down\"} " + n(g.hosts_down));
    line("# HELP portico_session_viewers Viewers of live sessions, as their hosts last reported (session_stats).");
    line("# TYPE portico_session_viewers gauge");
    line("portico_session_viewers " + n(g.session_viewers));
    line("# HELP portico_sessions_streaming Sessions whose hosts report live stream figures.");
    line("# TYPE portico_sessions_streaming gauge");
    line("portico_sessions_streaming " + n(g.sessions_streaming));
    line("# HELP portico_logins_total Login attempts by result.");
    line("# TYPE portico_logins_total counter");
    line("portico_logins_total{result=\"ok\"} " + n(m.logins_ok.load()));
    line("portico_logins_total{result=\"failed\"} " + n(m.logins_failed.load()));
    line("portico_logins_total{result=\"rate_limited\"} " + n(m.logins_rate_limited.load()));
    return out;
}

}  // namespace portico::broker

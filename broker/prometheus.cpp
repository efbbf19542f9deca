#include "broker/prometheus.hpp"

#include "common/prometheus_text.hpp"

namespace portico::broker {

std::string render_prometheus(const Metrics& m, const MetricsGauges& g) {
    prometheus::TextWriter w;
    using L = prometheus::Labels;
    w.family("portico_sessions", "gauge", "Live display sessions by state.");
    w.sample("portico_sessions", L{{"state", "active"}}, g.sessions_active);
    w.sample("portico_sessions", L{{"state", "disconnected"}}, g.sessions_disconnected);
    w.sample("portico_sessions", L{{"state", "starting"}}, g.sessions_starting);
    w.family("portico_sessions_finished_total", "counter",
             "Sessions that ended or were lost since the broker started.");
    w.sample("portico_sessions_finished_total", L{{"state", "ended"}}, m.sessions_ended.load());
    w.sample("portico_sessions_finished_total", L{{"state", "lost"}}, m.sessions_lost.load());
    w.family("portico_launches_total", "counter", "Launch requests by result.");
    w.sample("portico_launches_total", L{{"result", "ok"}}, m.launches_ok.load());
    w.sample("portico_launches_total", L{{"result", "reconnect"}}, m.launches_reconnect.load());
    w.sample("portico_launches_total", L{{"result", "failed"}}, m.launches_failed.load());
    w.sample("portico_launches_total", L{{"result", "no_host"}}, m.launches_no_host.load());
    w.sample("portico_launches_total", L{{"result", "denied"}}, m.launches_denied.load());
    std::array<std::uint64_t, Metrics::kBuckets.size()> buckets{};
    for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] = m.latency_buckets[i].load();
    w.histogram("portico_launch_latency_seconds", "Time from a launch request to its answer (successful launches).",
                Metrics::kBuckets, buckets, m.latency_count.load(), static_cast<double>(m.latency_sum_us.load()) / 1e6);
    w.family("portico_hosts", "gauge", "Session hosts by state.");
    w.sample("portico_hosts", L{{"state", "up"}}, g.hosts_up);
    w.sample("portico_hosts", L{{"state", "draining"}}, g.hosts_draining);
    w.sample("portico_hosts", L{{"state", "down"}}, g.hosts_down);
    w.family("portico_session_viewers", "gauge",
             "Viewers of live sessions, as their hosts last reported (session_stats).");
    w.sample("portico_session_viewers", g.session_viewers);
    w.family("portico_sessions_streaming", "gauge", "Sessions whose hosts report live stream figures.");
    w.sample("portico_sessions_streaming", g.sessions_streaming);
    w.family("portico_logins_total", "counter", "Login attempts by result.");
    w.sample("portico_logins_total", L{{"result", "ok"}}, m.logins_ok.load());
    w.sample("portico_logins_total", L{{"result", "failed"}}, m.logins_failed.load());
    w.sample("portico_logins_total", L{{"result", "rate_limited"}}, m.logins_rate_limited.load());
    return w.take();
}

}  // namespace portico::broker

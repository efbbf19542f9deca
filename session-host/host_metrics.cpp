#include "session-host/host_metrics.hpp"

#include "common/prometheus_text.hpp"

#ifndef PORTICO_VERSION
#define PORTICO_VERSION "unknown"
#endif

namespace portico::host {

const char* host_version() { return PORTICO_VERSION; }

std::string render_host_metrics(const StreamCounters& streamed, const HostGauges& g) {
    prometheus::TextWriter w;
    using L = prometheus::Labels;
    using Kind = SessionManager::Kind;
    using State = SessionManager::State;

    w.family("portico_host_build_info", "gauge", "Always 1; the labels say which build this host runs and its id.");
    w.sample("portico_host_build_info", L{{"version", host_version()}, {"host_id", g.host_id}}, 1);

    w.family("portico_host_sessions", "gauge",
             "Sessions on this host by kind (app, vm) and state (starting; active while the owner watches; "
             "disconnected).");
    for (auto [kind, kind_name] : {std::pair{Kind::app, "app"}, std::pair{Kind::vm, "vm"}})
        for (auto [state, state_name] : {std::pair{State::starting, "starting"}, std::pair{State::active, "active"},
                                         std::pair{State::disconnected, "disconnected"}})
            w.sample("portico_host_sessions", L{{"kind", kind_name}, {"state", state_name}},
                     g.sessions.at(kind, state));
    w.family("portico_host_session_limit", "gauge", "Sessions this host accepts at most (--max-sessions).");
    w.sample("portico_host_session_limit", g.session_limit);
    w.family("portico_host_viewers", "gauge", "Viewers attached to this host's sessions (owners and shadows).");
    w.sample("portico_host_viewers", g.sessions.viewers);
    w.family("portico_host_display_connections", "gauge",
             "Open connections to the display endpoint (handshaking, waiting for Hello, or viewing).");
    w.sample("portico_host_display_connections", g.display_connections);
    w.family("portico_host_display_connections_refused_total", "counter",
             "Display connections closed at once for a connection limit.");
    w.sample("portico_host_display_connections_refused_total", g.display_connections_refused);

    w.family("portico_host_frames_total", "counter",
             "Frames sent to viewers by kind: video (H.264), tiles (images, refinement included), copy (scrolls "
             "and moves).");
    for (auto k : StreamCounters::kFrameKinds)
        w.sample("portico_host_frames_total", L{{"kind", StreamCounters::name(k)}},
                 streamed.frames[static_cast<std::size_t>(k)].load());
    w.family("portico_host_frame_bytes_total", "counter",
             "Bytes of frames sent, counted once per viewer they went to.");
    w.sample("portico_host_frame_bytes_total", streamed.frame_bytes.load());
    w.histogram("portico_host_encode_seconds", "Time from a frame's capture to its send (convert and encode).",
                streamed.encode_seconds);
    w.family("portico_host_capture_failures_total", "counter",
             "Screen captures that failed: retried on the next turn, or the display lost (the session ends).");
    w.sample("portico_host_capture_failures_total", L{{"outcome", "retried"}}, streamed.capture_retried.load());
    w.sample("portico_host_capture_failures_total", L{{"outcome", "display_lost"}}, streamed.capture_lost.load());

    w.family("portico_host_vms", "gauge",
             "QEMU virtual machines running: given to sessions, or spares ready or still booting.");
    w.sample("portico_host_vms", L{{"state", "in_session"}}, g.vms.in_session);
    w.sample("portico_host_vms", L{{"state", "spare_ready"}}, g.vms.spare_ready);
    w.sample("portico_host_vms", L{{"state", "spare_booting"}}, g.vms.spare_booting);

    w.family("portico_host_cpu_seconds_total", "counter",
             "CPU time of the whole machine by mode (/proc/stat): sessions' Xvfb, apps and VMs included.");
    for (const auto& [mode, seconds] : g.system.cpu_seconds)
        w.sample("portico_host_cpu_seconds_total", L{{"mode", mode}}, seconds);
    w.family("portico_host_cpus", "gauge", "CPUs online.");
    w.sample("portico_host_cpus", g.system.cpus);
    w.family("portico_host_memory_bytes", "gauge", "The machine's memory: total, and available to new work.");
    w.sample("portico_host_memory_bytes", L{{"state", "total"}}, g.system.memory_total_bytes);
    w.sample("portico_host_memory_bytes", L{{"state", "available"}}, g.system.memory_available_bytes);
    w.family("portico_host_load1", "gauge", "The machine's load average over one minute.");
    w.sample("portico_host_load1", g.system.load1);
    w.family("portico_host_process_cpu_seconds_total", "counter", "CPU time of the portico-host process itself.");
    w.sample("portico_host_process_cpu_seconds_total", g.system.process_cpu_seconds);
    w.family("portico_host_process_resident_memory_bytes", "gauge", "Resident memory of the portico-host process.");
    w.sample("portico_host_process_resident_memory_bytes", g.system.process_resident_bytes);
    return w.take();
}

}  // namespace portico::host

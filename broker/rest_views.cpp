#include "broker/rest_views.hpp"

#include "broker/placement.hpp"

#include <chrono>

namespace portico::broker {

using json = nlohmann::json;

namespace {

template <typename T>
json or_null(const std::optional<T>& v) {
    return v ? json(*v) : json(nullptr);
}

// {fps, kbps, rtt_ms, encode_ms, skipped, input_to_photon_ms, viewers, updated_at}, unknown figures null.
json stats_json(const LiveStats::Figures& f) {
    const auto& s = f.stats;
    return json{{"fps", or_null(s.fps)},         {"kbps", or_null(s.kbps)},
                {"rtt_ms", or_null(s.rtt_ms)},   {"encode_ms", or_null(s.encode_ms)},
                {"skipped", or_null(s.skipped)}, {"input_to_photon_ms", or_null(s.input_to_photon_ms)},
                {"viewers", or_null(s.viewers)}, {"updated_at", f.updated_at}};
}

}  // namespace

json session_json(const SessionView& v) {
    const auto& s = v.session;
    json j{{"id", s.id},
           {"user", s.user},
           {"resource", s.resource},
           {"resource_name", v.resource_name},
           {"host", s.host_id},
           {"state", to_string(s.state)},
           {"created_at", s.created_at},
           {"updated_at", s.updated_at},
           {"ended_at", s.ended_at},
           {"width", s.width},
           {"height", s.height}};
    j["end_reason"] = s.end_reason;
    j["ended_by"] = s.ended_by;
    j["bytes_sent"] = s.usage.bytes_sent;
    j["avg_fps"] = or_null(s.usage.avg_fps);
    j["avg_rtt_ms"] = or_null(s.usage.avg_rtt_ms);
    j["stats"] = v.stats ? stats_json(*v.stats) : json(nullptr);
    j["notice"] = v.notice;
    return j;
}

json host_json(const HostView& v) {
    const HostRecord* rec = v.record ? &*v.record : nullptr;
    const HostInfo* live = v.live ? &*v.live : nullptr;
    json j;
    const bool drain = live ? live->drain : (rec && rec->drain);
    j["id"] = live ? live->host_id : rec->id;
    j["name"] = live ? live->name : rec->name;
    j["connected"] = live != nullptr;
    j["drain"] = drain;
    j["state"] = live ? (drain ? "draining" : "up") : "down";
    j["sessions"] = live ? live->sessions : 0;
    j["max_sessions"] = live ? live->max_sessions : (rec ? rec->max_sessions : 0);
    j["cpu"] = live ? live->cpu : 0.0;
    j["mem"] = live ? live->mem : 0.0;
    j["load"] = live ? load_index(*live) : 0.0;
    if (live) {
        auto ago =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - live->last_heartbeat);
        j["last_heartbeat"] = unix_now() - ago.count();
    } else {
        j["last_heartbeat"] = rec ? rec->last_seen : 0;
    }
    j["apps"] = live ? live->apps : rec->apps;
    j["display_url"] = live ? live->display_url : rec->display_url;
    j["cert_fingerprint"] = rec ? rec->cert_fingerprint : std::string();
    j["auth"] = live ? live->auth : (rec && !rec->auth.empty() ? rec->auth : std::string("none"));
    j["vm_accel"] = live ? live->vm_accel : std::string();
    j["isolation"] = live ? live->isolation : std::string();
    j["broker"] = live ? live->broker_id : std::string();
    return j;
}

json launch_json(const LaunchTicket& t) {
    return json{{"session_id", t.session_id},
                {"ticket", t.ticket},
                {"gateway_path", t.gateway_path},
                {"direct_url", t.direct_url},
                {"host_cert_sha256", t.host_cert_sha256},
                {"width", t.width},
                {"height", t.height},
                {"notice", t.notice},
                {"reconnected", t.reconnected},
                {"view_only", t.view_only}};
}

json enrollment_token_json(const EnrollmentToken& t) {
    return json{{"id", t.id},
                {"host_id", t.host_id},
                {"created_at", t.created_at},
                {"expires_at", t.expires_at},
                {"created_by", t.created_by}};
}

json new_enrollment_token_json(const Enrollment::NewToken& t) {
    auto j = enrollment_token_json(t.info);
    j["token"] = t.token;
    return j;
}

json enrolled_json(const Enrollment::Enrolled& e) { return json{{"cert_pem", e.cert_pem}, {"ca_pem", e.ca_pem}}; }

}  // namespace portico::broker

#include "broker/session_ends.hpp"

#include "common/log.hpp"

namespace portico::broker {

const char* end_reason_from_host(const std::string& host_reason) {
    // The host says logged_off when the broker asked it to end the session (a requested reason
    // is recorded then) or when the user logged off inside the session.
    if (host_reason == "logged_off") return end_reason::user_logoff;
    if (host_reason == "app_exited") return end_reason::app_exited;
    if (host_reason == "host_shutdown") return end_reason::host_shutdown;
    return end_reason::error;
}

void SessionEnds::requested(const std::string& session_id, const std::string& reason, const std::string& by) {
    store_.set_end_reason(session_id, reason, by);
}

bool SessionEnds::finish(const std::string& session_id, SessionState final_state, const std::string& reason,
                         std::int64_t now) {
    store_.set_end_reason(session_id, reason, "");  // kept if one was requested
    if (!store_.set_session_state(session_id, final_state, now)) return false;
    recorded(session_id);
    return true;
}

std::vector<std::string> SessionEnds::lose_host(const std::string& host_id, std::int64_t now) {
    auto lost = store_.lose_sessions_of_host(host_id, now);
    for (const auto& id : lost) recorded(id);
    return lost;
}

void SessionEnds::recorded(const std::string& session_id) {
    live_stats_.drop(session_id);
    store_.set_session_usage(session_id, live_stats_.take_usage(session_id));
    auto s = store_.session(session_id);
    if (!s) return;
    const auto seconds = s->ended_at > s->created_at ? s->ended_at - s->created_at : 0;
    audit_.record(s->ended_by.empty() ? "-" : s->ended_by, "session.end", s->id, "",
                  "user " + s->user + ", resource " + s->resource + ", host " + s->host_id + ", reason " +
                      s->end_reason + ", duration " + std::to_string(seconds) + " s");
}

}  // namespace portico::broker

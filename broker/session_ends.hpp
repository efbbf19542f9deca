#pragma once
// SessionEnds: where a display session's end is written down, whichever path ends it (the host's
// session_ended, a log off, a timeout, a failed launch, a lost host): the end reason and who
// ended it, the stream usage LiveStats accumulated, and a session.end audit entry with the
// reason and duration. The session history (GET /sessions/history) reads these rows.
// Store thread only (like LaunchService and HostDirectory, its callers).

#include "broker/audit_log.hpp"
#include "broker/live_stats.hpp"
#include "broker/store.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace portico::broker {

// The end reasons stored with a session and shown by the API (docs/openapi.yaml, EndReason).
namespace end_reason {
inline constexpr const char* user_logoff = "user_logoff";                // the user logged off
inline constexpr const char* admin_logoff = "admin_logoff";              // an admin or helpdesk logged it off
inline constexpr const char* app_exited = "app_exited";                  // the app (or desktop) exited
inline constexpr const char* idle_timeout = "idle_timeout";              // no input for idle_timeout
inline constexpr const char* disconnect_timeout = "disconnect_timeout";  // no viewer for disconnect_timeout
inline constexpr const char* host_lost = "host_lost";                    // its host went away or was removed
inline constexpr const char* host_shutdown = "host_shutdown";            // its host shut down
inline constexpr const char* launch_failed = "launch_failed";            // it never started
inline constexpr const char* error = "error";                            // the host ended it on an error
}  // namespace end_reason

// The stored reason for a host's session_ended reason (control.hpp: app_exited, logged_off,
// host_shutdown, error); anything else is "error".
const char* end_reason_from_host(const std::string& host_reason);

class SessionEnds {
public:
    SessionEnds(Store& store, LiveStats& live_stats, AuditLog& audit)
        : store_(store), live_stats_(live_stats), audit_(audit) {}

    // Someone or something asked the live session to end (it is "ending" until its host confirms):
    // this reason wins over the host's later report. by: a user name, or "" for a timeout.
    void requested(const std::string& session_id, const std::string& reason, const std::string& by);
    // The session is final now (`final_state` ended or lost): records `reason` unless one was
    // requested, its usage, and the audit entry. False (nothing recorded) if it was final already.
    bool finish(const std::string& session_id, SessionState final_state, const std::string& reason, std::int64_t now);
    // Every live session of the host is lost: usage and audit for each. Returns their ids.
    std::vector<std::string> lose_host(const std::string& host_id, std::int64_t now);

private:
    void recorded(const std::string& session_id);  // usage into the row, then the audit entry

    Store& store_;
    LiveStats& live_stats_;
    AuditLog& audit_;
};

}  // namespace portico::broker

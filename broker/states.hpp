#pragma once
// The broker's closed vocabularies as types: a display session's lifecycle state and a user's
// role. Services compare enum values; the text forms exist only where they cross a boundary (the
// store's columns, the REST API's JSON and query parameters, the control protocol), through
// to_string and the parse_* functions here. Pure; any thread.

#include <optional>
#include <string_view>

namespace portico::broker {

// starting -> active <-> disconnected -> ending -> ended; lost when its host goes away. ended and
// lost are final: nothing moves a session out of them.
enum class SessionState { starting, active, disconnected, ending, ended, lost };

// Whether the session still exists on a host (every state but the final ones).
constexpr bool is_live(SessionState s) { return s != SessionState::ended && s != SessionState::lost; }
// Whether a user's launch may reconnect to it instead of starting a new one.
constexpr bool is_reconnectable(SessionState s) { return s == SessionState::active || s == SessionState::disconnected; }

enum class Role { admin, helpdesk, user };

// admin and helpdesk read everything and act on sessions; only admin changes configuration.
constexpr bool is_staff(Role r) { return r == Role::admin || r == Role::helpdesk; }

const char* to_string(SessionState s);
const char* to_string(Role r);
// Exact, lower-case names as to_string writes them; anything else is nothing.
std::optional<SessionState> parse_session_state(std::string_view s);
std::optional<Role> parse_role(std::string_view s);

}  // namespace portico::broker

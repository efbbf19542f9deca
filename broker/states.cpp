#include "broker/states.hpp"

#include <array>
#include <utility>

namespace portico::broker {

namespace {

constexpr std::array<std::pair<SessionState, const char*>, 6> kSessionStates = {{
    {SessionState::starting, "starting"},
    {SessionState::active, "active"},
    {SessionState::disconnected, "disconnected"},
    {SessionState::ending, "ending"},
    {SessionState::ended, "ended"},
    {SessionState::lost, "lost"},
}};

constexpr std::array<std::pair<Role, const char*>, 3> kRoles = {{
    {Role::admin, "admin"},
    {Role::helpdesk, "helpdesk"},
    {Role::user, "user"},
}};

template <class E, std::size_t N>
const char* name_of(const std::array<std::pair<E, const char*>, N>& table, E e) {
    for (const auto& [v, name] : table)
        if (v == e) return name;
    return "?";
}

template <class E, std::size_t N>
std::optional<E> value_of(const std::array<std::pair<E, const char*>, N>& table, std::string_view s) {
    for (const auto& [v, name] : table)
        if (s == name) return v;
    return std::nullopt;
}

}  // namespace

const char* to_string(SessionState s) { return name_of(kSessionStates, s); }
const char* to_string(Role r) { return name_of(kRoles, r); }
std::optional<SessionState> parse_session_state(std::string_view s) { return value_of(kSessionStates, s); }
std::optional<Role> parse_role(std::string_view s) { return value_of(kRoles, s); }

}  // namespace portico::broker

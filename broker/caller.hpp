#pragma once
// Who is calling the REST API: the authenticated user, their role and their address.

#include "broker/states.hpp"

#include <string>

namespace portico::broker {

struct Caller {
    std::string name;
    Role role = Role::user;
    std::string ip;
    bool admin() const { return role == Role::admin; }
    bool staff() const { return is_staff(role); }  // read everything, act on sessions
};

}  // namespace portico::broker

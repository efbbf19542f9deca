#pragma once
// The JSON shapes of the REST API (docs/openapi.yaml) for what the services return: sessions,
// hosts, launch tickets, enrollment. The services hand out plain structs; only the REST layer
// (rest_api.cpp, http_session.cpp) turns them into JSON, here. Pure; any thread.

#include "broker/enrollment.hpp"
#include "broker/host_directory.hpp"
#include "broker/launch_service.hpp"

#include <nlohmann/json.hpp>

namespace portico::broker {

nlohmann::json session_json(const SessionView& v);
nlohmann::json host_json(const HostView& v);
nlohmann::json launch_json(const LaunchTicket& t);
nlohmann::json enrollment_token_json(const EnrollmentToken& t);  // without the secret
nlohmann::json new_enrollment_token_json(const Enrollment::NewToken& t);
nlohmann::json enrolled_json(const Enrollment::Enrolled& e);

}  // namespace portico::broker

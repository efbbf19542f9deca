#include "broker/api_error.hpp"

#include <nlohmann/json.hpp>

namespace portico::broker {

namespace http = boost::beast::http;

const char* to_string(ApiErrorCode c) {
    switch (c) {
        case ApiErrorCode::bad_request: return "bad_request";
        case ApiErrorCode::too_large: return "too_large";
        case ApiErrorCode::unsupported_media_type: return "unsupported_media_type";
        case ApiErrorCode::csrf: return "csrf";
        case ApiErrorCode::unauthenticated: return "unauthenticated";
        case ApiErrorCode::invalid_credentials: return "invalid_credentials";
        case ApiErrorCode::forbidden: return "forbidden";
        case ApiErrorCode::not_entitled: return "not_entitled";
        case ApiErrorCode::enrollment_refused: return "enrollment_refused";
        case ApiErrorCode::conflict: return "conflict";
        case ApiErrorCode::not_found: return "not_found";
        case ApiErrorCode::method_not_allowed: return "method_not_allowed";
        case ApiErrorCode::upgrade_required: return "upgrade_required";
        case ApiErrorCode::rate_limited: return "rate_limited";
        case ApiErrorCode::no_host: return "no_host";
        case ApiErrorCode::launch_failed: return "launch_failed";
        case ApiErrorCode::limit_exceeded: return "limit_exceeded";
        case ApiErrorCode::busy: return "busy";
        case ApiErrorCode::thumbnail_unavailable: return "thumbnail_unavailable";
        case ApiErrorCode::host_timeout: return "host_timeout";
        case ApiErrorCode::internal: return "internal";
    }
    return "internal";
}

http::status http_status(ApiErrorCode c) {
    switch (c) {
        case ApiErrorCode::bad_request: return http::status::bad_request;
        case ApiErrorCode::too_large: return http::status::payload_too_large;
        case ApiErrorCode::unsupported_media_type: return http::status::unsupported_media_type;
        case ApiErrorCode::csrf: return http::status::forbidden;
        case ApiErrorCode::unauthenticated: return http::status::unauthorized;
        case ApiErrorCode::invalid_credentials: return http::status::unauthorized;
        case ApiErrorCode::forbidden: return http::status::forbidden;
        case ApiErrorCode::not_entitled: return http::status::forbidden;
        case ApiErrorCode::enrollment_refused: return http::status::forbidden;
        case ApiErrorCode::conflict: return http::status::conflict;
        case ApiErrorCode::not_found: return http::status::not_found;
        case ApiErrorCode::method_not_allowed: return http::status::method_not_allowed;
        case ApiErrorCode::upgrade_required: return http::status::upgrade_required;
        case ApiErrorCode::rate_limited: return http::status::too_many_requests;
        case ApiErrorCode::no_host: return http::status::service_unavailable;
        case ApiErrorCode::launch_failed: return http::status::bad_gateway;
        case ApiErrorCode::limit_exceeded: return http::status::forbidden;
        case ApiErrorCode::busy: return http::status::service_unavailable;
        case ApiErrorCode::thumbnail_unavailable: return http::status::service_unavailable;
        case ApiErrorCode::host_timeout: return http::status::gateway_timeout;
        case ApiErrorCode::internal: return http::status::internal_server_error;
    }
    return http::status::internal_server_error;
}

std::string error_body(const ApiError& e) {
    nlohmann::json j = {{"error", {{"code", to_string(e.code)}, {"message", e.message}}}};
    return json_text(j);
}

bool wants_retry_after(ApiErrorCode c) { return c == ApiErrorCode::rate_limited || c == ApiErrorCode::busy; }

std::string json_text(const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace portico::broker

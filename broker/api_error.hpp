#pragma once
// Typed errors of the REST API and the single place that maps them to HTTP statuses and the
// `{"error":{"code","message"}}` body. Pure functions; called from network and worker threads.

#include "common/result.hpp"

#include <boost/beast/http/status.hpp>

#include <string>

namespace portico::broker {

enum class ApiErrorCode {
    bad_request,
    too_large,
    unsupported_media_type,
    csrf,
    unauthenticated,
    invalid_credentials,
    forbidden,
    not_entitled,
    enrollment_refused,
    conflict,
    not_found,
    method_not_allowed,
    rate_limited,
    no_host,
    launch_failed,
    internal,
};

using ApiError = Error<ApiErrorCode>;

const char* to_string(ApiErrorCode c);
boost::beast::http::status http_status(ApiErrorCode c);
std::string error_body(const ApiError& e);  // JSON text

}  // namespace portico::broker

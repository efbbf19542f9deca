#pragma once
// Typed errors of the REST API and the single place that maps them to HTTP statuses and the
// `{"error":{"code","message"}}` body; also the one place JSON text leaves the broker (json_text),
// so no answer can throw on bad UTF-8. Pure functions; called from network and worker threads.

#include "common/result.hpp"

#include <boost/beast/http/status.hpp>

#include <nlohmann/json_fwd.hpp>

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
    upgrade_required,  // 426: a WebSocket route asked without a (valid, version 13) WebSocket upgrade
    rate_limited,
    no_host,
    launch_failed,
    limit_exceeded,         // a broker policy limit (sessions per user, screen size): 403, the message names it
    busy,                   // the store is locked or the password workers are full: 503 + Retry-After
    thumbnail_unavailable,  // 503: the session's host has no picture to give (not connected, no frame yet)
    host_timeout,           // 504: the session's host did not answer in time
    internal,
};

using ApiError = Error<ApiErrorCode>;

const char* to_string(ApiErrorCode c);
boost::beast::http::status http_status(ApiErrorCode c);
std::string error_body(const ApiError& e);  // JSON text
// Whether answers with this code carry Retry-After (429, 503).
bool wants_retry_after(ApiErrorCode c);

// Serialises JSON for the wire. Invalid UTF-8 in a string (a cut name, a byte from a URL) becomes
// U+FFFD instead of an exception: output never fails.
std::string json_text(const nlohmann::json& j);

}  // namespace portico::broker

#pragma once
// The synchronous part of the REST API (docs/openapi.yaml): every authenticated route except
// launch (asynchronous) — users, groups, apps, desktop pools and entitlements, hosts, sessions, audit. Role
// checks come first, then body validation, then the change, so a refused request changes
// nothing. JSON is shaped here and in rest_views.hpp, never in the services.
// handle_rest does store work: it runs on the store executor (or, when rest_hashes_password says
// so, on a password worker), never on a network thread. The store's exceptions pass through; the
// executor boundary (StoreExecutor::run, store_guarded) turns them into busy / internal.

#include "broker/api_error.hpp"

#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace portico::broker {

class Core;
struct Caller;

struct RestRequest {
    boost::beast::http::verb method;
    std::vector<std::string> segments;         // path after /api/v1/, split at '/', percent-decoded
    std::map<std::string, std::string> query;  // percent-decoded
    std::string body;
    std::string host;  // the Host header: the broker's address as the client reached it
};

// A download instead of JSON (e.g. the audit log as CSV): sent as an attachment named `filename`.
struct TextDownload {
    std::string content_type, filename, text;
};

struct RestReply {
    boost::beast::http::status status = boost::beast::http::status::ok;
    std::optional<nlohmann::json> body;  // nothing (and no download) = 204-style empty answer
    std::optional<TextDownload> download;
};

// Routes known to handle_rest (so the HTTP layer can answer 404 before authenticating).
bool is_rest_route(const std::vector<std::string>& segments);
Result<RestReply, ApiErrorCode> handle_rest(Core& core, const Caller& caller, const RestRequest& req);
// Whether the route hashes a password (creating a user, changing a password): Argon2, so it runs
// on the password workers instead of the store thread.
bool rest_hashes_password(const RestRequest& req);

// Body checking shared with the HTTP layer: a JSON object (an empty body counts as {}) whose
// fields are all listed, with the listed JSON types. Returns the object or a bad_request.
enum class FieldType { string, integer, boolean, array, object, number };  // number: integer or not
struct FieldSpec {
    const char* name;
    FieldType type;
    bool required = false;
};
Result<nlohmann::json, ApiErrorCode> parse_body(const std::string& body, std::initializer_list<FieldSpec> fields);

// Names of users, groups, apps: 1..max of [A-Za-z0-9._-], starting with a letter or digit.
bool valid_name(const std::string& s, std::size_t max = 64);

}  // namespace portico::broker

#pragma once
// RestClient: the broker's REST API over HTTPS as the native client uses it: log in (keeping the
// one session cookie), list resources, launch (or redeem a launch file's token), log off. Synchronous with a deadline on every
// request; one TLS connection per request. Used from the client's one thread.

#include "client/native/client_error.hpp"
#include "common/tls.hpp"
#include "common/url.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/verb.hpp>

#include <optional>
#include <string>
#include <vector>

namespace portico::client {

struct ResourceInfo {
    std::string id;
    std::string name;
    std::string type;
};

struct LaunchInfo {
    std::string resource;  // the resource id (from a launch file's redeem; else what was asked)
    std::string session_id;
    std::string ticket;
    std::string gateway_path;      // e.g. /api/v1/gateway/<sid>, on the broker
    std::string direct_url;        // wss://host:port/display
    std::string host_cert_sha256;  // pin for direct_url
    int width = 0;
    int height = 0;
};

struct HttpReply {
    unsigned status = 0;
    std::string body;
    std::string set_cookie;  // the first name=value pair of Set-Cookie, if any
};

class RestClient {
public:
    // Throws std::runtime_error if the trust settings cannot be loaded (e.g. unreadable CA file).
    RestClient(Url broker, const tls::ClientTrust& trust);

    Status login(const std::string& user, const std::string& password);
    ClientResult<std::vector<ResourceInfo>> resources();
    // scale: the session's pixels per point (its DPI is 96 x scale), 1..4; none = the broker's default.
    ClientResult<LaunchInfo> launch(const std::string& resource, std::optional<double> scale = std::nullopt);
    // A launch file's token instead of a login (POST /api/v1/launch-files/redeem): the launch of
    // its resource or session, and the session cookie of the file's user for the requests after it.
    ClientResult<LaunchInfo> redeem(const std::string& token, std::optional<double> scale = std::nullopt);
    // Whether the user's session `session_id` still runs (GET /api/v1/sessions), before a reconnect
    // rejoins it rather than starting another.
    ClientResult<bool> session_running(const std::string& session_id);
    Status logoff(const std::string& session_id);

    // One request with the session cookie; non-2xx statuses are returned, not failed.
    ClientResult<HttpReply> request(boost::beast::http::verb verb, const std::string& target,
                                    const std::string& json_body);

    const Url& broker() const { return broker_; }

private:
    Url broker_;
    tls::ClientTrust trust_;
    boost::asio::io_context ioc_;
    boost::asio::ssl::context ctx_;
    std::string cookie_;  // "portico_session=..."
};

// "<code>: <message>" from the broker's {"error":{"code","message"}} body, or the raw body.
std::string describe_api_error(unsigned status, const std::string& body);

// Picks the resource named by what: an exact id first, then an exact name, then a name
// differing only in case. Empty if none matches.
std::string resolve_resource(const std::vector<ResourceInfo>& list, const std::string& what);

}  // namespace portico::client

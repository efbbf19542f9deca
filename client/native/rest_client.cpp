#include "client/native/rest_client.hpp"

#include "client/native/secret.hpp"
#include "client/native/tls_connect.hpp"

#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

namespace portico::client {

namespace http = beast::http;
using json = nlohmann::json;

namespace {

constexpr std::size_t kMaxBody = 1024 * 1024;

bool iequals(const std::string& a, const std::string& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
               return std::tolower(x) == std::tolower(y);
           });
}

std::string str_field(const json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::string describe_api_error(unsigned status, const std::string& body) {
    std::string what = "HTTP " + std::to_string(status);
    try {
        auto j = json::parse(body);
        if (j.is_object() && j.contains("error") && j["error"].is_object()) {
            const auto& e = j["error"];
            return what + " " + str_field(e, "code") + ": " + str_field(e, "message");
        }
    } catch (const json::exception&) {
    }
    return body.empty() ? what : what + " " + body.substr(0, 500);
}

std::string resolve_resource(const std::vector<ResourceInfo>& list, const std::string& what) {
    for (const auto& r : list)
        if (r.id == what) return r.id;
    for (const auto& r : list)
        if (r.name == what) return r.id;
    for (const auto& r : list)
        if (iequals(r.name, what)) return r.id;
    return {};
}

RestClient::RestClient(Url broker, const tls::ClientTrust& trust)
    : broker_(std::move(broker)), trust_(trust), ctx_(tls::make_client_context(trust)) {}

ClientResult<HttpReply> RestClient::request(http::verb verb, const std::string& target, const std::string& json_body) {
    const auto deadline = Clock::now() + kIoTimeout;
    WssStream stream(ioc_.get_executor(), ctx_);  // TLS and HTTP only
    if (auto st = connect_tls(ioc_, stream, broker_.host, broker_.port, wants_host_name_check(trust_), deadline); !st)
        return st.error();

    WssStream::Request req{verb, target, 11};
    req.set(http::field::host, broker_.host_port());
    req.set(http::field::user_agent, "portico-client");
    req.set(http::field::accept, "application/json");
    if (!cookie_.empty()) req.set(http::field::cookie, cookie_);
    if (verb == http::verb::post || verb == http::verb::delete_ || verb == http::verb::put) {
        req.set(http::field::content_type, "application/json");
        req.body() = json_body;
    }
    req.keep_alive(false);
    req.prepare_payload();

    auto& tcp = stream.tcp();
    beast::error_code ec;
    bool done = false;
    tcp.expires_at(deadline);
    stream.async_write_request(req, [&](beast::error_code e, std::size_t) {
        ec = e;
        done = true;
    });
    run_until(ioc_, Clock::time_point::max(), [&] { return done; });
    wipe_secret(req.body());  // sent: a login's password need not stay in this copy
    if (ec) return fail(ClientError::network, "sending " + std::string(target) + ": " + ec.message());

    beast::flat_buffer buf;
    WssStream::ResponseParser parser;
    parser.body_limit(kMaxBody);
    done = false;
    tcp.expires_at(deadline);
    stream.async_read_response(buf, parser, [&](beast::error_code e, std::size_t) {
        ec = e;
        done = true;
    });
    run_until(ioc_, Clock::time_point::max(), [&] { return done; });
    // The reply is complete (Content-Length framing), so a TLS shutdown adds nothing: just close.
    beast::error_code ignored;
    tcp.socket().close(ignored);
    if (ec) return fail(ClientError::network, "reading reply to " + std::string(target) + ": " + ec.message());

    const auto& res = parser.get();
    HttpReply reply;
    reply.status = res.result_int();
    reply.body = res.body();
    if (auto it = res.find(http::field::set_cookie); it != res.end()) {
        std::string c(it->value());
        reply.set_cookie = c.substr(0, c.find(';'));
    }
    return reply;
}

Status RestClient::login(const std::string& user, const std::string& password) {
    json fields{{"username", user}, {"password", password}};
    std::string body = fields.dump();
    wipe_secret(fields["password"].get_ref<std::string&>());
    auto r = request(http::verb::post, "/api/v1/login", body);
    wipe_secret(body);
    if (!r) return r.error();
    if (r->status / 100 != 2) return fail(ClientError::refused, "login: " + describe_api_error(r->status, r->body));
    if (r->set_cookie.empty()) return fail(ClientError::protocol, "login: the broker set no session cookie");
    cookie_ = r->set_cookie;
    return ok();
}

ClientResult<std::vector<ResourceInfo>> RestClient::resources() {
    auto r = request(http::verb::get, "/api/v1/resources", {});
    if (!r) return r.error();
    if (r->status / 100 != 2) return fail(ClientError::refused, "resources: " + describe_api_error(r->status, r->body));
    std::vector<ResourceInfo> out;
    try {
        auto j = json::parse(r->body);
        if (!j.is_array()) return fail(ClientError::protocol, "resources: reply is not a JSON array");
        for (const auto& e : j) {
            if (!e.is_object()) continue;
            out.push_back({str_field(e, "id"), str_field(e, "name"), str_field(e, "type")});
        }
    } catch (const json::exception& e) {
        return fail(ClientError::protocol, std::string("resources: bad JSON: ") + e.what());
    }
    return out;
}

namespace {

// A launch's answer (POST /launch, POST /launch-files/redeem); `what` names the request in errors.
ClientResult<LaunchInfo> parse_launch_reply(const char* what, const HttpReply& r) {
    const std::string w = what;
    if (r.status / 100 != 2) return fail(ClientError::refused, w + ": " + describe_api_error(r.status, r.body));
    LaunchInfo li;
    try {
        auto j = json::parse(r.body);
        if (!j.is_object()) return fail(ClientError::protocol, w + ": reply is not a JSON object");
        li.resource = str_field(j, "resource");
        li.session_id = str_field(j, "session_id");
        li.ticket = str_field(j, "ticket");
        li.gateway_path = str_field(j, "gateway_path");
        li.direct_url = str_field(j, "direct_url");
        li.host_cert_sha256 = str_field(j, "host_cert_sha256");
        if (j.contains("width") && j["width"].is_number_integer()) li.width = j["width"].get<int>();
        if (j.contains("height") && j["height"].is_number_integer()) li.height = j["height"].get<int>();
    } catch (const json::exception& e) {
        return fail(ClientError::protocol, w + ": bad JSON: " + e.what());
    }
    if (li.session_id.empty() || li.ticket.empty())
        return fail(ClientError::protocol, w + ": reply lacks session_id or ticket");
    return li;
}

}  // namespace

ClientResult<LaunchInfo> RestClient::launch(const std::string& resource, std::optional<double> scale) {
    json body{{"resource", resource}};
    if (scale) body["scale"] = *scale;
    auto r = request(http::verb::post, "/api/v1/launch", body.dump());
    if (!r) return r.error();
    auto li = parse_launch_reply("launch", *r);
    if (li && li->resource.empty()) li->resource = resource;
    return li;
}

ClientResult<LaunchInfo> RestClient::redeem(const std::string& token, std::optional<double> scale) {
    json body{{"token", token}};
    if (scale) body["scale"] = *scale;
    auto r = request(http::verb::post, "/api/v1/launch-files/redeem", body.dump());
    if (!r) return r.error();
    auto li = parse_launch_reply("launch file", *r);
    if (!li) return li;
    if (li->resource.empty()) return fail(ClientError::protocol, "launch file: the reply names no resource");
    if (r->set_cookie.empty()) return fail(ClientError::protocol, "launch file: the broker set no session cookie");
    cookie_ = r->set_cookie;
    return li;
}

ClientResult<bool> RestClient::session_running(const std::string& session_id) {
    auto r = request(http::verb::get, "/api/v1/sessions", "");
    if (!r) return r.error();
    if (r->status / 100 != 2) return fail(ClientError::refused, "sessions: " + describe_api_error(r->status, r->body));
    try {
        auto j = json::parse(r->body);
        if (!j.is_array()) return fail(ClientError::protocol, "sessions: reply is not a JSON array");
        for (const auto& e : j)
            if (e.is_object() && str_field(e, "id") == session_id) return true;
    } catch (const json::exception& e) {
        return fail(ClientError::protocol, std::string("sessions: bad JSON: ") + e.what());
    }
    return false;
}

Status RestClient::logoff(const std::string& session_id) {
    auto r = request(http::verb::delete_, "/api/v1/sessions/" + session_id, "{}");
    if (!r) return r.error();
    if (r->status / 100 != 2) return fail(ClientError::refused, "logoff: " + describe_api_error(r->status, r->body));
    return ok();
}

}  // namespace portico::client

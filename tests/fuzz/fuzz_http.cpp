// libFuzzer target: an HTTP request as the broker reads it from a client, up to the point where a
// live broker (Core: store, sessions, hosts) would be needed.
//
// Covered, with the broker's own code and limits:
//   - Boost.Beast's request parser with the broker's limits (kMaxHttpBody, 16 KiB of headers),
//     the bytes arriving in two reads split where the input says, as TCP may deliver them;
//   - parse_body() (broker/rest_api.hpp: nlohmann parse + field/type checks) with the field list
//     of the endpoint the request's target names (login, enroll, launch, users, groups, apps,
//     pools, enrollment-tokens, and {} for the bodiless actions);
//   - error_body() (broker/api_error.hpp), the JSON the broker sends back for every refusal, and
//     the dump of the body it accepted; valid_name() and is_rest_route() on what the request holds.
// Not covered here: the routes behind authentication (handle_rest needs a Core); the HTTP layer's
// percent-decoding and cookie helpers are private to broker/http_session.cpp.

#include "broker/api_error.hpp"
#include "broker/net.hpp"
#include "broker/rest_api.hpp"
#include "fuzz_check.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace portico::broker;
using json = nlohmann::json;

namespace {

using Fields = std::initializer_list<FieldSpec>;
constexpr auto S = FieldType::string, I = FieldType::integer, A = FieldType::array, N = FieldType::number;

// The field lists the broker passes to parse_body (broker/http_session.cpp, broker/rest_api.cpp).
portico::Result<json, ApiErrorCode> check_body(std::string_view route, http::verb method, const std::string& body) {
    const bool post = method == http::verb::post;
    if (route == "login") return parse_body(body, Fields{{"username", S, true}, {"password", S, true}});
    if (route == "enroll")
        return parse_body(body, Fields{{"token", S, true}, {"host_id", S, true}, {"csr_pem", S, true}});
    if (route == "launch")
        return parse_body(body, Fields{{"resource", S, true}, {"width", I}, {"height", I}, {"scale", N}});
    if (route == "users")
        return post ? parse_body(body, Fields{{"name", S, true}, {"role", S}, {"password", S}})
                    : parse_body(body, Fields{{"role", S}, {"password", S}});
    if (route == "groups") return parse_body(body, Fields{{"name", S, true}, {"members", A}});
    if (route == "apps")
        return post ? parse_body(body, Fields{{"id", S, true},
                                              {"name", S, true},
                                              {"command", A, true},
                                              {"icon", S},
                                              {"host_group", S},
                                              {"entitlements", A}})
                    : parse_body(body, Fields{{"name", S}, {"command", A}, {"icon", S}, {"host_group", S}});
    if (route == "pools")
        return post ? parse_body(body, Fields{{"id", S, true},
                                              {"name", S, true},
                                              {"image", S, true},
                                              {"mode", S, true},
                                              {"icon", S},
                                              {"size", I},
                                              {"spares", I},
                                              {"memory_mib", I},
                                              {"cpus", I},
                                              {"entitlements", A}})
                    : parse_body(body, Fields{{"name", S},
                                              {"image", S},
                                              {"mode", S},
                                              {"icon", S},
                                              {"size", I},
                                              {"spares", I},
                                              {"memory_mib", I},
                                              {"cpus", I}});
    if (route == "entitlements") return parse_body(body, Fields{{"entitlements", A, true}});
    if (route == "enrollment-tokens") return parse_body(body, Fields{{"host_id", S}, {"ttl_seconds", I}});
    return parse_body(body, Fields{});
}

// Feeds `bytes` to the parser in two reads split at `split`, the way async_read hands it what has
// arrived; returns false when the request is incomplete or refused.
bool read_request(http::request_parser<http::string_body>& p, std::string_view bytes, std::size_t split) {
    std::string pending;
    std::string_view reads[2] = {bytes.substr(0, split), bytes.substr(split)};
    beast::error_code ec;
    for (auto chunk : reads) {
        pending.append(chunk);
        while (!p.is_done() && !pending.empty()) {
            auto used = p.put(net::buffer(pending), ec);
            pending.erase(0, used);
            if (ec == http::error::need_more) {
                ec = {};
                break;
            }
            if (ec) return false;
            if (used == 0) break;
        }
    }
    if (!p.is_done()) {
        p.put_eof(ec);
        if (ec || !p.is_done()) return false;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::size_t split = data[0];
    std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);

    http::request_parser<http::string_body> p;
    p.body_limit(kMaxHttpBody);
    p.header_limit(16 * 1024);
    if (!read_request(p, bytes, std::min(split, bytes.size()))) return 0;
    auto req = p.release();
    FUZZ_CHECK(req.body().size() <= kMaxHttpBody, "the body limit holds");

    // The broker's routing: /api/v1/<route>[/...]; the segments it checks with is_rest_route.
    std::string_view target = req.target();
    target = target.substr(0, target.find_first_of("?#"));
    std::vector<std::string> segments;
    if (target.rfind("/api/v1/", 0) == 0) {
        std::string_view rest = target.substr(8);
        while (true) {
            auto slash = rest.find('/');
            segments.emplace_back(rest.substr(0, slash));
            if (slash == std::string_view::npos) break;
            rest.remove_prefix(slash + 1);
        }
    }
    const bool rest_route = is_rest_route(segments);
    std::string route = segments.empty() ? std::string() : segments[0];
    if (segments.size() >= 3 && (route == "apps" || route == "pools") && segments[2] == "entitlements")
        route = "entitlements";
    if (rest_route && segments.size() > 1 && route != "entitlements" && req.method() == http::verb::post)
        route = "action";

    auto body = check_body(route, req.method(), req.body());
    if (!body) {
        // What the broker answers: must be valid JSON whatever the request held.
        const std::string answer = error_body(body.error());
        FUZZ_CHECK(!json::parse(answer, nullptr, false).is_discarded(), "an error body is JSON");
        return 0;
    }
    FUZZ_CHECK(body.value().is_object(), "an accepted body is an object");
    const std::string dumped = body.value().dump();
    FUZZ_CHECK(json::parse(dumped) == body.value(), "an accepted body round-trips");
    for (const char* name_field : {"name", "id", "host_id", "username"})
        if (auto it = body.value().find(name_field); it != body.value().end() && it->is_string())
            (void)valid_name(it->get<std::string>(), 128);
    return 0;
}

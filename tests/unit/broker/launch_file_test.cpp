// Launch files ("Open in the Portico app"): issued to a logged-in user as a download, redeemed
// once without a login for a launch as that user; forged, cut, reused and expired tokens are
// refused with a message saying which, and all of it is audited. A real broker over real TLS with
// a fake host.

#include "protocol/launch_file.hpp"
#include "broker/audit_log.hpp"
#include "broker/launch_files.hpp"
#include "broker/state_dir.hpp"
#include "broker/store.hpp"
#include "common/crypto.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

using json = nlohmann::json;
using portico::protocol::LaunchFile;
using test::http::verb;

namespace {

// What a browser sends: the Host header with the port, which the file's broker URL is made of.
std::map<std::string, std::string> host_of(const test::BrokerFixture& b) {
    return {{"host", "127.0.0.1:" + std::to_string(b.port)}};
}

test::HttpReply issue(const test::BrokerFixture& b, const json& body, const std::string& cookie) {
    return test::request(b, verb::post, "/api/v1/launch-files", body.dump(), cookie, "application/json", host_of(b));
}

LaunchFile issued_file(const test::BrokerFixture& b, const json& body, const std::string& cookie) {
    auto r = issue(b, body, cookie);
    REQUIRE(r.status == 200);
    CHECK(r.headers["content-type"] == "application/x-portico-launch");
    CHECK(r.headers["cache-control"] == "no-store");
    auto f = portico::protocol::parse_launch_file(r.body);
    REQUIRE(f.ok());
    return f.value();
}

test::HttpReply redeem(const test::BrokerFixture& b, const std::string& token, const std::string& cookie = "") {
    return test::request(b, verb::post, "/api/v1/launch-files/redeem", json{{"token", token}}.dump(), cookie);
}

std::vector<std::string> audit_actions(const test::BrokerFixture& b, const std::string& admin) {
    std::vector<std::string> out;
    for (const auto& e : test::request(b, verb::get, "/api/v1/audit?action=", "", admin).json())
        if (e["action"].get<std::string>().rfind("launch_file.", 0) == 0)
            out.push_back(e["action"].get<std::string>() + " " + e["actor"].get<std::string>() + " " +
                          e["detail"].get<std::string>());
    std::reverse(out.begin(), out.end());  // oldest first
    return out;
}

}  // namespace

TEST_CASE("launch files: issued to a user, redeemed once for a launch as that user", "[broker][launch_file]") {
    test::BrokerFixture b;
    test::FakeHost host(b, "host-1", test::kDisplay, test::kPin);
    REQUIRE(host.registered["type"] == "registered");
    auto demo = test::login(b);

    auto f = issued_file(b, {{"resource", "Terminal"}}, demo);  // by name, as by id
    CHECK(f.broker == "https://127.0.0.1:" + std::to_string(b.port));
    CHECK(f.broker_cert_sha256 == b.broker_cert_sha256);
    CHECK(f.resource == "terminal");
    CHECK(f.session.empty());
    CHECK(f.expires_at > portico::broker::unix_now());
    CHECK(f.expires_at <= portico::broker::unix_now() + 60);
    auto disposition = issue(b, {{"resource", "terminal"}}, demo).headers["content-disposition"];
    CHECK(disposition == "attachment; filename=\"Terminal.portico\"");

    // Redeemed without a login: the launch is demo's, and the answer logs the client in as demo.
    auto r = redeem(b, f.token);
    REQUIRE(r.status == 200);
    auto j = r.json();
    CHECK(j["resource"] == "terminal");
    CHECK(j["reconnected"] == false);
    const auto sid = j["session_id"].get<std::string>();
    CHECK(host.starts == 1);
    const auto set_cookie = r.headers["set-cookie"];
    CHECK_THAT(set_cookie,
               Catch::Contains("HttpOnly") && Catch::Contains("Secure") && Catch::Contains("SameSite=Strict"));
    const auto cookie = set_cookie.substr(0, set_cookie.find(';'));
    CHECK(test::request(b, verb::get, "/api/v1/me", "", cookie).json()["user"] == "demo");
    auto sessions = test::request(b, verb::get, "/api/v1/sessions", "", demo).json();
    REQUIRE(sessions.size() == 1);
    CHECK(sessions[0]["id"] == sid);
    CHECK(sessions[0]["user"] == "demo");

    // Single use.
    auto reused = redeem(b, f.token);
    test::check_error(reused, 401, "unauthenticated");
    CHECK_THAT(reused.json()["error"]["message"].get<std::string>(), Catch::Contains("used already"));
    CHECK(host.starts == 1);

    // A reconnect file for the running session: the same session, not a new one.
    auto again = issued_file(b, {{"session", sid}}, demo);
    CHECK(again.session == sid);
    auto rj = redeem(b, again.token).json();
    CHECK(rj["session_id"] == sid);
    CHECK(rj["reconnected"] == true);
    CHECK(host.starts == 1);

    auto admin = test::login_as(b, "admin");
    CHECK(audit_actions(b, admin) ==
          std::vector<std::string>{"launch_file.issue demo new launch", "launch_file.issue demo new launch",
                                   "launch_file.redeem demo new launch",
                                   "launch_file.refused - this launch file was used already; download a new one "
                                   "from the portal",
                                   "launch_file.issue demo reconnect to session " + sid,
                                   "launch_file.redeem demo reconnect to session " + sid});
}

TEST_CASE("launch files: forged, cut, expired and other users' tokens are refused", "[broker][launch_file]") {
    test::BrokerFixture b;
    test::FakeHost host(b, "host-1", test::kDisplay, test::kPin);
    auto demo = test::login(b);
    auto admin = test::login_as(b, "admin");
    auto message_of = [](const test::HttpReply& r) { return r.json()["error"]["message"].get<std::string>(); };

    // Forged: well formed, never issued. Cut: one character short.
    auto forged = redeem(b, portico::crypto::random_token(32));
    test::check_error(forged, 401, "unauthenticated");
    CHECK_THAT(message_of(forged), Catch::Contains("not known to this broker"));
    auto f = issued_file(b, {{"resource", "terminal"}}, demo);
    auto cut = redeem(b, f.token.substr(0, f.token.size() - 1));
    test::check_error(cut, 401, "unauthenticated");
    CHECK_THAT(message_of(cut), Catch::Contains("cut short or edited"));
    test::check_error(redeem(b, ""), 401, "unauthenticated");
    test::check_error(test::request(b, verb::post, "/api/v1/launch-files/redeem", "{}"), 400, "bad_request");
    // A bad body does not spend the token.
    test::check_error(
        test::request(b, verb::post, "/api/v1/launch-files/redeem", json{{"token", f.token}, {"width", 10}}.dump()),
        400, "bad_request");
    CHECK(host.starts == 0);

    // Expired: a token written with a past expiry beside the broker (the lifetime is a minute).
    const std::string old_token = portico::crypto::random_token(32);
    {
        auto store = portico::broker::open_store(portico::broker::store_location(b.state, b.database));
        const auto now = portico::broker::unix_now();
        store->create_launch_token(portico::crypto::sha256_hex(portico::crypto::bytes_of(old_token)),
                                   {"demo", "terminal", "", now - 120, now - 60});
    }
    auto expired = redeem(b, old_token);
    test::check_error(expired, 401, "unauthenticated");
    CHECK_THAT(message_of(expired), Catch::Contains("expired"));
    CHECK(host.starts == 0);

    // Bound to the user who asked: a redeem sent with another user's login still launches as demo.
    auto created = test::request(b, verb::post, "/api/v1/users",
                                 json{{"name", "carol"}, {"password", "carol-password"}}.dump(), admin);
    REQUIRE(created.status == 201);
    auto carol = test::login_as(b, "carol", "carol-password");
    auto r = redeem(b, f.token, carol);
    REQUIRE(r.status == 200);
    auto sid = r.json()["session_id"].get<std::string>();
    CHECK(test::request(b, verb::get, "/api/v1/sessions/" + sid, "", demo).json()["user"] == "demo");
    // ...and nobody gets a file for someone else's session, nor without a login, nor cross-site.
    test::check_error(issue(b, {{"session", sid}}, carol), 404, "not_found");
    test::check_error(issue(b, {{"resource", "terminal"}}, ""), 401, "unauthenticated");
    test::check_error(test::request(b, verb::post, "/api/v1/launch-files", json{{"resource", "terminal"}}.dump(), demo,
                                    "text/plain", host_of(b)),
                      403, "csrf");
    test::check_error(issue(b, {{"resource", "terminal"}, {"session", sid}}, demo), 400, "bad_request");
    test::check_error(issue(b, json::object(), demo), 400, "bad_request");
    test::check_error(issue(b, {{"resource", "nope"}}, demo), 404, "not_found");
    test::check_error(test::request(b, verb::post, "/api/v1/launch-files", json{{"resource", "terminal"}}.dump(), demo,
                                    "application/json", {{"host", "evil.example/x?"}}),
                      400, "bad_request");

    // A session that ended makes its reconnect file useless, with a message saying so.
    auto again = issued_file(b, {{"session", sid}}, demo);
    REQUIRE(test::request(b, verb::delete_, "/api/v1/sessions/" + sid, "", demo).status == 204);
    REQUIRE(test::eventually([&] { return test::request(b, verb::get, "/api/v1/sessions", "", demo).json().empty(); }));
    auto ended = redeem(b, again.token);
    test::check_error(ended, 409, "conflict");
    CHECK_THAT(message_of(ended), Catch::Contains("has ended"));
    test::check_error(issue(b, {{"session", sid}}, demo), 409, "conflict");

    auto refusals = 0;
    for (const auto& line : audit_actions(b, admin)) refusals += line.rfind("launch_file.refused", 0) == 0;
    CHECK(refusals == 5);  // forged, cut, empty, expired, ended
}

TEST_CASE("launch files: a flood of forged tokens from one address is cut off", "[broker][launch_file]") {
    test::BrokerFixture b;
    const int max = portico::broker::LaunchFiles::kMaxRefusalsPerMinute;
    int refused = 0, limited = 0;
    for (int i = 0; i < max + 5; ++i) {
        auto r = redeem(b, portico::crypto::random_token(32));
        refused += r.status == 401;
        if (r.status == 429) {
            ++limited;
            test::check_error(r, 429, "rate_limited");
            CHECK(r.headers.count("retry-after") == 1);
        }
    }
    // The minute counts from the first refusal: these all fall in it.
    CHECK(refused == max);
    CHECK(limited == 5);
    auto admin = test::login_as(b, "admin");
    CHECK(audit_actions(b, admin).size() == static_cast<std::size_t>(refused));  // nothing audited past the limit
}

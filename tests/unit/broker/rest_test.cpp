// REST API through a real broker on 127.0.0.1 over real TLS.

#include "common/crypto.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>

using json = nlohmann::json;
using test::http::verb;

namespace {

// Every row of every table, as text: "unchanged" means exactly this is unchanged.
std::string dump_db(const std::string& path) {
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open_v2(path.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    std::string out;
    for (const char* table : {"users", "login_sessions", "resources", "sessions", "schema_version"}) {
        sqlite3_stmt* st = nullptr;
        REQUIRE(sqlite3_prepare_v2(h, (std::string("SELECT * FROM ") + table).c_str(), -1, &st, nullptr) == SQLITE_OK);
        out += std::string("[") + table + "]\n";
        while (sqlite3_step(st) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(st); ++c) {
                auto t = sqlite3_column_text(st, c);
                out += (t ? reinterpret_cast<const char*>(t) : "NULL");
                out += "|";
            }
            out += "\n";
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return out;
}

using test::check_error;

}  // namespace

TEST_CASE("rest: wrong password or unknown user is 401 and changes nothing", "[broker][rest]") {
    test::BrokerFixture b;
    auto db = b.state + "/portico.db";
    auto before = dump_db(db);
    auto r1 = test::request(b, verb::post, "/api/v1/login", json{{"username", "demo"}, {"password", "nope"}}.dump());
    check_error(r1, 401, "invalid_credentials");
    CHECK_FALSE(r1.headers.count("set-cookie"));
    auto r2 = test::request(b, verb::post, "/api/v1/login", json{{"username", "ghost"}, {"password", "nope"}}.dump());
    check_error(r2, 401, "invalid_credentials");
    CHECK(json::parse(r1.body)["error"]["message"] == json::parse(r2.body)["error"]["message"]);
    CHECK(dump_db(db) == before);
    CHECK(r1.headers.at("cache-control") == "no-store");
}

TEST_CASE("rest: login sets a hardened cookie, me, resources, logout", "[broker][rest]") {
    test::BrokerFixture b;
    auto r =
        test::request(b, verb::post, "/api/v1/login", json{{"username", "demo"}, {"password", test::kPassword}}.dump());
    REQUIRE(r.status == 200);
    CHECK(r.json() == json{{"user", "demo"}, {"role", "user"}});
    auto cookie = r.headers.at("set-cookie");
    CHECK(cookie.rfind("portico_session=", 0) == 0);
    CHECK(cookie.find("HttpOnly") != std::string::npos);
    CHECK(cookie.find("Secure") != std::string::npos);
    CHECK(cookie.find("SameSite=Strict") != std::string::npos);
    CHECK(cookie.find("Max-Age=28800") != std::string::npos);
    CHECK(r.headers.at("x-content-type-options") == "nosniff");
    CHECK(r.headers.at("referrer-policy") == "no-referrer");
    CHECK(r.headers.at("content-security-policy").find("blob:") != std::string::npos);
    auto pair = cookie.substr(0, cookie.find(';'));
    auto token = pair.substr(pair.find('=') + 1);
    // The database holds only a digest of the token.
    {
        sqlite3* h = nullptr;
        REQUIRE(sqlite3_open_v2((b.state + "/portico.db").c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
        sqlite3_stmt* st = nullptr;
        REQUIRE(sqlite3_prepare_v2(h, "SELECT token_hash FROM login_sessions", -1, &st, nullptr) == SQLITE_OK);
        REQUIRE(sqlite3_step(st) == SQLITE_ROW);
        std::string stored = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
        CHECK(stored == portico::crypto::sha256_hex(portico::crypto::bytes_of(token)));
        sqlite3_finalize(st);
        sqlite3_close(h);
    }

    auto me = test::request(b, verb::get, "/api/v1/me", "", pair);
    REQUIRE(me.status == 200);
    CHECK(me.json()["user"] == "demo");
    check_error(test::request(b, verb::get, "/api/v1/me"), 401, "unauthenticated");
    check_error(test::request(b, verb::get, "/api/v1/me", "", "portico_session=forged"), 401, "unauthenticated");

    auto res = test::request(b, verb::get, "/api/v1/resources", "", pair);
    REQUIRE(res.status == 200);
    CHECK(res.json() == json::parse(R"([{"id":"terminal","name":"Terminal","type":"app","icon":""}])"));
    check_error(test::request(b, verb::get, "/api/v1/resources"), 401, "unauthenticated");

    auto out = test::request(b, verb::post, "/api/v1/logout", "{}", pair);
    CHECK(out.status == 204);
    CHECK(out.headers.at("set-cookie").find("Max-Age=0") != std::string::npos);
    check_error(test::request(b, verb::get, "/api/v1/me", "", pair), 401, "unauthenticated");
}

TEST_CASE("rest: launch errors: unknown resource 404, no host 503", "[broker][rest]") {
    test::BrokerFixture b;
    auto cookie = test::login(b);
    check_error(test::request(b, verb::post, "/api/v1/launch", json{{"resource", "nope"}}.dump(), cookie), 404,
                "not_found");
    check_error(test::request(b, verb::post, "/api/v1/launch", json{{"resource", "terminal"}}.dump(), cookie), 503,
                "no_host");
    check_error(test::request(b, verb::post, "/api/v1/launch", json{{"resource", "terminal"}}.dump()), 401,
                "unauthenticated");
    auto sessions = test::request(b, verb::get, "/api/v1/sessions", "", cookie);
    REQUIRE(sessions.status == 200);
    CHECK(sessions.json() == json::array());
    check_error(test::request(b, verb::delete_, "/api/v1/sessions/unknown", "", cookie), 404, "not_found");
}

TEST_CASE("rest: malformed input is 400/413 and changes nothing", "[broker][rest]") {
    test::BrokerFixture b;
    auto cookie = test::login(b);
    auto before = dump_db(b.state + "/portico.db");
    for (const std::string body : {"{", "[]", "\"x\"", "{\"username\":1,\"password\":\"x\"}", "{\"username\":\"demo\"}",
                                   "{\"username\":\"demo\",\"password\":null}", ""}) {
        INFO(body);
        check_error(test::request(b, verb::post, "/api/v1/login", body), 400, "bad_request");
    }
    for (const std::string body : {"{", "{}", "{\"resource\":5}", "[\"terminal\"]"}) {
        INFO(body);
        check_error(test::request(b, verb::post, "/api/v1/launch", body, cookie), 400, "bad_request");
    }
    std::string huge = json{{"username", "demo"}, {"password", std::string(70 * 1024, 'a')}}.dump();
    check_error(test::request(b, verb::post, "/api/v1/login", huge), 413, "too_large");
    CHECK(dump_db(b.state + "/portico.db") == before);
}

TEST_CASE("rest: state-changing requests need a JSON content type (CSRF guard)", "[broker][rest]") {
    test::BrokerFixture b;
    auto cookie = test::login(b);
    auto form = test::request(b, verb::post, "/api/v1/login", "username=demo&password=x", "",
                              "application/x-www-form-urlencoded");
    check_error(form, 403, "csrf");
    check_error(
        test::request(b, verb::post, "/api/v1/launch", json{{"resource", "terminal"}}.dump(), cookie, "text/plain"),
        403, "csrf");
    check_error(test::request(b, verb::post, "/api/v1/logout", "", cookie, ""), 403, "csrf");
    // The refused logout did not log us out.
    CHECK(test::request(b, verb::get, "/api/v1/me", "", cookie).status == 200);
    // A charset parameter is fine.
    auto ok =
        test::request(b, verb::post, "/api/v1/login", json{{"username", "demo"}, {"password", test::kPassword}}.dump(),
                      "", "application/json; charset=utf-8");
    CHECK(ok.status == 200);
}

TEST_CASE("rest: repeated failed logins are rate limited", "[broker][rest]") {
    // A first delay longer than a slow machine takes for the requests below.
    test::BrokerFixture b(20, [](portico::broker::BrokerConfig& c) { c.login_delay_base_ms = 30000; });
    auto bad = json{{"username", "demo"}, {"password", "wrong"}}.dump();
    for (int i = 0; i < 5; ++i)
        check_error(test::request(b, verb::post, "/api/v1/login", bad), 401, "invalid_credentials");
    check_error(test::request(b, verb::post, "/api/v1/login", bad), 429, "rate_limited");
    // Even the right password is refused while limited (no oracle for the attacker).
    auto good = json{{"username", "demo"}, {"password", test::kPassword}}.dump();
    check_error(test::request(b, verb::post, "/api/v1/login", good), 429, "rate_limited");
}

TEST_CASE("rest: static files and path traversal", "[broker][rest]") {
    test::BrokerFixture b;
    auto index = test::request(b, verb::get, "/");
    REQUIRE(index.status == 200);
    CHECK(index.body.find("portal") != std::string::npos);
    CHECK(index.headers.at("content-type").rfind("text/html", 0) == 0);
    auto js = test::request(b, verb::get, "/app.js?v=1");
    CHECK(js.status == 200);
    CHECK(js.headers.at("content-type").rfind("text/javascript", 0) == 0);
    CHECK(test::request(b, verb::get, "/sub/style.css").status == 200);
    for (const std::string target : {"/../secret.txt", "/%2e%2e/secret.txt", "/sub/../../secret.txt",
                                     "/%2E%2E%2Fsecret.txt", "/sub/%2e%2e/%2e%2e/secret.txt", "//etc/passwd", "/sub",
                                     "/sub/", "/missing.js", "/..%5csecret.txt", "/%00index.html"}) {
        INFO(target);
        auto r = test::request(b, verb::get, target);
        CHECK(r.status == 404);
        CHECK(r.body.find("outside the web root") == std::string::npos);
    }
}

TEST_CASE("rest: the admin console is served from its own root at /console/", "[broker][rest][console]") {
    std::string console_root;
    test::BrokerFixture b(20, [&](portico::broker::BrokerConfig& c) {
        console_root = (std::filesystem::path(c.state_dir).parent_path() / "console").string();
        std::filesystem::create_directories(console_root);
        std::ofstream(console_root + "/index.html") << "<!doctype html><title>console</title>";
        std::ofstream(console_root + "/console.js") << "export {};";
        c.console_root = console_root;
    });
    auto index = test::request(b, verb::get, "/console/");
    REQUIRE(index.status == 200);
    CHECK(index.body.find("console") != std::string::npos);
    CHECK(index.headers.at("content-type").rfind("text/html", 0) == 0);
    CHECK(index.headers.count("content-security-policy") == 1);
    auto js = test::request(b, verb::get, "/console/console.js");
    CHECK(js.status == 200);
    CHECK(js.headers.at("content-type").rfind("text/javascript", 0) == 0);
    auto bare = test::request(b, verb::get, "/console");
    CHECK(bare.status == 301);
    CHECK(bare.headers.at("location") == "/console/");
    // The portal's files are not reachable through /console/, nor anything outside the root.
    for (const std::string target :
         {"/console/app.js", "/console/../index.html", "/console/%2e%2e/web/index.html", "/console/missing.js"}) {
        INFO(target);
        CHECK(test::request(b, verb::get, target).status == 404);
    }
    CHECK(test::request(b, verb::get, "/").body.find("portal") != std::string::npos);
}

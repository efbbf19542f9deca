// Several brokers on one PostgreSQL database (broker/cluster.hpp): real brokers in this process
// sharing one state directory and a real PostgreSQL (pg_server.hpp), fake hosts on their control
// channels. Whichever broker a user reaches, a host connected to another one starts the session,
// answers through it and is ended through it; a broker that goes away hands its hosts over.

#include "broker/store.hpp"
#include "pg_server.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

using json = nlohmann::json;
using test::http::verb;

namespace {

// Brokers whose hosts, in these tests, never send heartbeats: kept up by a long timeout.
void patient(portico::broker::BrokerConfig& c) { c.heartbeat_timeout_seconds = 60; }

// Whether `broker` lists host_id as connected (to itself or to another broker).
bool sees_host(const test::BrokerFixture& broker, const std::string& admin, const std::string& host_id) {
    auto r = test::request(broker, verb::get, "/api/v1/hosts", "", admin);
    if (r.status != 200) return false;
    for (const auto& h : r.json())
        if (h["id"] == host_id && h.value("connected", false)) return true;
    return false;
}

std::string session_state(const test::BrokerFixture& broker, const std::string& admin, const std::string& sid) {
    auto r = test::request(broker, verb::get, "/api/v1/sessions/" + sid, "", admin);
    return r.status == 200 ? r.json().value("state", "") : "status " + std::to_string(r.status);
}

}  // namespace

TEST_CASE("cluster: a launch through one broker starts on a host connected to the other", "[cluster][postgres]") {
    auto url = test::PgServer::shared().new_database();
    test::BrokerFixture a(20, patient, url);
    test::BrokerFixture b(a, "broker-b", patient);
    test::FakeHost host(b, "host-on-b", test::kDisplay, test::kPin);
    REQUIRE(host.registered["type"] == "registered");

    // Logins live in the database: a cookie from one broker works at the other.
    auto demo = test::login(a);
    auto admin = test::login_as(b, "admin");
    REQUIRE(test::eventually([&] { return sees_host(a, test::login_as(a, "admin"), "host-on-b"); }));
    CHECK(test::request(a, verb::get, "/api/v1/hosts/host-on-b", "", admin).json()["broker"] == "broker-b");

    auto r = test::post(a, "/api/v1/launch", {{"resource", "terminal"}}, demo);
    REQUIRE(r.status == 200);
    const auto sid = r.json().at("session_id").get<std::string>();
    CHECK(host.starts == 1);
    CHECK(!r.json().at("ticket").get<std::string>().empty());
    CHECK(session_state(b, admin, sid) == "active");

    // Reconnecting through B finds the same session.
    auto again = test::post(b, "/api/v1/launch", {{"resource", "terminal"}}, demo);
    REQUIRE(again.status == 200);
    CHECK(again.json()["session_id"] == sid);
    CHECK(host.starts == 1);

    // A thumbnail asked of A comes from the host on B.
    auto picture = test::request(a, verb::get, "/api/v1/sessions/" + sid + "/thumbnail", "", demo);
    CHECK(picture.status == 200);
    CHECK(host.thumbnail_requests == 1);

    // Log off through A reaches the host through B.
    auto off = test::post(a, "/api/v1/sessions/" + sid + "/logoff", json::object(), demo);
    CHECK(off.status == 204);
    REQUIRE(test::eventually([&] { return host.end_requests() == std::vector<std::string>{sid}; }));
    CHECK(test::eventually([&] { return session_state(a, admin, sid) == "ended"; }));
}

TEST_CASE("cluster: a host that moves to the other broker keeps its sessions", "[cluster][postgres]") {
    auto url = test::PgServer::shared().new_database();
    test::BrokerFixture a(20, patient, url);
    auto b = std::make_unique<test::BrokerFixture>(a, "broker-b", patient);
    auto admin = test::login_as(a, "admin");
    auto demo = test::login(a);
    std::string sid;
    {
        test::FakeHost on_b(*b, "mover", test::kDisplay, test::kPin);
        REQUIRE(test::eventually([&] { return sees_host(a, admin, "mover"); }));
        auto r = test::post(a, "/api/v1/launch", {{"resource", "terminal"}}, demo);
        REQUIRE(r.status == 200);
        sid = r.json().at("session_id").get<std::string>();
        b.reset();  // broker B goes away; the host's connection with it
    }
    test::FakeHost on_a(a, "mover", test::kDisplay, test::kPin);
    REQUIRE(on_a.registered["type"] == "registered");
    CHECK(session_state(a, admin, sid) == "active");
    auto hosts = test::pg_query(url, "SELECT state, broker_id FROM hosts WHERE id = 'mover'");
    REQUIRE(hosts.size() == 1);
    CHECK(hosts[0][0] == "up");
    CHECK(hosts[0][1] != "broker-b");
    // The session is reached through its host's new broker.
    auto again = test::post(a, "/api/v1/launch", {{"resource", "terminal"}}, demo);
    REQUIRE(again.status == 200);
    CHECK(again.json()["session_id"] == sid);
}

TEST_CASE("cluster: the hosts of a broker that died and did not come back are down, their sessions lost",
          "[cluster][postgres]") {
    auto url = test::PgServer::shared().new_database();
    auto quick = [](portico::broker::BrokerConfig& c) {
        c.heartbeat_timeout_seconds = 2;
        c.lost_grace_seconds = 0;
    };
    test::BrokerFixture a(20, patient, url);
    auto admin = test::login_as(a, "admin");
    auto demo = test::login(a);
    std::string sid;
    {
        auto b = std::make_unique<test::BrokerFixture>(a, "broker-b", patient);
        test::FakeHost on_b(*b, "orphan", test::kDisplay, test::kPin);
        REQUIRE(test::eventually([&] { return sees_host(a, admin, "orphan"); }));
        auto r = test::post(a, "/api/v1/launch", {{"resource", "terminal"}}, demo);
        REQUIRE(r.status == 200);
        sid = r.json().at("session_id").get<std::string>();
        // B stops before it could hear the host leave: as after kill -9, nobody marks it down.
        b.reset();
    }
    CHECK(session_state(a, admin, sid) == "active");
    // A's own timeout is long; a broker with a short one sweeps what nobody holds any more.
    test::BrokerFixture c(a, "broker-c", quick);
    CHECK(test::eventually([&] { return session_state(a, admin, sid) == "lost"; }, std::chrono::seconds(10)));
    CHECK(test::pg_query(url, "SELECT state FROM hosts WHERE id = 'orphan'")[0][0] == "down");
    CHECK(test::eventually([&] { return !sees_host(a, admin, "orphan"); }));
}

TEST_CASE("cluster: a broker with another ticket key refuses to join", "[cluster][postgres]") {
    auto url = test::PgServer::shared().new_database();
    test::BrokerFixture a(20, {}, url);
    // Its own init: a ticket key and CA of its own, on the same database.
    test::TempDir other;
    portico::broker::InitOptions o;
    o.state_dir = (other.path / "state").string();
    o.database = url;
    portico::broker::init_state(o);
    portico::broker::BrokerConfig c;
    c.state_dir = o.state_dir;
    c.database = url;
    c.listen_address = "127.0.0.1";
    c.port = 0;
    REQUIRE_THROWS_WITH(portico::broker::Broker(c), Catch::Contains("ticket key differs"));
}

TEST_CASE("cluster: a host that comes back revives its lost sessions and ends the ones that are over", "[cluster]") {
    test::BrokerFixture b(20, patient);
    auto admin = test::login_as(b, "admin");
    auto demo = test::login(b);
    std::string sid;
    {
        test::FakeHost first(b, "returning", test::kDisplay, test::kPin);
        auto r = test::post(b, "/api/v1/launch", {{"resource", "terminal"}}, demo);
        REQUIRE(r.status == 200);
        sid = r.json().at("session_id").get<std::string>();
    }
    REQUIRE(test::eventually([&] { return session_state(b, admin, sid) == "lost"; }));
    // Back, still running it (and a session this broker never heard of).
    test::FakeHost again(b, "returning", test::kDisplay, test::kPin, test::FakeHost::Mode::ready, "", "", "", 4,
                         std::vector<std::string>{sid, "not-known-here"});
    REQUIRE(again.registered["type"] == "registered");
    CHECK(session_state(b, admin, sid) == "disconnected");
    CHECK(test::eventually([&] { return again.end_requests() == std::vector<std::string>{"not-known-here"}; }));
    auto r = test::post(b, "/api/v1/launch", {{"resource", "terminal"}}, demo);
    REQUIRE(r.status == 200);
    CHECK(r.json()["session_id"] == sid);
    CHECK(again.starts == 0);

    // It connects anew without the session (it restarted meanwhile): the session is lost.
    test::FakeHost restarted(b, "returning", test::kDisplay, test::kPin, test::FakeHost::Mode::ready, "", "", "", 4,
                             std::vector<std::string>{});
    REQUIRE(restarted.registered["type"] == "registered");
    CHECK(session_state(b, admin, sid) == "lost");
}

TEST_CASE("cluster: failed logins count at every broker", "[cluster][postgres]") {
    auto url = test::PgServer::shared().new_database();
    auto slow_delays = [](portico::broker::BrokerConfig& c) { c.login_delay_base_ms = 5000; };
    test::BrokerFixture a(20, slow_delays, url);
    test::BrokerFixture b(a, "broker-b", slow_delays);
    const json wrong = {{"username", "demo"}, {"password", "not the password"}};
    for (int i = 0; i < 5; ++i) CHECK(test::post(a, "/api/v1/login", wrong).status == 401);
    // Broker B has seen none of them itself, and still holds the sixth guess back.
    auto sixth = test::post(b, "/api/v1/login", wrong);
    CHECK(sixth.status == 429);
    CHECK(sixth.headers.count("retry-after") == 1);
    // So is the right password, until the delay has passed (it tells the guesser nothing).
    CHECK(test::post(b, "/api/v1/login", {{"username", "demo"}, {"password", test::kPassword}}).status == 429);
}

TEST_CASE("cluster: a session's live figures show on the broker its host is not connected to", "[cluster][postgres]") {
    auto url = test::PgServer::shared().new_database();
    test::BrokerFixture a(20, patient, url);
    test::BrokerFixture b(a, "broker-b", patient);
    test::FakeHost host(b, "host-on-b", test::kDisplay, test::kPin);
    REQUIRE(host.registered["type"] == "registered");
    auto demo = test::login(a);
    auto admin_a = test::login_as(a, "admin");
    REQUIRE(test::eventually([&] { return sees_host(a, admin_a, "host-on-b"); }));
    auto r = test::post(a, "/api/v1/launch", {{"resource", "terminal"}}, demo);
    REQUIRE(r.status == 200);
    const auto sid = r.json().at("session_id").get<std::string>();

    // The host reports to its holder (B); B's next heartbeat write carries the figures to A.
    host.send({{"type", "session_stats"},
               {"stats", json::array({{{"session_id", sid}, {"fps", 24.0}, {"kbps", 900.0}, {"viewers", 1}}})}});
    host.send({{"type", "heartbeat"}, {"sessions", 1}, {"cpu", 0.1}, {"mem", 0.2}});
    json shown;
    REQUIRE(test::eventually([&] {
        shown = test::request(a, verb::get, "/api/v1/sessions/" + sid, "", admin_a).json();
        return shown.contains("stats") && shown["stats"].is_object();
    }));
    CHECK(shown["stats"]["fps"] == 24.0);
    CHECK(shown["stats"]["kbps"] == 900.0);
    CHECK(shown["stats"]["viewers"] == 1);
    CHECK(shown["bytes_sent"].get<std::int64_t>() > 0);  // what it used so far, from B's figures
    // Each broker's /metrics counts the streams of its own hosts, so sums over brokers are right.
    auto admin_b = test::login_as(b, "admin");
    CHECK(test::request(a, verb::get, "/metrics", "", admin_a).body.find("portico_sessions_streaming 0\n") !=
          std::string::npos);
    CHECK(test::request(b, verb::get, "/metrics", "", admin_b).body.find("portico_sessions_streaming 1\n") !=
          std::string::npos);
}

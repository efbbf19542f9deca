// Placement policy (pure), and the admin API, roles, entitlements, liveness, drain, shadow,
// enrollment and metrics through a real broker over real TLS with fake hosts.

#include "broker/placement.hpp"
#include "common/crypto.hpp"
#include "protocol/ticket.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <thread>

using json = nlohmann::json;
using portico::broker::HostInfo;
using portico::broker::PlacementRequest;
using test::http::verb;

namespace {

HostInfo host(std::string id, int sessions, int max, double cpu = 0, double mem = 0, bool drain = false,
              std::vector<std::string> apps = {"*"}) {
    HostInfo h;
    h.host_id = std::move(id);
    h.sessions = h.reported_sessions = sessions;
    h.max_sessions = max;
    h.cpu = cpu;
    h.mem = mem;
    h.drain = drain;
    h.apps = std::move(apps);
    return h;
}

PlacementRequest terminal() {
    PlacementRequest r;
    r.resource_id = "terminal";
    r.resource_name = "Terminal";
    return r;
}

std::string pick(const std::vector<HostInfo>& hs, const PlacementRequest& r = terminal()) {
    std::vector<const HostInfo*> c;
    for (auto& h : hs) c.push_back(&h);
    auto* chosen = portico::broker::choose_host(c, r);
    return chosen ? chosen->host_id : std::string("-");
}

test::HttpReply get(const test::BrokerFixture& b, const std::string& path, const std::string& cookie) {
    return test::request(b, verb::get, path, "", cookie);
}

json session_of(const test::BrokerFixture& b, const std::string& cookie, const std::string& sid) {
    auto r = get(b, "/api/v1/sessions/" + sid, cookie);
    return r.status == 200 ? r.json() : json();
}

using test::check_error;
using test::csr_for;
using test::kDisplay;
using test::kPin;
using test::post;

}  // namespace

namespace {
struct NoLink : portico::broker::ControlLink {
    void send(std::string) override {}
    void close() override {}
};
}  // namespace

TEST_CASE("placement: a heartbeat sent before a placement does not undo it, nor a holder's figure",
          "[broker][policy]") {
    portico::broker::HostRegistry hosts;
    auto h = host("a", 0, 2);
    h.link = std::make_shared<NoLink>();
    hosts.add(h);
    const auto* link = hosts.get("a")->link.get();
    REQUIRE(hosts.pick_and_reserve(terminal()));
    // A heartbeat while it starts does not count it: it still says 0.
    hosts.heartbeat("a", link, 0, 0, 0);
    CHECK(hosts.get("a")->sessions == 1);
    hosts.reservation_started("a");  // its session_ready
    CHECK(hosts.get("a")->sessions == 1);
    REQUIRE(hosts.pick_and_reserve(terminal()));
    CHECK(!hosts.pick_and_reserve(terminal()));  // full: never a third
    // A failed launch gives its slot back.
    hosts.release_reservation("a");
    CHECK(hosts.get("a")->sessions == 1);
    // The first heartbeat after a session_ready counts that session: no double count.
    hosts.heartbeat("a", link, 1, 0, 0);
    CHECK(hosts.get("a")->sessions == 1);

    // Another broker's host: its holder's figure (the row) does not know this broker's placements.
    auto remote = host("r", 0, 1);
    remote.broker_id = "other";
    remote.link = std::make_shared<NoLink>();
    hosts.set_remote({remote});
    hosts.remove("a", nullptr);
    REQUIRE(hosts.pick_and_reserve(terminal()));
    hosts.set_remote({remote});  // the next sync: the row still says 0
    CHECK(hosts.get("r")->sessions == 1);
    CHECK(!hosts.pick_and_reserve(terminal()));
}

TEST_CASE("placement: least load among eligible hosts", "[broker][policy]") {
    CHECK(pick({host("a", 2, 10), host("b", 1, 10)}) == "b");
    // Load is the highest of session fill, CPU and memory: a busy CPU outweighs fewer sessions.
    CHECK(pick({host("a", 2, 10, 0.1), host("b", 1, 10, 0.9)}) == "a");
    CHECK(pick({host("a", 2, 10, 0, 0.1), host("b", 1, 10, 0, 0.95)}) == "a");
    // Full, draining and not offering are never chosen.
    CHECK(pick({host("a", 10, 10), host("b", 9, 10)}) == "b");
    CHECK(pick({host("a", 0, 10, 0, 0, true), host("b", 9, 10)}) == "b");
    CHECK(pick({host("a", 0, 10, 0, 0, true)}) == "-");
    CHECK(pick({host("a", 0, 10, 0, 0, false, {"Calc"}), host("b", 5, 10, 0, 0, false, {"terminal"})}) == "b");
    CHECK(pick({host("a", 0, 10, 0, 0, false, {"Terminal"})}) == "a");  // by name too
    CHECK(pick({}) == "-");
    // Ties: fewer sessions, then id (deterministic).
    CHECK(pick({host("b", 1, 10), host("a", 1, 10)}) == "a");
    CHECK(pick({host("a", 2, 20), host("b", 1, 10)}) == "b");
    // A host group restricts the candidates to hosts offering that group name.
    CHECK(pick({host("a", 0, 10, 0, 0, false, {"terminal"}), host("b", 3, 10, 0, 0, false, {"linux"})},
               {"terminal", "Terminal", "linux"}) == "b");
    CHECK(portico::broker::load_index(host("a", 5, 10, 0.2, 0.3)) == Approx(0.5));
}

TEST_CASE("roles: admin manages users, groups, apps, helpdesk reads, user is refused", "[broker][roles]") {
    test::BrokerFixture b;
    auto admin = test::login_as(b, "admin");
    auto me = get(b, "/api/v1/me", admin);
    CHECK(me.json() == json{{"user", "admin"}, {"role", "admin"}});

    auto created = post(b, "/api/v1/users", {{"name", "hd"}, {"role", "helpdesk"}, {"password", "helpdesk-pw"}}, admin);
    REQUIRE(created.status == 201);
    CHECK(created.json()["role"] == "helpdesk");
    CHECK_FALSE(created.json().contains("password"));
    auto gen = post(b, "/api/v1/users", {{"name", "carol"}}, admin);
    REQUIRE(gen.status == 201);
    REQUIRE(gen.json()["password"].is_string());
    check_error(post(b, "/api/v1/users", {{"name", "carol"}}, admin), 409, "conflict");
    auto carol = test::login_as(b, "carol", gen.json()["password"]);
    auto hd = test::login_as(b, "hd", "helpdesk-pw");

    // Helpdesk reads everything but changes nothing.
    CHECK(get(b, "/api/v1/users", hd).status == 200);
    CHECK(get(b, "/api/v1/apps", hd).status == 200);
    CHECK(get(b, "/api/v1/hosts", hd).status == 200);
    CHECK(get(b, "/api/v1/audit", hd).status == 200);
    check_error(post(b, "/api/v1/apps", {{"id", "calc"}, {"name", "Calc"}, {"command", {"xcalc"}}}, hd), 403,
                "forbidden");
    check_error(test::request(b, verb::patch, "/api/v1/apps/terminal", json{{"name", "X"}}.dump(), hd), 403,
                "forbidden");
    check_error(test::request(b, verb::delete_, "/api/v1/apps/terminal", "", hd), 403, "forbidden");
    check_error(post(b, "/api/v1/groups", {{"name", "g"}}, hd), 403, "forbidden");
    check_error(post(b, "/api/v1/hosts/h1/drain", json::object(), hd), 403, "forbidden");
    check_error(post(b, "/api/v1/enrollment-tokens", json::object(), hd), 403, "forbidden");
    // A user sees none of it.
    for (auto path : {"/api/v1/users", "/api/v1/groups", "/api/v1/apps", "/api/v1/hosts", "/api/v1/audit",
                      "/api/v1/sessions?scope=all"})
        check_error(get(b, path, carol), 403, "forbidden");

    // Apps with entitlements; the user only sees and launches what they are entitled to.
    auto app = post(b, "/api/v1/apps",
                    {{"id", "calc"}, {"name", "Calc"}, {"command", {"xcalc"}}, {"entitlements", {{{"user", "carol"}}}}},
                    admin);
    REQUIRE(app.status == 201);
    CHECK(app.json()["entitlements"] == json::parse(R"([{"user":"carol"}])"));
    auto carol_res = get(b, "/api/v1/resources", carol).json();
    REQUIRE(carol_res.size() == 1);
    CHECK(carol_res[0]["id"] == "calc");
    auto demo = test::login(b);
    CHECK(get(b, "/api/v1/resources", demo).json().size() == 1);  // Terminal only
    check_error(post(b, "/api/v1/launch", {{"resource", "calc"}}, demo), 403, "not_entitled");

    // Group membership grants it.
    REQUIRE(post(b, "/api/v1/groups", {{"name", "calcers"}, {"members", {"demo"}}}, admin).status == 201);
    auto put = test::request(b, verb::put, "/api/v1/apps/calc/entitlements",
                             json{{"entitlements", {{{"group", "calcers"}}, {{"user", "carol"}}}}}.dump(), admin);
    REQUIRE(put.status == 200);
    CHECK(get(b, "/api/v1/resources", demo).json().size() == 2);
    check_error(post(b, "/api/v1/launch", {{"resource", "calc"}}, demo), 503, "no_host");  // entitled; no host
    REQUIRE(test::request(b, verb::delete_, "/api/v1/groups/calcers/members/demo", "", admin).status == 204);
    check_error(post(b, "/api/v1/launch", {{"resource", "calc"}}, demo), 403, "not_entitled");

    // Roles change; the last admin cannot be demoted.
    check_error(test::request(b, verb::patch, "/api/v1/users/admin", json{{"role", "user"}}.dump(), admin), 409,
                "conflict");
    auto promoted = test::request(b, verb::patch, "/api/v1/users/carol", json{{"role", "helpdesk"}}.dump(), admin);
    REQUIRE(promoted.status == 200);
    CHECK(get(b, "/api/v1/users", carol).status == 200);

    // Every admin action is in the audit log with who, what and from where.
    auto audit = get(b, "/api/v1/audit?limit=100", admin).json();
    std::set<std::string> actions;
    for (auto& e : audit) {
        actions.insert(e["action"]);
        CHECK(e["from"] == "127.0.0.1");
    }
    for (auto a : {"login", "user.create", "app.create", "group.create", "app.entitlements", "group.remove_member",
                   "user.update"})
        CHECK(actions.count(a));
    auto only_logins = get(b, "/api/v1/audit?action=login", admin).json();
    CHECK(!only_logins.empty());
    for (auto& e : only_logins) CHECK(e["action"] == "login");
}

TEST_CASE("rest: bad admin input is 4xx and changes nothing", "[broker][rest]") {
    test::BrokerFixture b;
    auto admin = test::login_as(b, "admin");
    auto count_rows = [&] {
        sqlite3* h = nullptr;
        REQUIRE(sqlite3_open_v2((b.state + "/portico.db").c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
        std::string out;
        for (auto t :
             {"users", "groups", "group_members", "resources", "user_entitlements", "group_entitlements", "hosts"}) {
            sqlite3_stmt* st = nullptr;
            sqlite3_prepare_v2(h, (std::string("SELECT * FROM ") + t).c_str(), -1, &st, nullptr);
            while (sqlite3_step(st) == SQLITE_ROW)
                for (int c = 0; c < sqlite3_column_count(st); ++c) {
                    auto txt = sqlite3_column_text(st, c);
                    out += txt ? reinterpret_cast<const char*>(txt) : "NULL";
                    out += "|";
                }
            sqlite3_finalize(st);
        }
        sqlite3_close(h);
        return out;
    };
    auto before = count_rows();
    check_error(post(b, "/api/v1/users", {{"name", "x"}, {"extra", 1}}, admin), 400, "bad_request");
    check_error(post(b, "/api/v1/users", {{"name", 5}}, admin), 400, "bad_request");
    check_error(post(b, "/api/v1/users", {{"name", "../x"}}, admin), 400, "bad_request");
    check_error(post(b, "/api/v1/users", {{"name", "x"}, {"role", "root"}}, admin), 400, "bad_request");
    check_error(post(b, "/api/v1/users", {{"name", "x"}, {"password", "short"}}, admin), 400, "bad_request");
    check_error(post(b, "/api/v1/apps", {{"id", "a"}, {"name", "A"}, {"command", json::array()}}, admin), 400,
                "bad_request");
    check_error(post(b, "/api/v1/apps", {{"id", "a"}, {"name", "A"}, {"command", {1}}}, admin), 400, "bad_request");
    check_error(post(b, "/api/v1/apps",
                     {{"id", "a"}, {"name", "A"}, {"command", {"x"}}, {"entitlements", {{{"group", "nope"}}}}}, admin),
                404, "not_found");
    check_error(test::request(b, verb::put, "/api/v1/apps/terminal/entitlements",
                              json{{"entitlements", {{{"group", "users"}}, {{"user", "ghost"}}}}}.dump(), admin),
                404, "not_found");
    check_error(test::request(b, verb::put, "/api/v1/apps/terminal/entitlements",
                              json{{"entitlements", {{{"group", "users"}, {"user", "demo"}}}}}.dump(), admin),
                400, "bad_request");
    check_error(test::request(b, verb::patch, "/api/v1/apps/nope", json{{"name", "X"}}.dump(), admin), 404,
                "not_found");
    check_error(test::request(b, verb::patch, "/api/v1/apps/terminal", json{{"name", 3}}.dump(), admin), 400,
                "bad_request");
    check_error(test::request(b, verb::patch, "/api/v1/apps/terminal", "{}", admin), 400, "bad_request");
    check_error(test::request(b, verb::delete_, "/api/v1/users/nobody", "", admin), 404, "not_found");
    check_error(test::request(b, verb::delete_, "/api/v1/users/admin", "", admin), 409, "conflict");
    check_error(post(b, "/api/v1/hosts/nope/drain", json::object(), admin), 404, "not_found");
    check_error(post(b, "/api/v1/hosts/nope/drain", {{"x", 1}}, admin), 400, "bad_request");
    check_error(test::request(b, verb::delete_, "/api/v1/hosts/nope", "", admin), 404, "not_found");
    check_error(get(b, "/api/v1/sessions/nope", admin), 404, "not_found");
    check_error(get(b, "/api/v1/nothing-here", admin), 404, "not_found");
    check_error(test::request(b, verb::put, "/api/v1/users", "{}", admin), 405, "method_not_allowed");
    check_error(get(b, "/api/v1/audit?limit=abc", admin), 400, "bad_request");
    check_error(test::request(b, verb::post, "/api/v1/users", json{{"name", "x"}}.dump(), admin, "text/plain"), 403,
                "csrf");
    CHECK(count_rows() == before);
}

TEST_CASE("hosts: heartbeat loss marks the host down and its sessions lost", "[broker][liveness][timing]") {
    test::BrokerFixture b(20, [](portico::broker::BrokerConfig& c) { c.heartbeat_timeout_seconds = 2; });
    auto admin = test::login_as(b, "admin");
    auto demo = test::login(b);
    std::string sid;
    {
        test::FakeHost h(b, "h1", kDisplay, kPin);
        auto l = post(b, "/api/v1/launch", {{"resource", "terminal"}}, demo);
        REQUIRE(l.status == 200);
        sid = l.json()["session_id"];
        CHECK(get(b, "/api/v1/hosts/h1", admin).json()["state"] == "up");
        // The fake host never sends a heartbeat: down after 2 s (checked every second).
        auto t0 = std::chrono::steady_clock::now();
        REQUIRE(test::eventually([&] { return get(b, "/api/v1/hosts/h1", admin).json()["state"] == "down"; }));
        CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
        CHECK(session_of(b, admin, sid)["state"] == "lost");
        auto metrics = test::request(b, verb::get, "/metrics", "", admin);
        CHECK(metrics.body.find("portico_hosts{state=\"down\"} 1") != std::string::npos);
        CHECK(metrics.body.find("portico_sessions_finished_total{state=\"lost\"} 1") != std::string::npos);
        auto audit = get(b, "/api/v1/audit?action=host.down", admin).json();
        CHECK(audit.size() == 1);
    }
}

TEST_CASE("hosts: a closed control connection loses the host's sessions, heartbeats keep it up", "[broker][liveness]") {
    test::BrokerFixture b(20, [](portico::broker::BrokerConfig& c) { c.heartbeat_timeout_seconds = 2; });
    auto admin = test::login_as(b, "admin");
    auto demo = test::login(b);
    std::string sid;
    {
        test::FakeHost h(b, "h1", kDisplay, kPin);
        auto l = post(b, "/api/v1/launch", {{"resource", "terminal"}}, demo);
        REQUIRE(l.status == 200);
        sid = l.json()["session_id"];
        for (int i = 0; i < 6; ++i) {
            h.send({{"type", "heartbeat"}, {"sessions", 1}, {"cpu", 0.25}, {"mem", 0.5}});
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
        auto hj = get(b, "/api/v1/hosts/h1", admin).json();
        CHECK(hj["state"] == "up");
        CHECK(hj["cpu"] == Approx(0.25));
        CHECK(hj["load"] == Approx(0.5));
        CHECK(session_of(b, admin, sid)["state"] == "active");
    }
    REQUIRE(test::eventually([&] { return session_of(b, admin, sid)["state"] == "lost"; }));
}

TEST_CASE("hosts: drain stops new sessions but allows reconnects, undrain, remove", "[broker][drain]") {
    test::BrokerFixture b;
    auto admin = test::login_as(b, "admin");
    auto demo = test::login(b);
    test::FakeHost h(b, "h1", kDisplay, kPin);
    auto first = post(b, "/api/v1/launch", {{"resource", "terminal"}}, demo);
    REQUIRE(first.status == 200);
    auto drained = post(b, "/api/v1/hosts/h1/drain", json::object(), admin);
    REQUIRE(drained.status == 200);
    CHECK(drained.json()["state"] == "draining");
    // Reconnect to the running session works on a draining host.
    auto again = post(b, "/api/v1/launch", {{"resource", "terminal"}}, demo);
    REQUIRE(again.status == 200);
    CHECK(again.json()["session_id"] == first.json()["session_id"]);
    CHECK(again.json()["reconnected"] == true);
    // A new session does not go there.
    REQUIRE(post(b, "/api/v1/users", {{"name", "erin"}, {"password", "erin-password"}}, admin).status == 201);
    REQUIRE(test::request(b, verb::put, "/api/v1/groups/users/members/erin", "{}", admin).status == 204);
    auto erin = test::login_as(b, "erin", "erin-password");
    check_error(post(b, "/api/v1/launch", {{"resource", "terminal"}}, erin), 503, "no_host");
    REQUIRE(post(b, "/api/v1/hosts/h1/undrain", json::object(), admin).status == 200);
    CHECK(post(b, "/api/v1/launch", {{"resource", "Terminal"}}, erin).status == 200);  // by name works too
    // Remove: the host goes, its sessions are lost.
    REQUIRE(test::request(b, verb::delete_, "/api/v1/hosts/h1", "", admin).status == 204);
    CHECK(session_of(b, admin, first.json()["session_id"])["state"] == "lost");
    check_error(get(b, "/api/v1/hosts/h1", admin), 404, "not_found");
}

TEST_CASE("launch: the client's scale reaches the host for a new session only", "[broker][hidpi]") {
    test::BrokerFixture b;
    auto admin = test::login_as(b, "admin");
    auto demo = test::login(b);
    test::FakeHost h(b, "h1", kDisplay, kPin);
    // Out of range or not a number: 400 naming the field, and nothing is started.
    for (json bad : {json(0.5), json(0), json(4.5), json("2"), json(nullptr), json::array({2})}) {
        INFO(bad.dump());
        auto r = post(b, "/api/v1/launch", {{"resource", "terminal"}, {"scale", bad}}, demo);
        check_error(r, 400, "bad_request");
        CHECK(r.json()["error"]["message"].get<std::string>().find("scale") != std::string::npos);
    }
    CHECK(h.starts == 0);
    auto first =
        post(b, "/api/v1/launch", {{"resource", "terminal"}, {"width", 2800}, {"height", 1600}, {"scale", 2}}, demo);
    REQUIRE(first.status == 200);
    REQUIRE(h.start_requests().size() == 1);
    CHECK(h.start_requests()[0]["scale"] == 2);
    CHECK(h.start_requests()[0]["width"] == 2800);
    // A reconnect from a browser at another DPR joins the running session: nothing is restarted.
    auto again = post(b, "/api/v1/launch", {{"resource", "terminal"}, {"scale", 1.5}}, demo);
    REQUIRE(again.status == 200);
    CHECK(again.json()["reconnected"] == true);
    CHECK(h.start_requests().size() == 1);
    // No scale (an older client, the native client): the host gets none, i.e. 1.
    REQUIRE(post(b, "/api/v1/users", {{"name", "erin"}, {"password", "erin-password"}}, admin).status == 201);
    REQUIRE(test::request(b, verb::put, "/api/v1/groups/users/members/erin", "{}", admin).status == 204);
    auto erin = test::login_as(b, "erin", "erin-password");
    auto plain = post(b, "/api/v1/launch", {{"resource", "terminal"}}, erin);
    REQUIRE(plain.status == 200);
    REQUIRE(h.start_requests().size() == 2);
    CHECK_FALSE(h.start_requests()[1].contains("scale"));
    // After a log off the next launch is a new session: a fractional DPR passes as it is.
    REQUIRE(
        post(b, "/api/v1/sessions/" + plain.json()["session_id"].get<std::string>() + "/logoff", json::object(), erin)
                .status /
            100 ==
        2);
    REQUIRE(post(b, "/api/v1/launch", {{"resource", "terminal"}, {"scale", 1.25}}, erin).status == 200);
    REQUIRE(h.start_requests().size() == 3);
    CHECK(h.start_requests()[2]["scale"] == 1.25);
}

TEST_CASE("sessions: host-reported states, disconnect timeout, helpdesk actions, shadow", "[broker][sessions]") {
    test::BrokerFixture b(20, [](portico::broker::BrokerConfig& c) { c.disconnect_timeout_seconds = 2; });
    auto admin = test::login_as(b, "admin");
    auto demo = test::login(b);
    test::FakeHost h(b, "h1", kDisplay, kPin);
    auto l = post(b, "/api/v1/launch", {{"resource", "terminal"}}, demo);
    REQUIRE(l.status == 200);
    std::string sid = l.json()["session_id"];
    CHECK(session_of(b, demo, sid)["state"] == "active");

    // Shadow: staff only, a view-only ticket for the same session and host.
    REQUIRE(
        post(b, "/api/v1/users", {{"name", "hd"}, {"role", "helpdesk"}, {"password", "helpdesk-pw"}}, admin).status ==
        201);
    auto hd = test::login_as(b, "hd", "helpdesk-pw");
    check_error(post(b, "/api/v1/sessions/" + sid + "/shadow", json::object(), demo), 403, "forbidden");
    auto sh = post(b, "/api/v1/sessions/" + sid + "/shadow", json::object(), hd);
    REQUIRE(sh.status == 200);
    CHECK(sh.json()["view_only"] == true);
    CHECK(sh.json()["session_id"] == sid);
    auto raw = portico::crypto::base64_decode(h.registered.at("ticket_key").get<std::string>());
    portico::protocol::TicketVerifier v(*portico::crypto::Ed25519Key::from_public_raw(*raw), "h1");
    auto claims = v.verify(
        sh.json()["ticket"].get<std::string>(),
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
    REQUIRE(claims);
    CHECK(claims->view_only);
    CHECK(claims->session_id == sid);
    // The owner's own ticket is not view-only.
    auto own = v.verify(
        l.json()["ticket"].get<std::string>(),
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
    REQUIRE(own);
    CHECK_FALSE(own->view_only);

    // Helpdesk sees every session; a user only their own.
    CHECK(get(b, "/api/v1/sessions?scope=all", hd).json().size() == 1);
    CHECK(get(b, "/api/v1/sessions", demo).json().size() == 1);
    CHECK(test::request(b, verb::post, "/api/v1/sessions/" + sid + "/disconnect", "", hd).status == 204);

    // The host says the last viewer left; after the disconnect timeout the broker ends it.
    h.send({{"type", "session_state"}, {"session_id", sid}, {"state", "disconnected"}});
    REQUIRE(test::eventually([&] { return session_of(b, admin, sid)["state"] == "disconnected"; }));
    REQUIRE(test::eventually([&] { return session_of(b, admin, sid)["state"] == "ended"; }));
    auto ends = h.end_requests();
    CHECK(std::find(ends.begin(), ends.end(), sid) != ends.end());
    auto audit = get(b, "/api/v1/audit", admin).json();
    std::set<std::string> actions;
    for (auto& e : audit) actions.insert(e["action"]);
    CHECK(actions.count("session.shadow"));
    CHECK(actions.count("session.disconnect"));
    CHECK(actions.count("session.timeout"));
}

TEST_CASE("enrollment: one-time token, CA-signed certificate, mutual TLS registration", "[broker][enroll]") {
    test::BrokerFixture b;
    auto admin = test::login_as(b, "admin");
    auto tok = post(b, "/api/v1/enrollment-tokens", {{"host_id", "h-mtls"}}, admin);
    REQUIRE(tok.status == 201);
    std::string token = tok.json()["token"];
    CHECK(get(b, "/api/v1/enrollment-tokens", admin).json().size() == 1);
    auto key = b.dir.path / "host.key";
    auto cert = b.dir.path / "host.crt";
    auto csr = csr_for("h-mtls", key);
    // Bound to another host id: refused, and the token is spent.
    check_error(test::request(b, verb::post, "/api/v1/enroll",
                              json{{"token", token}, {"host_id", "other"}, {"csr_pem", csr}}.dump()),
                403, "enrollment_refused");
    token = post(b, "/api/v1/enrollment-tokens", {{"host_id", "h-mtls"}}, admin).json()["token"];
    check_error(test::request(b, verb::post, "/api/v1/enroll",
                              json{{"token", token}, {"host_id", "h-mtls"}, {"csr_pem", "garbage"}}.dump()),
                400, "bad_request");
    token = post(b, "/api/v1/enrollment-tokens", json::object(), admin).json()["token"];
    auto r = test::request(b, verb::post, "/api/v1/enroll",
                           json{{"token", token}, {"host_id", "h-mtls"}, {"csr_pem", csr}}.dump());
    REQUIRE(r.status == 200);
    std::ofstream(cert) << r.json()["cert_pem"].get<std::string>();
    // Single use.
    check_error(test::request(b, verb::post, "/api/v1/enroll",
                              json{{"token", token}, {"host_id", "h-mtls"}, {"csr_pem", csr}}.dump()),
                403, "enrollment_refused");

    {
        test::FakeHost h(b, "h-mtls", kDisplay, kPin, test::FakeHost::Mode::ready, "", cert.string(), key.string());
        REQUIRE(h.registered["type"] == "registered");
        auto hj = get(b, "/api/v1/hosts/h-mtls", admin).json();
        CHECK(hj["auth"] == "mtls");
        CHECK(hj["cert_fingerprint"].get<std::string>().size() == 64);
    }
    {
        // The certificate only vouches for its own host id.
        test::FakeHost h(b, "someone-else", kDisplay, kPin, test::FakeHost::Mode::ready, "", cert.string(),
                         key.string());
        CHECK(h.registered["type"] == "error");
    }
    // Removed hosts must enroll again.
    REQUIRE(test::eventually([&] { return get(b, "/api/v1/hosts/h-mtls", admin).json()["state"] == "down"; }));
    REQUIRE(test::request(b, verb::delete_, "/api/v1/hosts/h-mtls", "", admin).status == 204);
    {
        test::FakeHost h(b, "h-mtls", kDisplay, kPin, test::FakeHost::Mode::ready, "", cert.string(), key.string());
        CHECK(h.registered["type"] == "error");
    }
}

TEST_CASE("metrics: Prometheus text with launches, latency, logins, hosts", "[broker][metrics]") {
    test::BrokerFixture b(20, [](portico::broker::BrokerConfig& c) { c.metrics_token = "scrape-token-0123456789"; });
    auto demo = test::login(b);
    test::request(b, verb::post, "/api/v1/login", json{{"username", "demo"}, {"password", "wrong"}}.dump());
    test::FakeHost h(b, "h1", kDisplay, kPin);
    REQUIRE(post(b, "/api/v1/launch", {{"resource", "terminal"}}, demo).status == 200);
    REQUIRE(post(b, "/api/v1/launch", {{"resource", "terminal"}}, demo).status == 200);
    auto m = test::request(b, verb::get, "/metrics", "", "", "", {{"Authorization", "Bearer scrape-token-0123456789"}});
    REQUIRE(m.status == 200);
    CHECK(m.headers.at("content-type").rfind("text/plain; version=0.0.4", 0) == 0);
    for (auto line : {"portico_launches_total{result=\"ok\"} 1", "portico_launches_total{result=\"reconnect\"} 1",
                      "portico_launch_latency_seconds_count 2", "portico_launch_latency_seconds_bucket{le=\"+Inf\"} 2",
                      "portico_logins_total{result=\"ok\"} 1", "portico_logins_total{result=\"failed\"} 1",
                      "portico_hosts{state=\"up\"} 1", "portico_sessions{state=\"active\"} 1",
                      "# TYPE portico_launch_latency_seconds histogram"}) {
        INFO(line);
        CHECK(m.body.find(line) != std::string::npos);
    }
}

TEST_CASE("sessions: the idle timeout ends sessions the host reports without input", "[broker][sessions]") {
    test::BrokerFixture b(20, [](portico::broker::BrokerConfig& c) { c.idle_timeout_seconds = 60; });
    auto admin = test::login_as(b, "admin");
    auto demo = test::login(b);
    test::FakeHost h(b, "h1", kDisplay, kPin);
    auto l = post(b, "/api/v1/launch", {{"resource", "terminal"}}, demo);
    REQUIRE(l.status == 200);
    std::string sid = l.json()["session_id"];
    h.send({{"type", "heartbeat"}, {"sessions", 1}, {"idle", {{sid, 30}}}});
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK(session_of(b, admin, sid)["state"] == "active");
    h.send({{"type", "heartbeat"}, {"sessions", 1}, {"idle", {{sid, 61}}}});
    REQUIRE(test::eventually([&] { return session_of(b, admin, sid)["state"] == "ended"; }));
    auto ends = h.end_requests();
    CHECK(std::find(ends.begin(), ends.end(), sid) != ends.end());
}

TEST_CASE("pools: desktop pools over REST, validation, roles, audit", "[broker][desktops][rest]") {
    test::BrokerFixture b;
    auto admin = test::login_as(b, "admin");
    auto created = post(b, "/api/v1/pools",
                        {{"id", "lab"},
                         {"name", "Lab"},
                         {"image", "console"},
                         {"mode", "pooled"},
                         {"spares", 1},
                         {"entitlements", {{{"user", "demo"}}}}},
                        admin);
    INFO(created.body);
    REQUIRE(created.status == 201);
    CHECK(created.json()["size"] == 1);
    CHECK(created.json()["memory_mib"] == 512);
    CHECK(created.json()["sessions"] == 0);
    CHECK(created.json()["entitlements"] == json::parse(R"([{"user":"demo"}])"));
    check_error(
        post(b, "/api/v1/pools", {{"id", "lab"}, {"name", "L"}, {"image", "console"}, {"mode", "pooled"}}, admin), 409,
        "conflict");
    check_error(
        post(b, "/api/v1/pools", {{"id", "terminal"}, {"name", "L"}, {"image", "c"}, {"mode", "pooled"}}, admin), 409,
        "conflict");  // an app's id
    // Bad input is refused with the reason and changes nothing.
    check_error(post(b, "/api/v1/pools", {{"id", "x"}, {"name", "X"}, {"image", "c"}, {"mode", "shared"}}, admin), 400,
                "bad_request");
    check_error(post(b, "/api/v1/pools", {{"id", "../x"}, {"name", "X"}, {"image", "c"}, {"mode", "pooled"}}, admin),
                400, "bad_request");
    check_error(post(b, "/api/v1/pools",
                     {{"id", "x"}, {"name", "X"}, {"image", "c"}, {"mode", "pooled"}, {"size", "9"}}, admin),
                400, "bad_request");
    check_error(post(b, "/api/v1/pools",
                     {{"id", "x"}, {"name", "X"}, {"image", "c"}, {"mode", "pooled"}, {"colour", 1}}, admin),
                400, "bad_request");
    check_error(test::request(b, verb::patch, "/api/v1/pools/lab", json{{"spares", -1}}.dump(), admin), 400,
                "bad_request");
    check_error(test::request(b, verb::patch, "/api/v1/pools/nope", json{{"spares", 1}}.dump(), admin), 404,
                "not_found");
    CHECK(get(b, "/api/v1/pools", admin).json().size() == 1);
    CHECK(get(b, "/api/v1/pools/lab", admin).json()["spares"] == 1);

    auto patched = test::request(b, verb::patch, "/api/v1/pools/lab", json{{"spares", 2}, {"size", 5}}.dump(), admin);
    REQUIRE(patched.status == 200);
    CHECK(patched.json()["spares"] == 2);
    CHECK(patched.json()["size"] == 5);
    CHECK(patched.json()["mode"] == "pooled");

    // The user sees the desktop among their resources; launching needs a host with the image.
    auto demo = test::login(b);
    auto res = get(b, "/api/v1/resources", demo).json();
    CHECK(
        std::any_of(res.begin(), res.end(), [](const json& r) { return r["id"] == "lab" && r["type"] == "desktop"; }));
    check_error(post(b, "/api/v1/launch", {{"resource", "lab"}}, demo), 503, "no_host");

    // Helpdesk reads pools, cannot change them.
    REQUIRE(
        post(b, "/api/v1/users", {{"name", "hd"}, {"role", "helpdesk"}, {"password", "helpdesk-pw"}}, admin).status ==
        201);
    auto hd = test::login_as(b, "hd", "helpdesk-pw");
    CHECK(get(b, "/api/v1/pools", hd).status == 200);
    check_error(post(b, "/api/v1/pools", {{"id", "y"}, {"name", "Y"}, {"image", "c"}, {"mode", "pooled"}}, hd), 403,
                "forbidden");
    check_error(test::request(b, verb::delete_, "/api/v1/pools/lab", "", hd), 403, "forbidden");
    check_error(get(b, "/api/v1/pools", demo), 403, "forbidden");

    REQUIRE(test::request(b, verb::delete_, "/api/v1/pools/lab", "", admin).status == 204);
    check_error(get(b, "/api/v1/pools/lab", admin), 404, "not_found");
    std::set<std::string> actions;
    for (auto& e : get(b, "/api/v1/audit?limit=100", admin).json()) actions.insert(e["action"]);
    for (auto a : {"pool.create", "pool.update", "pool.delete"}) CHECK(actions.count(a));
}

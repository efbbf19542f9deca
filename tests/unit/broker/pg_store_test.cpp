// The PostgreSQL store where it differs from SQLite's: several brokers (several connections) on
// one database at once, its schema against SQLite's, copy-store, a lost connection, and a broker
// running on it end to end. Real PostgreSQL (pg_server.hpp); the cases shared by both backends
// are in store_test.cpp.

#include "broker/store.hpp"
#include "pg_server.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <latch>
#include <map>
#include <set>
#include <thread>

using json = nlohmann::json;
using portico::broker::AuditEvent;
using portico::broker::ConsumeResult;
using portico::broker::open_store;
using portico::broker::SessionRecord;
using portico::broker::SessionState;
using portico::broker::Store;

namespace {

SessionRecord starting_session(std::string id, std::string resource) {
    SessionRecord s;
    s.id = std::move(id);
    s.user = "alice";
    s.resource = std::move(resource);
    s.host_id = "h1";
    s.state = SessionState::starting;
    s.width = 800;
    s.height = 600;
    s.created_at = 10;
    return s;
}

// Runs a(...) and b(...) on two threads released at the same moment; whether each returned
// normally (true) or threw (false).
template <class A, class B>
std::pair<bool, bool> race(A a, B b) {
    std::latch go(2);
    bool ok_a = false, ok_b = false;
    auto wrap = [&go](auto& f, bool& ok) {
        go.arrive_and_wait();
        try {
            f();
            ok = true;
        } catch (const std::exception&) {
            ok = false;
        }
    };
    std::thread ta([&] { wrap(a, ok_a); });
    std::thread tb([&] { wrap(b, ok_b); });
    ta.join();
    tb.join();
    return {ok_a, ok_b};
}

// "table.column nullable|not null" for every column of the SQLite file's tables. SQLite reports a
// TEXT PRIMARY KEY as nullable (a quirk kept for compatibility, it is never NULL in practice) where
// PostgreSQL's primary keys are NOT NULL: a primary-key column counts as not null.
std::set<std::string> sqlite_columns(const std::string& path) {
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open_v2(path.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(h,
                               "SELECT m.name, p.name, p.\"notnull\" OR p.pk > 0 FROM sqlite_master m "
                               "JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
                               -1, &st, nullptr) == SQLITE_OK);
    std::set<std::string> out;
    while (sqlite3_step(st) == SQLITE_ROW)
        out.insert(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) + "." +
                   reinterpret_cast<const char*>(sqlite3_column_text(st, 1)) +
                   (sqlite3_column_int(st, 2) ? " not null" : " nullable"));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return out;
}

std::set<std::string> postgres_columns(const std::string& url) {
    std::set<std::string> out;
    for (auto& row : test::pg_query(url,
                                    "SELECT table_name, column_name, is_nullable FROM information_schema.columns "
                                    "WHERE table_schema = current_schema()"))
        out.insert(*row[0] + "." + *row[1] + (*row[2] == "NO" ? " not null" : " nullable"));
    return out;
}

}  // namespace

TEST_CASE("postgres store: the schema has the same tables, columns and nullability as SQLite's",
          "[broker][store][postgres]") {
    test::TempDir dir;
    auto sqlite_path = (dir.path / "p.db").string();
    auto url = test::PgServer::shared().new_database();
    CHECK(open_store(sqlite_path)->schema_version() == 7);
    CHECK(open_store(url)->schema_version() == 7);
    auto lite = sqlite_columns(sqlite_path);
    auto pg = postgres_columns(url);
    CHECK(lite.count("sessions.avg_fps nullable") == 1);  // the comparison sees nullability at all
    CHECK(lite.size() >= 78);                             // every table's columns, not an empty list
    std::vector<std::string> only_sqlite, only_pg;
    std::set_difference(lite.begin(), lite.end(), pg.begin(), pg.end(), std::back_inserter(only_sqlite));
    std::set_difference(pg.begin(), pg.end(), lite.begin(), lite.end(), std::back_inserter(only_pg));
    CHECK(only_sqlite == std::vector<std::string>{});
    CHECK(only_pg == std::vector<std::string>{});
}

TEST_CASE("postgres store: brokers starting at once on an empty database migrate it once",
          "[broker][store][postgres]") {
    auto url = test::PgServer::shared().new_database();
    std::unique_ptr<Store> a, b;
    auto [ok_a, ok_b] = race([&] { a = open_store(url); }, [&] { b = open_store(url); });
    REQUIRE(ok_a);
    REQUIRE(ok_b);
    CHECK(a->schema_version() == 7);
    CHECK(b->schema_version() == 7);
    CHECK(test::pg_query(url, "SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_version")[0] ==
          std::vector<std::optional<std::string>>{"7", "7"});
}

TEST_CASE("postgres store: a launch ticket recorded by two brokers at once is recorded once",
          "[broker][store][postgres]") {
    auto url = test::PgServer::shared().new_database();
    auto a = open_store(url), b = open_store(url);  // two connections, as two brokers have
    for (int round = 0; round < 50; ++round) {
        auto id = "ticket-" + std::to_string(round);
        auto [ok_a, ok_b] = race([&] { a->record_ticket(id, "s1", "alice", false, 100, 200); },
                                 [&] { b->record_ticket(id, "s1", "alice", false, 100, 200); });
        INFO("round " << round);
        CHECK(ok_a + ok_b == 1);
    }
    CHECK(test::pg_query(url, "SELECT COUNT(*) FROM tickets")[0][0] == "50");
}

TEST_CASE("postgres store: an enrollment token consumed by two brokers at once has one winner",
          "[broker][store][postgres]") {
    auto url = test::PgServer::shared().new_database();
    auto a = open_store(url), b = open_store(url);
    for (int round = 0; round < 50; ++round) {
        auto hash = "hash-" + std::to_string(round);
        a->create_enrollment_token({"t" + std::to_string(round), "", "admin", 100, 200}, hash);
        ConsumeResult ra{}, rb{};
        auto [ok_a, ok_b] = race([&] { ra = a->consume_enrollment_token(hash, "host-a", 150); },
                                 [&] { rb = b->consume_enrollment_token(hash, "host-b", 150); });
        INFO("round " << round);
        REQUIRE(ok_a);
        REQUIRE(ok_b);
        std::multiset<ConsumeResult> results{ra, rb};
        CHECK(results == std::multiset<ConsumeResult>{ConsumeResult::ok, ConsumeResult::used});
    }
    CHECK(a->enrollment_tokens(150).empty());
}

TEST_CASE("postgres store: a launch-file token redeemed at two brokers at once has one winner",
          "[broker][store][postgres]") {
    auto url = test::PgServer::shared().new_database();
    auto a = open_store(url), b = open_store(url);
    a->create_user("alice", "h", 0);
    for (int round = 0; round < 50; ++round) {
        auto hash = "launch-" + std::to_string(round);
        a->create_launch_token(hash, {"alice", "calc", "", 100, 200});
        ConsumeResult ra{}, rb{};
        auto [ok_a, ok_b] = race([&] { ra = a->consume_launch_token(hash, 150).result; },
                                 [&] { rb = b->consume_launch_token(hash, 150).result; });
        INFO("round " << round);
        REQUIRE(ok_a);
        REQUIRE(ok_b);
        std::multiset<ConsumeResult> results{ra, rb};
        CHECK(results == std::multiset<ConsumeResult>{ConsumeResult::ok, ConsumeResult::used});
    }
}

TEST_CASE("postgres store: a desktop pool's last desktop goes to one of two brokers", "[broker][store][postgres]") {
    auto url = test::PgServer::shared().new_database();
    auto a = open_store(url), b = open_store(url);
    a->create_user("alice", "h", 0);
    portico::broker::DesktopPool pool;
    pool.id = "desk";
    pool.name = "Desk";
    pool.image = "debian";
    pool.size = 1;
    a->put_desktop_pool(pool);
    for (int round = 0; round < 50; ++round) {
        auto ia = "a" + std::to_string(round), ib = "b" + std::to_string(round);
        auto [ok_a, ok_b] = race([&] { a->create_session(starting_session(ia, "desk")); },
                                 [&] { b->create_session(starting_session(ib, "desk")); });
        INFO("round " << round);
        REQUIRE(ok_a + ok_b == 1);
        CHECK(a->live_session_count("desk") == 1);
        CHECK(a->set_session_state(ok_a ? ia : ib, SessionState::ended, 20));
    }
    // Apps have no capacity of their own here: both sessions are recorded.
    a->put_resource({"term", "Terminal", "app", {"xterm"}, "", ""});
    auto [ok_a, ok_b] = race([&] { a->create_session(starting_session("x1", "term")); },
                             [&] { b->create_session(starting_session("x2", "term")); });
    CHECK(ok_a);
    CHECK(ok_b);
}

TEST_CASE("postgres store: a desktop pool's last desktop goes to one of two threads of one broker",
          "[broker][store][postgres]") {
    // One store, several connections (its pool): the pool's row lock, not a mutex of the store,
    // is what lets one of two racing threads through.
    auto url = test::PgServer::shared().new_database();
    auto a = open_store(url);
    REQUIRE(a->concurrent_calls() > 1);
    a->create_user("alice", "h", 0);
    portico::broker::DesktopPool pool;
    pool.id = "desk";
    pool.name = "Desk";
    pool.image = "debian";
    pool.size = 1;
    a->put_desktop_pool(pool);
    for (int round = 0; round < 50; ++round) {
        auto i1 = "x" + std::to_string(round), i2 = "y" + std::to_string(round);
        auto [ok1, ok2] = race([&] { a->create_session(starting_session(i1, "desk")); },
                               [&] { a->create_session(starting_session(i2, "desk")); });
        INFO("round " << round);
        REQUIRE(ok1 + ok2 == 1);
        CHECK(a->live_session_count("desk") == 1);
        CHECK(a->set_session_state(ok1 ? i1 : i2, SessionState::ended, 20));
    }
}

TEST_CASE("postgres store: a call waiting on a row lock holds up no other thread's call", "[broker][store][postgres]") {
    auto url = test::PgServer::shared().new_database();
    auto a = open_store(url);
    a->create_user("alice", "h", 0);
    portico::broker::DesktopPool pool;
    pool.id = "desk";
    pool.name = "Desk";
    pool.image = "debian";
    pool.size = 2;
    a->put_desktop_pool(pool);
    // Another broker holds the pool's row lock for a second.
    PGconn* other = PQconnectdb(url.c_str());
    REQUIRE(PQstatus(other) == CONNECTION_OK);
    PQclear(PQexec(other, "BEGIN"));
    PGresult* held = PQexec(other, "SELECT size FROM desktop_pools WHERE id = 'desk' FOR UPDATE");
    REQUIRE(PQresultStatus(held) == PGRES_TUPLES_OK);
    PQclear(held);
    std::atomic<bool> created{false};
    std::thread waiting([&] {
        a->create_session(starting_session("w1", "desk"));  // waits for the lock (lock_timeout is 2 s)
        created = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHECK_FALSE(created);
    // Meanwhile the store answers this thread at once, on another connection of its pool.
    const auto t0 = std::chrono::steady_clock::now();
    auto facts = a->launch_facts("alice", "desk");
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(facts.resource);
    CHECK(took < std::chrono::milliseconds(500));
    CHECK_FALSE(created);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    PQclear(PQexec(other, "COMMIT"));
    waiting.join();
    CHECK(created);
    CHECK(a->live_session_count("desk") == 1);
    PQfinish(other);
}

TEST_CASE("postgres store: launches of one user at once, read beside the store thread, stay within the cap",
          "[broker][store][postgres]") {
    auto url = test::PgServer::shared().new_database();
    test::BrokerFixture b(
        20, [](portico::broker::BrokerConfig& c) { c.max_sessions_per_user = 3; }, url);
    auto admin = test::login_as(b, "admin");
    constexpr int kApps = 8;
    for (int i = 0; i < kApps; ++i)
        REQUIRE(test::post(b, "/api/v1/apps",
                           {{"id", "app" + std::to_string(i)},
                            {"name", "App " + std::to_string(i)},
                            {"command", {"true"}},
                            {"entitlements", {{{"group", "users"}}}}},
                           admin)
                    .status == 201);
    auto demo = test::login(b);
    test::FakeHost host(b, "h1", test::kDisplay, test::kPin, test::FakeHost::Mode::ready, "", "", "", 100);
    for (int round = 0; round < 3; ++round) {
        INFO("round " << round);
        std::vector<int> status(kApps, 0);
        std::vector<std::string> code(kApps);
        std::latch go(kApps);
        std::vector<std::thread> launches;
        for (int i = 0; i < kApps; ++i)
            launches.emplace_back([&, i] {
                go.arrive_and_wait();
                auto r = test::post(b, "/api/v1/launch", {{"resource", "app" + std::to_string(i)}}, demo);
                status[i] = r.status;
                if (r.status != 200) code[i] = r.json().value("error", json::object()).value("code", "");
            });
        for (auto& t : launches) t.join();
        const auto ok = std::count(status.begin(), status.end(), 200);
        CHECK(ok == 3);
        CHECK(std::count(status.begin(), status.end(), 403) == kApps - 3);
        for (int i = 0; i < kApps; ++i)
            if (status[i] != 200) CHECK(code[i] == "limit_exceeded");
        CHECK(test::pg_query(url,
                             "SELECT COUNT(*) FROM sessions WHERE \"user\" = 'demo' AND state NOT IN "
                             "('ended', 'lost')")[0][0] == "3");
        // End them for the next round.
        CHECK(test::pg_exec_ok(url, "UPDATE sessions SET state = 'ended', ended_at = 1 WHERE \"user\" = 'demo'"));
    }
}

TEST_CASE("postgres store: a lost connection is reconnected", "[broker][store][postgres]") {
    auto url = test::PgServer::shared().new_database();
    auto s = open_store(url);
    s->create_user("alice", "h", 0);
    // Ends the store's server process and waits until it is gone (so the store's next statement
    // meets a closed connection, not one still being torn down).
    auto kill_store_connections = [&] {
        auto rows = test::pg_query(url,
                                   "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE application_name = 'portico-broker' AND datname = current_database()");
        REQUIRE(rows.size() == 1);
        auto pid = *rows[0][0];
        REQUIRE(test::eventually([&] {
            return test::pg_query(url, "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = " + pid)[0][0] == "0";
        }));
    };
    kill_store_connections();
    // A read is repeated on the new connection.
    CHECK(s->user("alice").has_value());
    kill_store_connections();
    // A lone write may have been committed before the link dropped: reported busy, not repeated;
    // the next call works on the new connection.
    CHECK_THROWS_AS(s->append_audit({0, 1, "admin", "user.create", "bob", "local", ""}), portico::broker::StoreBusy);
    s->append_audit({0, 2, "admin", "user.create", "carol", "local", ""});
    CHECK(s->audit({}).size() == 1);
    // A transaction that never reached its COMMIT is repeated.
    kill_store_connections();
    CHECK(s->create_group("staff", {"alice"}, 3));
    CHECK(s->group("staff")->members == std::vector<std::string>{"alice"});
}

TEST_CASE("postgres store: an unreachable server is StoreBusy, its URL's password not in the message",
          "[broker][store][postgres]") {
    test::TempDir dir;
    auto url = "postgresql://portico:s3cret@/none?host=" + dir.path.string() + "&port=5432&connect_timeout=2";
    try {
        open_store(url);
        FAIL("opened a store on a server that does not exist");
    } catch (const portico::broker::StoreBusy& e) {
        std::string what = e.what();
        CHECK(what.find("s3cret") == std::string::npos);
        CHECK(what.find("portico:***@") != std::string::npos);
    }
}

TEST_CASE("store: a password in a PostgreSQL URL is never shown", "[broker][store]") {
    using portico::broker::redacted_location;
    CHECK(redacted_location("postgresql://app:pw@db.example/portico") == "postgresql://app:***@db.example/portico");
    CHECK(redacted_location("postgres://app:p%40ss@db:5432/portico?sslmode=verify-full") ==
          "postgres://app:***@db:5432/portico?sslmode=verify-full");
    CHECK(redacted_location("postgresql://db/portico?user=app&password=pw&sslmode=require") ==
          "postgresql://db/portico?user=app&password=***&sslmode=require");
    CHECK(redacted_location("postgresql://app@db/portico?passfile=/etc/portico/pgpass") ==
          "postgresql://app@db/portico?passfile=/etc/portico/pgpass");
    CHECK(redacted_location("/var/lib/portico/portico.db") == "/var/lib/portico/portico.db");
    CHECK(portico::broker::is_postgres_location("postgres://x/y"));
    CHECK_FALSE(portico::broker::is_postgres_location("portico.db"));
}

TEST_CASE("copy-store: an SQLite estate arrives in PostgreSQL row for row, and only into an empty database",
          "[broker][store][postgres]") {
    test::TempDir dir;
    auto lite_path = (dir.path / "p.db").string();
    {
        auto lite = open_store(lite_path);
        lite->create_user("alice", "hash-a", 1, portico::broker::Role::admin);
        lite->create_user("bob", "hash-b", 2);
        lite->create_group("staff", {"alice", "bob"}, 3);
        lite->put_resource({"term", "Terminal", "app", {"xterm", "-fa", "Mono"}, "icon.png", "g1"});
        REQUIRE(lite->set_entitlements("term", {{"group", "staff"}, {"user", "bob"}}));
        portico::broker::DesktopPool pool;
        pool.id = "desk";
        pool.name = "Desk";
        pool.image = "debian";
        pool.mode = "dedicated";
        pool.size = 3;
        lite->put_desktop_pool(pool);
        lite->set_dedicated_host("desk", "bob", "h2");
        lite->upsert_host({"h1", "one", "up", false, 5, "fp", "wss://x", "auth", {"*"}, 3});
        REQUIRE(lite->set_host_drain("h1", true));
        lite->create_session(starting_session("s1", "term"));
        REQUIRE(lite->set_session_state("s1", SessionState::ended, 50));
        lite->set_end_reason("s1", "app_exited", "");
        lite->set_session_usage("s1", {123456, 29.97, std::nullopt});
        lite->create_session(starting_session("s2", "term"));
        lite->record_ticket("tk1", "s2", "alice", true, 10, 100);
        lite->create_enrollment_token({"e1", "h9", "admin", 10, 100}, "ehash");
        lite->create_login_session("lhash", "bob", 10, 1000);
        lite->append_audit({0, 7, "admin", "user.create", "bob", "127.0.0.1", "x"});
        lite->append_audit({0, 8, "admin", "group.create", "staff", "127.0.0.1", ""});
    }
    auto url = test::PgServer::shared().new_database();
    auto copied = portico::broker::copy_store(lite_path, url);
    std::map<std::string, std::int64_t> rows;
    for (auto& t : copied) rows[t.table] = t.rows;
    CHECK(copied.size() == 15);
    CHECK(rows == std::map<std::string, std::int64_t>{{"audit", 2},
                                                      {"cluster_settings", 0},
                                                      {"desktop_assignments", 1},
                                                      {"desktop_pools", 1},
                                                      {"enrollment_tokens", 1},
                                                      {"group_entitlements", 1},
                                                      {"group_members", 2},
                                                      {"groups", 1},
                                                      {"hosts", 1},
                                                      {"login_sessions", 1},
                                                      {"resources", 2},
                                                      {"sessions", 2},
                                                      {"tickets", 1},
                                                      {"user_entitlements", 1},
                                                      {"users", 2}});

    auto lite = open_store(lite_path);
    auto pg = open_store(url);
    CHECK(pg->schema_version() == 7);
    REQUIRE(pg->users().size() == 2);
    CHECK(pg->users()[0].name == "alice");
    CHECK(pg->users()[0].role == portico::broker::Role::admin);
    CHECK(pg->users()[1].groups == std::vector<std::string>{"staff"});
    CHECK(pg->password_hash("bob") == std::optional<std::string>("hash-b"));
    CHECK(pg->resource("term")->command == std::vector<std::string>{"xterm", "-fa", "Mono"});
    CHECK(pg->entitlements("term") == lite->entitlements("term"));
    CHECK(pg->desktop_pool("desk")->mode == "dedicated");
    CHECK(pg->dedicated_host("desk", "bob") == std::optional<std::string>("h2"));
    CHECK(pg->host("h1")->drain);
    CHECK(pg->host("h1")->apps == std::vector<std::string>{"*"});
    auto s1 = pg->session("s1");
    REQUIRE(s1);
    CHECK(s1->state == SessionState::ended);
    CHECK(s1->ended_at == 50);
    CHECK(s1->end_reason == "app_exited");
    CHECK(s1->usage.bytes_sent == 123456);
    CHECK(s1->usage.avg_fps == std::optional<double>(29.97));
    CHECK_FALSE(s1->usage.avg_rtt_ms);
    CHECK(pg->session("s2")->state == SessionState::starting);
    CHECK(pg->authenticate("lhash", 500)->name == "bob");
    CHECK(pg->consume_enrollment_token("ehash", "h9", 50) == ConsumeResult::ok);
    auto audit = pg->audit({});
    REQUIRE(audit.size() == 2);
    CHECK(audit[0].id == lite->audit({})[0].id);
    CHECK(audit[0].action == "group.create");
    // New events continue after the copied ones.
    pg->append_audit({0, 9, "admin", "user.delete", "bob", "127.0.0.1", ""});
    CHECK(pg->audit({})[0].id > audit[0].id);

    // A database that holds anything is refused, and left as it was.
    try {
        portico::broker::copy_store(lite_path, url);
        FAIL("copied into a database that is not empty");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()).find("not empty") != std::string::npos);
    }
    CHECK(pg->users().size() == 2);
    CHECK_THROWS(portico::broker::copy_store(lite_path, lite_path));  // the target must be a URL
    CHECK_THROWS(
        portico::broker::copy_store((dir.path / "missing.db").string(), test::PgServer::shared().new_database()));
}

TEST_CASE("postgres store: a broker on PostgreSQL logs in, launches on a host and keeps the history",
          "[broker][history][postgres]") {
    auto url = test::PgServer::shared().new_database();
    test::BrokerFixture b(20, {}, url);
    auto demo = test::login(b);
    auto admin = test::login_as(b, "admin");
    test::FakeHost host(b, "host-1", test::kDisplay, test::kPin);
    auto r = test::post(b, "/api/v1/launch", {{"resource", "terminal"}}, demo);
    REQUIRE(r.status == 200);
    auto sid = r.json().at("session_id").get<std::string>();
    // The broker's state is in PostgreSQL: the session and its launch's audit row are there.
    CHECK(test::eventually(
        [&] { return test::pg_query(url, "SELECT state FROM sessions WHERE id = '" + sid + "'")[0][0] == "active"; }));
    CHECK(test::pg_query(url, "SELECT COUNT(*) FROM audit WHERE action = 'session.launch' AND target = '" + sid +
                                  "'")[0][0] == "1");
    host.send({{"type", "session_ended"}, {"session_id", sid}, {"reason", "app_exited"}});
    REQUIRE(test::eventually([&] {
        auto s = test::request(b, test::http::verb::get, "/api/v1/sessions/" + sid, "", admin);
        return s.status == 200 && s.json()["state"] == "ended";
    }));
    auto history = test::request(b, test::http::verb::get, "/api/v1/sessions/history?scope=all", "", admin);
    REQUIRE(history.status == 200);
    auto h = history.json();
    REQUIRE(h.size() == 1);
    CHECK(h[0]["id"] == sid);
    CHECK(h[0]["user"] == "demo");
    CHECK(h[0]["end_reason"] == "app_exited");
    CHECK(test::pg_query(url, "SELECT state, end_reason FROM sessions WHERE id = '" + sid + "'")[0] ==
          std::vector<std::optional<std::string>>{"ended", "app_exited"});

    // A second broker's init on the same database keeps its users and their passwords.
    test::TempDir other;
    portico::broker::InitOptions o;
    o.state_dir = (other.path / "state").string();
    o.database = url;
    auto second = portico::broker::init_state(o);
    CHECK(second.created);
    CHECK_FALSE(second.database_seeded);
    CHECK(second.demo_password.empty());
    CHECK(test::login(b).rfind("portico_session=", 0) == 0);  // demo's password unchanged
}

TEST_CASE("portico-broker copy-store, and --database given on the command line or in a --config file",
          "[broker][store][postgres]") {
    test::TempDir dir;
    const auto state = (dir.path / "state").string();
    auto [init_rc, init_out] =
        test::run_broker("init --state " + state + " --demo-password pw-demo-1 --admin-password pw-admin-1");
    INFO(init_out);
    REQUIRE(init_rc == 0);
    const auto url = test::PgServer::shared().new_database();
    const auto copy = "copy-store --from " + state + "/portico.db --to '" + url + "'";
    auto [rc, out] = test::run_broker(copy);
    INFO(out);
    REQUIRE(rc == 0);
    CHECK(out.find("users: 2\n") != std::string::npos);  // demo and admin
    CHECK(out.find("group_members: 1\n") != std::string::npos);
    CHECK(out.find("resources: 1\n") != std::string::npos);
    CHECK(out.find("copied ") != std::string::npos);
    auto [again_rc, again_out] = test::run_broker(copy);
    CHECK(again_rc == 1);
    CHECK(again_out.find("not empty") != std::string::npos);
    auto [bad_rc, bad_out] = test::run_broker("copy-store --from " + state + "/portico.db --to " + state + "/other.db");
    CHECK(bad_rc == 2);
    CHECK(bad_out.find("--to must be a postgresql:// URL") != std::string::npos);

    // The copied database serves the other commands: from a config file, and as --database.
    const auto config = (dir.path / "broker.conf").string();
    std::ofstream(config) << "database = \"" << url << "\"\n";
    auto [token_rc, token_out] = test::run_broker("enroll-token --config " + config + " --host-id h7");
    INFO(token_out);
    REQUIRE(token_rc == 0);
    CHECK(test::pg_query(url, "SELECT host_id FROM enrollment_tokens")[0][0] == "h7");
    const auto demo_hash = "SELECT password_hash FROM users WHERE name = 'demo'";
    auto before = test::pg_query(url, demo_hash)[0][0];
    auto [reset_rc, reset_out] = test::run_broker("reset-password --database '" + url + "' --user demo");
    INFO(reset_out);
    REQUIRE(reset_rc == 0);
    CHECK(reset_out.find("password: ") != std::string::npos);
    CHECK(test::pg_query(url, demo_hash)[0][0] != before);
}

// Store: each case against both backends (a Catch generator over them), a real SQLite file in a
// temporary directory and a database on a real PostgreSQL server (pg_server.hpp), so the two
// cannot drift apart. Cases about one backend's own file format say so in their name.

#include "broker/store.hpp"
#include "common/crypto.hpp"
#include "pg_server.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>
#include <sqlite3.h>

using portico::broker::open_store;
using portico::broker::Resource;
using portico::broker::Role;
using portico::broker::SessionRecord;
using portico::broker::SessionState;

namespace {
int count_rows(const std::string& db, const std::string& sql) {
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

// A fresh, empty store location of one backend ("sqlite" or "postgres") and raw access to it.
struct Backend {
    explicit Backend(std::string backend) : name(std::move(backend)) {
        location = name == "sqlite" ? (dir.path / "p.db").string() : test::PgServer::shared().new_database();
    }
    std::unique_ptr<portico::broker::Store> open() const { return open_store(location); }
    // The number in the first column of the first row of `sql`, read beside the store.
    int count(const std::string& sql) const {
        if (name == "sqlite") return count_rows(location, sql);
        auto rows = test::pg_query(location, sql);
        REQUIRE_FALSE(rows.empty());
        return std::stoi(rows[0][0].value_or("0"));
    }
    // Whether the database accepts `sql` from a connection of its own.
    bool exec_ok(const std::string& sql) const {
        if (name != "sqlite") return test::pg_exec_ok(location, sql);
        sqlite3* h = nullptr;
        REQUIRE(sqlite3_open(location.c_str(), &h) == SQLITE_OK);
        bool ok = sqlite3_exec(h, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK;
        sqlite3_close(h);
        return ok;
    }
    std::string name;
    test::TempDir dir;
    std::string location;
};

#define STORE_BACKEND() GENERATE(as<std::string>{}, "sqlite", "postgres")

}  // namespace

TEST_CASE("store: migrations apply exactly once", "[broker][store][postgres]") {
    Backend b(STORE_BACKEND());
    INFO(b.name);
    {
        auto s = b.open();
        CHECK(s->schema_version() == 7);
        s->create_user("alice", portico::crypto::hash_password("pw"), 100);
    }
    {
        auto s = b.open();  // reopening must not re-run the migrations (they would fail: tables exist)
        CHECK(s->schema_version() == 7);
        CHECK(s->password_hash("alice").has_value());
    }
    CHECK(b.count("SELECT COUNT(*) FROM schema_version") == 7);
    if (b.name == "sqlite") CHECK(b.count("SELECT COUNT(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'") == 1);
}

TEST_CASE("store: users and password verification", "[broker][store][postgres]") {
    Backend b(STORE_BACKEND());
    INFO(b.name);
    auto sp = b.open();
    auto& s = *sp;
    s.create_user("alice", portico::crypto::hash_password("s3cret"), 100);
    CHECK_THROWS(s.create_user("alice", "x", 100));  // primary key
    auto h = s.password_hash("alice");
    REQUIRE(h);
    CHECK(h->rfind("$argon2id$", 0) == 0);
    CHECK(portico::crypto::verify_password("s3cret", *h));
    CHECK_FALSE(portico::crypto::verify_password("S3cret", *h));
    CHECK_FALSE(s.password_hash("bob").has_value());
}

TEST_CASE("store: login sessions expire", "[broker][store][postgres]") {
    Backend b(STORE_BACKEND());
    INFO(b.name);
    auto sp = b.open();
    auto& s = *sp;
    s.create_user("alice", "h", 0);
    s.create_login_session("hash1", "alice", 1000, 2000);
    CHECK(s.login_session_user("hash1", 1999) == std::optional<std::string>("alice"));
    CHECK_FALSE(s.login_session_user("hash1", 2000).has_value());
    CHECK_FALSE(s.login_session_user("other", 1500).has_value());
    CHECK(s.purge_expired_login_sessions(2500) == 1);
    s.create_login_session("hash2", "alice", 1000, 5000);
    s.delete_login_session("hash2");
    CHECK_FALSE(s.login_session_user("hash2", 1500).has_value());
    // Foreign keys are enforced: no login session for a user that does not exist.
    CHECK_THROWS(s.create_login_session("hash3", "nobody", 1000, 5000));
}

TEST_CASE("store: resources and session state transitions", "[broker][store][postgres]") {
    Backend b(STORE_BACKEND());
    INFO(b.name);
    auto sp = b.open();
    auto& s = *sp;
    s.create_user("alice", "h", 0);
    s.put_resource(Resource{"terminal", "Terminal", "app", {"xterm", "-fa", "Mono"}, "", ""});
    auto r = s.resource("terminal");
    REQUIRE(r);
    CHECK(r->command == std::vector<std::string>{"xterm", "-fa", "Mono"});
    CHECK(s.resources().size() == 1);
    CHECK_FALSE(s.resource("nope"));

    s.create_session(SessionRecord{"s1", "alice", "terminal", "h1", SessionState::starting, 1280, 800, 10, 0, 0});
    CHECK(s.reconnectable_sessions_for("alice", "terminal").empty());  // starting is not reconnectable
    CHECK(s.set_session_state("s1", SessionState::active, 11));
    CHECK(s.reconnectable_sessions_for("alice", "terminal").size() == 1);
    CHECK(s.set_session_state("s1", SessionState::disconnected, 11));
    CHECK(s.reconnectable_sessions_for("alice", "terminal").size() == 1);  // disconnected is reconnectable too
    CHECK(s.set_session_state("s1", SessionState::ending, 11));            // logged off; the host has not confirmed
    CHECK(s.reconnectable_sessions_for("alice", "terminal").empty());      // a launch now starts anew
    CHECK_FALSE(s.set_session_state("s1", SessionState::active, 11));      // a late activity report does not revive it
    CHECK(s.live_sessions_of("alice").size() == 1);                        // still counts against the user's limit
    CHECK(s.set_session_state("s1", SessionState::ended, 12));
    CHECK_FALSE(s.set_session_state("s1", SessionState::active, 13));  // ended is final
    auto rec = s.session("s1");
    REQUIRE(rec);
    CHECK(rec->state == SessionState::ended);
    CHECK(rec->ended_at == 12);
    CHECK(s.live_sessions_of("alice").empty());
    CHECK_FALSE(s.set_session_state("missing", SessionState::ended, 1));
    // Sessions must belong to known users (resources may be unpublished later; history stays).
    CHECK_THROWS(
        s.create_session(SessionRecord{"s2", "nobody", "terminal", "h1", SessionState::starting, 1, 1, 10, 0, 0}));
}

TEST_CASE("store: migrating from version 1 keeps users, resources and sessions", "[broker][store]") {
    test::TempDir dir;
    auto db = (dir.path / "p.db").string();
    {
        sqlite3* h = nullptr;
        REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
        const char* v1 = R"sql(
            CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);
            CREATE TABLE users (name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, created_at INTEGER NOT NULL);
            CREATE TABLE login_sessions (token_hash TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
                created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
            CREATE TABLE resources (id TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL CHECK (type IN ('app', 'desktop')),
                command TEXT NOT NULL);
            CREATE TABLE sessions (id TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
                resource TEXT NOT NULL REFERENCES resources(id), host_id TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('starting', 'active', 'ended')), width INTEGER NOT NULL,
                height INTEGER NOT NULL, created_at INTEGER NOT NULL, ended_at INTEGER);
            INSERT INTO users VALUES ('alice', 'h', 1);
            INSERT INTO resources VALUES ('terminal', 'Terminal', 'app', '["xterm"]');
            INSERT INTO sessions VALUES ('s1', 'alice', 'terminal', 'h1', 'active', 800, 600, 5, NULL);
        )sql";
        REQUIRE(sqlite3_exec(h, v1, nullptr, nullptr, nullptr) == SQLITE_OK);
        sqlite3_close(h);
    }
    auto s = open_store(db);
    CHECK(s->schema_version() == 7);
    REQUIRE(s->user("alice"));
    CHECK(s->user("alice")->role == Role::user);
    auto rec = s->session("s1");
    REQUIRE(rec);
    CHECK(rec->state == SessionState::active);
    CHECK(rec->updated_at == 5);
    CHECK(s->resource("terminal")->command == std::vector<std::string>{"xterm"});
}

TEST_CASE("store: a launch-file token is used once, expires, and goes with its user", "[broker][store][postgres]") {
    using portico::broker::ConsumeResult;
    using portico::broker::LaunchToken;
    Backend b(STORE_BACKEND());
    INFO(b.name);
    auto sp = b.open();
    auto& s = *sp;
    s.create_user("alice", "h", 0);
    s.create_user("bob", "h", 0);
    s.create_launch_token("h-new", LaunchToken{"alice", "calc", "", 100, 160});
    s.create_launch_token("h-reconnect", LaunchToken{"alice", "calc", "s7", 100, 160});
    s.create_launch_token("h-late", LaunchToken{"alice", "calc", "", 100, 160});
    s.create_launch_token("h-bob", LaunchToken{"bob", "calc", "", 100, 160});

    auto first = s.consume_launch_token("h-new", 150);
    CHECK(first.result == ConsumeResult::ok);
    REQUIRE(first.token);
    CHECK(first.token->user == "alice");
    CHECK(first.token->resource == "calc");
    CHECK(first.token->session_id.empty());
    CHECK(first.token->expires_at == 160);
    auto again = s.consume_launch_token("h-new", 151);
    CHECK(again.result == ConsumeResult::used);
    CHECK_FALSE(again.token);
    CHECK(s.consume_launch_token("h-reconnect", 150).token->session_id == "s7");

    CHECK(s.consume_launch_token("h-late", 160).result ==
          ConsumeResult::expired);  // expires_at is the first second refused
    CHECK(s.consume_launch_token("h-late", 100).result == ConsumeResult::used);  // the late try used it up
    CHECK(s.consume_launch_token("h-forged", 150).result == ConsumeResult::unknown);

    CHECK(s.delete_user("bob"));  // a deleted user's tokens go with them
    CHECK(s.consume_launch_token("h-bob", 150).result == ConsumeResult::unknown);

    s.create_launch_token("h-fresh", LaunchToken{"alice", "calc", "", 200, 260});
    CHECK(s.purge_launch_tokens(161) == 3);  // the three of expires_at 160, used or not
    CHECK(b.count("SELECT COUNT(*) FROM launch_tokens") == 1);
    CHECK(s.consume_launch_token("h-fresh", 210).result == ConsumeResult::ok);
}

TEST_CASE("store: groups, entitlements, hosts, lost sessions, tokens, audit", "[broker][store][postgres]") {
    Backend b(STORE_BACKEND());
    INFO(b.name);
    auto sp = b.open();
    auto& s = *sp;
    s.create_user("alice", "h", 0);
    s.create_user("bob", "h", 0, Role::helpdesk);
    s.put_resource(Resource{"calc", "Calc", "app", {"xcalc"}, "", ""});
    CHECK_FALSE(s.is_entitled("alice", "calc"));
    CHECK(s.create_group("staff", {"alice"}, 1));
    CHECK_FALSE(s.create_group("staff", {}, 1));
    CHECK(s.set_entitlements("calc", {{"group", "staff"}}));
    CHECK(s.is_entitled("alice", "calc"));
    CHECK_FALSE(s.is_entitled("bob", "calc"));
    CHECK(s.entitled_resources("alice").size() == 1);
    // All or nothing: an unknown principal leaves the old entitlements in place.
    CHECK_FALSE(s.set_entitlements("calc", {{"user", "bob"}, {"group", "ghosts"}}));
    CHECK(s.is_entitled("alice", "calc"));
    CHECK_FALSE(s.is_entitled("bob", "calc"));
    CHECK(s.remove_member("staff", "alice"));
    CHECK_FALSE(s.is_entitled("alice", "calc"));
    CHECK(s.add_member("staff", "alice"));
    CHECK_FALSE(s.add_member("staff", "nobody"));
    CHECK(s.delete_group("staff"));
    CHECK(s.entitlements("calc").empty());  // cascaded

    s.create_session(SessionRecord{"s1", "alice", "calc", "h1", SessionState::active, 1, 1, 10, 0, 0});
    s.create_session(SessionRecord{"s2", "alice", "calc", "h2", SessionState::active, 1, 1, 10, 0, 0});
    auto lost = s.lose_sessions_of_host("h1", 20);
    CHECK(lost == std::vector<std::string>{"s1"});
    CHECK(s.session("s1")->state == SessionState::lost);
    CHECK_FALSE(s.set_session_state("s1", SessionState::active, 21));  // lost is final
    CHECK(s.session("s2")->state == SessionState::active);
    CHECK(s.set_session_state("s2", SessionState::disconnected, 30));
    CHECK(s.sessions_in_state_since(SessionState::disconnected, 29).empty());
    CHECK(s.sessions_in_state_since(SessionState::disconnected, 30).size() == 1);

    s.upsert_host(portico::broker::HostRecord{"h1", "one", "up", false, 5, "", "wss://x", "secret", {"*"}, 3});
    CHECK(s.set_host_drain("h1", true));
    s.upsert_host(portico::broker::HostRecord{"h1", "one", "up", false, 6, "", "wss://x", "secret", {"*"}, 3});
    CHECK(s.host("h1")->drain);  // a re-registration keeps the admin's drain flag
    CHECK_FALSE(s.set_host_drain("nope", true));

    portico::broker::EnrollmentToken t{"t1", "h9", "admin", 100, 200};
    s.create_enrollment_token(t, "hash1");
    CHECK(s.enrollment_tokens(150).size() == 1);
    CHECK(s.consume_enrollment_token("hash1", "other", 150) == portico::broker::ConsumeResult::wrong_host);
    CHECK(s.consume_enrollment_token("hash1", "h9", 150) == portico::broker::ConsumeResult::used);  // one attempt
    s.create_enrollment_token({"t2", "", "admin", 100, 200}, "hash2");
    CHECK(s.consume_enrollment_token("hash2", "any", 250) == portico::broker::ConsumeResult::expired);
    s.create_enrollment_token({"t3", "", "admin", 100, 200}, "hash3");
    CHECK(s.consume_enrollment_token("hash3", "any", 150) == portico::broker::ConsumeResult::ok);
    CHECK(s.consume_enrollment_token("hashX", "any", 150) == portico::broker::ConsumeResult::unknown);

    s.append_audit({0, 1, "admin", "user.create", "alice", "127.0.0.1", ""});
    s.append_audit({0, 2, "bob", "session.shadow", "s2", "127.0.0.1", ""});
    auto all = s.audit({});
    REQUIRE(all.size() == 2);
    CHECK(all[0].action == "session.shadow");  // newest first
    CHECK(s.audit({10, 0, "admin", ""}).size() == 1);
    CHECK(s.audit({10, all[0].id, "", ""}).size() == 1);
    // Append-only, enforced by the database itself.
    CHECK_FALSE(b.exec_ok("DELETE FROM audit"));
    CHECK_FALSE(b.exec_ok("UPDATE audit SET actor = 'x'"));
    CHECK(b.count("SELECT COUNT(*) FROM audit") == 2);
}

TEST_CASE("store: a desktop pool's session beyond its size is PoolFull, an app's is not limited",
          "[broker][store][postgres]") {
    Backend b(STORE_BACKEND());
    INFO(b.name);
    auto s = b.open();
    s->create_user("alice", "h", 0);
    portico::broker::DesktopPool pool;
    pool.id = "desk";
    pool.name = "Desk";
    pool.image = "debian";
    pool.mode = "pooled";
    pool.size = 1;
    s->put_desktop_pool(pool);
    s->put_resource({"term", "Terminal", "app", {"xterm"}, "", ""});
    auto session = [](std::string id, std::string resource) {
        return SessionRecord{
            std::move(id), "alice", std::move(resource), "h1", SessionState::starting, 800, 600, 1, 0, 1};
    };
    s->create_session(session("d1", "desk"));
    try {
        s->create_session(session("d2", "desk"));
        FAIL("a second session of a pool of one was recorded");
    } catch (const portico::broker::PoolFull& e) {
        CHECK(e.size == 1);
        CHECK(std::string(e.what()).find("desk") != std::string::npos);
    }
    CHECK_FALSE(s->session("d2"));  // nothing of it was written
    CHECK(s->set_session_state("d1", SessionState::ended, 2));
    s->create_session(session("d2", "desk"));  // an ended session frees its desktop
    for (int i = 0; i < 3; ++i) s->create_session(session("t" + std::to_string(i), "term"));
    CHECK(s->live_session_count("term") == 3);
}

TEST_CASE("store: a launch's facts in one call, its answer in one call, heartbeats for many hosts in one call",
          "[broker][store][postgres]") {
    Backend b(STORE_BACKEND());
    INFO(b.name);
    auto sp = b.open();
    auto& s = *sp;
    s.create_user("alice", "h", 0);
    s.create_user("bob", "h", 0);
    s.put_resource(Resource{"terminal", "Terminal", "app", {"xterm"}, "", ""});
    s.put_resource(Resource{"calc", "Calculator", "app", {"xcalc"}, "", ""});
    REQUIRE(s.set_entitlements("terminal", {{"user", "alice"}}));

    // launch_facts reads what resource(), is_entitled(), reconnectable_sessions_for() and
    // live_sessions_of() read one by one.
    CHECK_FALSE(s.launch_facts("alice", "nope").resource);
    auto none = s.launch_facts("bob", "terminal");
    REQUIRE(none.resource);
    CHECK(none.resource->name == "Terminal");
    CHECK_FALSE(none.entitled);
    s.create_session(SessionRecord{"s1", "alice", "terminal", "h1", SessionState::starting, 800, 600, 10, 0, 0});
    s.create_session(SessionRecord{"s2", "alice", "calc", "h1", SessionState::starting, 800, 600, 11, 0, 0});
    auto f = s.launch_facts("alice", "terminal");
    CHECK(f.entitled);
    CHECK(f.reconnectable.empty());  // starting is not reconnectable
    CHECK(f.live_sessions == 2);

    // launch_answered: the session active, the ticket recorded, the launch audited, at once.
    auto before = b.count("SELECT COUNT(*) FROM audit");
    portico::broker::IssuedTicket t{"tk1", "s1", "alice", false, 12, 72};
    CHECK(s.launch_answered(t, 12, portico::broker::AuditEvent{0, 12, "alice", "session.launch", "s1", "", "x"}));
    CHECK(s.session("s1")->state == SessionState::active);
    CHECK(b.count("SELECT COUNT(*) FROM tickets WHERE id = 'tk1' AND session_id = 's1'") == 1);
    CHECK(b.count("SELECT COUNT(*) FROM audit") == before + 1);
    f = s.launch_facts("alice", "terminal");
    REQUIRE(f.reconnectable.size() == 1);
    CHECK(f.reconnectable[0].id == "s1");
    // A ticket id is single use: a second answer with it changes nothing, not even the state.
    CHECK_THROWS(s.launch_answered({"tk1", "s2", "alice", false, 13, 73}, 13,
                                   portico::broker::AuditEvent{0, 13, "alice", "session.launch", "s2", "", "x"}));
    CHECK(s.session("s2")->state == SessionState::starting);
    CHECK(b.count("SELECT COUNT(*) FROM audit") == before + 1);
    // The event is written even when the state does not change (the session ended meanwhile).
    CHECK(s.set_session_state("s2", SessionState::ended, 14));
    CHECK_FALSE(s.launch_answered({"tk2", "s2", "alice", false, 15, 75}, 15,
                                  portico::broker::AuditEvent{0, 15, "alice", "session.launch", "s2", "", "x"}));
    CHECK(s.session("s2")->state == SessionState::ended);
    CHECK(b.count("SELECT COUNT(*) FROM audit") == before + 2);
    // Only a starting session becomes active: an answer written after a later report (the
    // client already disconnected) does not undo it.
    CHECK(s.set_session_state("s1", SessionState::disconnected, 16));
    CHECK_FALSE(s.launch_answered({"tk3", "s1", "alice", false, 17, 77}, 17,
                                  portico::broker::AuditEvent{0, 17, "alice", "session.launch", "s1", "", "x"}));
    CHECK(s.session("s1")->state == SessionState::disconnected);

    // Heartbeats: written only for the hosts this broker holds, one answer per beat.
    auto host = [](std::string id, std::string broker) {
        portico::broker::HostRecord h{id, id, "up", false, 5, "", "wss://x", "secret", {"*"}, 3};
        h.broker_id = std::move(broker);
        return h;
    };
    s.upsert_host(host("h1", "b1"));
    s.upsert_host(host("h2", "b2"));
    auto written = s.host_heartbeats({{"h1", R"({"load":1})"}, {"h2", "{}"}, {"gone", "{}"}}, "b1", 40);
    CHECK(written == std::vector<bool>{true, false, false});
    CHECK(s.host("h1")->last_seen == 40);
    CHECK(s.host("h1")->live == R"({"load":1})");
    CHECK(s.host("h2")->last_seen == 5);
    CHECK(s.host_heartbeats({}, "b1", 41).empty());
}

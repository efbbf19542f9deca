// Store: real SQLite files in a temporary directory.

#include "broker/store.hpp"
#include "common/crypto.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>
#include <sqlite3.h>

using portico::broker::Resource;
using portico::broker::SessionRecord;
using portico::broker::Store;

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
}  // namespace

TEST_CASE("store: migrations apply exactly once", "[broker][store]") {
    test::TempDir dir;
    auto db = (dir.path / "p.db").string();
    {
        Store s(db);
        CHECK(s.schema_version() == 2);
        s.create_user("alice", portico::crypto::hash_password("pw"), 100);
    }
    {
        Store s(db);  // reopening must not re-run the migrations (they would fail: tables exist)
        CHECK(s.schema_version() == 2);
        CHECK(s.password_hash("alice").has_value());
    }
    CHECK(count_rows(db, "SELECT COUNT(*) FROM schema_version") == 2);
    CHECK(count_rows(db, "SELECT COUNT(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'") == 1);
}

TEST_CASE("store: users and password verification", "[broker][store]") {
    test::TempDir dir;
    Store s((dir.path / "p.db").string());
    s.create_user("alice", portico::crypto::hash_password("s3cret"), 100);
    CHECK_THROWS(s.create_user("alice", "x", 100));  // primary key
    auto h = s.password_hash("alice");
    REQUIRE(h);
    CHECK(h->rfind("$argon2id$", 0) == 0);
    CHECK(portico::crypto::verify_password("s3cret", *h));
    CHECK_FALSE(portico::crypto::verify_password("S3cret", *h));
    CHECK_FALSE(s.password_hash("bob").has_value());
}

TEST_CASE("store: login sessions expire", "[broker][store]") {
    test::TempDir dir;
    Store s((dir.path / "p.db").string());
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

TEST_CASE("store: resources and session state transitions", "[broker][store]") {
    test::TempDir dir;
    Store s((dir.path / "p.db").string());
    s.create_user("alice", "h", 0);
    s.put_resource(Resource{"terminal", "Terminal", "app", {"xterm", "-fa", "Mono"}});
    auto r = s.resource("terminal");
    REQUIRE(r);
    CHECK(r->command == std::vector<std::string>{"xterm", "-fa", "Mono"});
    CHECK(s.resources().size() == 1);
    CHECK_FALSE(s.resource("nope"));

    s.create_session(SessionRecord{"s1", "alice", "terminal", "h1", "starting", 1280, 800, 10, 0});
    CHECK(s.active_sessions_for("alice", "terminal").empty());  // starting is not reconnectable
    CHECK(s.set_session_state("s1", "active", 11));
    CHECK(s.active_sessions_for("alice", "terminal").size() == 1);
    CHECK(s.live_sessions_of("alice").size() == 1);
    CHECK(s.set_session_state("s1", "ended", 12));
    CHECK_FALSE(s.set_session_state("s1", "active", 13));  // ended is final
    auto rec = s.session("s1");
    REQUIRE(rec);
    CHECK(rec->state == "ended");
    CHECK(rec->ended_at == 12);
    CHECK(s.live_sessions_of("alice").empty());
    CHECK_FALSE(s.set_session_state("missing", "ended", 1));
    // Sessions must belong to known users and resources.
    CHECK_THROWS(s.create_session(SessionRecord{"s2", "alice", "unknown", "h1", "starting", 1, 1, 10, 0}));
}

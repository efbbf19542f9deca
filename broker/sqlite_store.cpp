#include "broker/store.hpp"
#include "broker/store_rows.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <mutex>
#include <stdexcept>

namespace portico::broker {

namespace {

// Each entry moves the schema from version i to i+1; append, never edit a released one.
const char* const kMigrations[] = {
    R"sql(
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE login_sessions (
        token_hash TEXT PRIMARY KEY,
        user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE resources (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        type TEXT NOT NULL CHECK (type IN ('app', 'desktop')),
        command TEXT NOT NULL
    );
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        resource TEXT NOT NULL REFERENCES resources(id),
        host_id TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('starting', 'active', 'ended')),
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        ended_at INTEGER
    );
    CREATE INDEX sessions_by_user ON sessions(user, state);
    )sql",
    // 2: roles, groups, entitlements, hosts, richer session states, tickets, enrollment, audit.
    // Sessions are rebuilt: SQLite cannot change a CHECK, and an unpublished app must not take
    // the history of its sessions with it (so no foreign key to resources any more).
    R"sql(
    ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'helpdesk', 'user'));
    ALTER TABLE resources ADD COLUMN icon TEXT NOT NULL DEFAULT '';
    ALTER TABLE resources ADD COLUMN host_group TEXT NOT NULL DEFAULT '';
    CREATE TABLE groups (
        name TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE group_members (
        grp TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
        user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        PRIMARY KEY (grp, user)
    );
    CREATE INDEX group_members_by_user ON group_members(user);
    CREATE TABLE user_entitlements (
        resource TEXT NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
        user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        PRIMARY KEY (resource, user)
    );
    CREATE TABLE group_entitlements (
        resource TEXT NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
        grp TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
        PRIMARY KEY (resource, grp)
    );
    CREATE TABLE hosts (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('up', 'down')),
        drain INTEGER NOT NULL DEFAULT 0,
        last_seen INTEGER NOT NULL,
        cert_fingerprint TEXT NOT NULL DEFAULT '',
        display_url TEXT NOT NULL DEFAULT '',
        auth TEXT NOT NULL DEFAULT '',
        apps TEXT NOT NULL DEFAULT '[]',
        max_sessions INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE sessions2 (
        id TEXT PRIMARY KEY,
        user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        resource TEXT NOT NULL,
        host_id TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('starting', 'active', 'disconnected', 'ended', 'lost')),
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        ended_at INTEGER
    );
    INSERT INTO sessions2 SELECT id, user, resource, host_id, state, width, height, created_at,
                                 COALESCE(ended_at, created_at), ended_at FROM sessions;
    DROP TABLE sessions;
    ALTER TABLE sessions2 RENAME TO sessions;
    CREATE INDEX sessions_by_user ON sessions(user, resource, state);
    CREATE INDEX sessions_by_host ON sessions(host_id, state);
    CREATE INDEX sessions_by_state ON sessions(state, updated_at);
    CREATE TABLE tickets (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        user TEXT NOT NULL,
        view_only INTEGER NOT NULL,
        issued_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE enrollment_tokens (
        id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        host_id TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at INTEGER
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        source TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    -- Append-only: the database itself refuses to change or delete audit events.
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
    )sql",
    // 3: desktop pools (VM desktops). A desktop resource is a pool; dedicated desktops remember the
    // host that holds each user's disk.
    R"sql(
    CREATE TABLE desktop_pools (
        id TEXT PRIMARY KEY REFERENCES resources(id) ON DELETE CASCADE,
        image TEXT NOT NULL,
        mode TEXT NOT NULL CHECK (mode IN ('pooled', 'dedicated')),
        size INTEGER NOT NULL CHECK (size >= 1),
        spares INTEGER NOT NULL CHECK (spares >= 0),
        memory_mib INTEGER NOT NULL,
        cpus INTEGER NOT NULL
    );
    CREATE TABLE desktop_assignments (
        pool TEXT NOT NULL REFERENCES desktop_pools(id) ON DELETE CASCADE,
        user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        host_id TEXT NOT NULL,
        PRIMARY KEY (pool, user)
    );
    CREATE INDEX sessions_by_resource ON sessions(resource, state);
    )sql",
    // 4: the "ending" state (a log off was sent, the host has not confirmed). SQLite cannot change
    // a CHECK, so the table is rebuilt with its indexes.
    R"sql(
    CREATE TABLE sessions2 (
        id TEXT PRIMARY KEY,
        user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        resource TEXT NOT NULL,
        host_id TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('starting', 'active', 'disconnected', 'ending', 'ended', 'lost')),
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        ended_at INTEGER
    );
    INSERT INTO sessions2 SELECT id, user, resource, host_id, state, width, height, created_at, updated_at,
                                 ended_at FROM sessions;
    DROP TABLE sessions;
    ALTER TABLE sessions2 RENAME TO sessions;
    CREATE INDEX sessions_by_user ON sessions(user, resource, state);
    CREATE INDEX sessions_by_host ON sessions(host_id, state);
    CREATE INDEX sessions_by_state ON sessions(state, updated_at);
    CREATE INDEX sessions_by_resource ON sessions(resource, state);
    )sql",
    // 5: session history: why a session ended, who ended it, and what its stream used.
    R"sql(
    ALTER TABLE sessions ADD COLUMN end_reason TEXT NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN ended_by TEXT NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN bytes_sent INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN avg_fps REAL;
    ALTER TABLE sessions ADD COLUMN avg_rtt_ms REAL;
    CREATE INDEX sessions_by_end ON sessions(ended_at, id);
    )sql",
    // 6: several brokers on one database (PostgreSQL; the same schema here): which broker holds
    // each host and the host as it last saw it, messages too large for a notification, the
    // settings every broker must share, and failed logins counted across brokers.
    R"sql(
    ALTER TABLE hosts ADD COLUMN broker_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE hosts ADD COLUMN live TEXT NOT NULL DEFAULT '{}';
    CREATE TABLE bus_messages (
        id INTEGER PRIMARY KEY,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE cluster_settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE login_failures (
        key TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        last_at INTEGER NOT NULL
    );
    )sql",
    // 7: launch files' single-use tokens (the portal's "Open in the Portico app").
    R"sql(
    CREATE TABLE launch_tokens (
        token_hash TEXT PRIMARY KEY,
        "user" TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        resource TEXT NOT NULL,
        session_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at INTEGER
    );
    CREATE INDEX launch_tokens_by_expiry ON launch_tokens(expires_at);
    )sql",
};

// RAII prepared statement with positional binding.
class Stmt {
public:
    Stmt(sqlite3* db, const char* sql) : db_(db) {
        int rc = sqlite3_prepare_v2(db, sql, -1, &st_, nullptr);
        if (rc != SQLITE_OK) fail(db, "sqlite prepare: ", rc);
    }
    ~Stmt() { sqlite3_finalize(st_); }
    Stmt& bind(int i, const std::string& v) {
        sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    Stmt& bind(int i, std::int64_t v) {
        sqlite3_bind_int64(st_, i, v);
        return *this;
    }
    Stmt& bind(int i, const std::optional<double>& v) {
        if (v)
            sqlite3_bind_double(st_, i, *v);
        else
            sqlite3_bind_null(st_, i);
        return *this;
    }
    bool step() {  // true while a row is available
        int rc = sqlite3_step(st_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        fail(db_, "sqlite step: ", rc);
    }
    // Locked past the busy timeout is temporary (StoreBusy, a 503); anything else is a real error.
    [[noreturn]] static void fail(sqlite3* db, const char* what, int rc) {
        std::string msg = std::string(what) + sqlite3_errmsg(db);
        if ((rc & 0xFF) == SQLITE_BUSY || (rc & 0xFF) == SQLITE_LOCKED) throw StoreBusy(msg);
        throw std::runtime_error(msg);
    }
    std::string text(int col) {
        auto p = sqlite3_column_text(st_, col);
        return p ? std::string(reinterpret_cast<const char*>(p),
                               static_cast<std::size_t>(sqlite3_column_bytes(st_, col)))
                 : std::string();
    }
    std::int64_t integer(int col) { return sqlite3_column_int64(st_, col); }
    bool is_null(int col) { return sqlite3_column_type(st_, col) == SQLITE_NULL; }
    // The column's value as text, a REAL with every digit (SQLite's own text form keeps 15).
    std::string exact_text(int col) {
        if (sqlite3_column_type(st_, col) != SQLITE_FLOAT) return text(col);
        char buf[40];
        std::snprintf(buf, sizeof buf, "%.17g", sqlite3_column_double(st_, col));
        return buf;
    }
    int columns() { return sqlite3_column_count(st_); }
    std::string column_name(int col) { return sqlite3_column_name(st_, col); }
    std::optional<double> real(int col) {
        if (sqlite3_column_type(st_, col) == SQLITE_NULL) return std::nullopt;
        return sqlite3_column_double(st_, col);
    }

private:
    sqlite3* db_;
    sqlite3_stmt* st_ = nullptr;
};

using store_rows::json_text;
using store_rows::kHostCols;
using store_rows::kPoolCols;
using store_rows::kResourceCols;
using store_rows::kSessionCols;
using store_rows::read_host;
using store_rows::read_pool;
using store_rows::read_resource;
using store_rows::read_session;
using store_rows::role_of;
using store_rows::session_state_of;

class SqliteStore final : public Store {
public:
    explicit SqliteStore(const std::string& path);
    ~SqliteStore() override { sqlite3_close(db_); }

    int schema_version() override;
    void create_user(const std::string& name, const std::string& hash, std::int64_t now, Role role) override;
    std::optional<std::string> password_hash(const std::string& name) override;
    bool set_password_hash(const std::string& name, const std::string& hash) override;
    bool set_role(const std::string& name, Role role) override;
    std::optional<UserRecord> user(const std::string& name) override;
    std::vector<UserRecord> users() override;
    bool delete_user(const std::string& name) override;
    int count_admins() override;
    void create_login_session(const std::string& token_hash, const std::string& user, std::int64_t now,
                              std::int64_t expires_at) override;
    std::optional<std::string> login_session_user(const std::string& token_hash, std::int64_t now) override;
    std::optional<Principal> authenticate(const std::string& token_hash, std::int64_t now) override;
    void delete_login_session(const std::string& token_hash) override;
    int purge_expired_login_sessions(std::int64_t now) override;
    bool create_group(const std::string& name, const std::vector<std::string>& members, std::int64_t now) override;
    bool delete_group(const std::string& name) override;
    std::vector<GroupRecord> groups() override;
    std::optional<GroupRecord> group(const std::string& name) override;
    bool add_member(const std::string& group, const std::string& user) override;
    bool remove_member(const std::string& group, const std::string& user) override;
    void put_resource(const Resource& r) override;
    bool create_resource(const Resource& r, const std::vector<Entitlement>& ents) override;
    bool update_resource(const Resource& r) override;
    bool delete_resource(const std::string& id) override;
    void put_desktop_pool(const DesktopPool& p) override;
    bool create_desktop_pool(const DesktopPool& p, const std::vector<Entitlement>& ents) override;
    bool update_desktop_pool(const DesktopPool& p) override;
    std::optional<DesktopPool> desktop_pool(const std::string& id) override;
    std::vector<DesktopPool> desktop_pools() override;
    int live_session_count(const std::string& resource) override;
    std::optional<std::string> dedicated_host(const std::string& pool, const std::string& user) override;
    void set_dedicated_host(const std::string& pool, const std::string& user, const std::string& host_id) override;
    std::vector<Resource> resources() override;
    std::optional<Resource> resource(const std::string& id) override;
    std::vector<Entitlement> entitlements(const std::string& resource) override;
    bool set_entitlements(const std::string& resource, const std::vector<Entitlement>& ents) override;
    bool is_entitled(const std::string& user, const std::string& resource) override;
    std::vector<Resource> entitled_resources(const std::string& user) override;
    void create_session(const SessionRecord& s) override;
    std::optional<SessionRecord> session(const std::string& id) override;
    bool set_session_state(const std::string& id, SessionState state, std::int64_t now) override;
    std::vector<SessionRecord> live_sessions_of(const std::string& user) override;
    LaunchFacts launch_facts(const std::string& user, const std::string& resource_id) override;
    int concurrent_calls() const override { return 1; }
    std::vector<SessionRecord> reconnectable_sessions_for(const std::string& user,
                                                          const std::string& resource) override;
    std::vector<SessionRecord> sessions(const SessionFilter& f) override;
    std::vector<SessionRecord> session_history(const HistoryFilter& f) override;
    void set_end_reason(const std::string& id, const std::string& reason, const std::string& by) override;
    void set_session_usage(const std::string& id, const SessionUsage& usage) override;
    std::vector<std::string> lose_sessions_of_host(const std::string& host_id, std::int64_t now) override;
    bool revive_session(const std::string& id, const std::string& host_id, std::int64_t now) override;
    std::vector<SessionRecord> sessions_in_state_since(SessionState state, std::int64_t before) override;
    std::vector<SessionRecord> live_sessions() override;
    std::vector<std::pair<SessionState, int>> session_counts() override;
    void record_ticket(const std::string& ticket_id, const std::string& session_id, const std::string& user,
                       bool view_only, std::int64_t now, std::int64_t expires_at) override;
    int purge_expired_tickets(std::int64_t now) override;
    void upsert_host(const HostRecord& h) override;
    std::optional<HostRecord> host(const std::string& id) override;
    std::vector<HostRecord> hosts() override;
    bool set_host_drain(const std::string& id, bool drain) override;
    bool delete_host(const std::string& id) override;
    void mark_all_hosts_down(std::int64_t now) override;
    std::vector<bool> host_heartbeats(const std::vector<HostBeat>& beats, const std::string& broker_id,
                                      std::int64_t now) override;
    bool release_host(const std::string& id, const std::string& broker_id, std::int64_t now) override;
    std::vector<std::string> take_silent_hosts(std::int64_t silent_since, std::int64_t now) override;
    LoginFailures login_failures(const std::string& key) override;
    void add_login_failure(const std::string& key, std::int64_t now, std::int64_t forget_before) override;
    void clear_login_failures(const std::string& key) override;
    int purge_login_failures(std::int64_t before) override;
    std::int64_t put_bus_message(const std::string& body, std::int64_t now) override;
    std::optional<std::string> take_bus_message(std::int64_t id) override;
    int purge_bus_messages(std::int64_t before) override;
    std::string agree_setting(const std::string& name, const std::string& value) override;
    void create_enrollment_token(const EnrollmentToken& t, const std::string& token_hash) override;
    std::vector<EnrollmentToken> enrollment_tokens(std::int64_t now) override;
    void create_launch_token(const std::string& token_hash, const LaunchToken& t) override;
    LaunchTokenUse consume_launch_token(const std::string& token_hash, std::int64_t now) override;
    int purge_launch_tokens(std::int64_t expired_before) override;
    ConsumeResult consume_enrollment_token(const std::string& token_hash, const std::string& host_id, std::int64_t now,
                                           bool host_known) override;
    void append_audit(const AuditEvent& e) override;
    bool launch_answered(const IssuedTicket& ticket, std::int64_t now, const AuditEvent& event) override;
    std::vector<AuditEvent> audit(const AuditFilter& f) override;

private:
    bool set_session_state_locked(const std::string& id, SessionState new_state, std::int64_t now);
    void append_audit_locked(const AuditEvent& e);
    void record_ticket_locked(const IssuedTicket& t);
    void exec(const char* sql);
    void migrate();
    // Runs `f` inside BEGIN IMMEDIATE … COMMIT; rolls back if it throws or returns false.
    template <class F>
    bool transaction(F&& f);
    std::vector<std::string> groups_of_locked(const std::string& user);
    std::vector<std::string> members_locked(const std::string& group);
    bool principals_exist_locked(const std::vector<Entitlement>& ents);
    void insert_entitlements_locked(const std::string& resource, const std::vector<Entitlement>& ents);
    std::vector<SessionRecord> query_sessions(const std::string& where, const std::vector<std::string>& args,
                                              std::int64_t int_arg = -1);

    std::mutex mu_;
    sqlite3* db_ = nullptr;
};

SqliteStore::SqliteStore(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
        std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        db_ = nullptr;
        throw std::runtime_error("cannot open database " + path + ": " + msg);
    }
    sqlite3_busy_timeout(db_, 2000);
    try {
        exec("PRAGMA journal_mode=WAL");
        exec("PRAGMA foreign_keys=ON");
        // NORMAL in WAL mode: a commit survives the broker being killed (it is in the OS page
        // cache); only an OS crash or power loss can lose the last commits.
        exec("PRAGMA synchronous=NORMAL");
        migrate();
    } catch (...) {
        sqlite3_close(db_);
        throw;
    }
}

void SqliteStore::exec(const char* sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string msg = err ? err : "unknown error";
        sqlite3_free(err);
        if ((rc & 0xFF) == SQLITE_BUSY || (rc & 0xFF) == SQLITE_LOCKED) throw StoreBusy("sqlite: " + msg);
        throw std::runtime_error("sqlite: " + msg);
    }
}

template <class F>
bool SqliteStore::transaction(F&& f) {
    exec("BEGIN IMMEDIATE");
    try {
        if (!f()) {
            exec("ROLLBACK");
            return false;
        }
        exec("COMMIT");
        return true;
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

void SqliteStore::migrate() {
    std::lock_guard lk(mu_);
    exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    // Table rebuilds inside a migration must not trip foreign-key actions.
    exec("PRAGMA foreign_keys=OFF");
    exec("BEGIN IMMEDIATE");
    try {
        std::int64_t current = 0;
        {
            Stmt s(db_, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
            if (s.step()) current = s.integer(0);
        }
        const auto count = static_cast<std::int64_t>(std::size(kMigrations));
        if (current > count) throw std::runtime_error("database schema is newer than this broker");
        for (auto v = current; v < count; ++v) {
            exec(kMigrations[v]);
            Stmt(db_, "INSERT INTO schema_version(version) VALUES (?)").bind(1, v + 1).step();
        }
        {
            Stmt fk(db_, "PRAGMA foreign_key_check");
            if (fk.step()) throw std::runtime_error("migration left dangling foreign keys");
        }
        exec("COMMIT");
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        exec("PRAGMA foreign_keys=ON");
        throw;
    }
    exec("PRAGMA foreign_keys=ON");
}

int SqliteStore::schema_version() {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
    return s.step() ? static_cast<int>(s.integer(0)) : 0;
}

// ---- users ----

void SqliteStore::create_user(const std::string& name, const std::string& hash, std::int64_t now, Role role) {
    std::lock_guard lk(mu_);
    Stmt(db_, "INSERT INTO users(name, password_hash, created_at, role) VALUES (?, ?, ?, ?)")
        .bind(1, name)
        .bind(2, hash)
        .bind(3, now)
        .bind(4, std::string(to_string(role)))
        .step();
}

bool SqliteStore::set_password_hash(const std::string& name, const std::string& hash) {
    std::lock_guard lk(mu_);
    return transaction([&] {
        Stmt(db_, "UPDATE users SET password_hash = ? WHERE name = ?").bind(1, hash).bind(2, name).step();
        if (sqlite3_changes(db_) == 0) return false;
        Stmt(db_, "DELETE FROM login_sessions WHERE user = ?").bind(1, name).step();
        return true;
    });
}

bool SqliteStore::set_role(const std::string& name, Role role) {
    std::lock_guard lk(mu_);
    Stmt(db_, "UPDATE users SET role = ? WHERE name = ?").bind(1, std::string(to_string(role))).bind(2, name).step();
    return sqlite3_changes(db_) > 0;
}

std::optional<std::string> SqliteStore::password_hash(const std::string& name) {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT password_hash FROM users WHERE name = ?");
    s.bind(1, name);
    if (!s.step()) return std::nullopt;
    return s.text(0);
}

std::vector<std::string> SqliteStore::groups_of_locked(const std::string& user) {
    Stmt s(db_, "SELECT grp FROM group_members WHERE user = ? ORDER BY grp");
    s.bind(1, user);
    std::vector<std::string> out;
    while (s.step()) out.push_back(s.text(0));
    return out;
}

std::vector<std::string> SqliteStore::members_locked(const std::string& group) {
    Stmt s(db_, "SELECT user FROM group_members WHERE grp = ? ORDER BY user");
    s.bind(1, group);
    std::vector<std::string> out;
    while (s.step()) out.push_back(s.text(0));
    return out;
}

std::optional<UserRecord> SqliteStore::user(const std::string& name) {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT name, role, created_at FROM users WHERE name = ?");
    s.bind(1, name);
    if (!s.step()) return std::nullopt;
    UserRecord u{s.text(0), role_of(s.text(1)), s.integer(2), {}};
    u.groups = groups_of_locked(u.name);
    return u;
}

std::vector<UserRecord> SqliteStore::users() {
    std::lock_guard lk(mu_);
    std::vector<UserRecord> out;
    {
        Stmt s(db_, "SELECT name, role, created_at FROM users ORDER BY name");
        while (s.step()) out.push_back(UserRecord{s.text(0), role_of(s.text(1)), s.integer(2), {}});
    }
    for (auto& u : out) u.groups = groups_of_locked(u.name);
    return out;
}

bool SqliteStore::delete_user(const std::string& name) {
    std::lock_guard lk(mu_);
    Stmt(db_, "DELETE FROM users WHERE name = ?").bind(1, name).step();
    return sqlite3_changes(db_) > 0;
}

int SqliteStore::count_admins() {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT COUNT(*) FROM users WHERE role = 'admin'");
    return s.step() ? static_cast<int>(s.integer(0)) : 0;
}

// ---- login sessions ----

void SqliteStore::create_login_session(const std::string& token_hash, const std::string& user, std::int64_t now,
                                       std::int64_t expires_at) {
    std::lock_guard lk(mu_);
    Stmt(db_, "INSERT INTO login_sessions(token_hash, user, created_at, expires_at) VALUES (?, ?, ?, ?)")
        .bind(1, token_hash)
        .bind(2, user)
        .bind(3, now)
        .bind(4, expires_at)
        .step();
}

std::optional<std::string> SqliteStore::login_session_user(const std::string& token_hash, std::int64_t now) {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT user FROM login_sessions WHERE token_hash = ? AND expires_at > ?");
    s.bind(1, token_hash).bind(2, now);
    if (!s.step()) return std::nullopt;
    return s.text(0);
}

std::optional<Principal> SqliteStore::authenticate(const std::string& token_hash, std::int64_t now) {
    std::lock_guard lk(mu_);
    Stmt s(db_,
           "SELECT u.name, u.role FROM login_sessions l JOIN users u ON u.name = l.user "
           "WHERE l.token_hash = ? AND l.expires_at > ?");
    s.bind(1, token_hash).bind(2, now);
    if (!s.step()) return std::nullopt;
    return Principal{s.text(0), role_of(s.text(1))};
}

void SqliteStore::delete_login_session(const std::string& token_hash) {
    std::lock_guard lk(mu_);
    Stmt(db_, "DELETE FROM login_sessions WHERE token_hash = ?").bind(1, token_hash).step();
}

int SqliteStore::purge_expired_login_sessions(std::int64_t now) {
    std::lock_guard lk(mu_);
    Stmt(db_, "DELETE FROM login_sessions WHERE expires_at <= ?").bind(1, now).step();
    return sqlite3_changes(db_);
}

// ---- groups ----

bool SqliteStore::create_group(const std::string& name, const std::vector<std::string>& members, std::int64_t now) {
    std::lock_guard lk(mu_);
    return transaction([&] {
        {
            Stmt s(db_, "SELECT 1 FROM groups WHERE name = ?");
            s.bind(1, name);
            if (s.step()) return false;
        }
        Stmt(db_, "INSERT INTO groups(name, created_at) VALUES (?, ?)").bind(1, name).bind(2, now).step();
        for (const auto& m : members)
            Stmt(db_, "INSERT OR IGNORE INTO group_members(grp, user) VALUES (?, ?)").bind(1, name).bind(2, m).step();
        return true;
    });
}

bool SqliteStore::delete_group(const std::string& name) {
    std::lock_guard lk(mu_);
    Stmt(db_, "DELETE FROM groups WHERE name = ?").bind(1, name).step();
    return sqlite3_changes(db_) > 0;
}

std::vector<GroupRecord> SqliteStore::groups() {
    std::lock_guard lk(mu_);
    std::vector<GroupRecord> out;
    {
        Stmt s(db_, "SELECT name FROM groups ORDER BY name");
        while (s.step()) out.push_back(GroupRecord{s.text(0), {}});
    }
    for (auto& g : out) g.members = members_locked(g.name);
    return out;
}

std::optional<GroupRecord> SqliteStore::group(const std::string& name) {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT name FROM groups WHERE name = ?");
    s.bind(1, name);
    if (!s.step()) return std::nullopt;
    return GroupRecord{s.text(0), members_locked(name)};
}

bool SqliteStore::add_member(const std::string& group, const std::string& user) {
    std::lock_guard lk(mu_);
    {
        Stmt s(db_,
               "SELECT (SELECT COUNT(*) FROM groups WHERE name = ?) + (SELECT COUNT(*) FROM users WHERE name = ?)");
        s.bind(1, group).bind(2, user);
        if (!s.step() || s.integer(0) != 2) return false;
    }
    Stmt(db_, "INSERT OR IGNORE INTO group_members(grp, user) VALUES (?, ?)").bind(1, group).bind(2, user).step();
    return true;
}

bool SqliteStore::remove_member(const std::string& group, const std::string& user) {
    std::lock_guard lk(mu_);
    Stmt(db_, "DELETE FROM group_members WHERE grp = ? AND user = ?").bind(1, group).bind(2, user).step();
    return sqlite3_changes(db_) > 0;
}

// ---- resources and entitlements ----

void SqliteStore::put_resource(const Resource& r) {
    std::lock_guard lk(mu_);
    // An upsert, not INSERT OR REPLACE: replacing the row would cascade away its entitlements.
    Stmt(db_,
         "INSERT INTO resources(id, name, type, command, icon, host_group) VALUES (?, ?, ?, ?, ?, ?) "
         "ON CONFLICT(id) DO UPDATE SET name = excluded.name, type = excluded.type, command = excluded.command, "
         "icon = excluded.icon, host_group = excluded.host_group")
        .bind(1, r.id)
        .bind(2, r.name)
        .bind(3, r.type)
        .bind(4, json_text(r.command))
        .bind(5, r.icon)
        .bind(6, r.host_group)
        .step();
}

bool SqliteStore::principals_exist_locked(const std::vector<Entitlement>& ents) {
    for (const auto& e : ents) {
        Stmt s(db_, e.kind == "user" ? "SELECT 1 FROM users WHERE name = ?" : "SELECT 1 FROM groups WHERE name = ?");
        s.bind(1, e.name);
        if (!s.step()) return false;
    }
    return true;
}

void SqliteStore::insert_entitlements_locked(const std::string& resource, const std::vector<Entitlement>& ents) {
    for (const auto& e : ents) {
        Stmt(db_, e.kind == "user" ? "INSERT OR IGNORE INTO user_entitlements(resource, user) VALUES (?, ?)"
                                   : "INSERT OR IGNORE INTO group_entitlements(resource, grp) VALUES (?, ?)")
            .bind(1, resource)
            .bind(2, e.name)
            .step();
    }
}

bool SqliteStore::create_resource(const Resource& r, const std::vector<Entitlement>& ents) {
    std::lock_guard lk(mu_);
    return transaction([&] {
        {
            Stmt s(db_, "SELECT 1 FROM resources WHERE id = ?");
            s.bind(1, r.id);
            if (s.step()) return false;
        }
        Stmt(db_, "INSERT INTO resources(id, name, type, command, icon, host_group) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(1, r.id)
            .bind(2, r.name)
            .bind(3, r.type)
            .bind(4, json_text(r.command))
            .bind(5, r.icon)
            .bind(6, r.host_group)
            .step();
        insert_entitlements_locked(r.id, ents);
        return true;
    });
}

bool SqliteStore::update_resource(const Resource& r) {
    std::lock_guard lk(mu_);
    Stmt(db_, "UPDATE resources SET name = ?, command = ?, icon = ?, host_group = ? WHERE id = ?")
        .bind(1, r.name)
        .bind(2, json_text(r.command))
        .bind(3, r.icon)
        .bind(4, r.host_group)
        .bind(5, r.id)
        .step();
    return sqlite3_changes(db_) > 0;
}

bool SqliteStore::delete_resource(const std::string& id) {
    std::lock_guard lk(mu_);
    Stmt(db_, "DELETE FROM resources WHERE id = ?").bind(1, id).step();
    return sqlite3_changes(db_) > 0;
}

std::vector<Resource> SqliteStore::resources() {
    std::lock_guard lk(mu_);
    Stmt s(db_, (std::string("SELECT ") + kResourceCols + " FROM resources ORDER BY name").c_str());
    std::vector<Resource> out;
    while (s.step()) out.push_back(read_resource(s));
    return out;
}

std::optional<Resource> SqliteStore::resource(const std::string& id) {
    std::lock_guard lk(mu_);
    Stmt s(db_, (std::string("SELECT ") + kResourceCols + " FROM resources WHERE id = ?").c_str());
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_resource(s);
}

// ---- desktop pools ----

namespace {

void upsert_pool_row(sqlite3* db, const DesktopPool& p) {
    Stmt(db,
         "INSERT INTO desktop_pools(id, image, mode, size, spares, memory_mib, cpus) VALUES (?, ?, ?, ?, ?, ?, ?) "
         "ON CONFLICT(id) DO UPDATE SET image = excluded.image, mode = excluded.mode, size = excluded.size, "
         "spares = excluded.spares, memory_mib = excluded.memory_mib, cpus = excluded.cpus")
        .bind(1, p.id)
        .bind(2, p.image)
        .bind(3, p.mode)
        .bind(4, std::int64_t{p.size})
        .bind(5, std::int64_t{p.spares})
        .bind(6, std::int64_t{p.memory_mib})
        .bind(7, std::int64_t{p.cpus})
        .step();
}

}  // namespace

void SqliteStore::put_desktop_pool(const DesktopPool& p) {
    std::lock_guard lk(mu_);
    transaction([&] {
        {
            Stmt kind(db_, "SELECT type FROM resources WHERE id = ?");
            kind.bind(1, p.id);
            if (kind.step() && kind.text(0) != "desktop")
                throw std::runtime_error("resource '" + p.id + "' exists and is not a desktop");
        }
        Stmt(db_,
             "INSERT INTO resources(id, name, type, command, icon, host_group) VALUES (?, ?, 'desktop', '[]', ?, '') "
             "ON CONFLICT(id) DO UPDATE SET name = excluded.name, icon = excluded.icon")
            .bind(1, p.id)
            .bind(2, p.name)
            .bind(3, p.icon)
            .step();
        upsert_pool_row(db_, p);
        return true;
    });
}

bool SqliteStore::create_desktop_pool(const DesktopPool& p, const std::vector<Entitlement>& ents) {
    std::lock_guard lk(mu_);
    return transaction([&] {
        {
            Stmt s(db_, "SELECT 1 FROM resources WHERE id = ?");
            s.bind(1, p.id);
            if (s.step()) return false;
        }
        Stmt(db_,
             "INSERT INTO resources(id, name, type, command, icon, host_group) VALUES (?, ?, 'desktop', '[]', ?, '')")
            .bind(1, p.id)
            .bind(2, p.name)
            .bind(3, p.icon)
            .step();
        upsert_pool_row(db_, p);
        insert_entitlements_locked(p.id, ents);
        return true;
    });
}

bool SqliteStore::update_desktop_pool(const DesktopPool& p) {
    std::lock_guard lk(mu_);
    return transaction([&] {
        Stmt(db_, "UPDATE resources SET name = ?, icon = ? WHERE id = ? AND type = 'desktop'")
            .bind(1, p.name)
            .bind(2, p.icon)
            .bind(3, p.id)
            .step();
        if (sqlite3_changes(db_) == 0) return false;
        upsert_pool_row(db_, p);
        return true;
    });
}

std::optional<DesktopPool> SqliteStore::desktop_pool(const std::string& id) {
    std::lock_guard lk(mu_);
    Stmt s(db_, (std::string("SELECT ") + kPoolCols + " WHERE p.id = ?").c_str());
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_pool(s);
}

std::vector<DesktopPool> SqliteStore::desktop_pools() {
    std::lock_guard lk(mu_);
    Stmt s(db_, (std::string("SELECT ") + kPoolCols + " ORDER BY p.id").c_str());
    std::vector<DesktopPool> out;
    while (s.step()) out.push_back(read_pool(s));
    return out;
}

int SqliteStore::live_session_count(const std::string& resource) {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT COUNT(*) FROM sessions WHERE resource = ? AND state IN ('starting', 'active', 'disconnected')");
    s.bind(1, resource);
    return s.step() ? static_cast<int>(s.integer(0)) : 0;
}

std::optional<std::string> SqliteStore::dedicated_host(const std::string& pool, const std::string& user) {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT host_id FROM desktop_assignments WHERE pool = ? AND user = ?");
    s.bind(1, pool).bind(2, user);
    if (!s.step()) return std::nullopt;
    return s.text(0);
}

void SqliteStore::set_dedicated_host(const std::string& pool, const std::string& user, const std::string& host_id) {
    std::lock_guard lk(mu_);
    Stmt(db_,
         "INSERT INTO desktop_assignments(pool, user, host_id) VALUES (?, ?, ?) "
         "ON CONFLICT(pool, user) DO UPDATE SET host_id = excluded.host_id")
        .bind(1, pool)
        .bind(2, user)
        .bind(3, host_id)
        .step();
}

std::vector<Entitlement> SqliteStore::entitlements(const std::string& resource) {
    std::lock_guard lk(mu_);
    std::vector<Entitlement> out;
    Stmt s(db_,
           "SELECT 'group', grp FROM group_entitlements WHERE resource = ? "
           "UNION ALL SELECT 'user', user FROM user_entitlements WHERE resource = ? ORDER BY 1, 2");
    s.bind(1, resource).bind(2, resource);
    while (s.step()) out.push_back(Entitlement{s.text(0), s.text(1)});
    return out;
}

bool SqliteStore::set_entitlements(const std::string& resource, const std::vector<Entitlement>& ents) {
    std::lock_guard lk(mu_);
    return transaction([&] {
        if (!principals_exist_locked(ents)) return false;
        Stmt(db_, "DELETE FROM user_entitlements WHERE resource = ?").bind(1, resource).step();
        Stmt(db_, "DELETE FROM group_entitlements WHERE resource = ?").bind(1, resource).step();
        insert_entitlements_locked(resource, ents);
        return true;
    });
}

bool SqliteStore::is_entitled(const std::string& user, const std::string& resource) {
    std::lock_guard lk(mu_);
    Stmt s(db_,
           "SELECT EXISTS(SELECT 1 FROM user_entitlements WHERE resource = ? AND user = ?) OR "
           "EXISTS(SELECT 1 FROM group_entitlements e JOIN group_members m ON m.grp = e.grp "
           "WHERE e.resource = ? AND m.user = ?)");
    s.bind(1, resource).bind(2, user).bind(3, resource).bind(4, user);
    return s.step() && s.integer(0) != 0;
}

std::vector<Resource> SqliteStore::entitled_resources(const std::string& user) {
    std::lock_guard lk(mu_);
    Stmt s(db_, (std::string("SELECT ") + kResourceCols +
                 " FROM resources WHERE id IN ("
                 "SELECT resource FROM user_entitlements WHERE user = ? UNION "
                 "SELECT e.resource FROM group_entitlements e JOIN group_members m ON m.grp = e.grp WHERE m.user = ?) "
                 "ORDER BY name")
                    .c_str());
    s.bind(1, user).bind(2, user);
    std::vector<Resource> out;
    while (s.step()) out.push_back(read_resource(s));
    return out;
}

// ---- sessions ----

void SqliteStore::create_session(const SessionRecord& r) {
    std::lock_guard lk(mu_);
    // BEGIN IMMEDIATE takes the database's write lock before the count, so the check and the
    // insert are one step for every writer of the file (as the pool row lock on PostgreSQL).
    transaction([&] {
        Stmt pool(db_, "SELECT size FROM desktop_pools WHERE id = ?");
        pool.bind(1, r.resource);
        if (pool.step()) {
            Stmt live(db_,
                      "SELECT COUNT(*) FROM sessions WHERE resource = ? AND state IN ('starting', 'active', "
                      "'disconnected')");
            live.bind(1, r.resource);
            if (live.step() && live.integer(0) >= pool.integer(0)) throw PoolFull(r.resource, pool.integer(0));
        }
        Stmt(db_,
             "INSERT INTO sessions(id, user, resource, host_id, state, width, height, created_at, updated_at) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(1, r.id)
            .bind(2, r.user)
            .bind(3, r.resource)
            .bind(4, r.host_id)
            .bind(5, std::string(to_string(r.state)))
            .bind(6, std::int64_t{r.width})
            .bind(7, std::int64_t{r.height})
            .bind(8, r.created_at)
            .bind(9, r.created_at)
            .step();
        return true;
    });
}

std::optional<SessionRecord> SqliteStore::session(const std::string& id) {
    std::lock_guard lk(mu_);
    Stmt s(db_, (std::string("SELECT ") + kSessionCols + " FROM sessions WHERE id = ?").c_str());
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_session(s);
}

bool SqliteStore::set_session_state(const std::string& id, SessionState new_state, std::int64_t now) {
    std::lock_guard lk(mu_);
    return set_session_state_locked(id, new_state, now);
}

bool SqliteStore::launch_answered(const IssuedTicket& ticket, std::int64_t now, const AuditEvent& event) {
    std::lock_guard lk(mu_);
    bool changed = false;
    transaction([&] {
        Stmt(db_, "UPDATE sessions SET state = 'active', updated_at = ? WHERE id = ? AND state = 'starting'")
            .bind(1, now)
            .bind(2, ticket.session_id)
            .step();
        changed = sqlite3_changes(db_) > 0;
        record_ticket_locked(ticket);
        append_audit_locked(event);
        return true;
    });
    return changed;
}

bool SqliteStore::set_session_state_locked(const std::string& id, SessionState new_state, std::int64_t now) {
    const std::string state = to_string(new_state);
    if (!is_live(new_state)) {
        Stmt(db_,
             "UPDATE sessions SET state = ?, ended_at = ?, updated_at = ? WHERE id = ? "
             "AND state NOT IN ('ended', 'lost')")
            .bind(1, state)
            .bind(2, now)
            .bind(3, now)
            .bind(4, id)
            .step();
    } else {
        // Once "ending", only a final state follows (a late report of activity must not revive it).
        Stmt(db_,
             "UPDATE sessions SET state = ?, updated_at = ? WHERE id = ? AND state NOT IN ('ended', 'lost', 'ending') "
             "AND state != ?")
            .bind(1, state)
            .bind(2, now)
            .bind(3, id)
            .bind(4, state)
            .step();
    }
    return sqlite3_changes(db_) > 0;
}

std::vector<SessionRecord> SqliteStore::query_sessions(const std::string& where, const std::vector<std::string>& args,
                                                       std::int64_t int_arg) {
    std::lock_guard lk(mu_);
    Stmt s(db_, (std::string("SELECT ") + kSessionCols + " FROM sessions WHERE " + where).c_str());
    int i = 1;
    for (const auto& a : args) s.bind(i++, a);
    if (int_arg >= 0) s.bind(i++, int_arg);
    std::vector<SessionRecord> out;
    while (s.step()) out.push_back(read_session(s));
    return out;
}

std::vector<SessionRecord> SqliteStore::live_sessions_of(const std::string& user) {
    return query_sessions("user = ? AND state NOT IN ('ended', 'lost') ORDER BY created_at", {user});
}

std::vector<SessionRecord> SqliteStore::reconnectable_sessions_for(const std::string& user,
                                                                   const std::string& resource) {
    return query_sessions("user = ? AND resource = ? AND state IN ('active', 'disconnected') ORDER BY created_at DESC",
                          {user, resource});
}

LaunchFacts SqliteStore::launch_facts(const std::string& user, const std::string& resource_id) {
    // A local file: no round trip to save, so simply the four calls.
    LaunchFacts f;
    f.resource = resource(resource_id);
    if (!f.resource) return f;
    f.entitled = is_entitled(user, resource_id);
    f.reconnectable = reconnectable_sessions_for(user, resource_id);
    f.live_sessions = static_cast<int>(live_sessions_of(user).size());
    return f;
}

std::vector<SessionRecord> SqliteStore::sessions(const SessionFilter& f) {
    std::string where = f.state ? "state = ?" : "state NOT IN ('ended', 'lost')";
    std::vector<std::string> args;
    if (f.state) args.push_back(to_string(*f.state));
    if (!f.user.empty()) {
        where += " AND user = ?";
        args.push_back(f.user);
    }
    if (!f.host.empty()) {
        where += " AND host_id = ?";
        args.push_back(f.host);
    }
    where += " ORDER BY created_at DESC, id LIMIT ?";
    return query_sessions(where, args, std::max(1, f.limit));
}

std::vector<SessionRecord> SqliteStore::session_history(const HistoryFilter& f) {
    std::lock_guard lk(mu_);
    std::string sql = std::string("SELECT ") + kSessionCols + " FROM sessions WHERE state IN ('ended', 'lost')";
    if (!f.user.empty()) sql += " AND user = ?";
    if (f.before_ended_at > 0) sql += " AND (ended_at < ? OR (ended_at = ? AND id < ?))";
    sql += " ORDER BY ended_at DESC, id DESC LIMIT ?";
    Stmt s(db_, sql.c_str());
    int i = 1;
    if (!f.user.empty()) s.bind(i++, f.user);
    if (f.before_ended_at > 0) {
        s.bind(i++, f.before_ended_at);
        s.bind(i++, f.before_ended_at);
        s.bind(i++, f.before_id);
    }
    s.bind(i++, std::int64_t{std::max(1, f.limit)});
    std::vector<SessionRecord> out;
    while (s.step()) out.push_back(read_session(s));
    return out;
}

void SqliteStore::set_end_reason(const std::string& id, const std::string& reason, const std::string& by) {
    std::lock_guard lk(mu_);
    Stmt(db_, "UPDATE sessions SET end_reason = ?, ended_by = ? WHERE id = ? AND end_reason = ''")
        .bind(1, reason)
        .bind(2, by)
        .bind(3, id)
        .step();
}

void SqliteStore::set_session_usage(const std::string& id, const SessionUsage& u) {
    std::lock_guard lk(mu_);
    Stmt(db_, "UPDATE sessions SET bytes_sent = ?, avg_fps = ?, avg_rtt_ms = ? WHERE id = ?")
        .bind(1, u.bytes_sent)
        .bind(2, u.avg_fps)
        .bind(3, u.avg_rtt_ms)
        .bind(4, id)
        .step();
}

bool SqliteStore::revive_session(const std::string& id, const std::string& host_id, std::int64_t now) {
    std::lock_guard lk(mu_);
    Stmt(db_,
         "UPDATE sessions SET state = 'disconnected', ended_at = NULL, end_reason = '', ended_by = '', updated_at = ? "
         "WHERE id = ? AND host_id = ? AND state = 'lost'")
        .bind(1, now)
        .bind(2, id)
        .bind(3, host_id)
        .step();
    return sqlite3_changes(db_) > 0;
}

std::vector<std::string> SqliteStore::lose_sessions_of_host(const std::string& host_id, std::int64_t now) {
    std::lock_guard lk(mu_);
    std::vector<std::string> ids;
    transaction([&] {
        {
            Stmt s(db_, "SELECT id FROM sessions WHERE host_id = ? AND state NOT IN ('ended', 'lost')");
            s.bind(1, host_id);
            while (s.step()) ids.push_back(s.text(0));
        }
        Stmt(db_,
             "UPDATE sessions SET state = 'lost', ended_at = ?, updated_at = ?, "
             "end_reason = CASE end_reason WHEN '' THEN 'host_lost' ELSE end_reason END WHERE host_id = ? "
             "AND state NOT IN ('ended', 'lost')")
            .bind(1, now)
            .bind(2, now)
            .bind(3, host_id)
            .step();
        return true;
    });
    return ids;
}

std::vector<SessionRecord> SqliteStore::sessions_in_state_since(SessionState state, std::int64_t before) {
    return query_sessions("state = ? AND updated_at <= ?", {to_string(state)}, before);
}

std::vector<SessionRecord> SqliteStore::live_sessions() { return query_sessions("state NOT IN ('ended', 'lost')", {}); }

std::vector<std::pair<SessionState, int>> SqliteStore::session_counts() {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT state, COUNT(*) FROM sessions GROUP BY state");
    std::vector<std::pair<SessionState, int>> out;
    while (s.step()) out.emplace_back(session_state_of(s.text(0)), static_cast<int>(s.integer(1)));
    return out;
}

// ---- tickets ----

void SqliteStore::record_ticket(const std::string& ticket_id, const std::string& session_id, const std::string& user,
                                bool view_only, std::int64_t now, std::int64_t expires_at) {
    std::lock_guard lk(mu_);
    record_ticket_locked(IssuedTicket{ticket_id, session_id, user, view_only, now, expires_at});
}

void SqliteStore::record_ticket_locked(const IssuedTicket& t) {
    Stmt(db_, "INSERT INTO tickets(id, session_id, user, view_only, issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(1, t.id)
        .bind(2, t.session_id)
        .bind(3, t.user)
        .bind(4, std::int64_t{t.view_only ? 1 : 0})
        .bind(5, t.issued_at)
        .bind(6, t.expires_at)
        .step();
}

int SqliteStore::purge_expired_tickets(std::int64_t now) {
    std::lock_guard lk(mu_);
    Stmt(db_, "DELETE FROM tickets WHERE expires_at <= ?").bind(1, now).step();
    return sqlite3_changes(db_);
}

// ---- hosts ----

void SqliteStore::upsert_host(const HostRecord& h) {
    std::lock_guard lk(mu_);
    Stmt(
        db_,
        "INSERT INTO hosts(id, name, state, drain, last_seen, cert_fingerprint, display_url, auth, apps, max_sessions, "
        "broker_id, live) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
        "name = excluded.name, state = excluded.state, last_seen = excluded.last_seen, "
        "cert_fingerprint = CASE WHEN excluded.cert_fingerprint != '' THEN excluded.cert_fingerprint "
        "ELSE hosts.cert_fingerprint END, display_url = excluded.display_url, auth = excluded.auth, "
        "apps = excluded.apps, max_sessions = excluded.max_sessions, broker_id = excluded.broker_id, "
        "live = excluded.live")
        .bind(1, h.id)
        .bind(2, h.name)
        .bind(3, h.state)
        .bind(4, std::int64_t{h.drain ? 1 : 0})
        .bind(5, h.last_seen)
        .bind(6, h.cert_fingerprint)
        .bind(7, h.display_url)
        .bind(8, h.auth)
        .bind(9, json_text(h.apps))
        .bind(10, std::int64_t{h.max_sessions})
        .bind(11, h.broker_id)
        .bind(12, h.live)
        .step();
}

std::optional<HostRecord> SqliteStore::host(const std::string& id) {
    std::lock_guard lk(mu_);
    Stmt s(db_, (std::string("SELECT ") + kHostCols + " FROM hosts WHERE id = ?").c_str());
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_host(s);
}

std::vector<HostRecord> SqliteStore::hosts() {
    std::lock_guard lk(mu_);
    Stmt s(db_, (std::string("SELECT ") + kHostCols + " FROM hosts ORDER BY id").c_str());
    std::vector<HostRecord> out;
    while (s.step()) out.push_back(read_host(s));
    return out;
}

bool SqliteStore::set_host_drain(const std::string& id, bool drain) {
    std::lock_guard lk(mu_);
    Stmt(db_, "UPDATE hosts SET drain = ? WHERE id = ?").bind(1, std::int64_t{drain ? 1 : 0}).bind(2, id).step();
    return sqlite3_changes(db_) > 0;
}

bool SqliteStore::delete_host(const std::string& id) {
    std::lock_guard lk(mu_);
    Stmt(db_, "DELETE FROM hosts WHERE id = ?").bind(1, id).step();
    return sqlite3_changes(db_) > 0;
}

void SqliteStore::mark_all_hosts_down(std::int64_t now) {
    std::lock_guard lk(mu_);
    Stmt(db_, "UPDATE hosts SET state = 'down', broker_id = '', last_seen = ? WHERE state != 'down'")
        .bind(1, now)
        .step();
}

std::vector<bool> SqliteStore::host_heartbeats(const std::vector<HostBeat>& beats, const std::string& broker_id,
                                               std::int64_t now) {
    std::lock_guard lk(mu_);
    std::vector<bool> written;
    transaction([&] {  // one commit for all
        written.clear();
        for (const auto& b : beats) {
            Stmt(db_, "UPDATE hosts SET live = ?, last_seen = ? WHERE id = ? AND broker_id = ? AND state = 'up'")
                .bind(1, b.live)
                .bind(2, now)
                .bind(3, b.id)
                .bind(4, broker_id)
                .step();
            written.push_back(sqlite3_changes(db_) > 0);
        }
        return true;
    });
    return written;
}

bool SqliteStore::release_host(const std::string& id, const std::string& broker_id, std::int64_t now) {
    std::lock_guard lk(mu_);
    Stmt(db_, "UPDATE hosts SET state = 'down', broker_id = '', last_seen = ? WHERE id = ? AND broker_id = ?")
        .bind(1, now)
        .bind(2, id)
        .bind(3, broker_id)
        .step();
    return sqlite3_changes(db_) > 0;
}

std::vector<std::string> SqliteStore::take_silent_hosts(std::int64_t silent_since, std::int64_t now) {
    std::lock_guard lk(mu_);
    Stmt s(db_,
           "UPDATE hosts SET state = 'down', broker_id = '', last_seen = ? WHERE state = 'up' AND last_seen < ? "
           "RETURNING id");
    s.bind(1, now).bind(2, silent_since);
    std::vector<std::string> out;
    while (s.step()) out.push_back(s.text(0));
    return out;
}

// ---- failed logins ----

Store::LoginFailures SqliteStore::login_failures(const std::string& key) {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT failures, last_at FROM login_failures WHERE key = ?");
    s.bind(1, key);
    if (!s.step()) return {};
    return {static_cast<int>(s.integer(0)), s.integer(1)};
}

void SqliteStore::add_login_failure(const std::string& key, std::int64_t now, std::int64_t forget_before) {
    std::lock_guard lk(mu_);
    Stmt(db_,
         "INSERT INTO login_failures(key, failures, last_at) VALUES (?, 1, ?) ON CONFLICT(key) DO UPDATE SET "
         "failures = CASE WHEN login_failures.last_at < ? THEN 1 ELSE MIN(login_failures.failures + 1, 1000) END, "
         "last_at = excluded.last_at")
        .bind(1, key)
        .bind(2, now)
        .bind(3, forget_before)
        .step();
}

void SqliteStore::clear_login_failures(const std::string& key) {
    std::lock_guard lk(mu_);
    Stmt(db_, "DELETE FROM login_failures WHERE key = ?").bind(1, key).step();
}

int SqliteStore::purge_login_failures(std::int64_t before) {
    std::lock_guard lk(mu_);
    Stmt(db_, "DELETE FROM login_failures WHERE last_at < ?").bind(1, before).step();
    return sqlite3_changes(db_);
}

// ---- between brokers ----

std::int64_t SqliteStore::put_bus_message(const std::string& body, std::int64_t now) {
    std::lock_guard lk(mu_);
    Stmt(db_, "INSERT INTO bus_messages(body, created_at) VALUES (?, ?)").bind(1, body).bind(2, now).step();
    return sqlite3_last_insert_rowid(db_);
}

std::optional<std::string> SqliteStore::take_bus_message(std::int64_t id) {
    std::lock_guard lk(mu_);
    Stmt s(db_, "DELETE FROM bus_messages WHERE id = ? RETURNING body");
    s.bind(1, id);
    // SQLite makes every change of a statement with RETURNING in its first step.
    if (!s.step()) return std::nullopt;
    return s.text(0);
}

int SqliteStore::purge_bus_messages(std::int64_t before) {
    std::lock_guard lk(mu_);
    Stmt(db_, "DELETE FROM bus_messages WHERE created_at < ?").bind(1, before).step();
    return sqlite3_changes(db_);
}

std::string SqliteStore::agree_setting(const std::string& name, const std::string& value) {
    std::lock_guard lk(mu_);
    Stmt(db_, "INSERT INTO cluster_settings(name, value) VALUES (?, ?) ON CONFLICT(name) DO NOTHING")
        .bind(1, name)
        .bind(2, value)
        .step();
    Stmt s(db_, "SELECT value FROM cluster_settings WHERE name = ?");
    s.bind(1, name);
    s.step();
    return s.text(0);
}

// ---- enrollment ----

void SqliteStore::create_enrollment_token(const EnrollmentToken& t, const std::string& token_hash) {
    std::lock_guard lk(mu_);
    Stmt(db_,
         "INSERT INTO enrollment_tokens(id, token_hash, host_id, created_by, created_at, expires_at) "
         "VALUES (?, ?, ?, ?, ?, ?)")
        .bind(1, t.id)
        .bind(2, token_hash)
        .bind(3, t.host_id)
        .bind(4, t.created_by)
        .bind(5, t.created_at)
        .bind(6, t.expires_at)
        .step();
}

std::vector<EnrollmentToken> SqliteStore::enrollment_tokens(std::int64_t now) {
    std::lock_guard lk(mu_);
    Stmt s(db_,
           "SELECT id, host_id, created_by, created_at, expires_at FROM enrollment_tokens "
           "WHERE used_at IS NULL AND expires_at > ? ORDER BY created_at DESC, id");
    s.bind(1, now);
    std::vector<EnrollmentToken> out;
    while (s.step()) out.push_back(EnrollmentToken{s.text(0), s.text(1), s.text(2), s.integer(3), s.integer(4)});
    return out;
}

ConsumeResult SqliteStore::consume_enrollment_token(const std::string& token_hash, const std::string& host_id,
                                                    std::int64_t now, bool host_known) {
    std::lock_guard lk(mu_);
    ConsumeResult result = ConsumeResult::unknown;
    transaction([&] {
        Stmt s(db_, "SELECT id, host_id, expires_at, used_at IS NOT NULL FROM enrollment_tokens WHERE token_hash = ?");
        s.bind(1, token_hash);
        if (!s.step()) return false;
        auto id = s.text(0);
        if (s.integer(3))
            result = ConsumeResult::used;
        else if (s.integer(2) <= now)
            result = ConsumeResult::expired;
        else if (!s.text(1).empty() && s.text(1) != host_id)
            result = ConsumeResult::wrong_host;
        else if (s.text(1).empty() && host_known)
            result = ConsumeResult::host_exists;
        else
            result = ConsumeResult::ok;
        if (result != ConsumeResult::used)  // one attempt per token, whatever its outcome
            Stmt(db_, "UPDATE enrollment_tokens SET used_at = ? WHERE id = ?").bind(1, now).bind(2, id).step();
        return true;
    });
    return result;
}

// ---- launch-file tokens ----

void SqliteStore::create_launch_token(const std::string& token_hash, const LaunchToken& t) {
    std::lock_guard lk(mu_);
    Stmt(db_,
         "INSERT INTO launch_tokens(token_hash, \"user\", resource, session_id, created_at, expires_at) "
         "VALUES (?, ?, ?, ?, ?, ?)")
        .bind(1, token_hash)
        .bind(2, t.user)
        .bind(3, t.resource)
        .bind(4, t.session_id)
        .bind(5, t.created_at)
        .bind(6, t.expires_at)
        .step();
}

LaunchTokenUse SqliteStore::consume_launch_token(const std::string& token_hash, std::int64_t now) {
    std::lock_guard lk(mu_);
    LaunchTokenUse use;
    transaction([&] {
        // One writer at a time (the transaction and mu_): the first try sets used_at, every later one reads it.
        Stmt s(db_,
               "SELECT \"user\", resource, session_id, created_at, expires_at, used_at IS NOT NULL "
               "FROM launch_tokens WHERE token_hash = ?");
        s.bind(1, token_hash);
        if (!s.step()) return false;
        if (s.integer(5)) {
            use.result = ConsumeResult::used;
            return false;
        }
        use.result = s.integer(4) <= now ? ConsumeResult::expired : ConsumeResult::ok;
        if (use.result == ConsumeResult::ok)
            use.token = LaunchToken{s.text(0), s.text(1), s.text(2), s.integer(3), s.integer(4)};
        Stmt(db_, "UPDATE launch_tokens SET used_at = ? WHERE token_hash = ?").bind(1, now).bind(2, token_hash).step();
        return true;
    });
    return use;
}

int SqliteStore::purge_launch_tokens(std::int64_t expired_before) {
    std::lock_guard lk(mu_);
    Stmt(db_, "DELETE FROM launch_tokens WHERE expires_at < ?").bind(1, expired_before).step();
    return sqlite3_changes(db_);
}

// ---- audit ----

void SqliteStore::append_audit(const AuditEvent& e) {
    std::lock_guard lk(mu_);
    append_audit_locked(e);
}

void SqliteStore::append_audit_locked(const AuditEvent& e) {
    Stmt(db_, "INSERT INTO audit(at, actor, action, target, source, detail) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(1, e.at)
        .bind(2, e.actor)
        .bind(3, e.action)
        .bind(4, e.target)
        .bind(5, e.from)
        .bind(6, e.detail)
        .step();
}

std::vector<AuditEvent> SqliteStore::audit(const AuditFilter& f) {
    std::lock_guard lk(mu_);
    std::string sql = "SELECT id, at, actor, action, target, source, detail FROM audit WHERE id < ?";
    if (!f.actor.empty()) sql += " AND actor = ?";
    if (!f.action.empty()) sql += " AND action = ?";
    sql += " ORDER BY id DESC LIMIT ?";
    Stmt s(db_, sql.c_str());
    int i = 1;
    s.bind(i++, f.before > 0 ? f.before : INT64_MAX);
    if (!f.actor.empty()) s.bind(i++, f.actor);
    if (!f.action.empty()) s.bind(i++, f.action);
    s.bind(i++, std::int64_t{std::max(1, f.limit)});
    std::vector<AuditEvent> out;
    while (s.step()) out.push_back(store_rows::read_audit(s));
    return out;
}

}  // namespace

std::unique_ptr<Store> open_sqlite_store(const std::string& path) { return std::make_unique<SqliteStore>(path); }

std::vector<store_rows::TableData> read_sqlite_tables(const std::string& path) {
    {
        SqliteStore migrated(path);  // a copy is of the current schema: an older file is migrated first
        if (migrated.schema_version() != store_rows::kSchemaVersion)
            throw std::runtime_error(path + " is at schema version " + std::to_string(migrated.schema_version()) +
                                     ", not " + std::to_string(store_rows::kSchemaVersion));
    }
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
        std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
        sqlite3_close(db);
        throw std::runtime_error("cannot open database " + path + ": " + msg);
    }
    std::vector<store_rows::TableData> out;
    try {
        sqlite3_busy_timeout(db, 2000);
        // One read transaction: every table from the same moment, even while a broker still writes.
        Stmt(db, "BEGIN").step();
        for (const auto& table : store_rows::tables_in_copy_order()) {
            store_rows::TableData t;
            t.name = table;
            Stmt s(db, ("SELECT * FROM " + table).c_str());  // names from the fixed list, never input
            for (int c = 0; c < s.columns(); ++c) t.columns.push_back(s.column_name(c));
            while (s.step()) {
                std::vector<std::optional<std::string>> row;
                for (int c = 0; c < s.columns(); ++c)
                    row.push_back(s.is_null(c) ? std::nullopt : std::optional<std::string>(s.exact_text(c)));
                t.rows.push_back(std::move(row));
            }
            out.push_back(std::move(t));
        }
        Stmt(db, "COMMIT").step();
    } catch (...) {
        sqlite3_close(db);
        throw;
    }
    sqlite3_close(db);
    return out;
}

}  // namespace portico::broker

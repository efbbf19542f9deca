#include "broker/store.hpp"

#include <nlohmann/json.hpp>
#include <sqlite3.h>

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
    // 2: desktop pools (VM desktops). A desktop resource is a pool; dedicated desktops remember
    // the host that holds each user's machine.
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
    )sql",
};

// RAII prepared statement with positional binding.
class Stmt {
public:
    Stmt(sqlite3* db, const char* sql) : db_(db) {
        if (sqlite3_prepare_v2(db, sql, -1, &st_, nullptr) != SQLITE_OK)
            throw std::runtime_error(std::string("sqlite prepare: ") + sqlite3_errmsg(db));
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
    bool step() {  // true while a row is available
        int rc = sqlite3_step(st_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        throw std::runtime_error(std::string("sqlite step: ") + sqlite3_errmsg(db_));
    }
    std::string text(int col) {
        auto p = sqlite3_column_text(st_, col);
        return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(st_, col)))
                 : std::string();
    }
    std::int64_t integer(int col) { return sqlite3_column_int64(st_, col); }

private:
    sqlite3* db_;
    sqlite3_stmt* st_ = nullptr;
};

constexpr const char* kSessionCols = "id, user, resource, host_id, state, width, height, created_at, ended_at";

SessionRecord read_session(Stmt& s) {
    SessionRecord r;
    r.id = s.text(0);
    r.user = s.text(1);
    r.resource = s.text(2);
    r.host_id = s.text(3);
    r.state = s.text(4);
    r.width = static_cast<int>(s.integer(5));
    r.height = static_cast<int>(s.integer(6));
    r.created_at = s.integer(7);
    r.ended_at = s.integer(8);
    return r;
}

Resource read_resource(Stmt& s) {
    Resource r;
    r.id = s.text(0);
    r.name = s.text(1);
    r.type = s.text(2);
    auto cmd = nlohmann::json::parse(s.text(3), nullptr, false);
    if (cmd.is_array())
        for (auto& a : cmd)
            if (a.is_string()) r.command.push_back(a.get<std::string>());
    return r;
}

}  // namespace

Store::Store(const std::string& path) {
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
        exec("PRAGMA synchronous=NORMAL");
        migrate();
    } catch (...) {
        sqlite3_close(db_);
        throw;
    }
}

Store::~Store() { sqlite3_close(db_); }

void Store::exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : "unknown error";
        sqlite3_free(err);
        throw std::runtime_error("sqlite: " + msg);
    }
}

void Store::migrate() {
    std::lock_guard lk(mu_);
    exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
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
        exec("COMMIT");
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

int Store::schema_version() {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
    return s.step() ? static_cast<int>(s.integer(0)) : 0;
}

void Store::create_user(const std::string& name, const std::string& hash, std::int64_t now) {
    std::lock_guard lk(mu_);
    Stmt(db_, "INSERT INTO users(name, password_hash, created_at) VALUES (?, ?, ?)")
        .bind(1, name).bind(2, hash).bind(3, now).step();
}

bool Store::set_password_hash(const std::string& name, const std::string& hash) {
    std::lock_guard lk(mu_);
    Stmt(db_, "UPDATE users SET password_hash = ? WHERE name = ?").bind(1, hash).bind(2, name).step();
    if (sqlite3_changes(db_) == 0) return false;
    Stmt(db_, "DELETE FROM login_sessions WHERE user = ?").bind(1, name).step();
    return true;
}

std::optional<std::string> Store::password_hash(const std::string& name) {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT password_hash FROM users WHERE name = ?");
    s.bind(1, name);
    if (!s.step()) return std::nullopt;
    return s.text(0);
}

void Store::create_login_session(const std::string& token_hash, const std::string& user, std::int64_t now,
                                 std::int64_t expires_at) {
    std::lock_guard lk(mu_);
    Stmt(db_, "INSERT INTO login_sessions(token_hash, user, created_at, expires_at) VALUES (?, ?, ?, ?)")
        .bind(1, token_hash).bind(2, user).bind(3, now).bind(4, expires_at).step();
}

std::optional<std::string> Store::login_session_user(const std::string& token_hash, std::int64_t now) {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT user FROM login_sessions WHERE token_hash = ? AND expires_at > ?");
    s.bind(1, token_hash).bind(2, now);
    if (!s.step()) return std::nullopt;
    return s.text(0);
}

void Store::delete_login_session(const std::string& token_hash) {
    std::lock_guard lk(mu_);
    Stmt(db_, "DELETE FROM login_sessions WHERE token_hash = ?").bind(1, token_hash).step();
}

int Store::purge_expired_login_sessions(std::int64_t now) {
    std::lock_guard lk(mu_);
    Stmt(db_, "DELETE FROM login_sessions WHERE expires_at <= ?").bind(1, now).step();
    return sqlite3_changes(db_);
}

void Store::put_resource(const Resource& r) {
    std::lock_guard lk(mu_);
    Stmt(db_, "INSERT OR REPLACE INTO resources(id, name, type, command) VALUES (?, ?, ?, ?)")
        .bind(1, r.id).bind(2, r.name).bind(3, r.type).bind(4, nlohmann::json(r.command).dump()).step();
}

std::vector<Resource> Store::resources() {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT id, name, type, command FROM resources ORDER BY name");
    std::vector<Resource> out;
    while (s.step()) out.push_back(read_resource(s));
    return out;
}

std::optional<Resource> Store::resource(const std::string& id) {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT id, name, type, command FROM resources WHERE id = ?");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_resource(s);
}

void Store::create_session(const SessionRecord& r) {
    std::lock_guard lk(mu_);
    Stmt(db_, "INSERT INTO sessions(id, user, resource, host_id, state, width, height, created_at) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(1, r.id).bind(2, r.user).bind(3, r.resource).bind(4, r.host_id).bind(5, r.state)
        .bind(6, std::int64_t{r.width}).bind(7, std::int64_t{r.height}).bind(8, r.created_at).step();
}

std::optional<SessionRecord> Store::session(const std::string& id) {
    std::lock_guard lk(mu_);
    Stmt s(db_, (std::string("SELECT ") + kSessionCols + " FROM sessions WHERE id = ?").c_str());
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_session(s);
}

bool Store::set_session_state(const std::string& id, const std::string& state, std::int64_t now) {
    std::lock_guard lk(mu_);
    if (state == "ended") {
        Stmt(db_, "UPDATE sessions SET state = 'ended', ended_at = ? WHERE id = ? AND state != 'ended'")
            .bind(1, now).bind(2, id).step();
    } else {
        Stmt(db_, "UPDATE sessions SET state = ? WHERE id = ? AND state != 'ended'").bind(1, state).bind(2, id).step();
    }
    return sqlite3_changes(db_) > 0;
}

std::vector<SessionRecord> Store::live_sessions_of(const std::string& user) {
    std::lock_guard lk(mu_);
    Stmt s(db_, (std::string("SELECT ") + kSessionCols +
                 " FROM sessions WHERE user = ? AND state != 'ended' ORDER BY created_at").c_str());
    s.bind(1, user);
    std::vector<SessionRecord> out;
    while (s.step()) out.push_back(read_session(s));
    return out;
}

std::vector<SessionRecord> Store::active_sessions_for(const std::string& user, const std::string& resource) {
    std::lock_guard lk(mu_);
    Stmt s(db_, (std::string("SELECT ") + kSessionCols +
                 " FROM sessions WHERE user = ? AND resource = ? AND state = 'active' ORDER BY created_at DESC")
                    .c_str());
    s.bind(1, user).bind(2, resource);
    std::vector<SessionRecord> out;
    while (s.step()) out.push_back(read_session(s));
    return out;
}

}  // namespace portico::broker

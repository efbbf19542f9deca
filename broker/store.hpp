#pragma once
// The broker's persistent state in SQLite (WAL, foreign keys on, versioned migrations): users,
// login sessions (only SHA-256 of the cookie token is stored), published resources and display
// sessions. Thread-safe: one connection behind a mutex; every call is a short statement, so it
// is acceptable on network threads (the slow part of login, Argon2, runs on a worker pool).

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace portico::broker {

struct Resource {
    std::string id, name, type;          // type: "app" (desktops later)
    std::vector<std::string> command;    // argv for app sessions
};

struct SessionRecord {
    std::string id, user, resource, host_id, state;  // state: starting, active, ended
    int width = 0, height = 0;
    std::int64_t created_at = 0, ended_at = 0;
};

class Store {
public:
    // Opens (creating if needed) the database and applies pending migrations. Throws on failure.
    explicit Store(const std::string& path);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    int schema_version();

    // Users. create_user throws if the user exists.
    void create_user(const std::string& name, const std::string& password_hash, std::int64_t now);
    std::optional<std::string> password_hash(const std::string& name);
    // Replaces a user's password hash and signs the user out everywhere. False if no such user.
    bool set_password_hash(const std::string& name, const std::string& password_hash);

    // Login sessions, keyed by sha256_hex(token).
    void create_login_session(const std::string& token_hash, const std::string& user, std::int64_t now,
                              std::int64_t expires_at);
    std::optional<std::string> login_session_user(const std::string& token_hash, std::int64_t now);
    void delete_login_session(const std::string& token_hash);
    int purge_expired_login_sessions(std::int64_t now);

    // Resources.
    void put_resource(const Resource& r);
    std::vector<Resource> resources();
    std::optional<Resource> resource(const std::string& id);

    // Display sessions.
    void create_session(const SessionRecord& s);
    std::optional<SessionRecord> session(const std::string& id);
    // Returns false if the session does not exist or has already ended (ended is final).
    bool set_session_state(const std::string& id, const std::string& state, std::int64_t now);
    std::vector<SessionRecord> live_sessions_of(const std::string& user);
    // Active (reconnectable) sessions of a user for a resource, newest first.
    std::vector<SessionRecord> active_sessions_for(const std::string& user, const std::string& resource);

private:
    void exec(const char* sql);
    void migrate();

    std::mutex mu_;
    sqlite3* db_ = nullptr;
};

}  // namespace portico::broker

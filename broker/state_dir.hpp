#pragma once
// The broker's state directory: where TLS material, the ticket key, the enrollment secret and the
// database live, and `portico-broker init` which creates it. Called at start-up only (throws).

#include <optional>
#include <string>

namespace portico::broker {

struct StatePaths {
    std::string dir, tls_cert, tls_key, ticket_key, enrollment_secret, database, ca_cert, ca_key;
    static StatePaths in(const std::string& dir);
};

struct InitOptions {
    std::string state_dir;
    // The store to fill (init --database): a postgresql:// URL or an SQLite file; empty = the state
    // directory's portico.db. A PostgreSQL database that already has users (another broker's
    // init) is left as it is: only the directory's keys and certificates are made.
    std::string database;
    std::string demo_user = "demo";
    std::optional<std::string> demo_password;  // generated when absent
    std::string host_name = "127.0.0.1";       // extra certificate SAN
    std::string admin_user = "admin";
    std::optional<std::string> admin_password;  // generated when absent
};

struct InitResult {
    bool created = false;                  // false: the directory was already initialised and left untouched
    bool database_seeded = true;           // false: the (shared) database had users already; no passwords made
    std::string demo_user, demo_password;  // password only when created
    std::string admin_user, admin_password;
};

// The store a command opens: `database` (--database: a postgresql:// URL or an SQLite file) when
// given, else the state directory's portico.db.
std::string store_location(const std::string& state_dir, const std::string& database);

// Creates the host enrollment CA if the state directory predates it. Throws on failure.
void ensure_ca(const StatePaths& p);

InitResult init_state(const InitOptions& o);

// Reads the enrollment secret (trailing whitespace stripped). Throws if missing or empty.
std::string read_enrollment_secret(const StatePaths& p);

}  // namespace portico::broker

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
    std::string demo_user = "demo";
    std::optional<std::string> demo_password;  // generated when absent
    std::string host_name = "127.0.0.1";       // extra certificate SAN
    std::string admin_user = "admin";
    std::optional<std::string> admin_password;  // generated when absent
};

struct InitResult {
    bool created = false;                  // false: the directory was already initialised and left untouched
    std::string demo_user, demo_password;  // password only when created
    std::string admin_user, admin_password;
};

// Creates the host enrollment CA if the state directory predates it. Throws on failure.
void ensure_ca(const StatePaths& p);

InitResult init_state(const InitOptions& o);

// Reads the enrollment secret (trailing whitespace stripped). Throws if missing or empty.
std::string read_enrollment_secret(const StatePaths& p);

}  // namespace portico::broker

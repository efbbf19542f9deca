#pragma once
// A real PostgreSQL server for the tests of the PostgreSQL store (no mocks): initdb into a
// temporary directory, postgres listening only on a unix socket in it, stopped and removed when
// the test process ends (and killed with it if the process dies: PR_SET_PDEATHSIG). postgres
// refuses to run as root, so when the tests run as root the directory is handed to `nobody` and
// initdb and postgres run as that account. The binaries come from /usr/lib/postgresql/*/bin
// (Debian's postgresql package). A missing PostgreSQL fails the test that asked for it, with
// the reason, under CI=true or not: nothing is skipped silently.

#include <optional>
#include <string>
#include <vector>

namespace test {

class PgServer {
public:
    // The process's one server, started on first use (about a second); throws, saying why, when
    // PostgreSQL is not installed or does not start.
    static PgServer& shared();
    ~PgServer();
    PgServer(const PgServer&) = delete;
    PgServer& operator=(const PgServer&) = delete;

    // A new empty database on the server; its libpq URL (postgresql://...?host=SOCKET_DIR).
    std::string new_database();
    // The URL of database `name` on this server.
    std::string url(const std::string& name) const;

private:
    PgServer();
    std::string dir_, bin_;
    int pid_ = -1;
};

// Runs `sql` on the database at `url` with a connection of its own; the rows as text (NULL as
// nullopt). Throws with the server's message when it fails.
std::vector<std::vector<std::optional<std::string>>> pg_query(const std::string& url, const std::string& sql);
// Whether `sql` succeeds (e.g. to see the database refuse a statement).
bool pg_exec_ok(const std::string& url, const std::string& sql);

}  // namespace test

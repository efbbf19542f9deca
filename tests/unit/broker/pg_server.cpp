#include "pg_server.hpp"

#include <libpq-fe.h>

#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace test {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPort = "5432";  // only names the socket file: nothing listens on TCP

// The newest /usr/lib/postgresql/<version>/bin (Debian installs each major version there).
std::string find_bin_dir() {
    glob_t g{};
    std::vector<std::string> found;
    if (glob("/usr/lib/postgresql/*/bin/postgres", 0, nullptr, &g) == 0)
        for (std::size_t i = 0; i < g.gl_pathc; ++i) found.push_back(fs::path(g.gl_pathv[i]).parent_path().string());
    globfree(&g);
    if (found.empty())
        throw std::runtime_error(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): the tests labelled postgres "
            "need it; install it with deploy/install-deps.sh --test (Debian package postgresql)");
    // Version directories are numbers: the longest name, then the greatest, is the newest.
    std::sort(found.begin(), found.end(), [](const std::string& a, const std::string& b) {
        return a.size() != b.size() ? a.size() < b.size() : a < b;
    });
    return found.back();
}

// Who runs initdb and postgres: ourselves, or `nobody` when we are root (postgres refuses root).
struct Account {
    uid_t uid;
    gid_t gid;
    bool switch_to;
};

Account account() {
    if (geteuid() != 0) return {geteuid(), getegid(), false};
    const passwd* pw = getpwnam("nobody");
    if (!pw) throw std::runtime_error("running as root and there is no user 'nobody' to run postgres as");
    return {pw->pw_uid, pw->pw_gid, true};
}

// fork + exec of argv as `who`, in `dir`, its output appended to `log`. With die_with_us, the
// child gets SIGQUIT (postgres: immediate shutdown) when this thread ends, so a crashed test
// leaves no server behind.
pid_t spawn(const std::vector<std::string>& argv, const Account& who, const std::string& dir, const std::string& log,
            bool die_with_us) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (who.switch_to && (setgroups(0, nullptr) != 0 || setgid(who.gid) != 0 || setuid(who.uid) != 0)) _exit(126);
        // After setuid: changing credentials clears the parent-death signal.
        if (die_with_us && (prctl(PR_SET_PDEATHSIG, SIGQUIT) != 0 || getppid() != parent)) _exit(125);
        if (chdir(dir.c_str()) != 0) _exit(124);
        execv(args[0], args.data());
        _exit(127);
    }
    return pid;
}

std::string tail_of(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    auto text = ss.str();
    return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
}

std::string escaped(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '-' || c == '_' || c == '.')
            out += c;
        else {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
            out += buf;
        }
    }
    return out;
}

}  // namespace

PgServer& PgServer::shared() {
    static PgServer server;
    return server;
}

PgServer::PgServer() {
    bin_ = find_bin_dir();
    const auto who = account();
    char templ[] = "/tmp/portico-pg-XXXXXX";
    if (!mkdtemp(templ)) throw std::runtime_error("cannot create a temporary directory for PostgreSQL");
    dir_ = templ;
    if (who.switch_to && chown(dir_.c_str(), who.uid, who.gid) != 0)
        throw std::runtime_error("cannot hand " + dir_ + " to the postgres account");
    const std::string log = dir_ + "/server.log";
    {
        std::ofstream(log).flush();
        if (who.switch_to && chown(log.c_str(), who.uid, who.gid) != 0)
            throw std::runtime_error("cannot hand " + log + " to the postgres account");
    }
    // Trust on the socket (it is in a directory only the test account and root can enter); C
    // collation so names order as in SQLite; no fsync: a test database needs no durability.
    pid_t init = spawn({bin_ + "/initdb", "-D", dir_ + "/data", "-U", "portico", "-A", "trust", "-E", "UTF8",
                        "--locale=C", "--no-sync"},
                       who, dir_, log, false);
    int status = 0;
    waitpid(init, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        auto why = tail_of(log);
        fs::remove_all(dir_);
        throw std::runtime_error("initdb failed (exit " + std::to_string(WEXITSTATUS(status)) + "):\n" + why);
    }
    pid_ = spawn({bin_ + "/postgres", "-D", dir_ + "/data", "-k", dir_, "-p", kPort, "-c", "listen_addresses=", "-c",
                  "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off", "-c",
                  "shared_buffers=16MB", "-c", "max_connections=60"},
                 who, dir_, log, true);
    const std::string ping = "host=" + dir_ + " port=" + kPort + " user=portico dbname=postgres";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (PQping(ping.c_str()) != PQPING_OK) {
        int st = 0;
        if (waitpid(pid_, &st, WNOHANG) == pid_ || std::chrono::steady_clock::now() > deadline) {
            auto why = tail_of(log);
            kill(pid_, SIGKILL);
            waitpid(pid_, &st, 0);
            pid_ = -1;
            fs::remove_all(dir_);
            throw std::runtime_error("postgres did not start:\n" + why);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

PgServer::~PgServer() {
    if (pid_ > 0) {
        kill(pid_, SIGINT);  // fast shutdown: ends the connections still open
        int st = 0;
        for (int i = 0; i < 200 && waitpid(pid_, &st, WNOHANG) != pid_; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (kill(pid_, 0) == 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, &st, 0);
        }
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
}

std::string PgServer::url(const std::string& name) const {
    return "postgresql:///" + name + "?host=" + escaped(dir_) + "&port=" + kPort + "&user=portico";
}

std::string PgServer::new_database() {
    static int n = 0;
    std::string name = "t" + std::to_string(++n);
    pg_query(url("postgres"), "CREATE DATABASE " + name);
    return url(name);
}

std::vector<std::vector<std::optional<std::string>>> pg_query(const std::string& url, const std::string& sql) {
    PGconn* c = PQconnectdb(url.c_str());
    if (PQstatus(c) != CONNECTION_OK) {
        std::string why = PQerrorMessage(c);
        PQfinish(c);
        throw std::runtime_error("cannot connect to " + url + ": " + why);
    }
    PGresult* r = PQexec(c, sql.c_str());
    auto status = PQresultStatus(r);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        std::string why = PQresultErrorMessage(r);
        PQclear(r);
        PQfinish(c);
        throw std::runtime_error(sql + ": " + why);
    }
    std::vector<std::vector<std::optional<std::string>>> rows;
    for (int i = 0; i < PQntuples(r); ++i) {
        std::vector<std::optional<std::string>> row;
        for (int j = 0; j < PQnfields(r); ++j)
            row.push_back(PQgetisnull(r, i, j) ? std::nullopt : std::optional<std::string>(PQgetvalue(r, i, j)));
        rows.push_back(std::move(row));
    }
    PQclear(r);
    PQfinish(c);
    return rows;
}

bool pg_exec_ok(const std::string& url, const std::string& sql) {
    try {
        pg_query(url, sql);
        return true;
    } catch (const std::runtime_error&) {
        return false;
    }
}

}  // namespace test

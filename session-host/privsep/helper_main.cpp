// portico-session-helper: started as root, it starts portico-host under an unprivileged service
// account and stays behind as the only privileged part of the session host (session_helper.hpp).
//
//   portico-session-helper --service-user portico-host [options] -- /path/portico-host ARGS...
#include "common/log.hpp"
#include "session-host/privsep/session_helper.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

extern char** environ;

namespace {

const char* kUsage = R"(usage: portico-session-helper --service-user USER [options] -- PORTICO-HOST [ARGS...]

Runs as root. Starts PORTICO-HOST as USER (an unprivileged service account) and then starts each
app session's processes as the portal user's own Unix account, on the host's request only.

  --service-user USER   the account portico-host runs as (required; not root)
  --accounts LIST       how portal users map to Unix accounts: existing, create, or existing,create
                        (default existing,create: an existing account of the same name with uid
                        >= 1000, else one created from --uid-range)
  --uid-range MIN-MAX   uids (and gids) of the accounts the helper creates (default 200000-299999)
  --home-base DIR       where created accounts' home directories go (default /home)
  --runtime-dir DIR     root-owned directory for sessions' private runtime directories
                        (default /run/portico-sessions)
)";

[[noreturn]] void usage_error(const std::string& why) {
    std::cerr << "portico-session-helper: " << why << "\n\n" << kUsage;
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    using namespace portico::host::privsep;
    SessionHelper::Options options;
    std::string service_user;
    int i = 1;
    for (; i < argc; ++i) {
        std::string flag = argv[i];
        if (flag == "--") {
            ++i;
            break;
        }
        if (flag == "--help" || flag == "-h") {
            std::cout << kUsage;
            return 0;
        }
        if (i + 1 >= argc) usage_error(flag + " needs a value");
        std::string value = argv[++i];
        if (flag == "--service-user") service_user = value;
        else if (flag == "--accounts") {
            if (value != "existing" && value != "create" && value != "existing,create" && value != "create,existing")
                usage_error("--accounts: expected existing, create or existing,create");
            options.accounts.use_existing = value.find("existing") != std::string::npos;
            options.accounts.create = value.find("create") != std::string::npos;
        } else if (flag == "--uid-range") {
            unsigned long lo = 0, hi = 0;
            char dash = 0;
            int consumed = 0;
            if (std::sscanf(value.c_str(), "%lu%c%lu%n", &lo, &dash, &hi, &consumed) != 3 || dash != '-' ||
                consumed != static_cast<int>(value.size()) || lo < 1000 || hi < lo || hi >= 4294967294ul)
                usage_error("--uid-range: expected MIN-MAX with 1000 <= MIN <= MAX");
            options.accounts.uid_min = static_cast<uid_t>(lo);
            options.accounts.uid_max = static_cast<uid_t>(hi);
        } else if (flag == "--home-base") options.accounts.home_base = value;
        else if (flag == "--runtime-dir") options.runtime_base = value;
        else usage_error("unknown flag '" + flag + "'");
    }
    if (i >= argc) usage_error("give the portico-host command after --");
    if (service_user.empty()) usage_error("--service-user is required");
    if (::geteuid() != 0) usage_error("must run as root (it starts sessions as their users)");
    const passwd* pw = ::getpwnam(service_user.c_str());
    if (!pw) usage_error("no account named '" + service_user + "'");
    if (pw->pw_uid == 0) usage_error("--service-user must not be root");
    const uid_t service_uid = pw->pw_uid;
    const gid_t service_gid = pw->pw_gid;
    const std::string service_home = pw->pw_dir ? pw->pw_dir : "/";
    options.accounts.service_uid = service_uid;
    if (service_uid >= options.accounts.uid_min && service_uid <= options.accounts.uid_max)
        usage_error("the service account's uid lies inside --uid-range");

    // Xvfb (run by the host) wants its socket directory to exist, owned by root and sticky.
    if (::mkdir("/tmp/.X11-unix", 01777) == 0) ::chmod("/tmp/.X11-unix", 01777);

    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
        std::perror("socketpair");
        return 1;
    }
    // Strays of sessions (daemonised children) are reparented to the helper, which reaps them.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    std::vector<char*> host_argv(argv + i, argv + argc);
    host_argv.push_back(nullptr);
    const std::string fd_env = "PORTICO_SESSION_HELPER_FD=" + std::to_string(pair[1]);
    pid_t host = ::fork();
    if (host < 0) {
        std::perror("fork");
        return 1;
    }
    if (host == 0) {
        ::close(pair[0]);
        ::fcntl(pair[1], F_SETFD, 0);  // the host inherits its end
        if (::initgroups(service_user.c_str(), service_gid) != 0 || ::setgid(service_gid) != 0 ||
            ::setuid(service_uid) != 0 || ::setuid(0) == 0) {
            std::perror("portico-session-helper: cannot become the service account");
            ::_exit(127);
        }
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        ::setenv("PORTICO_SESSION_HELPER_FD", fd_env.substr(fd_env.find('=') + 1).c_str(), 1);
        ::setenv("HOME", service_home.c_str(), 1);
        ::setenv("USER", service_user.c_str(), 1);
        ::setenv("LOGNAME", service_user.c_str(), 1);
        ::execvp(host_argv[0], host_argv.data());
        std::fprintf(stderr, "portico-session-helper: cannot run %s: %s\n", host_argv[0], std::strerror(errno));
        ::_exit(127);
    }
    ::close(pair[1]);
    portico::log::info("session helper: started ", host_argv[0], " as ", service_user, " (uid ", service_uid,
                       "); sessions run as their users' accounts");
    SessionHelper helper(std::move(options), pair[0], host);
    try {
        return helper.run();
    } catch (const std::exception& e) {
        portico::log::error("session helper: ", e.what());
        return 1;
    }
}

// portico-session-helper: started as root, it starts portico-host under an unprivileged service
// account and stays behind as the only privileged part of the session host (session_helper.hpp).
//
//   portico-session-helper --service-user portico-host [options] -- /path/portico-host ARGS...
#include "common/cli.hpp"
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

const char* kDescription = R"(usage: portico-session-helper --service-user USER [options] -- PORTICO-HOST [ARGS...]

Runs as root. Starts PORTICO-HOST as USER (an unprivileged service account) and then starts each
app session's processes as the portal user's own Unix account, on the host's request only.)";

struct HelperCommandLine {
    bool help = false;
    std::string service_user;
    std::string accounts;
    std::string uid_range;
    portico::host::privsep::SessionHelper::Options options;
};

void declare(CLI::App& app, HelperCommandLine& c) {
    portico::cli::setup(app, &c.help);
    app.description(kDescription);
    app.add_option("--service-user", c.service_user, "the account portico-host runs as (required; not root)")
        ->option_text("USER");
    app.add_option("--accounts", c.accounts,
                   "how portal users map to Unix accounts: existing, create, or existing,create\n"
                   "(default existing,create: an existing account of the same name with uid\n"
                   ">= 1000, else one created from --uid-range)")
        ->option_text("LIST")
        ->check(CLI::Validator(
            [](std::string& v) -> std::string {
                if (v == "existing" || v == "create" || v == "existing,create" || v == "create,existing") return {};
                return "expected existing, create or existing,create";
            },
            ""));
    app.add_option("--uid-range", c.uid_range,
                   "uids (and gids) of the accounts the helper creates (default 200000-299999)")
        ->option_text("MIN-MAX")
        ->check(CLI::Validator(
            [](std::string& v) -> std::string {
                unsigned long lo = 0, hi = 0;
                char dash = 0;
                int consumed = 0;
                if (std::sscanf(v.c_str(), "%lu%c%lu%n", &lo, &dash, &hi, &consumed) != 3 || dash != '-' ||
                    consumed != static_cast<int>(v.size()) || lo < 1000 || hi < lo || hi >= 4294967294ul)
                    return "expected MIN-MAX with 1000 <= MIN <= MAX";
                return {};
            },
            ""));
    app.add_option("--home-base", c.options.accounts.home_base,
                   "where created accounts' home directories go (default /home)")
        ->option_text("DIR");
    app.add_option("--runtime-dir", c.options.runtime_base,
                   "root-owned directory for sessions' private runtime directories\n"
                   "(default /run/portico-sessions)")
        ->option_text("DIR");
}

[[noreturn]] void usage_error(const std::string& why) {
    HelperCommandLine c;
    CLI::App app("", "portico-session-helper");
    declare(app, c);
    std::cerr << "portico-session-helper: " << why << "\n\n" << app.help();
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    using namespace portico::host::privsep;
    // The helper's own options come before "--", the host's command line after it.
    int split = 1;
    while (split < argc && std::string(argv[split]) != "--") ++split;
    HelperCommandLine c;
    CLI::App app("", "portico-session-helper");
    declare(app, c);
    if (auto parsed = portico::cli::parse(app, std::vector<std::string>(argv + 1, argv + split)); !parsed)
        usage_error(parsed.error().message);
    if (c.help) {
        std::cout << app.help();
        return 0;
    }
    SessionHelper::Options options = c.options;
    const std::string service_user = c.service_user;
    if (!c.accounts.empty()) {
        options.accounts.use_existing = c.accounts.find("existing") != std::string::npos;
        options.accounts.create = c.accounts.find("create") != std::string::npos;
    }
    if (!c.uid_range.empty()) {
        unsigned long lo = 0, hi = 0;
        std::sscanf(c.uid_range.c_str(), "%lu-%lu", &lo, &hi);  // checked by the option's validator
        options.accounts.uid_min = static_cast<uid_t>(lo);
        options.accounts.uid_max = static_cast<uid_t>(hi);
    }
    int i = split + 1;  // the host's command
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

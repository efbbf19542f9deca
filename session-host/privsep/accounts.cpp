#include "session-host/privsep/accounts.hpp"

#include "session-host/privsep/helper_wire.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace portico::host::privsep {

namespace {

bool lookup(const std::string& name, Account& out) {
    std::vector<char> buf(16384);
    passwd pw{}, *res = nullptr;
    if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &res) != 0 || !res) return false;
    out.name = pw.pw_name;
    out.uid = pw.pw_uid;
    out.gid = pw.pw_gid;
    out.home = pw.pw_dir ? pw.pw_dir : "/";
    out.shell = pw.pw_shell && *pw.pw_shell ? pw.pw_shell : "/bin/sh";
    return true;
}

// useradd picks a free uid/gid inside the range itself (-K), so two helpers cannot pick the same.
std::string create_account(const AccountPolicy& p, const std::string& name) {
    const std::string range_uid_min = "UID_MIN=" + std::to_string(p.uid_min),
                      range_uid_max = "UID_MAX=" + std::to_string(p.uid_max),
                      range_gid_min = "GID_MIN=" + std::to_string(p.uid_min),
                      range_gid_max = "GID_MAX=" + std::to_string(p.uid_max);
    const std::string home = p.home_base + "/" + name;
    std::vector<std::string> args = {
        "/usr/sbin/useradd", "-K", range_uid_min,          "-K", range_uid_max, "-K", range_gid_min, "-K",
        range_gid_max,       "-K", "HOME_MODE=0700",       "-U", "-m",          "-d", home,          "-s",
        "/bin/bash",         "-c", "Portico session user", "--", name};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    char env_path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    char* envp[] = {env_path, nullptr};
    pid_t pid = ::fork();
    if (pid < 0) return std::string("fork: ") + std::strerror(errno);
    if (pid == 0) {
        int null_fd = ::open("/dev/null", O_RDWR);
        if (null_fd >= 0) ::dup2(null_fd, 0), ::dup2(null_fd, 1);
        ::execve(argv[0], argv.data(), envp);
        ::_exit(127);
    }
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return "useradd " + name + " failed (status " +
               std::to_string(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st)) + ")";
    return "";
}

}  // namespace

std::string account_refusal(const AccountPolicy& p, uid_t uid) {
    if (uid >= p.uid_min && uid <= p.uid_max) return "";
    if (uid == 0) return "it is root";
    if (uid == p.service_uid) return "it is the session host's own account";
    if (uid < 1000 || uid == 65534) return "it is a system account";
    if (!p.use_existing) return "this host maps portal users only to accounts it creates";
    return "";
}

std::string resolve_account(const AccountPolicy& p, const std::string& portal_user, Account& out) {
    if (!valid_account_name(portal_user))
        return "the portal user name '" + portal_user +
               "' is not a valid Unix account name ([a-z_][a-z0-9_-]*, at most 32)";
    if (!lookup(portal_user, out)) {
        if (!p.create) return "there is no Unix account named '" + portal_user + "' on this host";
        if (auto e = create_account(p, portal_user); !e.empty()) return e;
        if (!lookup(portal_user, out)) return "the account '" + portal_user + "' was created but cannot be found";
        ::chmod(out.home.c_str(), 0700);
    }
    if (auto why = account_refusal(p, out.uid); !why.empty())
        return "the Unix account '" + portal_user + "' (uid " + std::to_string(out.uid) +
               ") cannot run sessions: " + why;
    out.created_range = out.uid >= p.uid_min && out.uid <= p.uid_max;
    return "";
}

}  // namespace portico::host::privsep

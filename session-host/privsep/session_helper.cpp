#include "session-host/privsep/session_helper.hpp"

#include "common/log.hpp"
#include "session-host/privsep/helper_wire.hpp"
#include "session-host/privsep/xauthority.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

namespace portico::host::privsep {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

json refuse(const std::string& why) { return {{"ok", false}, {"error", why}}; }

int exit_code(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); }

bool group_alive(pid_t pgid) { return ::kill(-pgid, 0) == 0; }

std::string hex_decode(const std::string& hex) {
    if (hex.size() % 2) return {};
    std::string out;
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        auto nib = [](char c) {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            return -1;
        };
        int hi = nib(hex[i]), lo = nib(hex[i + 1]);
        if (hi < 0 || lo < 0) return {};
        out.push_back(static_cast<char>(hi * 16 + lo));
    }
    return out;
}

bool valid_display(const std::string& d) {
    return d.size() >= 2 && d.size() <= 7 && d[0] == ':' &&
           std::all_of(d.begin() + 1, d.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The root-owned directory that holds every session's runtime directory.
void ensure_base(const std::string& base) {
    struct stat st {};
    if (::lstat(base.c_str(), &st) != 0) {
        if (::mkdir(base.c_str(), 0755) != 0 && errno != EEXIST)
            throw std::runtime_error("cannot create " + base + ": " + std::strerror(errno));
        if (::lstat(base.c_str(), &st) != 0) throw std::runtime_error("cannot stat " + base);
    }
    if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022))
        throw std::runtime_error(base + " must be a directory owned by root and writable only by it");
}

// Every process of `uid`, signalled by a child that has become that user: kill(-1) reaches
// exactly the processes the user could signal, including any that left the session's group.
void kill_all_of(uid_t uid, gid_t gid) {
    pid_t pid = ::fork();
    if (pid == 0) {
        if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(1);
        ::kill(-1, SIGKILL);
        ::_exit(0);
    }
    if (pid > 0)
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
}

}  // namespace

SessionHelper::SessionHelper(Options options, int socket_fd, pid_t host_pid)
    : options_(std::move(options)), socket_(socket_fd), host_pid_(host_pid) {}

json SessionHelper::handle(const json& req, int fd, int& reply_fd) {
    reply_fd = -1;
    json reply;
    try {
        const std::string op = req.value("op", "");
        if (op == "start")
            reply = start(req, fd, reply_fd);
        else if (op == "stop")
            reply = stop(req);
        else if (op == "status")
            reply = status(req);
        else
            reply = refuse("unknown request '" + op.substr(0, 32) + "'");
    } catch (const json::exception&) {
        reply = refuse("malformed request");
    } catch (const std::exception& e) {
        reply = refuse(e.what());
    }
    if (fd >= 0) ::close(fd);
    return reply;
}

json SessionHelper::start(const json& req, int log_fd, int& reply_fd) {
    const std::string id = req.at("session").get<std::string>(), user = req.at("user").get<std::string>(),
                      display = req.at("display").get<std::string>(),
                      cookie = hex_decode(req.at("cookie").get<std::string>());
    const auto argv_in = req.at("argv").get<std::vector<std::string>>();
    const auto env_in = req.value("env", std::vector<std::string>{});
    if (!valid_session_id(id)) return refuse("invalid session id");
    if (sessions_.count(id)) return refuse("session " + id + " is already running");
    if (!valid_display(display)) return refuse("invalid display");
    if (cookie.size() != kCookieBytes) return refuse("invalid X authority cookie");
    if (argv_in.empty() || argv_in.size() > 256 || argv_in[0].empty() || argv_in[0][0] != '/')
        return refuse("the command must be an absolute path with at most 255 arguments");
    for (const auto& a : argv_in)
        if (a.size() > 4096 || a.find('\0') != std::string::npos) return refuse("invalid argument");
    if (env_in.size() > 64) return refuse("too many environment entries");
    for (const auto& e : env_in)
        if (!allowed_env_entry(e))
            return refuse("environment entry not allowed: " + e.substr(0, e.find('=')).substr(0, 64));
    if (log_fd < 0) return refuse("no log descriptor");

    Session s;
    if (auto why = resolve_account(options_.accounts, user, s.account); !why.empty()) return refuse(why);
    const Account& a = s.account;

    ensure_base(options_.runtime_base);
    s.runtime_dir = options_.runtime_base + "/" + id;
    std::error_code ec;
    fs::remove_all(s.runtime_dir, ec);  // a leftover of a helper that was killed
    if (::mkdir(s.runtime_dir.c_str(), 0700) != 0)
        throw std::runtime_error("cannot create " + s.runtime_dir + ": " + std::strerror(errno));
    auto drop_dir = [&] { fs::remove_all(s.runtime_dir, ec); };
    if (::chown(s.runtime_dir.c_str(), a.uid, a.gid) != 0) {
        drop_dir();
        throw std::runtime_error("cannot chown " + s.runtime_dir);
    }
    const std::string xauthority = s.runtime_dir + "/Xauthority";
    try {
        write_xauthority_file(xauthority, cookie, a.uid, a.gid);
    } catch (...) {
        drop_dir();
        throw;
    }

    // Prepared before fork(): argv, a clean environment, the exec error pipe.
    std::vector<std::string> args = argv_in;
    std::vector<char*> argv;
    for (auto& x : args) argv.push_back(x.data());
    argv.push_back(nullptr);
    std::vector<std::string> env = {"HOME=" + a.home,
                                    "USER=" + a.name,
                                    "LOGNAME=" + a.name,
                                    "SHELL=" + a.shell,
                                    "PATH=/usr/local/bin:/usr/bin:/bin",
                                    "DISPLAY=" + display,
                                    "XAUTHORITY=" + xauthority,
                                    "XDG_RUNTIME_DIR=" + s.runtime_dir};
    if (std::none_of(env_in.begin(), env_in.end(), [](const std::string& e) { return e.rfind("LANG=", 0) == 0; }))
        env.push_back("LANG=C.UTF-8");
    env.insert(env.end(), env_in.begin(), env_in.end());
    std::vector<char*> envp;
    for (auto& x : env) envp.push_back(x.data());
    envp.push_back(nullptr);
    int err_pipe[2];
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
        drop_dir();
        throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    }
    const pid_t helper = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) {
        ::close(err_pipe[0]), ::close(err_pipe[1]);
        drop_dir();
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
        // The helper is single-threaded, so this child may use the C library freely.
        auto die = [&](int e) {
            ssize_t ignored = ::write(err_pipe[1], &e, sizeof e);
            (void)ignored;
            ::_exit(127);
        };
        ::setsid();
        int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0 || ::dup2(null_fd, 0) < 0 || ::dup2(log_fd, 1) < 0 || ::dup2(log_fd, 2) < 0) die(errno);
        if (::initgroups(a.name.c_str(), a.gid) != 0 || ::setgid(a.gid) != 0 || ::setuid(a.uid) != 0) die(errno);
        if (::setuid(0) == 0) die(EPERM);  // the switch must be irrevocable
        // After the uid change: changing credentials clears the parent-death signal.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != helper) ::_exit(127);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) ::signal(sig, SIG_DFL);
        ::umask(022);
        if (::chdir(a.home.c_str()) != 0 && ::chdir("/") != 0) die(errno);
        ::close_range(3, err_pipe[1] - 1, 0);
        ::close_range(err_pipe[1] + 1, ~0u, 0);
        ::execve(argv[0], argv.data(), envp.data());
        die(errno);
    }
    ::close(err_pipe[1]);
    int child_errno = 0;
    ssize_t n;
    while ((n = ::read(err_pipe[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR) {
    }
    ::close(err_pipe[0]);
    if (n == static_cast<ssize_t>(sizeof child_errno)) {
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
        drop_dir();
        return refuse("cannot start " + argv_in[0] + " as " + a.name + ": " + std::strerror(child_errno));
    }
    s.pid = pid;
    // The host watches the app through a pidfd (it cannot wait for a process it did not fork).
    s.pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (s.pidfd < 0) {
        const int e = errno;
        ::kill(-pid, SIGKILL);
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
        drop_dir();
        return refuse(std::string("pidfd_open: ") + std::strerror(e) + " (Linux 5.3 or later is needed)");
    }
    reply_fd = s.pidfd;
    log::info("session ", id, ": started ", argv_in[0], " as ", a.name, " (uid ", a.uid, ", pid ", pid, ")");
    json reply = {{"ok", true},        {"pid", pid},     {"uid", a.uid},
                  {"account", a.name}, {"home", a.home}, {"xauthority", xauthority}};
    sessions_.emplace(id, std::move(s));
    return reply;
}

json SessionHelper::stop(const json& req) {
    const std::string id = req.at("session").get<std::string>();
    const int grace_ms = std::clamp(req.value("grace_ms", 2000), 0, 10000);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return {{"ok", true}};
    Session& s = it->second;
    if (!s.stopping) {
        s.stopping = true;
        s.kill_at = Clock::now() + std::chrono::milliseconds(grace_ms);
        ::kill(-s.pid, SIGTERM);
    }
    advance_stops(false);
    return {{"ok", true}};
}

json SessionHelper::status(const json& req) {
    reap();
    auto it = sessions_.find(req.at("session").get<std::string>());
    if (it == sessions_.end()) return {{"ok", true}, {"exited", true}, {"status", 0}};
    return {{"ok", true}, {"exited", it->second.exited}, {"status", it->second.status}};
}

void SessionHelper::reap() {
    for (;;) {
        int st = 0;
        pid_t pid = ::waitpid(-1, &st, WNOHANG);
        if (pid <= 0) return;
        if (pid == host_pid_) host_status_ = exit_code(st);
        for (auto& [id, s] : sessions_)
            if (s.pid == pid) s.exited = true, s.status = exit_code(st);
    }
}

void SessionHelper::advance_stops(bool force) {
    const auto now = Clock::now();
    for (auto it = sessions_.begin(); it != sessions_.end();) {
        auto next = std::next(it);
        Session& s = it->second;
        if (force || (s.stopping && ((s.exited && !group_alive(s.pid)) || now >= s.kill_at))) finish(it);
        it = next;
    }
}

void SessionHelper::finish(std::map<std::string, Session>::iterator it) {
    Session& s = it->second;
    ::kill(-s.pid, SIGKILL);
    const uid_t uid = s.account.uid;
    bool last_of_user = std::none_of(sessions_.begin(), sessions_.end(), [&](const auto& e) {
        return e.first != it->first && e.second.account.uid == uid;
    });
    if (s.account.created_range && last_of_user) kill_all_of(uid, s.account.gid);
    std::error_code ec;
    fs::remove_all(s.runtime_dir, ec);
    if (s.pidfd >= 0) ::close(s.pidfd);
    log::info("session ", it->first, ": processes of ", s.account.name, " ended");
    sessions_.erase(it);
}

int SessionHelper::next_timeout_ms() const {
    int best = -1;
    const auto now = Clock::now();
    for (const auto& [id, s] : sessions_) {
        if (!s.stopping) continue;
        // A stopping session whose leader has exited is checked often: its group may linger.
        auto ms = s.exited ? 50 : std::chrono::duration_cast<std::chrono::milliseconds>(s.kill_at - now).count() + 1;
        int v = static_cast<int>(std::clamp<long long>(ms, 0, 60000));
        if (best < 0 || v < best) best = v;
    }
    return best;
}

int SessionHelper::run() {
    sigset_t mask;
    sigemptyset(&mask);
    for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, sig);
    ::sigprocmask(SIG_BLOCK, &mask, nullptr);
    // Non-blocking: the loop below drains every queued signal, then must return to poll().
    int sfd = ::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) throw std::runtime_error(std::string("signalfd: ") + std::strerror(errno));
    bool host_gone = false;
    while (!host_gone) {
        pollfd fds[2] = {{socket_, POLLIN, 0}, {sfd, POLLIN, 0}};
        int rc = ::poll(fds, 2, next_timeout_ms());
        if (rc < 0 && errno != EINTR) break;
        if (fds[1].revents & POLLIN) {
            signalfd_siginfo info{};
            while (::read(sfd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
                if (info.ssi_signo == SIGCHLD) continue;
                // Ctrl-C or a service stop: the host ends its sessions itself, then exits.
                if (host_pid_ > 0 && host_status_ < 0) ::kill(host_pid_, SIGTERM);
                break;
            }
            reap();
            if (host_status_ >= 0) host_gone = true;
        }
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            std::string error;
            auto got = receive_message(socket_, error);
            if (!got) {
                if (error != "malformed message" && error != "message too large" &&
                    error != "more than one descriptor") {
                    host_gone = true;
                } else {
                    log::warn("session helper: refused a request from the host: ", error);
                    send_message(socket_, refuse(error));
                }
            } else {
                int reply_fd = -1;
                json reply = handle(got->message, got->fd, reply_fd);
                if (auto e = send_message(socket_, reply, reply_fd); !e.empty()) log::warn("session helper: ", e);
            }
        }
        advance_stops(false);
        if (host_status_ >= 0) host_gone = true;  // reaped while answering a request
    }
    // The host is gone: nothing it started may outlive it.
    advance_stops(true);
    if (host_pid_ > 0 && host_status_ < 0) {
        ::kill(host_pid_, SIGTERM);
        for (int i = 0; i < 150 && host_status_ < 0; ++i) {
            reap();
            if (host_status_ < 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        if (host_status_ < 0) {
            ::kill(host_pid_, SIGKILL);
            int st = 0;
            while (::waitpid(host_pid_, &st, 0) < 0 && errno == EINTR) {
            }
            host_status_ = exit_code(st);
        }
    }
    ::close(sfd);
    return host_status_;
}

}  // namespace portico::host::privsep

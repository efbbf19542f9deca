#include "session-host/app/app_process.hpp"

#include "session-host/app/find_program.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace portico::host {

namespace {

std::string home_dir() {
    if (const char* h = std::getenv("HOME"); h && *h) return h;
    if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) return pw->pw_dir;
    return "/";
}

bool group_alive(pid_t pgid) { return ::kill(-pgid, 0) == 0 || errno == EPERM; }

}  // namespace

AppProcess::AppProcess(const std::vector<std::string>& argv_in, const std::string& display,
                       const std::string& xauthority, const std::string& log_path,
                       const std::vector<std::string>& extra_env) {
    if (argv_in.empty()) throw std::runtime_error("AppProcess: empty command");
    const std::string exe = find_program(argv_in[0]);
    if (exe.empty()) throw std::runtime_error("AppProcess: " + argv_in[0] + " not found or not executable");

    // Prepared before fork(): the child of a multi-threaded process may only make
    // async-signal-safe calls.
    std::vector<std::string> args = argv_in;
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> own = extra_env;
    own.push_back("DISPLAY=" + display);
    own.push_back("XAUTHORITY=" + xauthority);
    auto overridden = [&own](const char* entry) {
        for (const auto& o : own) {
            auto eq = o.find('=');
            if (eq != std::string::npos && std::strncmp(entry, o.c_str(), eq + 1) == 0) return true;
        }
        return false;
    };
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) {
        if (!overridden(*e)) env_strings.emplace_back(*e);
    }
    env_strings.insert(env_strings.end(), own.begin(), own.end());
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    const std::string cwd = home_dir();

    int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0) throw std::runtime_error("AppProcess: cannot open log " + log_path + ": " + std::strerror(errno));
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int err_pipe[2] = {-1, -1};
    if (null_fd < 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
        ::close(log_fd);
        if (null_fd >= 0) ::close(null_fd);
        throw std::runtime_error(std::string("AppProcess: setup failed: ") + std::strerror(errno));
    }
    // Lift the fds above 0..3 so the dup2() calls in the child cannot clobber a source.
    int hi_log = ::fcntl(log_fd, F_DUPFD_CLOEXEC, 10), hi_null = ::fcntl(null_fd, F_DUPFD_CLOEXEC, 10),
        hi_err = ::fcntl(err_pipe[1], F_DUPFD_CLOEXEC, 10);
    ::close(log_fd);
    ::close(null_fd);
    ::close(err_pipe[1]);
    const pid_t parent = ::getpid();

    pid_t pid = ::fork();
    if (pid < 0) {
        int e = errno;
        ::close(hi_log), ::close(hi_null), ::close(hi_err), ::close(err_pipe[0]);
        throw std::runtime_error(std::string("AppProcess: fork: ") + std::strerror(e));
    }
    if (pid == 0) {
        auto die = [&](int e) {
            ssize_t ignored = ::write(3, &e, sizeof e);
            (void)ignored;
            ::_exit(127);
        };
        ::setsid();  // own session and process group: terminate() signals the whole group
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent) ::_exit(127);
        ::dup2(hi_null, 0);
        ::dup2(hi_log, 1);
        ::dup2(hi_log, 2);
        ::dup2(hi_err, 3);
        ::fcntl(3, F_SETFD, FD_CLOEXEC);
        ::close_range(4, ~0u, 0);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) ::signal(sig, SIG_DFL);
        if (::chdir(cwd.c_str()) != 0 && ::chdir("/") != 0) die(errno);
        ::execve(exe.c_str(), argv.data(), envp.data());
        die(errno);
    }
    pid_ = pid;
    ::close(hi_log), ::close(hi_null), ::close(hi_err);

    // The error pipe closes on a successful exec; otherwise it carries the child's errno.
    int child_errno = 0;
    ssize_t n;
    while ((n = ::read(err_pipe[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR) {
    }
    ::close(err_pipe[0]);
    if (n == static_cast<ssize_t>(sizeof child_errno)) {
        while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
        }
        exited_ = true;
        throw std::runtime_error("AppProcess: cannot exec " + exe + ": " + std::strerror(child_errno));
    }
}

AppProcess::~AppProcess() { terminate(); }

bool AppProcess::exited() {
    if (exited_) return true;
    if (pid_ <= 0) return true;
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
        exited_ = true;
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    } else if (r < 0 && errno == ECHILD) {
        exited_ = true;  // reaped elsewhere (e.g. a SIGCHLD handler with SIG_IGN)
    }
    return exited_;
}

void AppProcess::terminate(int grace_ms) {
    if (pid_ <= 0) return;
    // The group outlives its leader when the app leaves children behind; those are strays too.
    if (exited() && !group_alive(pid_)) return;
    ::kill(-pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
    while (std::chrono::steady_clock::now() < deadline) {
        if (exited() && !group_alive(pid_)) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(-pid_, SIGKILL);
    if (!exited_) {
        int st = 0;
        pid_t r;
        while ((r = ::waitpid(pid_, &st, 0)) < 0 && errno == EINTR) {
        }
        exited_ = true;
        if (r == pid_) status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
}

}  // namespace portico::host

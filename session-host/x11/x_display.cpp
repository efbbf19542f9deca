#include "session-host/x11/x_display.hpp"

#include "capture/x11/x11_connection.hpp"
#include "session-host/app/find_program.hpp"
#include "session-host/privsep/xauthority.hpp"
#include "session-host/x11/display_scale.hpp"

#include <xcb/xcb.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

extern char** environ;

namespace portico::host {

namespace {

using Clock = std::chrono::steady_clock;

std::string tail_of(const std::string& path, std::size_t max_bytes = 1500) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return {};
    in.seekg(0, std::ios::end);
    auto size = static_cast<std::size_t>(in.tellg());
    std::size_t from = size > max_bytes ? size - max_bytes : 0;
    in.seekg(static_cast<std::streamoff>(from));
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// SIGTERM, up to 2 s grace, SIGKILL, reap. Xvfb is alone in its process group.
void stop_server(pid_t pid) {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    auto deadline = Clock::now() + std::chrono::seconds(2);
    while (Clock::now() < deadline) {
        pid_t r = ::waitpid(pid, nullptr, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
}

// What `xrdb -merge` does on a fresh server (whose RESOURCE_MANAGER is empty): the resource
// text as a STRING property on screen 0's root window. -noreset keeps it for the server's life.
bool set_resources(xcb_connection_t* c, int screen_number, const std::string& text, std::string& why) {
    auto it = xcb_setup_roots_iterator(xcb_get_setup(c));
    for (int i = 0; i < screen_number && it.rem > 0; ++i) xcb_screen_next(&it);
    if (it.rem <= 0) {
        why = "no screen " + std::to_string(screen_number);
        return false;
    }
    auto* e = xcb_request_check(
        c, xcb_change_property_checked(c, XCB_PROP_MODE_REPLACE, it.data->root, XCB_ATOM_RESOURCE_MANAGER,
                                       XCB_ATOM_STRING, 8, static_cast<std::uint32_t>(text.size()), text.data()));
    if (!e) return true;
    why = "X error " + std::to_string(e->error_code);
    std::free(e);
    return false;
}

struct Fd {
    int fd = -1;
    explicit Fd(int f = -1) : fd(f) {}
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
};

}  // namespace

XvfbDisplay::XvfbDisplay(int width, int height, const std::string& runtime_dir, int dpi) {
    std::filesystem::create_directories(runtime_dir);
    xauthority_ = runtime_dir + "/Xauthority";
    cookie_ = privsep::random_cookie();
    privsep::write_xauthority_file(xauthority_, cookie_);
    const std::string log_path = runtime_dir + "/Xvfb.log";

    const std::string xvfb = find_program("Xvfb");
    if (xvfb.empty()) throw std::runtime_error("Xvfb not found in PATH");

    // Everything the child needs is prepared before fork(): after it only async-signal-safe calls.
    int ready_pipe[2];
    if (::pipe2(ready_pipe, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    Fd ready_r(ready_pipe[0]), ready_w(ready_pipe[1]);
    Fd log_fd(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    Fd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (log_fd.fd < 0 || null_fd.fd < 0) throw std::runtime_error("cannot open " + log_path);
    // Copies above the fds the child rearranges, so dup2() onto 0..3 cannot clobber a source.
    Fd hi_ready(::fcntl(ready_w.fd, F_DUPFD_CLOEXEC, 10)), hi_log(::fcntl(log_fd.fd, F_DUPFD_CLOEXEC, 10)),
        hi_null(::fcntl(null_fd.fd, F_DUPFD_CLOEXEC, 10));

    const std::string geometry = std::to_string(width) + "x" + std::to_string(height) + "x24";
    std::vector<std::string> args = {"Xvfb",  "-displayfd",        "3",       "-nolisten", "tcp",
                                     "-auth", xauthority_,         "-screen", "0",         geometry,
                                     "-dpi",  std::to_string(dpi), "-noreset"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();

    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        ::setpgid(0, 0);
        // No Xvfb may outlive a crashed host. (Fires when the forking *thread* exits.)
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);
        ::dup2(hi_null.fd, 0);
        ::dup2(hi_log.fd, 1);
        ::dup2(hi_log.fd, 2);
        ::dup2(hi_ready.fd, 3);
        ::close_range(4, ~0u, 0);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) ::signal(sig, SIG_DFL);
        ::execve(xvfb.c_str(), argv.data(), environ);
        ::_exit(127);
    }
    pid_ = pid;
    ::close(ready_w.fd);
    ready_w.fd = -1;
    ::close(hi_ready.fd);
    hi_ready.fd = -1;

    auto fail = [&](const std::string& why) {
        stop_server(pid_);
        pid_ = -1;
        std::string tail = tail_of(log_path);
        throw std::runtime_error("Xvfb failed to start: " + why + (tail.empty() ? "" : "; Xvfb said: " + tail));
    };

    // Xvfb writes "<number>\n" to -displayfd once it accepts connections.
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    std::string number;
    bool done = false;
    while (!done) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) fail("no display number within 10 s");
        pollfd pfd{ready_r.fd, POLLIN, 0};
        int rc = ::poll(&pfd, 1, static_cast<int>(left));
        if (rc < 0 && errno != EINTR) fail(std::string("poll: ") + std::strerror(errno));
        if (rc <= 0) continue;
        char buf[32];
        ssize_t n = ::read(ready_r.fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail("it exited");
        for (ssize_t i = 0; i < n; ++i) {
            if (buf[i] == '\n')
                done = true;
            else if (buf[i] >= '0' && buf[i] <= '9')
                number.push_back(buf[i]);
        }
        if (number.size() > 6) fail("garbage on -displayfd");
    }
    if (number.empty()) fail("empty display number");
    display_ = ":" + number;

    // Prove the server takes our cookie before anyone else relies on it.
    std::string last_error, resources_error;
    for (;;) {
        try {
            int screen = 0;
            xcb_connection_t* c = capture::connect_x11(display_, xauthority_, &screen);
            std::string why;
            const bool ok = set_resources(c, screen, xft_resources(dpi), why);
            xcb_disconnect(c);
            if (!ok) resources_error = why;
            break;
        } catch (const std::exception& e) {
            last_error = e.what();
        }
        if (Clock::now() >= deadline) fail("cannot connect: " + last_error);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!resources_error.empty()) fail("cannot set RESOURCE_MANAGER: " + resources_error);
}

XvfbDisplay::~XvfbDisplay() {
    stop_server(pid_);
    if (!xauthority_.empty()) ::unlink(xauthority_.c_str());
}

bool XvfbDisplay::running() const {
    if (pid_ <= 0) return false;
    siginfo_t info{};
    // WNOWAIT: look without reaping, so the destructor still owns the reap.
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return false;
    return info.si_pid == 0;
}

}  // namespace portico::host

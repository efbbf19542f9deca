#include "client/native/terminal_prompt.hpp"

#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

namespace portico::client {

namespace {

// The terminal's settings while echo is off, so a Ctrl+C can put them back before the process ends.
int g_tty = -1;
termios g_saved{};

extern "C" void restore_and_reraise(int sig) {
    if (g_tty >= 0) ::tcsetattr(g_tty, TCSANOW, &g_saved);
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

}  // namespace

std::optional<std::string> ask_on_terminal(const std::string& prompt, bool echo) {
    const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    // Echo goes off before the prompt is shown, and with TCSADRAIN rather than TCSAFLUSH: a
    // password typed ahead, as soon as the prompt appears, is neither echoed nor thrown away.
    termios saved{};
    const bool quiet = !echo && ::tcgetattr(fd, &saved) == 0;
    void (*old_int)(int) = nullptr;
    if (quiet) {
        g_tty = fd;
        g_saved = saved;
        old_int = std::signal(SIGINT, restore_and_reraise);
        termios t = saved;
        t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        t.c_lflag |= ECHONL;
        ::tcsetattr(fd, TCSADRAIN, &t);
    }
    auto restore = [&] {
        if (!quiet) return;
        ::tcsetattr(fd, TCSADRAIN, &saved);
        std::signal(SIGINT, old_int);
        g_tty = -1;
    };
    if (::write(fd, prompt.data(), prompt.size()) < 0) {
        restore();
        ::close(fd);
        return std::nullopt;
    }
    std::string line;
    bool got_line = false;
    char c;
    while (::read(fd, &c, 1) == 1) {
        if (c == '\n') {
            got_line = true;
            break;
        }
        line.push_back(c);
    }
    restore();
    ::close(fd);
    if (!got_line) return std::nullopt;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

}  // namespace portico::client

#include "session-host/vm/guest_agent.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace portico::host::vm {

GuestAgent::~GuestAgent() { close(); }

void GuestAgent::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    in_.clear();
}

bool GuestAgent::connect() {
    if (fd_ >= 0) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now < next_connect_) return false;
    next_connect_ = now + std::chrono::seconds(1);  // QEMU may not have made the socket yet
    sockaddr_un addr{};
    if (path_.size() >= sizeof(addr.sun_path)) return false;
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) return false;
    // A unix socket connects at once or not at all (QEMU listens for the VM's whole life).
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        close();
        return false;
    }
    written_ = 0;  // a request cut by a lost connection goes again whole
    return true;
}

bool GuestAgent::send(std::string line) {
    // A partly written request must end before another starts, or the guest reads a mix of both.
    const bool replaced = written_ == 0 && !out_.empty();
    if (written_ > 0 && written_ < out_.size()) {
        out_ = out_.substr(written_) + std::move(line) + '\n';
    } else {
        out_ = std::move(line) + '\n';
    }
    written_ = 0;
    return replaced;
}

std::vector<std::string> GuestAgent::poll() {
    std::vector<std::string> answers;
    if (!connect()) return answers;
    while (written_ < out_.size()) {
        const ssize_t n = ::send(fd_, out_.data() + written_, out_.size() - written_, MSG_NOSIGNAL);
        if (n > 0) {
            written_ += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
        close();  // QEMU is gone; the session's end follows from the display
        return answers;
    }
    if (written_ == out_.size()) {
        out_.clear();
        written_ = 0;
    }
    // At most kReadBudget a call: a guest that writes without end must not hold the capture thread.
    char buf[4096];
    for (std::size_t budget = kReadBudget; budget > 0; budget -= std::min(budget, sizeof buf)) {
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) {
            close();
            break;
        }
        for (ssize_t i = 0; i < n; ++i) {
            const char c = buf[i];
            if (c == '\n') {
                answers.push_back(std::move(in_));
                in_.clear();
            } else if (in_.size() < kMaxLine) {
                in_ += (c >= 0x20 && c < 0x7f) ? c : '?';
            }
        }
    }
    return answers;
}

}  // namespace portico::host::vm

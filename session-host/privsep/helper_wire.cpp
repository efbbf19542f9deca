#include "session-host/privsep/helper_wire.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace portico::host::privsep {

std::string send_message(int socket_fd, const nlohmann::json& message, int fd) {
    const std::string text = message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (text.size() > kMaxMessage) return "message too large";
    iovec iov{const_cast<char*>(text.data()), text.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    if (fd >= 0) {
        std::memset(control, 0, sizeof control);
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    for (;;) {
        ssize_t n = ::sendmsg(socket_fd, &msg, MSG_NOSIGNAL);
        if (n == static_cast<ssize_t>(text.size())) return "";
        if (n < 0 && errno == EINTR) continue;
        return n < 0 ? std::string("send: ") + std::strerror(errno) : "short send";
    }
}

std::optional<Received> receive_message(int socket_fd, std::string& error) {
    std::vector<char> buf(kMaxMessage + 1);
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    while ((n = ::recvmsg(socket_fd, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
    }
    if (n < 0) {
        error = std::string("receive: ") + std::strerror(errno);
        return std::nullopt;
    }
    Received out;
    // Every descriptor that arrived is taken, so none leaks whatever the verdict.
    std::vector<int> fds;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            fds.push_back(fd);
        }
    }
    auto fail = [&](std::string why) -> std::optional<Received> {
        for (int fd : fds) ::close(fd);
        error = std::move(why);
        return std::nullopt;
    };
    if (n == 0) return fail("closed");
    if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || static_cast<std::size_t>(n) > kMaxMessage)
        return fail("message too large");
    if (fds.size() > 1) return fail("more than one descriptor");
    out.message = nlohmann::json::parse(buf.data(), buf.data() + n, nullptr, false);
    if (out.message.is_discarded() || !out.message.is_object()) return fail("malformed message");
    out.fd = fds.empty() ? -1 : fds[0];
    return out;
}

bool valid_account_name(const std::string& name) {
    if (name.empty() || name.size() > 32) return false;
    if (!(name[0] == '_' || (name[0] >= 'a' && name[0] <= 'z'))) return false;
    return std::all_of(name.begin(), name.end(),
                       [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; });
}

bool valid_session_id(const std::string& id) {
    if (id.empty() || id.size() > 128 || id == "." || id == "..") return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
               c == '.';
    });
}

bool allowed_env_entry(const std::string& entry) {
    auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0 || eq > 64 || entry.size() > 4096) return false;
    if (entry.find('\0') != std::string::npos) return false;
    const std::string name = entry.substr(0, eq);
    if (!std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }) ||
        (name[0] >= '0' && name[0] <= '9'))
        return false;
    if (name.rfind("LD_", 0) == 0) return false;
    static const char* const reserved[] = {"HOME",    "USER",        "LOGNAME",         "SHELL",       "PATH",
                                           "DISPLAY", "XAUTHORITY",  "XDG_RUNTIME_DIR", "GCONV_PATH",  "LOCPATH",
                                           "NLSPATH", "HOSTALIASES", "RES_OPTIONS",     "MALLOC_TRACE"};
    return std::none_of(std::begin(reserved), std::end(reserved), [&](const char* r) { return name == r; });
}

}  // namespace portico::host::privsep

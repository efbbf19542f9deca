#include "session-host/vm/qmp_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace portico::host::vm {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t max_message = 4 * 1024 * 1024;  // QMP replies are small; this bounds a broken peer

int remaining_ms(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left <= 0 ? 0 : static_cast<int>(left);
}

}  // namespace

QmpClient::~QmpClient() { close(); }

void QmpClient::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buffer_.clear();
}

bool QmpClient::connect(const std::string& socket_path, std::chrono::milliseconds timeout, std::string& error) {
    close();
    sockaddr_un addr{};
    if (socket_path.size() >= sizeof(addr.sun_path)) {
        error = "QMP socket path too long: " + socket_path;
        return false;
    }
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) {
            error = std::string("socket: ") + std::strerror(errno);
            return false;
        }
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) break;
        const int err = errno;
        close();
        if (Clock::now() >= deadline) {
            error = "cannot connect to QMP socket " + socket_path + ": " + std::strerror(err);
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    auto greeting = read_message(deadline);
    if (!greeting || !greeting->contains("QMP")) {
        close();
        error = "no QMP greeting on " + socket_path;
        return false;
    }
    if (!execute("qmp_capabilities", nlohmann::json::object(), std::chrono::milliseconds(remaining_ms(deadline) + 1000),
                 error)) {
        close();
        error = "QMP capability negotiation failed: " + error;
        return false;
    }
    return true;
}

bool QmpClient::send_line(const std::string& line) {
    std::size_t done = 0;
    while (done < line.size()) {
        const ssize_t n = ::send(fd_, line.data() + done, line.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            close();
            return false;
        }
        done += static_cast<std::size_t>(n);
    }
    return true;
}

std::optional<nlohmann::json> QmpClient::read_message(Clock::time_point deadline) {
    for (;;) {
        if (fd_ < 0) return std::nullopt;
        if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
            std::string line = buffer_.substr(0, nl);
            buffer_.erase(0, nl + 1);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.empty()) continue;
            auto j = nlohmann::json::parse(line, nullptr, false);
            if (j.is_discarded() || !j.is_object()) {
                close();
                return std::nullopt;
            }
            return j;
        }
        if (buffer_.size() > max_message) {
            close();
            return std::nullopt;
        }
        pollfd p{fd_, POLLIN, 0};
        const int r = ::poll(&p, 1, remaining_ms(deadline));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return std::nullopt;  // timeout
        char chunk[8192];
        const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) {
            close();
            return std::nullopt;
        }
        buffer_.append(chunk, static_cast<std::size_t>(n));
    }
}

std::optional<nlohmann::json> QmpClient::execute(const std::string& command, const nlohmann::json& arguments,
                                                 std::chrono::milliseconds timeout, std::string& error) {
    if (fd_ < 0) {
        error = "QMP not connected";
        return std::nullopt;
    }
    const unsigned id = next_id_++;
    nlohmann::json msg{{"execute", command}, {"id", id}};
    if (!arguments.empty()) msg["arguments"] = arguments;
    if (!send_line(msg.dump() + "\r\n")) {
        error = "QMP connection lost while sending " + command;
        return std::nullopt;
    }
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        auto reply = read_message(deadline);
        if (!reply) {
            error = fd_ < 0 ? "QMP connection lost during " + command : "QMP " + command + " timed out";
            return std::nullopt;
        }
        if (reply->contains("event")) {
            if (events_.size() < 256) events_.push_back(std::move(*reply));
            continue;
        }
        if (!reply->contains("id") || (*reply)["id"] != id) continue;  // a stale reply to a timed-out command
        if (reply->contains("error")) {
            const auto& e = (*reply)["error"];
            error = "QMP " + command + ": " + e.value("class", std::string("error")) + ": " +
                    e.value("desc", std::string());
            return std::nullopt;
        }
        return reply->value("return", nlohmann::json::object());
    }
}

std::optional<nlohmann::json> QmpClient::next_event(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (!events_.empty()) {
            auto e = std::move(events_.front());
            events_.pop_front();
            return e;
        }
        auto msg = read_message(deadline);
        if (!msg) return std::nullopt;
        if (msg->contains("event")) return msg;
        // A reply nobody waits for any more: drop it.
    }
}

}  // namespace portico::host::vm

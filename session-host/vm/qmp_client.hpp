#pragma once
// QmpClient: a small client for QEMU's machine protocol (QMP) over a unix socket — capability
// negotiation, commands, and events (SHUTDOWN, STOP, RESET, ...). Blocking with timeouts: it is
// used only by the VM manager/session thread that owns the VM, never by network threads.

#include <nlohmann/json.hpp>

#include <chrono>
#include <deque>
#include <optional>
#include <string>

namespace portico::host::vm {

class QmpClient {
public:
    QmpClient() = default;
    ~QmpClient();
    QmpClient(const QmpClient&) = delete;
    QmpClient& operator=(const QmpClient&) = delete;

    // Connects (retrying until `timeout` while QEMU creates the socket), reads the greeting and
    // negotiates capabilities. On failure returns false with `error` set.
    bool connect(const std::string& socket_path, std::chrono::milliseconds timeout, std::string& error);
    bool connected() const { return fd_ >= 0; }
    void close();

    // Runs a command; returns its "return" value, or nullopt with `error` set (QMP error reply,
    // timeout, or lost connection). Events arriving meanwhile are queued for next_event().
    std::optional<nlohmann::json> execute(const std::string& command, const nlohmann::json& arguments,
                                          std::chrono::milliseconds timeout, std::string& error);
    // The next event object ({"event": "SHUTDOWN", "data": {...}, ...}) within `timeout`, or
    // nullopt (timeout or lost connection: check connected()).
    std::optional<nlohmann::json> next_event(std::chrono::milliseconds timeout);

    // The socket, for callers that want to poll() it alongside other things.
    int fd() const { return fd_; }

private:
    // Reads one JSON message, waiting until `deadline`. nullopt on timeout/EOF/garbage (closes on
    // EOF or garbage).
    std::optional<nlohmann::json> read_message(std::chrono::steady_clock::time_point deadline);
    bool send_line(const std::string& line);

    int fd_ = -1;
    std::string buffer_;
    std::deque<nlohmann::json> events_;
    unsigned next_id_ = 1;
};

}  // namespace portico::host::vm

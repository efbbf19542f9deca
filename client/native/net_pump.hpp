#pragma once
// NetPump: a thread of its own that moves the display channel's messages, so the window thread
// never waits on the network and input goes out at once. It owns the DisplayConnection once
// Hello/ServerHello are done: it receives, queuing each message with its arrival time and telling
// the window thread (notify, e.g. an SDL user event) when the queue stops being empty, and sends
// what the window thread queued (send() wakes its receive). A lost connection is reported once,
// through failed() after a notify; the pump then stops. Destroying the pump stops and joins it and
// closes the connection.

#include "client/native/display_connection.hpp"

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace portico::client {

struct Arrival {
    protocol::Message message;
    Clock::time_point at;
};

class NetPump {
public:
    NetPump(std::unique_ptr<DisplayConnection> conn, std::function<void()> notify);
    ~NetPump();
    NetPump(const NetPump&) = delete;
    NetPump& operator=(const NetPump&) = delete;

    // Any thread: queued, sent by the pump as soon as it wakes.
    void send(protocol::Message m);
    // Window thread: what arrived since the last call, oldest first.
    std::vector<Arrival> take();
    // Why the connection ended, once it has (the pump stopped).
    std::optional<Error<ClientError>> failed() const;
    std::uint64_t bytes_received() const { return bytes_.load(); }

private:
    void run();

    std::unique_ptr<DisplayConnection> conn_;
    std::function<void()> notify_;
    mutable std::mutex mu_;
    std::vector<Arrival> inbox_;
    std::deque<protocol::Message> outbox_;
    std::optional<Error<ClientError>> failed_;
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> bytes_{0};
    std::thread thread_;
};

}  // namespace portico::client

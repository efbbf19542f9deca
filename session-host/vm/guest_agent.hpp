#pragma once
// GuestAgent: the host's end of a line channel into a VM's guest. QEMU joins a virtio-serial port
// named org.portico.agent.0 to agent.sock in the VM's runtime directory (vm_instance.cpp); in
// the guest, deploy/guest/portico-agent reads it. It carries what RFB cannot: a viewer's monitor
// layout (RFB's SetDesktopSize reaches the guest as one screen size). A guest without the agent
// leaves requests unread; nothing waits for an answer. Capture thread only; never blocks.

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace portico::host::vm {

class GuestAgent {
public:
    static constexpr std::size_t kMaxLine = 4096;          // a longer answer is cut there: the guest is not trusted
    static constexpr std::size_t kReadBudget = 64 * 1024;  // read at most this much a poll()

    explicit GuestAgent(std::string socket_path) : path_(std::move(socket_path)) {}
    ~GuestAgent();
    GuestAgent(const GuestAgent&) = delete;
    GuestAgent& operator=(const GuestAgent&) = delete;

    // Queues one request line (no '\n'); a request not yet written gives way to a newer one.
    // True when that happened: the replaced request will get no answer.
    bool send(std::string line);
    // Writes what is queued and returns the guest's answers since the last call, one per line,
    // with anything but printable ASCII replaced by '?'.
    std::vector<std::string> poll();

private:
    bool connect();
    void close();

    std::string path_;
    int fd_ = -1;
    std::string out_;  // the queued request, or what is left of it
    std::size_t written_ = 0;
    std::string in_;
    std::chrono::steady_clock::time_point next_connect_{};
};

}  // namespace portico::host::vm

#pragma once
// In-memory view of the session hosts currently connected over the control channel, and the
// placement policy (fewest sessions under the host's maximum). Thread-safe (one mutex); called
// from network threads. Holds each host's ControlLink so the broker can send it messages.

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace portico::broker {

// A live control connection. send() and close() may be called from any thread.
class ControlLink {
public:
    virtual ~ControlLink() = default;
    virtual void send(std::string json_text) = 0;
    virtual void close() = 0;
};

struct HostInfo {
    std::string host_id, name, display_url, cert_sha256;
    std::vector<std::string> apps;
    std::vector<std::string> images;  // golden images it runs as VM desktops
    int max_sessions = 0;
    int sessions = 0;
    std::chrono::steady_clock::time_point last_heartbeat{};
    std::shared_ptr<ControlLink> link;
};

class HostRegistry {
public:
    // Adds or replaces the host; returns the link it replaced (to be closed by the caller).
    std::shared_ptr<ControlLink> add(HostInfo info);
    // Removes the host only if `link` is still its current connection (a re-register may have
    // replaced it). Returns whether it was removed.
    bool remove(const std::string& host_id, const ControlLink* link);
    std::optional<HostInfo> get(const std::string& host_id) const;
    // The connected host offering `resource_id` or `resource_name` (or "*") with the fewest
    // sessions below its maximum; reserves one session slot on it.
    std::optional<HostInfo> pick_and_reserve(const std::string& resource_id, const std::string& resource_name);
    // The connected host having golden image `image` with the fewest sessions below its maximum
    // (only `only_host` when given: a dedicated desktop lives there); reserves one session slot.
    std::optional<HostInfo> pick_and_reserve_image(const std::string& image, const std::string& only_host);
    // Every connected host's link (to tell them all something).
    std::vector<std::shared_ptr<ControlLink>> links() const;
    void adjust_sessions(const std::string& host_id, int delta);
    void heartbeat(const std::string& host_id, const ControlLink* link, int sessions);
    std::size_t size() const;
    // Drops every host (shutdown); the links are released outside the lock.
    void clear();

private:
    mutable std::mutex mu_;
    std::unordered_map<std::string, HostInfo> hosts_;
};

}  // namespace portico::broker

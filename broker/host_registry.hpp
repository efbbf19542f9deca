#pragma once
// In-memory view of the session hosts currently connected over the control channel, with their
// live load (heartbeats) and drain flag; placement is delegated to choose_host (placement.hpp).
// Thread-safe (one mutex); called from network threads and the broker's liveness timer. Holds
// each host's ControlLink so the broker can send it messages. With several brokers on one store
// it also holds the hosts connected to the others ("remote", cluster.hpp), whose links send
// through the broker that holds them; a host connected here always wins over its remote entry.

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

// Where the ids of requests sent over ControlLinks (start_session, thumbnail_request) start: a
// random number below 2^52 (exact in JSON numbers), so brokers sending to the same hosts
// (cluster.hpp) never meet each other's ids in practice while each counts up from its own.
std::uint64_t random_request_id_base();

struct HostInfo {
    std::string host_id, name, display_url, cert_sha256;
    std::vector<std::string> apps;
    std::vector<std::string> images;  // golden images it runs as VM desktops
    std::string vm_accel;             // "kvm" or "tcg" when it runs VM desktops
    std::string isolation;            // how its app sessions run: "per-user", "none", "refused"
    int max_sessions = 0;
    int sessions = 0;           // what placement counts: reported + starting + started_unseen
    int reported_sessions = 0;  // running, as the last heartbeat said
    // Placed here by this broker, not yet ready (or failed): a heartbeat does not count them.
    int starting = 0;
    // Ready, and not yet in a heartbeat. A host sends a session's session_ready before any
    // heartbeat that counts it, on the same connection, so the next heartbeat here counts them;
    // for another broker's host (whose figure arrives through its row) they count for
    // kStartsCounted instead.
    std::vector<std::chrono::steady_clock::time_point> started_unseen;
    double cpu = 0, mem = 0;  // 0..1, last heartbeat
    bool drain = false;
    std::string auth;                // "mtls" or "secret"
    std::string client_cert_sha256;  // enrolled client certificate (mtls)
    std::string broker_id;           // the broker holding its connection; empty: this one
    std::chrono::steady_clock::time_point last_heartbeat{};
    std::shared_ptr<ControlLink> link;
};

struct PlacementRequest;

class HostRegistry {
public:
    // Adds or replaces the host; returns the link it replaced (to be closed by the caller).
    std::shared_ptr<ControlLink> add(HostInfo info);
    // Removes the host only if `link` is still its current connection (a re-register may have
    // replaced it), or unconditionally when link is null. Returns whether it was removed.
    bool remove(const std::string& host_id, const ControlLink* link);
    std::optional<HostInfo> get(const std::string& host_id) const;
    // How long a session started on another broker's host counts beside its row's figure (two
    // heartbeats and a sync).
    static constexpr std::chrono::seconds kStartsCounted{5};
    // Chooses a host for a new session with choose_host() and reserves one session slot on it.
    std::optional<HostInfo> pick_and_reserve(const PlacementRequest& request);
    // The launch that reserved a slot on the host failed or timed out: the slot is free again.
    void release_reservation(const std::string& host_id);
    // The launch that reserved a slot is ready: it counts until a heartbeat counts it.
    void reservation_started(const std::string& host_id);
    void heartbeat(const std::string& host_id, const ControlLink* link, int sessions, double cpu, double mem);
    bool set_drain(const std::string& host_id, bool drain);
    // Hosts connected here whose last heartbeat is older than `timeout`: removed from the
    // registry and returned (the caller closes their links and marks their sessions lost).
    std::vector<HostInfo> take_stale(std::chrono::steady_clock::duration timeout);
    // The hosts other brokers hold, as their rows say now: replaces every remote entry (those
    // not listed are gone); a host connected here keeps its own entry.
    void set_remote(std::vector<HostInfo> remote);
    std::vector<HostInfo> snapshot() const;        // every host, remote ones included
    std::vector<HostInfo> local_snapshot() const;  // the hosts connected to this broker
    std::size_t size() const;
    // Drops every host (shutdown); the links are released outside the lock.
    void clear();

private:
    static void recount(HostInfo& h);  // under mu_
    mutable std::mutex mu_;
    std::unordered_map<std::string, HostInfo> hosts_;
};

}  // namespace portico::broker

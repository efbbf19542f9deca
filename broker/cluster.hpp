#pragma once
// Cluster: several brokers active-active on one PostgreSQL store. Each host keeps its control
// connection to one broker (whichever the load balancer gave it); every broker can still place
// a launch on any host, relay its display and end its sessions:
//
//   - the holder of a host's connection writes the host's registration and every heartbeat to
//     its row (Store::upsert_host / host_heartbeat: broker_id, live figures, last_seen), and the
//     other brokers read those rows every second into their HostRegistry as *remote* hosts, whose
//     ControlLink sends through the bus (message_bus.hpp) to the holder, which passes the message
//     on to the host;
//   - a host's answer to a request another broker made (session_ready / session_failed for its
//     launch, a thumbnail) goes back to that broker over the bus; the holder remembers who asked
//     by (host, request_id), and request ids are random per broker so they never collide;
//   - everything else a host reports (session ended, state, heartbeats) is applied by its holder
//     to the shared store, which every broker reads; the live stream figures of its sessions
//     (LiveStats) travel in the host's row with each heartbeat, so any broker's console shows them.
// A broker that dies stops writing heartbeats; its hosts reconnect through the load balancer to
// another broker, which takes them over (upsert_host), and any broker's sweep marks down the
// hosts that did not come back (Store::take_silent_hosts), losing their sessions.
//
// With an SQLite store there is one broker and no bus: every host is local, nothing is sent.
// Threads: store thread, except the bus's own thread (which only posts to the store thread).

#include "broker/broker.hpp"
#include "broker/host_registry.hpp"
#include "broker/live_stats.hpp"
#include "broker/message_bus.hpp"
#include "broker/store.hpp"
#include "broker/store_executor.hpp"
#include "protocol/control.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

namespace portico::broker {

class Cluster {
public:
    // A host's answer that another broker forwarded here (session_ready, session_failed,
    // thumbnail, thumbnail_failed), to be applied as if the host had sent it here.
    using ReportHook = std::function<void(const std::string& host_id, const protocol::control::Message&)>;
    // The holder says the host is not connected there any more: launches waiting on it fail.
    using HostGoneHook = std::function<void(const std::string& host_id)>;

    // bus: null with an SQLite store (one broker).
    Cluster(const BrokerConfig& config, std::string broker_id, Store& store, HostRegistry& registry,
            LiveStats& live_stats, StoreExecutor& jobs, std::unique_ptr<MessageBus> bus);
    ~Cluster();
    Cluster(const Cluster&) = delete;
    Cluster& operator=(const Cluster&) = delete;

    const std::string& broker_id() const { return broker_id_; }
    bool shared() const { return bus_ != nullptr; }

    // Wiring, before start().
    void on_report(ReportHook hook) { on_report_ = std::move(hook); }
    void on_host_gone(HostGoneHook hook) { on_host_gone_ = std::move(hook); }
    // Refuses (throws) to join brokers whose ticket key or host CA differ from this one's: hosts
    // would refuse its tickets, or it their certificates. Start-up, before any connection.
    void check_shared_keys(const std::string& ticket_public_key, const std::string& ca_cert_pem);
    void start();
    void stop();

    // ---- store thread ----
    // What other brokers' rows say of their hosts, into the registry and their sessions' figures
    // into LiveStats (once a second).
    void sync_remote_hosts(std::int64_t now);
    // A host connected here answered request_id: true when another broker made the request and
    // the answer was sent there (then it is not applied here).
    bool forward_answer(const std::string& host_id, std::uint64_t request_id, const protocol::control::Message& m);
    // The host as other brokers need it, for its row's `live` column: with the fresh figures of
    // its sessions (`streams`, none at registration).
    static std::string live_json(const HostInfo& h, const std::vector<LiveStats::Shared>& streams = {});

    // ---- any thread (the remote hosts' links) ----
    void send_to_host(const std::string& holder, const std::string& host_id, std::string control_text);
    void close_host(const std::string& holder, const std::string& host_id);

private:
    void send(const std::string& to, std::string envelope);
    void received(std::string payload);  // store thread
    void deliver_to_host(const std::string& host_id, const std::string& from, const std::string& text);

    const BrokerConfig& config_;
    const std::string broker_id_;
    Store& store_;
    HostRegistry& registry_;
    LiveStats& live_stats_;
    StoreExecutor& jobs_;
    std::unique_ptr<MessageBus> bus_;
    ReportHook on_report_;
    HostGoneHook on_host_gone_;
    std::atomic<std::uint64_t> sequence_{0};
    // (host, request id) -> the broker that asked, for requests relayed to hosts connected here.
    struct Asked {
        std::string broker;
        std::chrono::steady_clock::time_point at;
    };
    std::map<std::pair<std::string, std::uint64_t>, Asked> asked_;
};

// A broker id for this process when none is configured: the machine's name and a random suffix,
// so two brokers never share one by accident (a copied state directory, one machine, one port).
std::string default_broker_id();

}  // namespace portico::broker

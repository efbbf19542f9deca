#pragma once
// Core: the broker's composition root. Opens the state directory (store, keys, CA, TLS), builds
// the services and wires them; the connections (http_session, control_session, gateway_session)
// and the REST routes reach the services through it. Dependencies point one way: connections ->
// Core -> services -> Store; no service knows a connection, and the services know each other only
// as wired here (a host going down reaches the launch service through HostDirectory's hook).
//
//   Identity       logins, login sessions, authentication          identity.hpp
//   LaunchService  the launch state machine, sessions, tickets     launch_service.hpp
//   LaunchFiles    "Open in the Portico app": launch-file tokens   launch_files.hpp
//   HostDirectory  hosts: registration, liveness, drain, removal    host_directory.hpp
//   Enrollment     enrollment tokens, enroll, host authorization    enrollment.hpp
//   DesktopPools   VM desktop placement, the hosts' pool list       desktop_pools.hpp
//   AuditLog       the append-only audit trail                      audit_log.hpp
//   Thumbnails     live pictures of sessions, asked of their hosts  thumbnails.hpp
//   Cluster        the other brokers on a shared store, their hosts  cluster.hpp
//
// Threads: the network threads only parse, route and answer. Everything that touches the store
// runs on the store executor (store_executor.hpp; its thread also runs the services' timers) or,
// with an Argon2 hash, on the password workers (Identity). On a store that takes concurrent calls
// (PostgreSQL: Store::concurrent_calls), a launch's reads run first on the launch readers, so
// launches wait on the database side by side; what they decide stays on the store thread.
// Not part of the public API.

#include "broker/audit_log.hpp"
#include "broker/broker.hpp"
#include "broker/cluster.hpp"
#include "broker/desktop_pools.hpp"
#include "broker/enrollment.hpp"
#include "broker/host_directory.hpp"
#include "broker/host_registry.hpp"
#include "broker/identity.hpp"
#include "broker/launch_files.hpp"
#include "broker/launch_service.hpp"
#include "broker/live_stats.hpp"
#include "broker/metrics.hpp"
#include "broker/pki.hpp"
#include "broker/state_dir.hpp"
#include "broker/store.hpp"
#include "broker/store_executor.hpp"
#include "broker/thumbnails.hpp"
#include "broker/tls_files.hpp"
#include "common/crypto.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <memory>
#include <optional>
#include <string>

namespace portico::broker {

class Core {
public:
    // Throws on a bad state directory (start-up configuration).
    explicit Core(const BrokerConfig& config);
    ~Core();
    Core(const Core&) = delete;
    Core& operator=(const Core&) = delete;

    const BrokerConfig& config() const { return config_; }
    boost::asio::ssl::context& server_tls() { return server_tls_; }
    // Re-reads the TLS files (Broker::reload_tls); logs and audits the outcome, never throws.
    void reload_tls();
    const std::string& ticket_public_key_b64() const { return ticket_pub_b64_; }
    // Hex SHA-256 of the certificate served now (launch files pin it). Any thread.
    std::string server_cert_sha256() const { return server_cert_.sha256(); }

    StoreExecutor& store_jobs() { return store_jobs_; }
    // Runs a launch's reading half (LaunchService::read_launch) on a launch reader, or on the
    // store thread when the store takes one call at a time (SQLite). `job` contains its failures.
    template <class Job>
    void post_launch_read(Job job) {
        if (launch_readers_)
            boost::asio::post(*launch_readers_, std::move(job));
        else
            store_jobs_.post("launch", std::move(job));
    }
    Store& store() { return *store_; }  // store thread (or a password worker) only
    AuditLog& audit() { return audit_; }
    Identity& identity() { return *identity_; }
    HostDirectory& hosts() { return *hosts_; }
    Enrollment& enrollment() { return *enrollment_; }
    LaunchService& launches() { return *launches_; }
    LaunchFiles& launch_files() { return *launch_files_; }
    DesktopPools& desktops() { return *desktops_; }
    LiveStats& live_stats() { return live_stats_; }
    Thumbnails& thumbnails() { return *thumbnails_; }
    Cluster& cluster() { return *cluster_; }

    // A host's answer to a request (session_ready, session_failed, thumbnail, thumbnail_failed),
    // arrived on its control connection here: sent on to the broker that made the request when
    // another one did, else applied here. Store thread.
    void host_answered(const std::string& host_id, const protocol::control::Message& m);

    // GET /metrics: the counters and the gauges read now, as Prometheus text. Store thread.
    std::string metrics_text();

    // Starts the liveness tick and the pool check on the store thread. Called by Broker::start.
    void start();
    // Stops the store thread and the password workers, drops pending launches and the control
    // connections; before the network io_context goes. Idempotent.
    void shutdown();

private:
    void schedule_tick();
    void tick();
    void apply_answer(const std::string& host_id, const protocol::control::Message& m);

    BrokerConfig config_;
    StatePaths paths_;
    std::unique_ptr<Store> store_;
    crypto::Ed25519Key ticket_key_;
    std::string ticket_pub_b64_;
    std::unique_ptr<BrokerCa> ca_;
    ServerCertificate server_cert_;  // before server_tls_, which calls back into it
    boost::asio::ssl::context server_tls_;
    StoreExecutor store_jobs_;                                // after store_: its jobs use the store
    std::optional<boost::asio::thread_pool> launch_readers_;  // only when store_->concurrent_calls() > 1
    Metrics metrics_;
    LiveStats live_stats_;
    AuditLog audit_;
    SessionEnds session_ends_{*store_, live_stats_, audit_};
    HostRegistry registry_;
    std::unique_ptr<Cluster> cluster_;
    std::unique_ptr<Identity> identity_;
    std::unique_ptr<HostDirectory> hosts_;
    std::unique_ptr<Enrollment> enrollment_;
    std::unique_ptr<DesktopPools> desktops_;
    std::unique_ptr<LaunchService> launches_;
    std::unique_ptr<LaunchFiles> launch_files_;
    std::unique_ptr<Thumbnails> thumbnails_;

    // The liveness tick (store thread only).
    std::unique_ptr<boost::asio::steady_timer> tick_timer_;
    int ticks_ = 0;
    bool shut_down_ = false;
};

}  // namespace portico::broker

#pragma once
// The broker server: HTTPS portal and REST API, host control channel and display gateway on one
// listening socket. start() binds and runs the network threads; stop() may be called from any
// thread (e.g. a signal handler's thread) and is idempotent. Construction throws on bad state.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace portico::broker {

struct BrokerConfig {
    std::string state_dir;
    // The store: a postgresql:// URL (several brokers share it) or an SQLite file; empty = the
    // state directory's portico.db (serve --database).
    std::string database;
    // This broker among several on one PostgreSQL store (serve --broker-id; cluster.hpp): unique
    // per running broker. Empty: the machine's name and a random suffix, new at every start.
    std::string broker_id;
    // The HTTPS certificate chain and key (serve --tls-cert/--tls-key); empty = the state
    // directory's tls/broker.crt and tls/broker.key. Re-read by reload_tls().
    std::string tls_cert, tls_key;
    std::string listen_address = "0.0.0.0";
    // Load balancers that send the PROXY protocol v2 header (HAProxy's send-proxy-v2): from these
    // addresses a connection's client address is the one the header gives (serve --trusted-proxy).
    std::vector<std::string> trusted_proxies;
    std::uint16_t port = 8443;  // 0 = any free port (tests)
    std::string web_root;
    std::string console_root;  // the admin console (broker/console), served at /console/; empty = none
    int network_threads = 2;
    int worker_threads = 2;           // password hashing
    int launch_timeout_seconds = 20;  // waiting for session_ready
    int thumbnail_timeout_ms = 3000;  // waiting for a host's thumbnail (then 504)
    int register_timeout_seconds = 10;
    int heartbeat_timeout_seconds = 10;  // a host silent this long is down, its sessions lost
    int disconnect_timeout_seconds = 0;  // end sessions disconnected this long (0 = never)
    int idle_timeout_seconds = 0;        // end sessions without input this long (0 = never)
    int lost_grace_seconds = 15;         // after a restart: hosts not back by then lose their sessions
    // Hosts authenticate with certificates from enrollment; the legacy shared secret only when an
    // admin turns this off (`serve --require-mtls no`), and even then never for an enrolled host id.
    bool require_mtls = true;
    std::string metrics_token;  // Bearer token for GET /metrics; empty = an admin login only
    // Abuse limits (issue 12); `serve` flags of the same names.
    std::size_t max_connections = 4096;             // open TLS connections, all clients
    std::size_t max_connections_per_address = 256;  // from one client address
    int max_sessions_per_user = 8;                  // live sessions of one user (0 = no cap)
    int max_screen_width = 7680, max_screen_height = 4320;
    std::int64_t max_screen_pixels = std::int64_t{7680} * 4320;
    int max_queued_logins = 64;      // password checks queued or running; more get 429
    int login_delay_base_ms = 1000;  // after the free failed logins: this delay, doubling per failure,
    int login_delay_max_ms = 60000;  // up to this (tests shorten or lengthen them)
};

class Core;

class Broker {
public:
    explicit Broker(BrokerConfig config);
    ~Broker();
    Broker(const Broker&) = delete;
    Broker& operator=(const Broker&) = delete;

    std::uint16_t start();  // returns the bound port
    void stop();
    void wait();  // until stop() and the threads have finished
    // Re-reads the TLS certificate and key (SIGHUP): new connections get the new pair, open ones
    // keep theirs; a pair that does not load is logged and the old one kept. Any thread.
    void reload_tls();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace portico::broker

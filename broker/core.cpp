#include "broker/core.hpp"

#include "broker/prometheus.hpp"
#include "common/log.hpp"
#include "common/tls.hpp"

#include <algorithm>
#include <openssl/ssl.h>

namespace portico::broker {

namespace net = boost::asio;

namespace {

void configure_client_auth(net::ssl::context& ctx, const std::string& ca_cert) {
    // Hosts may present a client certificate from our CA (mutual TLS on the control channel);
    // browsers present none and are not asked to fail for it. A certificate that is presented
    // but does not chain to the CA fails the handshake.
    ctx.set_verify_mode(net::ssl::verify_peer);
    ctx.load_verify_file(ca_cert);
    SSL_CTX_set_client_CA_list(ctx.native_handle(), SSL_load_client_CA_file(ca_cert.c_str()));
    static const unsigned char sid_ctx[] = "portico-broker";
    SSL_CTX_set_session_id_context(ctx.native_handle(), sid_ctx, sizeof(sid_ctx) - 1);
}

}  // namespace

Core::Core(const BrokerConfig& config)
    : config_(config),
      paths_(StatePaths::in(config.state_dir)),
      store_(open_store(store_location(config.state_dir, config.database))),
      ticket_key_(crypto::Ed25519Key::load_private_pem(paths_.ticket_key)),
      ticket_pub_b64_(crypto::base64_encode(ticket_key_.public_raw())),
      ca_((ensure_ca(paths_), std::make_unique<BrokerCa>(paths_.ca_cert, paths_.ca_key))),
      server_cert_(config.tls_cert.empty() ? paths_.tls_cert : config.tls_cert,
                   config.tls_key.empty() ? paths_.tls_key : config.tls_key),
      server_tls_(tls::make_server_context(server_cert_.cert_file(), server_cert_.key_file())),
      audit_(*store_) {
    server_cert_.install(server_tls_);
    log::info("TLS certificate: ", server_cert_.describe());
    configure_client_auth(server_tls_, paths_.ca_cert);
    const auto location = store_location(config.state_dir, config.database);
    const auto broker_id = config_.broker_id.empty() ? default_broker_id() : config_.broker_id;
    cluster_ = std::make_unique<Cluster>(config_, broker_id, *store_, registry_, live_stats_, store_jobs_,
                                         is_postgres_location(location) ? open_pg_bus(location, broker_id) : nullptr);
    cluster_->check_shared_keys(ticket_pub_b64_, ca_->cert_pem());
    cluster_->on_report(
        [this](const std::string& host_id, const protocol::control::Message& m) { apply_answer(host_id, m); });
    cluster_->on_host_gone([this](const std::string& host_id) {
        launches_->fail_pending_of_host(host_id, "the host is no longer connected to its broker");
    });
    // The readers and the store thread leave two connections of the pool to the password workers.
    if (store_->concurrent_calls() > 1)
        launch_readers_.emplace(static_cast<std::size_t>(std::max(1, store_->concurrent_calls() - 2)));
    identity_ = std::make_unique<Identity>(config_, *store_, audit_, metrics_, std::make_unique<LocalUsers>(*store_));
    hosts_ = std::make_unique<HostDirectory>(config_, *store_, registry_, *cluster_, live_stats_, session_ends_,
                                             metrics_, audit_);
    enrollment_ = std::make_unique<Enrollment>(config_, *store_, *ca_, audit_, read_enrollment_secret(paths_));
    desktops_ = std::make_unique<DesktopPools>(*store_, store_jobs_.context(), registry_);
    launches_ = std::make_unique<LaunchService>(config_, *store_, registry_, *desktops_, live_stats_, session_ends_,
                                                metrics_, audit_, ticket_key_, store_jobs_.context());
    launch_files_ = std::make_unique<LaunchFiles>(*store_, audit_);
    if (launch_readers_)
        launches_->answer_writes_on([readers = launch_readers_->get_executor()](std::function<void()> job) {
            net::post(readers, std::move(job));
        });
    thumbnails_ = std::make_unique<Thumbnails>(
        *launches_, registry_, store_jobs_.context(),
        Thumbnails::Options{std::chrono::milliseconds(config_.thumbnail_timeout_ms), std::chrono::milliseconds(2000)});
    // A host that goes away fails the launches waiting on it before its sessions are marked lost.
    hosts_->on_host_down(
        [this](const std::string& host_id, const std::string& why) { launches_->fail_pending_of_host(host_id, why); });
    // Start-up, before any connection: nobody is connected yet; hosts that come back within the
    // grace period keep their sessions.
    identity_->purge_expired(unix_now());
    hosts_->mark_all_down();
}

Core::~Core() { shutdown(); }

void Core::reload_tls() {
    std::string outcome, detail;
    try {
        server_cert_.reload();
        outcome = "tls.reload";
        detail = server_cert_.describe();
        log::info("TLS certificate reloaded: ", detail, "; open connections keep the previous one");
    } catch (const std::exception& e) {
        outcome = "tls.reload_failed";
        detail = std::string(e.what()) + "; still serving " + server_cert_.describe();
        log::error("TLS reload failed: ", detail);
    }
    store_jobs_.post("tls reload audit", [this, outcome, detail] {
        audit_.record("-", outcome, server_cert_.cert_file(), "local", detail);
    });
}

void Core::start() {
    store_jobs_.post("start", [this] {
        tick_timer_ = std::make_unique<net::steady_timer>(store_jobs_.context());
        schedule_tick();
        desktops_->start();
    });
    cluster_->start();
}

void Core::shutdown() {
    if (shut_down_) return;
    shut_down_ = true;
    cluster_->stop();       // no more messages from other brokers
    if (launch_readers_) {  // no more launch reads (their second halves would be dropped anyway)
        launch_readers_->stop();
        launch_readers_->join();
        launch_readers_.reset();  // the queued reads and the connections they hold go now
    }
    store_jobs_.stop();     // nothing runs on the store thread after this
    identity_->shutdown();  // nor on the password workers
    tick_timer_.reset();
    desktops_->stop();
    launches_->shutdown();
    thumbnails_->shutdown();
    // The registry holds the control connections; they must go while the io_context still exists.
    registry_.clear();
    store_jobs_.close();  // the queued jobs and what they hold (connections) go now, too
}

void Core::schedule_tick() {
    tick_timer_->expires_after(std::chrono::seconds(1));
    tick_timer_->async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        try {
            tick();
        } catch (const std::exception& e) {
            log::error("liveness check: ", e.what());
        }
        schedule_tick();
    });
}

void Core::tick() {
    ++ticks_;
    cluster_->sync_remote_hosts(unix_now());
    hosts_->check_liveness();
    launches_->tick(ticks_);
    const auto now = unix_now();
    if (ticks_ % 10 == 0) live_stats_.prune(now);
    if (ticks_ % 60 == 0) identity_->purge_expired(now);
    if (ticks_ % 60 == 30) launch_files_->purge(now);
}

void Core::host_answered(const std::string& host_id, const protocol::control::Message& m) {
    const auto request_id = std::visit(
        [](const auto& msg) -> std::uint64_t {
            if constexpr (requires { msg.request_id; })
                return msg.request_id;
            else
                return 0;
        },
        m);
    if (!cluster_->forward_answer(host_id, request_id, m)) apply_answer(host_id, m);
}

void Core::apply_answer(const std::string& host_id, const protocol::control::Message& m) {
    namespace control = protocol::control;
    if (auto* ready = std::get_if<control::SessionReady>(&m)) return launches_->session_ready(host_id, *ready);
    if (auto* failed = std::get_if<control::SessionFailed>(&m)) return launches_->session_failed(host_id, *failed);
    if (auto* picture = std::get_if<control::Thumbnail>(&m)) return thumbnails_->answered(host_id, *picture);
    if (auto* none = std::get_if<control::ThumbnailFailed>(&m)) return thumbnails_->failed(host_id, *none);
    log::warn("host ", host_id, ": a message that answers no request was ignored");
}

std::string Core::metrics_text() {
    MetricsGauges g;
    for (auto& [state, n] : store_->session_counts()) {
        switch (state) {
            case SessionState::starting: g.sessions_starting = n; break;
            case SessionState::active: g.sessions_active = n; break;
            case SessionState::disconnected: g.sessions_disconnected = n; break;
            default: break;  // ending is counted nowhere (as before); ended and lost are counters
        }
    }
    auto hosts = hosts_->counts();
    g.hosts_up = hosts.up;
    g.hosts_draining = hosts.draining;
    g.hosts_down = hosts.down;
    auto live = live_stats_.totals(unix_now());
    g.session_viewers = live.viewers;
    g.sessions_streaming = live.sessions;
    return render_prometheus(metrics_, g);
}

}  // namespace portico::broker

#include "session-host/host.hpp"

#include "common/log.hpp"
#include "common/tls.hpp"
#include "session-host/app/app_launcher.hpp"
#include "session-host/host_metrics.hpp"
#include "session-host/net/broker_link.hpp"
#include "session-host/net/display_server.hpp"
#include "session-host/net/enroll.hpp"
#include "session-host/session_manager.hpp"
#include "session-host/vm/vm_desktops.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <sstream>
#include <thread>

namespace portico::host {

namespace net = boost::asio;
namespace fs = std::filesystem;

namespace {

std::string read_secret(const std::string& path) {
    std::ifstream f(path);
    if (!f) throw std::runtime_error("cannot read the secret file " + path);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
    if (s.empty()) throw std::runtime_error("the secret file " + path + " is empty");
    return s;
}

// The display certificate is self-signed; the broker vouches for it by fingerprint (cert_sha256).
std::pair<std::string, std::string> ensure_display_cert(const std::string& state_dir,
                                                        const std::string& public_address) {
    std::string cert = state_dir + "/display-cert.pem", key = state_dir + "/display-key.pem";
    if (fs::exists(cert) && fs::exists(key)) return {cert, key};
    std::vector<std::string> sans{"IP:127.0.0.1", "DNS:localhost"};
    boost::system::error_code ec;
    net::ip::make_address(public_address, ec);
    std::string extra = (ec ? "DNS:" : "IP:") + public_address;
    if (extra != sans[0] && extra != sans[1]) sans.push_back(extra);
    tls::generate_self_signed(cert, key, public_address, sans);
    log::info("generated display certificate ", cert);
    return {cert, key};
}

// Sessions run as their users through the privileged helper that started this host; without one,
// only an admin's explicit --single-user-mode lets apps run as this host's own account.
std::unique_ptr<AppLauncher> make_launcher(const HostOptions& o) {
    if (const char* fd = std::getenv("PORTICO_SESSION_HELPER_FD"); fd && *fd) {
        ::unsetenv("PORTICO_SESSION_HELPER_FD");  // nothing this host starts inherits it
        int n = std::atoi(fd);
        if (n > 2 && ::fcntl(n, F_SETFD, FD_CLOEXEC) == 0) {
            log::info("app sessions run as their users' own Unix accounts (portico-session-helper)");
            return make_helper_launcher(n);
        }
        log::error("PORTICO_SESSION_HELPER_FD=", fd, " is not an open descriptor; ignoring it");
    }
    if (o.single_user_mode) {
        log::warn("SINGLE-USER MODE: app sessions run as this host's own account (uid ", ::getuid(),
                  "): every session can read this host's keys and every other session. Use it only when one "
                  "person uses this host; start the host through portico-session-helper to isolate users.");
        return make_direct_launcher();
    }
    log::warn(
        "this host cannot start sessions as their users (it was not started by portico-session-helper); "
        "app sessions are refused. Run it through the helper as root, or allow --single-user-mode.");
    return nullptr;
}

// The scrape token of --metrics-token-file, as long as the broker asks of its own.
std::string read_metrics_token(const std::string& path) {
    std::string token = read_secret(path);
    if (token.size() < 16) throw std::runtime_error("the metrics token in " + path + " must be at least 16 characters");
    return token;
}

std::string url_host(const std::string& address) {
    return address.find(':') != std::string::npos ? "[" + address + "]" : address;
}

}  // namespace

int run_host(const HostOptions& o) {
    log::set_component("host");
    std::signal(SIGPIPE, SIG_IGN);

    std::string secret, cert_sha256, metrics_token;
    const auto client_cert = ClientCertPaths::in(o.state_dir);
    std::unique_ptr<net::ssl::context> ssl_ctx;
    try {
        fs::create_directories(o.state_dir);
        ::chmod(o.state_dir.c_str(), 0700);
        fs::create_directories(o.state_dir + "/sessions");
        ::chmod((o.state_dir + "/sessions").c_str(), 0700);
        if (!fs::exists(o.broker_ca)) throw std::runtime_error("broker CA file " + o.broker_ca + " does not exist");
        // A token is spent once; a host already enrolled keeps its certificate, so the same
        // configuration (systemd's host.conf with `enroll` still in it) starts it again.
        if (!o.enroll_token.empty() && client_cert.exist())
            log::info("already enrolled (client certificate ", client_cert.cert,
                      "); not using --enroll again: delete that certificate and its key to enroll anew");
        else if (!o.enroll_token.empty())
            enroll_host(o.broker_url, o.broker_ca, o.host_id, o.enroll_token, client_cert);
        if (!client_cert.exist() && o.secret_file.empty())
            throw std::runtime_error("not enrolled: start once with --enroll TOKEN (or give --secret-file)");
        // An enrolled host authenticates with its certificate; the secret is only the legacy path.
        if (!client_cert.exist()) secret = read_secret(o.secret_file);
        if (!o.metrics_token_file.empty()) metrics_token = read_metrics_token(o.metrics_token_file);
        auto [cert, key] = ensure_display_cert(o.state_dir, o.public_address);
        cert_sha256 = tls::cert_sha256_hex(cert);
        ssl_ctx = std::make_unique<net::ssl::context>(tls::make_server_context(cert, key));
    } catch (const std::exception& e) {
        log::error("start-up failed: ", e.what());
        return 1;
    }

    // VM desktops outlive the sessions (a VM session releases its VM into them when it ends).
    std::unique_ptr<VmDesktops> desktops;
    if (!o.images_dir.empty()) {
        try {
            VmDesktops::Options vo;
            vo.images_dir = o.images_dir;
            vo.vm_dir = o.vm_dir;
            vm::parse_accel_mode(o.vm_accel, vo.accel);
            desktops = std::make_unique<VmDesktops>(vo);
        } catch (const std::exception& e) {
            log::error("start-up failed: VM desktops: ", e.what());
            return 1;
        }
    }

    std::unique_ptr<AppLauncher> launcher = make_launcher(o);

    net::io_context ioc(2);
    std::shared_ptr<BrokerLink> link;
    SessionManager sessions({o.state_dir,
                             o.max_sessions,
                             o.apps,
                             desktops.get(),
                             launcher.get(),
                             {o.package_runtime, o.package_trust_dir},
                             o.shadow_clipboard,
                             o.full_size_motion},
                            [&link](const std::string& id, const std::string& reason) {
                                if (link) link->session_ended(id, reason);
                            });
    DisplayServer display(ioc, *ssl_ctx, sessions, {o.max_display_connections, o.max_display_connections_per_address});
    if (!metrics_token.empty())
        display.set_metrics(metrics_token, [&sessions, &display, &desktops, &o] {
            HostGauges g;
            g.host_id = o.host_id;
            std::set<std::string> with_owner;
            for (auto& [sid, idle] : display.idle_seconds()) with_owner.insert(sid);
            g.sessions = sessions.census(with_owner);
            g.session_limit = o.max_sessions;
            g.display_connections = display.open_connections();
            g.display_connections_refused = display.refused_connections();
            if (desktops) g.vms = desktops->census();
            g.system = read_system_figures();
            return render_host_metrics(sessions.stream_counters(), g);
        });
    std::string display_url;
    try {
        display.listen(o.listen_address, o.listen_port);
        display_url = "wss://" + url_host(o.public_address) + ":" + std::to_string(display.port()) + "/display";
        log::info("display endpoint listening on ", o.listen_address, ":", display.port());

        BrokerLink::Options lo;
        lo.url = o.broker_url;
        lo.ca_file = o.broker_ca;
        lo.registration.host_id = o.host_id;
        lo.registration.name = o.name;
        lo.registration.secret = secret;
        if (client_cert.exist()) {
            lo.client_cert = client_cert.cert;
            lo.client_key = client_cert.key;
        }
        lo.idle_report = [&display] { return display.idle_seconds(); };
        lo.stats_report = [&sessions] { return sessions.stream_stats(); };
        lo.disconnect_viewers = [&display](const std::string& sid) { display.disconnect(sid); };
        display.set_presence_callback([&link](const std::string& sid, bool has_viewer) {
            if (link) link->session_state(sid, has_viewer ? "active" : "disconnected");
        });
        lo.registration.display_url = display_url;
        lo.registration.cert_sha256 = cert_sha256;
        lo.registration.apps = o.apps;
        lo.registration.max_sessions = o.max_sessions;
        lo.registration.isolation = launcher ? launcher->isolation() : "refused";
        if (desktops) {
            lo.registration.images = desktops->image_names();
            lo.registration.vm_accel = desktops->accel();
        }
        link = std::make_shared<BrokerLink>(
            ioc, std::move(lo), sessions,
            [&display, display_url](std::shared_ptr<protocol::TicketVerifier> v, bool first) {
                display.set_verifier(std::move(v));
                if (first) log::info("portico-host ready: display ", display_url);
            });
    } catch (const std::exception& e) {
        log::error("start-up failed: ", e.what());
        return 1;
    }
    link->start();

    std::promise<int> stop_signal;
    auto stopped = stop_signal.get_future();
    net::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&stop_signal](const boost::system::error_code& ec, int sig) {
        if (!ec) stop_signal.set_value(sig);
    });

    // The network threads run until every connection is done after shutdown; a work guard keeps
    // them alive until then.
    auto guard = net::make_work_guard(ioc);
    std::mutex run_mu;
    std::condition_variable run_cv;
    int running = 2;
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i)
        threads.emplace_back([&] {
            pthread_setname_np(pthread_self(), "network");
            try {
                ioc.run();
            } catch (const std::exception& e) {
                log::error("network thread: ", e.what());
            }
            std::lock_guard lk(run_mu);
            --running;
            run_cv.notify_all();
        });

    int sig = stopped.get();
    log::info("signal ", sig, ": shutting down");
    display.stop();
    sessions.shutdown();                 // viewers get SessionEnded(host_shutdown), the broker session_ended
    if (desktops) desktops->shutdown();  // spares; after the sessions, whose VMs its thread forked
    std::promise<void> link_closed;
    link->stop([&link_closed] { link_closed.set_value(); });
    if (link_closed.get_future().wait_for(std::chrono::seconds(3)) != std::future_status::ready)
        log::warn("broker link did not close in time");
    signals.cancel();
    guard.reset();
    {
        // Give display connections a moment to deliver SessionEnded and close.
        std::unique_lock lk(run_mu);
        run_cv.wait_for(lk, std::chrono::seconds(2), [&] { return running == 0; });
    }
    ioc.stop();
    for (auto& t : threads) t.join();
    log::info("stopped");
    return 0;
}

}  // namespace portico::host

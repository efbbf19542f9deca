// portico-broker: `init` creates the state directory; `serve` runs the broker until SIGINT/SIGTERM.

#include "broker/broker.hpp"
#include "broker/desktop_pools.hpp"
#include "broker/state_dir.hpp"
#include "broker/store.hpp"
#include "common/crypto.hpp"
#include "common/log.hpp"

#include <chrono>
#include <cctype>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <pthread.h>

#ifndef PORTICO_DEFAULT_WEB_ROOT
#define PORTICO_DEFAULT_WEB_ROOT "/usr/local/share/portico/web"
#endif

namespace {

using Args = std::map<std::string, std::string>;

int usage() {
    std::cerr << "usage:\n"
                 "  portico-broker init --state DIR [--demo-user demo] [--demo-password PW] [--host-name 127.0.0.1]\n"
                 "  portico-broker serve --state DIR [--listen 0.0.0.0:8443] [--web-root PATH] [--console-root PATH] [--threads N]\n"
                 "        [--heartbeat-timeout S (10)] [--disconnect-timeout S (0 = never)] [--idle-timeout S (0 = never)]\n"
                 "        [--require-mtls yes|no (yes; no also accepts the legacy shared secret for hosts not enrolled)]\n"
                 "        [--metrics-token-file FILE (GET /metrics with Authorization: Bearer <its content>; else admins only)]\n"
                 "        [--max-connections N (4096)] [--max-connections-per-address N (256)]\n"
                 "        [--max-sessions-per-user N (8; 0 = no cap)] [--max-screen WxH (7680x4320)] [--max-screen-pixels N]\n"
                 "        [--max-queued-logins N (64)]\n"
                 "  portico-broker enroll-token --state DIR [--host-id ID] [--ttl SECONDS (86400)]\n"
                 "      (prints a one-time token for `portico-host --enroll TOKEN`)\n"
                 "  portico-broker reset-password --state DIR --user NAME   (prints a new generated password)\n"
                 "  portico-broker publish --state DIR --id ID --name NAME [--group G]... [--user U]... -- COMMAND [ARGS...]\n"
                 "      (publishes an app, or replaces one with the same id; COMMAND may be a .portico package;\n"
                 "       entitles the given groups/users, or the group `users` when none is given)\n"
                 "  portico-broker publish-desktop --state DIR --id ID --name NAME --image IMAGE --mode pooled|dedicated\n"
                 "                 [--size N] [--spares N] [--memory MIB] [--cpus N] [--icon URL] [--group G]... [--user U]...\n"
                 "      (a VM desktop pool)\n"
                 "  portico-broker delete-desktop --state DIR --id ID\n";
    return 2;
}

bool parse_args(int argc, char** argv, Args& out) {
    for (int i = 2; i < argc; ++i) {
        std::string k = argv[i];
        if (k.rfind("--", 0) != 0 || i + 1 >= argc) return false;
        out[k.substr(2)] = argv[++i];
    }
    return true;
}

int cmd_init(const Args& a) {
    portico::broker::InitOptions o;
    for (auto& [k, v] : a) {
        if (k == "state") o.state_dir = v;
        else if (k == "demo-user") o.demo_user = v;
        else if (k == "demo-password") o.demo_password = v;
        else if (k == "host-name") o.host_name = v;
        else if (k == "admin-user") o.admin_user = v;
        else if (k == "admin-password") o.admin_password = v;
        else return usage();
    }
    if (o.state_dir.empty()) return usage();
    auto r = portico::broker::init_state(o);
    if (!r.created) {
        std::cout << "state directory " << o.state_dir << " is already initialised; nothing changed\n"
                  << "(the demo password was shown when it was first initialised)\n";
        return 0;
    }
    std::cout << "initialised " << o.state_dir << "\n"
              << "demo user: " << r.demo_user << "\n"
              << "demo password: " << r.demo_password << "\n";
    if (!r.admin_user.empty())
        std::cout << "admin user: " << r.admin_user << "\n"
                  << "admin password: " << r.admin_password << "\n";
    return 0;
}

// Gives a user a freshly generated password (the quickstart does this on every start, so the demo
// password is never fixed and never stored anywhere but as its hash).
int cmd_reset_password(const Args& a) {
    std::string state, user;
    for (auto& [k, v] : a) {
        if (k == "state") state = v;
        else if (k == "user") user = v;
        else return usage();
    }
    if (state.empty() || user.empty()) return usage();
    auto paths = portico::broker::StatePaths::in(state);
    if (!std::filesystem::exists(paths.database)) {
        portico::log::error("no database in ", state, "; run `portico-broker init` first");
        return 1;
    }
    auto store = portico::broker::open_store(paths.database);
    std::string password = portico::crypto::random_token(12);
    if (!store->set_password_hash(user, portico::crypto::hash_password(password))) {
        portico::log::error("no user named '", user, "'");
        return 1;
    }
    std::cout << "user: " << user << "\n"
              << "password: " << password << "\n";
    return 0;
}

// Publishes an application (until the admin console exists, issue 3). The command runs on a
// session host inside the session's display; a signed .portico package is a command like any
// other, and its runtime refuses to start if the signature does not verify.
int cmd_publish(int argc, char** argv) {
    std::string state, id, name;
    std::vector<std::string> command;
    std::vector<portico::broker::Entitlement> ents;
    for (int i = 2; i < argc; ++i) {
        std::string k = argv[i];
        if (k == "--") {
            command.assign(argv + i + 1, argv + argc);
            break;
        }
        if (i + 1 >= argc) return usage();
        if (k == "--state") state = argv[++i];
        else if (k == "--id") id = argv[++i];
        else if (k == "--name") name = argv[++i];
        else if (k == "--group") ents.push_back({"group", argv[++i]});
        else if (k == "--user") ents.push_back({"user", argv[++i]});
        else return usage();
    }
    if (state.empty() || id.empty() || name.empty() || command.empty()) return usage();
    auto paths = portico::broker::StatePaths::in(state);
    if (!std::filesystem::exists(paths.database)) {
        portico::log::error("no database in ", state, "; run `portico-broker init` first");
        return 1;
    }
    auto store = portico::broker::open_store(paths.database);
    store->put_resource(portico::broker::Resource{id, name, "app", command, "", ""});
    if (ents.empty() && store->group("users")) ents.push_back({"group", "users"});
    if (!store->set_entitlements(id, ents)) {
        portico::log::error("an entitled user or group does not exist; ", name, " is published but nobody may launch it");
        return 1;
    }
    std::cout << "published " << name << " (" << id << ")\n";
    return 0;
}

// A one-time host enrollment token, made offline (the console does the same over REST).
int cmd_enroll_token(const Args& a) {
    std::string state, host_id;
    int ttl = 86400;
    for (auto& [k, v] : a) {
        if (k == "state") state = v;
        else if (k == "host-id") host_id = v;
        else if (k == "ttl") ttl = std::stoi(v);
        else return usage();
    }
    if (state.empty() || ttl < 60 || ttl > 604800) return usage();
    auto paths = portico::broker::StatePaths::in(state);
    if (!std::filesystem::exists(paths.database)) {
        portico::log::error("no database in ", state, "; run `portico-broker init` first");
        return 1;
    }
    auto store = portico::broker::open_store(paths.database);
    portico::broker::EnrollmentToken t;
    t.id = portico::crypto::random_token(9);
    t.host_id = host_id;
    t.created_by = "cli";
    t.created_at = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    t.expires_at = t.created_at + ttl;
    std::string token = portico::crypto::random_token(32);
    store->create_enrollment_token(t, portico::crypto::sha256_hex(portico::crypto::bytes_of(token)));
    store->append_audit({0, t.created_at, "cli", "enrollment_token.create", t.id, "local", host_id.empty() ? "any host" : "host " + host_id});
    std::cout << token << "\n";
    return 0;
}

// A count flag: a positive integer, or an exception (reported as `serve failed: ...`).
std::size_t positive(const std::string& v) {
    auto n = std::stoll(v);
    if (n <= 0) throw std::invalid_argument("expected a positive number, got " + v);
    return static_cast<std::size_t>(n);
}

int cmd_serve(const Args& a) {
    portico::broker::BrokerConfig c;
    c.web_root = PORTICO_DEFAULT_WEB_ROOT;
    c.console_root = PORTICO_DEFAULT_CONSOLE_ROOT;
    for (auto& [k, v] : a) {
        if (k == "state") c.state_dir = v;
        else if (k == "web-root") c.web_root = v;
        else if (k == "console-root") c.console_root = v;
        else if (k == "threads") c.network_threads = std::stoi(v);
        else if (k == "heartbeat-timeout") c.heartbeat_timeout_seconds = std::stoi(v);
        else if (k == "disconnect-timeout") c.disconnect_timeout_seconds = std::stoi(v);
        else if (k == "idle-timeout") c.idle_timeout_seconds = std::stoi(v);
        else if (k == "lost-grace") c.lost_grace_seconds = std::stoi(v);
        else if (k == "require-mtls") {
            if (v == "yes" || v == "true" || v == "1") c.require_mtls = true;
            else if (v == "no" || v == "false" || v == "0") c.require_mtls = false;
            else return usage();
        } else if (k == "metrics-token-file") {
            std::ifstream in(v);
            std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
            if (!in.good() && !in.eof()) {
                portico::log::error("cannot read the metrics token file ", v);
                return 1;
            }
            if (token.size() < 16) {
                portico::log::error("the metrics token in ", v, " must be at least 16 characters");
                return 1;
            }
            c.metrics_token = token;
        } else if (k == "max-connections") c.max_connections = positive(v);
        else if (k == "max-connections-per-address") c.max_connections_per_address = positive(v);
        else if (k == "max-sessions-per-user") c.max_sessions_per_user = std::stoi(v);
        else if (k == "max-queued-logins") c.max_queued_logins = static_cast<int>(positive(v));
        else if (k == "max-screen-pixels") c.max_screen_pixels = static_cast<std::int64_t>(positive(v));
        else if (k == "max-screen") {
            auto x = v.find('x');
            if (x == std::string::npos) return usage();
            c.max_screen_width = static_cast<int>(positive(v.substr(0, x)));
            c.max_screen_height = static_cast<int>(positive(v.substr(x + 1)));
            if (!a.count("max-screen-pixels"))
                c.max_screen_pixels = std::int64_t{c.max_screen_width} * c.max_screen_height;
        }
        else if (k == "listen") {
            auto colon = v.rfind(':');
            if (colon == std::string::npos) return usage();
            c.listen_address = v.substr(0, colon);
            if (c.listen_address.size() > 1 && c.listen_address.front() == '[')
                c.listen_address = c.listen_address.substr(1, c.listen_address.size() - 2);
            c.port = static_cast<std::uint16_t>(std::stoi(v.substr(colon + 1)));
        } else return usage();
    }
    if (c.state_dir.empty()) return usage();
    if (!c.require_mtls)
        portico::log::warn("--require-mtls no: hosts not yet enrolled may register with the shared secret "
                           "(enrolled host ids still need their certificate)");

    // Signals are taken synchronously by one thread so nothing runs in a signal handler.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    portico::broker::Broker broker(c);
    broker.start();
    int sig = 0;
    sigwait(&set, &sig);
    portico::log::info("received ", strsignal(sig));
    broker.stop();
    broker.wait();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    portico::log::set_component("broker");
    if (argc < 2) return usage();
    if (std::string(argv[1]) == "publish") {
        try {
            return cmd_publish(argc, argv);
        } catch (const std::exception& e) {
            portico::log::error("publish failed: ", e.what());
            return 1;
        }
    }
    if (std::string(argv[1]) == "publish-desktop" || std::string(argv[1]) == "delete-desktop") {
        try {
            return std::string(argv[1]) == "publish-desktop" ? portico::broker::cmd_publish_desktop(argc, argv)
                                                             : portico::broker::cmd_delete_desktop(argc, argv);
        } catch (const std::exception& e) {
            portico::log::error(argv[1], " failed: ", e.what());
            return 1;
        }
    }
    Args args;
    if (!parse_args(argc, argv, args)) return usage();
    std::string cmd = argv[1];
    try {
        if (cmd == "init") return cmd_init(args);
        if (cmd == "serve") return cmd_serve(args);
        if (cmd == "reset-password") return cmd_reset_password(args);
        if (cmd == "enroll-token") return cmd_enroll_token(args);
    } catch (const std::exception& e) {
        portico::log::error(cmd, " failed: ", e.what());
        return 1;
    }
    return usage();
}

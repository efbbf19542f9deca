// portico-broker: `init` creates the state directory; `serve` runs the broker until SIGINT/SIGTERM.

#include "broker/backup.hpp"
#include "broker/broker.hpp"
#include "broker/desktop_pools.hpp"
#include "broker/state_dir.hpp"
#include "broker/store.hpp"
#include "common/cli.hpp"
#include "common/crypto.hpp"
#include "common/log.hpp"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <pthread.h>

#ifndef PORTICO_DEFAULT_WEB_ROOT
#define PORTICO_DEFAULT_WEB_ROOT "/usr/local/share/portico/web"
#endif

namespace {

const char* const kUsage =
    "usage:\n"
    "  portico-broker init --state DIR [--database URL] [--demo-user demo] [--demo-password PW] [--host-name 127.0.0.1]\n"
    "  portico-broker serve --state DIR [--database URL] [--listen 0.0.0.0:8443] [--web-root PATH] [--console-root PATH]\n"
    "        [--threads N]\n"
    "        [--heartbeat-timeout S (10)] [--disconnect-timeout S (0 = never)] [--idle-timeout S (0 = never)]\n"
    "        [--require-mtls yes|no (yes; no also accepts the legacy shared secret for hosts not enrolled)]\n"
    "        [--metrics-token-file FILE (GET /metrics with Authorization: Bearer <its content>; else admins only)]\n"
    "        [--max-connections N (4096)] [--max-connections-per-address N (256)]\n"
    "        [--max-sessions-per-user N (8; 0 = no cap)] [--max-screen WxH (7680x4320)] [--max-screen-pixels N]\n"
    "        [--max-queued-logins N (64)] [--config FILE (the same options as TOML or INI)]\n"
    "        [--tls-cert FILE (STATE/tls/broker.crt: PEM, the certificate then its intermediates)]\n"
    "        [--tls-key FILE (STATE/tls/broker.key: PEM, unencrypted)]\n"
    "      SIGHUP re-reads the TLS files: new connections get the new certificate, open ones keep\n"
    "      theirs; if they do not load, the broker logs why and keeps serving the old pair.\n"
    "      --database: the store, a PostgreSQL URL (postgresql://USER@HOST/DB; keep the password in a\n"
    "      passfile, ~/.pgpass or PGPASSFILE) shared by several brokers, or an SQLite file; default:\n"
    "      the state directory's portico.db. The commands below take it too, instead of or beside --state.\n"
    "  portico-broker enroll-token --state DIR|--database URL [--host-id ID] [--ttl SECONDS (86400)]\n"
    "      (prints a one-time token for `portico-host --enroll TOKEN`)\n"
    "  portico-broker reset-password --state DIR|--database URL --user NAME   (prints a new generated password)\n"
    "  portico-broker publish --state DIR|--database URL --id ID --name NAME [--group G]... [--user U]...\n"
    "                 -- COMMAND [ARGS...]\n"
    "      (publishes an app, or replaces one with the same id; COMMAND may be a .portico package;\n"
    "       entitles the given groups/users, or the group `users` when none is given)\n"
    "  portico-broker publish-desktop --state DIR|--database URL --id ID --name NAME --image IMAGE\n"
    "                 --mode pooled|dedicated [--size N] [--spares N] [--memory MIB] [--cpus N] [--icon URL]\n"
    "                 [--group G]... [--user U]...   (a VM desktop pool)\n"
    "  portico-broker delete-desktop --state DIR|--database URL --id ID\n"
    "  portico-broker copy-store --from SQLITE_FILE --to URL\n"
    "      (copies every table of an SQLite estate into an empty PostgreSQL database, in one transaction)\n"
    "  portico-broker backup --state DIR [--database URL] --to DIR\n"
    "      (while the broker runs: the SQLite database by SQLite's online backup, the keys and certificates,\n"
    "       a manifest with their SHA-256; a PostgreSQL database is backed up with pg_dump instead)\n"
    "  portico-broker restore --from DIR --state DIR\n"
    "      (checks the backup against its manifest and makes the new, empty state directory DIR of it)\n";

// A bad command line: the reason (if any) and the usage, exit 2.
int usage(const std::string& why = "") {
    if (!why.empty()) std::cerr << "portico-broker: " << why << "\n";
    std::cerr << kUsage;
    return 2;
}

// One command's options (CLI11 through common/cli.hpp); `help` is set by -h/--help.
struct Command {
    bool help = false;
    CLI::App app;
    explicit Command(const std::string& name) : app("", "portico-broker " + name) {
        portico::cli::setup(app, &help);
        app.description(kUsage);
    }
    // Parses args; a usage error's exit code (2), 0 after printing help, or nothing to go on.
    std::optional<int> parse(std::vector<std::string> args) {
        if (auto r = portico::cli::parse(app, std::move(args)); !r) return usage(r.error().message);
        if (help) {
            std::cout << app.help();
            return 0;
        }
        return std::nullopt;
    }
};

// --database on a command that opens the store (a config file may give it, as every option).
void add_database_option(CLI::App& app, std::string& database) {
    app.add_option("--database", database,
                   "the store: postgresql://... (libpq URL; password in a passfile) or an SQLite file "
                   "(default: the state directory's portico.db)")
        ->option_text("URL");
}

// The store of a command that needs an existing one: --database, else the state directory's
// database, which `init` must have made. Nothing (and the reason logged) when there is none.
std::unique_ptr<portico::broker::Store> open_existing_store(const std::string& state, const std::string& database) {
    auto location = portico::broker::store_location(state, database);
    if (database.empty() && !std::filesystem::exists(location)) {
        portico::log::error("no database in ", state, "; run `portico-broker init` first");
        return nullptr;
    }
    return portico::broker::open_store(location);
}

int cmd_init(std::vector<std::string> args) {
    portico::broker::InitOptions o;
    Command c("init");
    c.app.add_option("--state", o.state_dir, "the state directory to create")->option_text("DIR");
    add_database_option(c.app, o.database);
    portico::cli::add_config(c.app);
    c.app.add_option("--demo-user", o.demo_user, "the demo user's name")->option_text("NAME");
    c.app.add_option("--demo-password", o.demo_password, "the demo user's password (default: generated)")
        ->option_text("PW");
    c.app.add_option("--host-name", o.host_name, "the name in the broker's certificate")->option_text("NAME");
    c.app.add_option("--admin-user", o.admin_user, "an admin user to create")->option_text("NAME");
    c.app.add_option("--admin-password", o.admin_password, "the admin's password (default: generated)")
        ->option_text("PW");
    if (auto done = c.parse(std::move(args))) return *done;
    if (o.state_dir.empty()) return usage("--state is required");
    auto r = portico::broker::init_state(o);
    if (!r.created) {
        std::cout << "state directory " << o.state_dir << " is already initialised; nothing changed\n"
                  << "(the demo password was shown when it was first initialised)\n";
        return 0;
    }
    if (!r.database_seeded) {
        std::cout << "initialised " << o.state_dir << "\n"
                  << "the database " << portico::broker::redacted_location(o.database)
                  << " already has users (another broker's init); they and their passwords are unchanged\n";
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
int cmd_reset_password(std::vector<std::string> args) {
    std::string state, database, user;
    Command c("reset-password");
    c.app.add_option("--state", state, "the state directory")->option_text("DIR");
    add_database_option(c.app, database);
    c.app.add_option("--user", user, "whose password to replace")->option_text("NAME");
    portico::cli::add_config(c.app);
    if (auto done = c.parse(std::move(args))) return *done;
    if ((state.empty() && database.empty()) || user.empty())
        return usage("--state (or --database) and --user are required");
    auto store = open_existing_store(state, database);
    if (!store) return 1;
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
int cmd_publish(std::vector<std::string> args) {
    std::string state, database, id, name;
    std::vector<std::string> groups, users;
    // The published command line comes after "--", the options before it.
    auto dashes = std::find(args.begin(), args.end(), "--");
    std::vector<std::string> command(dashes == args.end() ? dashes : dashes + 1, args.end());
    args.erase(dashes, args.end());
    Command c("publish");
    c.app.add_option("--state", state, "the state directory")->option_text("DIR");
    add_database_option(c.app, database);
    portico::cli::add_config(c.app);
    c.app.add_option("--id", id, "the app's id")->option_text("ID");
    c.app.add_option("--name", name, "the app's name")->option_text("NAME");
    c.app.add_option("--group", groups, "a group entitled to it (repeatable)")->option_text("G");
    c.app.add_option("--user", users, "a user entitled to it (repeatable)")->option_text("U");
    if (auto done = c.parse(std::move(args))) return *done;
    if ((state.empty() && database.empty()) || id.empty() || name.empty() || command.empty())
        return usage("--state (or --database), --id, --name and the command after -- are required");
    std::vector<portico::broker::Entitlement> ents;
    for (auto& g : groups) ents.push_back({"group", g});
    for (auto& u : users) ents.push_back({"user", u});
    auto store = open_existing_store(state, database);
    if (!store) return 1;
    store->put_resource(portico::broker::Resource{id, name, "app", command, "", ""});
    if (ents.empty() && store->group("users")) ents.push_back({"group", "users"});
    if (!store->set_entitlements(id, ents)) {
        portico::log::error("an entitled user or group does not exist; ", name,
                            " is published but nobody may launch it");
        return 1;
    }
    std::cout << "published " << name << " (" << id << ")\n";
    return 0;
}

// A one-time host enrollment token, made offline (the console does the same over REST).
int cmd_enroll_token(std::vector<std::string> args) {
    std::string state, database, host_id;
    int ttl = 86400;
    Command c("enroll-token");
    c.app.add_option("--state", state, "the state directory")->option_text("DIR");
    add_database_option(c.app, database);
    portico::cli::add_config(c.app);
    c.app.add_option("--host-id", host_id, "the only host that may use it (default: any)")->option_text("ID");
    c.app.add_option("--ttl", ttl, "seconds it stays valid (default 86400)")
        ->option_text("SECONDS")
        ->check(portico::cli::count(60, 604800));
    if (auto done = c.parse(std::move(args))) return *done;
    if (state.empty() && database.empty()) return usage("--state (or --database) is required");
    auto store = open_existing_store(state, database);
    if (!store) return 1;
    portico::broker::EnrollmentToken t;
    t.id = portico::crypto::random_token(9);
    t.host_id = host_id;
    t.created_by = "cli";
    t.created_at =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    t.expires_at = t.created_at + ttl;
    std::string token = portico::crypto::random_token(32);
    store->create_enrollment_token(t, portico::crypto::sha256_hex(portico::crypto::bytes_of(token)));
    store->append_audit({0, t.created_at, "cli", "enrollment_token.create", t.id, "local",
                         host_id.empty() ? "any host" : "host " + host_id});
    std::cout << token << "\n";
    return 0;
}

// Copies an SQLite estate into an empty PostgreSQL database (store.hpp copy_store) and prints
// the rows per table.
int cmd_copy_store(std::vector<std::string> args) {
    std::string from, to;
    Command c("copy-store");
    c.app.add_option("--from", from, "the SQLite file (e.g. STATE/portico.db; stop its broker first)")
        ->option_text("SQLITE_FILE");
    c.app.add_option("--to", to, "the empty PostgreSQL database (postgresql://...)")->option_text("URL");
    portico::cli::add_config(c.app);
    if (auto done = c.parse(std::move(args))) return *done;
    if (from.empty() || to.empty()) return usage("--from and --to are required");
    if (!portico::broker::is_postgres_location(to)) return usage("--to must be a postgresql:// URL");
    auto copied = portico::broker::copy_store(from, to);
    std::int64_t total = 0;
    for (const auto& t : copied) {
        std::cout << t.table << ": " << t.rows << "\n";
        total += t.rows;
    }
    std::cout << "copied " << total << " rows from " << from << " to " << portico::broker::redacted_location(to)
              << "\n";
    return 0;
}

// backup.hpp: a running broker's estate into a new folder.
int cmd_backup(std::vector<std::string> args) {
    std::string state, database, to;
    Command c("backup");
    c.app.add_option("--state", state, "the broker's state directory")->option_text("DIR");
    add_database_option(c.app, database);
    c.app.add_option("--to", to, "the backup folder to make (new or empty)")->option_text("DIR");
    portico::cli::add_config(c.app);
    if (auto done = c.parse(std::move(args))) return *done;
    if (state.empty() || to.empty()) return usage("--state and --to are required");
    auto m = portico::broker::backup_state(state, database, to);
    for (const auto& f : m.files) std::cout << f.path << " " << f.size << " bytes sha256 " << f.sha256 << "\n";
    std::cout << "backed up " << state << " (schema version " << m.schema_version << ") to " << to << "\n";
    if (m.store == "postgresql")
        std::cout << "the database is in PostgreSQL and not in this backup: back it up with\n"
                  << "  pg_dump -Fc -f portico.dump '" << portico::broker::redacted_location(database) << "'\n";
    return 0;
}

// backup.hpp: a state directory made from a backup folder.
int cmd_restore(std::vector<std::string> args) {
    std::string from, state;
    Command c("restore");
    c.app.add_option("--from", from, "the backup folder (portico-broker backup --to)")->option_text("DIR");
    c.app.add_option("--state", state, "the state directory to make (new or empty)")->option_text("DIR");
    portico::cli::add_config(c.app);
    if (auto done = c.parse(std::move(args))) return *done;
    if (from.empty() || state.empty()) return usage("--from and --state are required");
    auto m = portico::broker::restore_state(from, state);
    std::cout << "restored the backup of " << m.created_at << " (Portico " << m.portico_version << ", schema version "
              << m.schema_version << ") into " << state << "\n";
    if (m.store == "postgresql")
        std::cout << "its database was in PostgreSQL: restore that with pg_restore and start the broker with "
                     "the same --database\n";
    return 0;
}

// HOST:PORT or [V6]:PORT, as --listen takes it; empty when malformed.
// "WxH" with each side 1..65535. (from_chars on the argument itself: no temporary whose buffer a
// parse pointer could outlive.)
std::optional<std::pair<int, int>> parse_screen_size(const std::string& v) {
    const auto x = v.find('x');
    if (x == std::string::npos) return std::nullopt;
    auto side = [](const char* first, const char* last) -> std::optional<int> {
        int n = 0;
        auto [end, ec] = std::from_chars(first, last, n);
        if (ec != std::errc() || end != last || n <= 0 || n > 65535) return std::nullopt;
        return n;
    };
    auto w = side(v.data(), v.data() + x);
    auto h = side(v.data() + x + 1, v.data() + v.size());
    if (!w || !h) return std::nullopt;
    return std::pair{*w, *h};
}

std::optional<std::pair<std::string, std::uint16_t>> parse_listen(const std::string& v) {
    auto colon = v.rfind(':');
    if (colon == std::string::npos || colon + 1 == v.size() || v.size() - colon - 1 > 5 ||
        v.find_first_not_of("0123456789", colon + 1) != std::string::npos || std::stoul(v.substr(colon + 1)) > 65535)
        return std::nullopt;
    std::string address = v.substr(0, colon);
    if (address.size() > 1 && address.front() == '[') address = address.substr(1, address.size() - 2);
    return std::make_pair(address, static_cast<std::uint16_t>(std::stoul(v.substr(colon + 1))));
}

int cmd_serve(std::vector<std::string> args) {
    portico::broker::BrokerConfig c;
    c.web_root = PORTICO_DEFAULT_WEB_ROOT;
    c.console_root = PORTICO_DEFAULT_CONSOLE_ROOT;
    std::string listen, require_mtls, metrics_token_file, max_screen;
    const auto positive = portico::cli::count(1, std::numeric_limits<int>::max());
    Command cmd("serve");
    auto& app = cmd.app;
    app.add_option("--state", c.state_dir, "the state directory (portico-broker init)")->option_text("DIR");
    add_database_option(app, c.database);
    app.add_option("--broker-id", c.broker_id,
                   "this broker's name among several on one PostgreSQL database (default: the machine's name and "
                   "a random suffix)")
        ->option_text("ID");
    app.add_option("--listen", listen, "address and port (default 0.0.0.0:8443; [::1]:8443 for IPv6)")
        ->option_text("ADDR:PORT")
        ->check(CLI::Validator(
            [](std::string& v) { return parse_listen(v) ? std::string() : "expected ADDRESS:PORT, got '" + v + "'"; },
            ""));
    app.add_option("--trusted-proxy", c.trusted_proxies,
                   "a load balancer's address whose connections start with a PROXY protocol v2 header giving the "
                   "client's address (HAProxy send-proxy-v2); repeat for several")
        ->option_text("ADDR")
        ->check(CLI::Validator(
            [](std::string& v) {
                boost::system::error_code ec;
                boost::asio::ip::make_address(v, ec);
                return ec ? "expected an IP address, got '" + v + "'" : std::string();
            },
            ""));
    app.add_option("--web-root", c.web_root, "the web client's files")->option_text("PATH");
    app.add_option("--console-root", c.console_root, "the admin console's files")->option_text("PATH");
    app.add_option("--threads", c.network_threads, "network threads")->option_text("N")->check(positive);
    app.add_option("--heartbeat-timeout", c.heartbeat_timeout_seconds, "a host silent this long is down (10)")
        ->option_text("S")
        ->check(positive);
    app.add_option("--disconnect-timeout", c.disconnect_timeout_seconds,
                   "end sessions disconnected this long (0 = never)")
        ->option_text("S")
        ->check(portico::cli::count(0, std::numeric_limits<int>::max()));
    app.add_option("--idle-timeout", c.idle_timeout_seconds, "end sessions without input this long (0 = never)")
        ->option_text("S")
        ->check(portico::cli::count(0, std::numeric_limits<int>::max()));
    app.add_option("--lost-grace", c.lost_grace_seconds,
                   "after a restart: hosts not back by then lose their sessions (15)")
        ->option_text("S")
        ->check(portico::cli::count(0, std::numeric_limits<int>::max()));
    app.add_option("--require-mtls", require_mtls,
                   "yes (default) | no: no also accepts the legacy shared secret from hosts not enrolled")
        ->option_text("yes|no")
        ->check(portico::cli::one_of({"yes", "no", "true", "false", "1", "0"}));
    app.add_option("--metrics-token-file", metrics_token_file,
                   "GET /metrics with Authorization: Bearer <its content>; else admins only")
        ->option_text("FILE");
    app.add_option("--max-connections", c.max_connections, "open connections in all (4096)")
        ->option_text("N")
        ->check(positive);
    app.add_option("--max-connections-per-address", c.max_connections_per_address, "... from one address (256)")
        ->option_text("N")
        ->check(positive);
    app.add_option("--max-sessions-per-user", c.max_sessions_per_user, "live sessions of one user (8; 0 = no cap)")
        ->option_text("N")
        ->check(portico::cli::count(0, std::numeric_limits<int>::max()));
    app.add_option("--max-queued-logins", c.max_queued_logins, "password checks queued or running (64)")
        ->option_text("N")
        ->check(positive);
    app.add_option("--max-screen", max_screen, "the largest screen a client may ask for (7680x4320)")
        ->option_text("WxH")
        ->check(CLI::Validator(
            [](std::string& v) { return parse_screen_size(v) ? std::string() : "expected WxH, got '" + v + "'"; }, ""));
    app.add_option("--max-screen-pixels", c.max_screen_pixels,
                   "the most pixels a screen may have (default: --max-screen's)")
        ->option_text("N")
        ->check(portico::cli::count(1, std::numeric_limits<long>::max()));
    app.add_option("--tls-cert", c.tls_cert,
                   "the HTTPS certificate, PEM, followed by its intermediate CAs (default STATE/tls/broker.crt); "
                   "SIGHUP re-reads it")
        ->option_text("FILE");
    app.add_option("--tls-key", c.tls_key, "its private key, PEM, unencrypted (default STATE/tls/broker.key)")
        ->option_text("FILE");
    portico::cli::add_config(app);
    if (auto done = cmd.parse(std::move(args))) return *done;
    if (c.state_dir.empty()) return usage("--state is required");
    if (!listen.empty()) std::tie(c.listen_address, c.port) = *parse_listen(listen);
    if (!require_mtls.empty()) c.require_mtls = require_mtls == "yes" || require_mtls == "true" || require_mtls == "1";
    if (!max_screen.empty()) {
        std::tie(c.max_screen_width, c.max_screen_height) = *parse_screen_size(max_screen);
        if (!app.count("--max-screen-pixels"))
            c.max_screen_pixels = std::int64_t{c.max_screen_width} * c.max_screen_height;
    }
    if (!metrics_token_file.empty()) {
        std::ifstream in(metrics_token_file);
        std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
        if (!in.good() && !in.eof()) {
            portico::log::error("cannot read the metrics token file ", metrics_token_file);
            return 1;
        }
        if (token.size() < 16) {
            portico::log::error("the metrics token in ", metrics_token_file, " must be at least 16 characters");
            return 1;
        }
        c.metrics_token = token;
    }
    if (!c.require_mtls)
        portico::log::warn(
            "--require-mtls no: hosts not yet enrolled may register with the shared secret "
            "(enrolled host ids still need their certificate)");

    // Signals are taken synchronously by one thread so nothing runs in a signal handler.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);  // reload the TLS certificate (systemctl reload)
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    portico::log::info("store: ",
                       portico::broker::redacted_location(portico::broker::store_location(c.state_dir, c.database)));
    portico::broker::Broker broker(c);
    broker.start();
    int sig = 0;
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
        portico::log::info("received ", strsignal(sig), ": reloading the TLS certificate");
        broker.reload_tls();
    }
    portico::log::info("received ", strsignal(sig));
    broker.stop();
    broker.wait();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    portico::log::set_component("broker");
    if (argc < 2) return usage();
    std::vector<std::string> args(argv + 2, argv + argc);
    if (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") return std::cout << kUsage, 0;
    if (std::string(argv[1]) == "publish") {
        try {
            return cmd_publish(args);
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
    std::string cmd = argv[1];
    try {
        if (cmd == "init") return cmd_init(args);
        if (cmd == "serve") return cmd_serve(args);
        if (cmd == "reset-password") return cmd_reset_password(args);
        if (cmd == "enroll-token") return cmd_enroll_token(args);
        if (cmd == "copy-store") return cmd_copy_store(args);
        if (cmd == "backup") return cmd_backup(args);
        if (cmd == "restore") return cmd_restore(args);
    } catch (const std::exception& e) {
        portico::log::error(cmd, " failed: ", e.what());
        return 1;
    }
    return usage("unknown command '" + cmd + "'");
}

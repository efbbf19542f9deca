#include "session-host/host_options.hpp"

#include "common/cli.hpp"
#include "session-host/session_manager.hpp"

#include <cstdlib>
#include <tuple>

namespace portico::host {

namespace {

// Everything the command line holds before the checks that need several options at once.
struct RawOptions {
    std::string listen;
    std::string apps;
};

// Declares portico-host's options on `app`, bound to `o` and `raw`: the one list both the parser and
// --help read.
void declare(CLI::App& app, HostOptions& o, RawOptions& raw) {
    cli::setup(app, &o.help);
    app.description(R"(usage: portico-host --broker wss://HOST:PORT/api/v1/control --broker-ca CA.pem
                    --host-id ID (--enroll TOKEN | --secret-file FILE) [options]

Runs published applications on private X displays, and desktops in virtual machines, and streams
them to Portico clients.)");
    app.add_option("--broker", o.broker_url, "the broker's control endpoint (wss://...)")->option_text("URL");
    app.add_option("--broker-ca", o.broker_ca, "PEM certificate(s) the broker's certificate must chain to")
        ->option_text("FILE");
    app.add_option("--enroll", o.enroll_token,
                   "enroll once with this one-time token (from the console or\n"
                   "`portico-broker enroll-token`): the broker's CA signs this host's key,\n"
                   "kept in the state dir; later starts need neither flag (mutual TLS) and\n"
                   "ignore it once that key exists")
        ->option_text("TOKEN");
    app.add_option("--secret-file", o.secret_file,
                   "file holding the shared enrollment secret (legacy, instead of --enroll)")
        ->option_text("FILE");
    app.add_option("--host-id", o.host_id, "this host's id (letters, digits, '-', '_', '.')")->option_text("ID");
    app.add_option("--name", o.name, "display name (default: the host id)")->option_text("NAME");
    app.add_option("--listen", raw.listen, "display endpoint address (default 127.0.0.1:0, 0 = any free port)")
        ->option_text("ADDR:PORT")
        ->check(CLI::Validator(
            [](std::string& v) -> std::string {
                try {
                    parse_listen(v);
                    return {};
                } catch (const UsageError& e) {
                    std::string m = e.what();
                    return m.rfind("--listen: ", 0) == 0 ? m.substr(10) : m;
                }
            },
            ""));
    app.add_option("--public-address", o.public_address,
                   "address clients use to reach the display endpoint (default 127.0.0.1)")
        ->option_text("ADDR");
    app.add_option("--state-dir", o.state_dir,
                   "certificates and session runtime directories (default ~/.local/state/portico-host)")
        ->option_text("DIR");
    app.add_option("--apps", raw.apps, "comma-separated app names offered, \"*\" = any (default \"*\")")
        ->option_text("LIST");
    app.add_option("--max-sessions", o.max_sessions, "at most N concurrent sessions (default 20)")
        ->option_text("N")
        ->check(cli::count(1, 10000));
    app.add_option("--images", o.images_dir, "VM desktop golden images: each DIR/<name>/image.json is one image")
        ->option_text("DIR")
        ->check(cli::non_empty());
    app.add_option("--vm-accel", o.vm_accel,
                   "auto (KVM when usable, else TCG with a warning) | kvm | tcg (default auto)")
        ->option_text("MODE")
        ->check(cli::one_of({"auto", "kvm", "tcg"}));
    app.add_option("--vm-dir", o.vm_dir, "VM runtime directories and dedicated desktops' disks (default STATE/vms)")
        ->option_text("DIR")
        ->check(cli::non_empty());
    app.add_option("--package-runtime", o.package_runtime,
                   "the portico-pack-runtime that starts published packages (default: on\n"
                   "PATH, else beside this program); a package's own front never runs")
        ->option_text("PATH");
    app.add_option("--package-trust-dir", o.package_trust_dir,
                   "trusted publishers' *.pub keys; a package not signed by one of them is\n"
                   "refused (default: none, so every package is refused)")
        ->option_text("DIR");
    app.add_flag("--full-size-motion", o.full_size_motion,
                 "send full-motion video at the screen's resolution however slowly a viewer\n"
                 "paints it (default: at half resolution to a viewer that cannot keep up)");
    app.add_flag("--shadow-clipboard", o.shadow_clipboard,
                 "also send the user's clipboard to staff who shadow the session (default:\n"
                 "shadows never see it)");
    app.add_option("--max-display-connections", o.max_display_connections,
                   "open display connections this host accepts in all (default 1024)")
        ->option_text("N")
        ->check(cli::count(1, 100000));
    app.add_option("--max-display-connections-per-address", o.max_display_connections_per_address,
                   "... and from one address (default 64; an office behind NAT shares one)")
        ->option_text("N")
        ->check(cli::count(1, 100000));
    app.add_option("--metrics-token-file", o.metrics_token_file,
                   "serve GET /metrics (Prometheus) on the display endpoint to requests with\n"
                   "Authorization: Bearer <the file's content, at least 16 characters>;\n"
                   "without it /metrics is not served")
        ->option_text("FILE")
        ->check(cli::non_empty());
    app.add_flag("--single-user-mode", o.single_user_mode,
                 "without portico-session-helper, run app sessions as this host's own\n"
                 "account: no isolation between users (for a host one person uses)");
    cli::add_config(app);
}

}  // namespace

std::string host_usage() {
    HostOptions o;
    RawOptions raw;
    CLI::App app("", "portico-host");
    declare(app, o, raw);
    return app.help();
}

std::pair<std::string, std::uint16_t> parse_listen(const std::string& text) {
    std::string addr, port;
    if (!text.empty() && text[0] == '[') {
        auto close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
            throw UsageError("--listen: expected [ADDRESS]:PORT, got '" + text + "'");
        addr = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string::npos) throw UsageError("--listen: expected ADDRESS:PORT, got '" + text + "'");
        addr = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    if (addr.empty() || port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(port) > 65535)
        throw UsageError("--listen: bad address or port in '" + text + "'");
    return {addr, static_cast<std::uint16_t>(std::stoul(port))};
}

HostOptions parse_host_options(int argc, const char* const* argv) {
    HostOptions o;
    RawOptions raw;
    CLI::App app("", "portico-host");
    declare(app, o, raw);
    if (auto parsed = cli::parse(app, argc, argv); !parsed) throw UsageError(parsed.error().message);
    if (o.help) return o;
    if (!raw.listen.empty()) std::tie(o.listen_address, o.listen_port) = parse_listen(raw.listen);
    if (app.count("--apps")) {
        o.apps.clear();
        std::size_t start = 0;
        while (start <= raw.apps.size()) {
            auto comma = raw.apps.find(',', start);
            std::string item = raw.apps.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            if (!item.empty()) o.apps.push_back(item);
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
        if (o.apps.empty()) throw UsageError("--apps: give at least one app name, or \"*\"");
    }
    if (o.broker_url.empty()) throw UsageError("--broker is required");
    if (o.broker_url.rfind("wss://", 0) != 0) throw UsageError("--broker must be a wss:// URL");
    if (o.broker_ca.empty()) throw UsageError("--broker-ca is required");
    if (o.host_id.empty()) throw UsageError("--host-id is required");
    if (!SessionManager::valid_session_id(o.host_id))
        throw UsageError("--host-id may contain only letters, digits, '-', '_' and '.'");
    if (o.public_address.empty()) throw UsageError("--public-address must not be empty");
    if (o.max_display_connections_per_address > o.max_display_connections)
        throw UsageError("--max-display-connections-per-address must not exceed --max-display-connections");
    if (app.count("--name") == 0) o.name = o.host_id;
    if (o.state_dir.empty()) {
        if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x)
            o.state_dir = std::string(x) + "/portico-host";
        else if (const char* h = std::getenv("HOME"); h && *h)
            o.state_dir = std::string(h) + "/.local/state/portico-host";
        else
            throw UsageError("--state-dir is required (no HOME)");
    }
    if (o.vm_dir.empty()) o.vm_dir = o.state_dir + "/vms";
    return o;
}

}  // namespace portico::host

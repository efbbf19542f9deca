#include "session-host/host_options.hpp"

#include "session-host/session_manager.hpp"

#include <algorithm>
#include <cstdlib>
#include <iterator>

namespace portico::host {

std::string host_usage() {
    return R"(usage: portico-host --broker wss://HOST:PORT/api/v1/control --broker-ca CA.pem
                    --host-id ID (--enroll TOKEN | --secret-file FILE) [options]

Runs published applications on private X displays, and desktops in virtual machines, and streams
them to Portico clients.

  --broker URL           the broker's control endpoint (wss://...)
  --broker-ca FILE       PEM certificate(s) the broker's certificate must chain to
  --enroll TOKEN         enroll once with this one-time token (from the console or
                         `portico-broker enroll-token`): the broker's CA signs this host's key,
                         kept in the state dir; later starts need neither flag (mutual TLS)
  --secret-file FILE     file holding the shared enrollment secret (legacy, instead of --enroll)
  --host-id ID           this host's id (letters, digits, '-', '_', '.')
  --name NAME            display name (default: the host id)
  --listen ADDR:PORT     display endpoint address (default 127.0.0.1:0, 0 = any free port)
  --public-address ADDR  address clients use to reach the display endpoint (default 127.0.0.1)
  --state-dir DIR        certificates and session runtime directories (default ~/.local/state/portico-host)
  --apps LIST            comma-separated app names offered, "*" = any (default "*")
  --max-sessions N       at most N concurrent sessions (default 20)
  --images DIR           VM desktop golden images: each DIR/<name>/image.json is one image
  --vm-accel MODE        auto (KVM when usable, else TCG with a warning) | kvm | tcg (default auto)
  --vm-dir DIR           VM runtime directories and dedicated desktops' disks (default STATE/vms)
  --package-runtime PATH the portico-pack-runtime that starts published packages (default: on
                         PATH, else beside this program); a package's own front never runs
  --package-trust-dir DIR  trusted publishers' *.pub keys; a package not signed by one of them is
                         refused (default: none, so every package is refused)
  --shadow-clipboard     also send the user's clipboard to staff who shadow the session (default:
                         shadows never see it)
  --max-display-connections N
                         open display connections this host accepts in all (default 1024)
  --max-display-connections-per-address N
                         ... and from one address (default 64; an office behind NAT shares one)
  --single-user-mode     without portico-session-helper, run app sessions as this host's own
                         account: no isolation between users (for a host one person uses)
  --help                 show this help
)";
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

namespace {

long parse_count(const std::string& flag, const std::string& value, long max) {
    char* end = nullptr;
    long n = std::strtol(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || n < 1 || n > max)
        throw UsageError(flag + ": expected a number from 1 to " + std::to_string(max) + ", got '" + value + "'");
    return n;
}

}  // namespace

HostOptions parse_host_options(int argc, const char* const* argv) {
    HostOptions o;
    bool have_name = false;
    for (int i = 1; i < argc; ++i) {
        std::string flag = argv[i];
        std::string value;
        if (flag == "--help" || flag == "-h") {
            o.help = true;
            return o;
        }
        if (flag == "--single-user-mode") {
            o.single_user_mode = true;
            continue;
        }
        if (flag == "--shadow-clipboard") {
            o.shadow_clipboard = true;
            continue;
        }
        if (auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
            value = flag.substr(eq + 1);
            flag = flag.substr(0, eq);
        } else {
            if (flag.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + flag + "' (see --help)");
            static const char* const known[] = {"--broker", "--broker-ca", "--secret-file", "--enroll", "--host-id", "--name", "--listen",
                                                "--public-address", "--state-dir", "--apps", "--max-sessions",
                                                "--images", "--vm-accel", "--vm-dir", "--package-runtime",
                                                "--package-trust-dir", "--max-display-connections",
                                                "--max-display-connections-per-address"};
            if (std::find(std::begin(known), std::end(known), flag) == std::end(known))
                throw UsageError("unknown flag '" + flag + "' (see --help)");
            if (i + 1 >= argc) throw UsageError(flag + " needs a value");
            value = argv[++i];
        }
        if (flag == "--broker") o.broker_url = value;
        else if (flag == "--broker-ca") o.broker_ca = value;
        else if (flag == "--secret-file") o.secret_file = value;
        else if (flag == "--enroll") o.enroll_token = value;
        else if (flag == "--host-id") o.host_id = value;
        else if (flag == "--name") { o.name = value; have_name = true; }
        else if (flag == "--listen") std::tie(o.listen_address, o.listen_port) = parse_listen(value);
        else if (flag == "--public-address") o.public_address = value;
        else if (flag == "--state-dir") o.state_dir = value;
        else if (flag == "--apps") {
            o.apps.clear();
            std::size_t start = 0;
            while (start <= value.size()) {
                auto comma = value.find(',', start);
                std::string item = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
                if (!item.empty()) o.apps.push_back(item);
                if (comma == std::string::npos) break;
                start = comma + 1;
            }
            if (o.apps.empty()) throw UsageError("--apps: give at least one app name, or \"*\"");
        } else if (flag == "--max-sessions") {
            o.max_sessions = static_cast<int>(parse_count(flag, value, 10000));
        } else if (flag == "--max-display-connections") {
            o.max_display_connections = parse_count(flag, value, 100000);
        } else if (flag == "--max-display-connections-per-address") {
            o.max_display_connections_per_address = parse_count(flag, value, 100000);
        } else if (flag == "--images") {
            if (value.empty()) throw UsageError("--images needs a directory");
            o.images_dir = value;
        } else if (flag == "--vm-accel") {
            if (value != "auto" && value != "kvm" && value != "tcg")
                throw UsageError("--vm-accel: expected auto, kvm or tcg, got '" + value + "'");
            o.vm_accel = value;
        } else if (flag == "--package-runtime") {
            o.package_runtime = value;
        } else if (flag == "--package-trust-dir") {
            o.package_trust_dir = value;
        } else if (flag == "--vm-dir") {
            if (value.empty()) throw UsageError("--vm-dir needs a directory");
            o.vm_dir = value;
        } else
            throw UsageError("unknown flag '" + flag + "' (see --help)");
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
    if (!have_name) o.name = o.host_id;
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

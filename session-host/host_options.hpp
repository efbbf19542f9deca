#pragma once
// portico-host's command line: parsed and checked once at start-up (throws UsageError).

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace portico::host {

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct HostOptions {
    std::string broker_url;
    std::string broker_ca;
    std::string secret_file;   // legacy shared secret; optional once enrolled
    std::string enroll_token;  // --enroll: one-time token for mutual TLS enrollment
    std::string host_id;
    std::string name;  // defaults to host_id
    std::string listen_address = "127.0.0.1";
    std::uint16_t listen_port = 0;  // 0 = pick a free port
    std::string public_address = "127.0.0.1";
    std::string state_dir;  // defaults to $XDG_STATE_HOME/portico-host or ~/.local/state/portico-host
    std::vector<std::string> apps{"*"};
    int max_sessions = 20;
    std::string images_dir;                      // VM desktop golden images (one subdirectory each); empty = no VMs
    std::string vm_accel = "auto";               // auto | kvm | tcg
    std::string vm_dir;                          // VM runtime dirs and dedicated disks (default <state_dir>/vms)
    bool single_user_mode = false;               // apps may run as the host's own account (no helper)
    std::string package_runtime;                 // the host's own portico-pack-runtime (default: found)
    std::string package_trust_dir;               // trusted publishers' *.pub keys; empty = packages refused
    bool full_size_motion = false;               // never halve full-motion video for a viewer that paints slowly
    bool shadow_clipboard = false;               // the user's clipboard also reaches staff who shadow the session
    std::size_t max_display_connections = 1024;  // open display connections in total
    std::size_t max_display_connections_per_address = 64;  // ... and from one client address
    std::string metrics_token_file;  // GET /metrics on the display endpoint with this bearer token
    bool help = false;
};

std::string host_usage();
// argv[0] is skipped. Throws UsageError with a message naming the bad flag.
HostOptions parse_host_options(int argc, const char* const* argv);
// "127.0.0.1:0", "[::1]:8444" -> address and port. Throws UsageError.
std::pair<std::string, std::uint16_t> parse_listen(const std::string& text);

}  // namespace portico::host

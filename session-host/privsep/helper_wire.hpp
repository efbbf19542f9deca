#pragma once
// The wire between portico-host (unprivileged) and portico-session-helper (root): one JSON object
// per SOCK_SEQPACKET datagram (at most kMaxMessage bytes), optionally with one file descriptor
// (SCM_RIGHTS). Both ends are single callers at a time; the functions block and do no retries
// beyond EINTR. A malformed, oversize or truncated datagram is an error, never a partial read.

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace portico::host::privsep {

constexpr std::size_t kMaxMessage = 64 * 1024;

// Sends `message` (and `fd` when >= 0; the caller keeps its copy). Returns "" or why it failed.
std::string send_message(int socket_fd, const nlohmann::json& message, int fd = -1);

struct Received {
    nlohmann::json message;
    int fd = -1;  // owned by the caller when >= 0
};
// Blocks for one datagram. nullopt + `error` on EOF ("closed"), I/O error or malformed JSON; a
// descriptor that came with a malformed datagram is closed.
std::optional<Received> receive_message(int socket_fd, std::string& error);

// The names the helper accepts. Portal user names become Unix account names as they are, so only
// what every Unix tool takes: [a-z_][a-z0-9_-]*, at most 32 characters.
bool valid_account_name(const std::string& name);
// Session ids become directory names (same rule as SessionManager::valid_session_id).
bool valid_session_id(const std::string& id);
// Environment entries the host may hand to a session: NAME=value, NAME in [A-Z_][A-Z0-9_]*, and
// not one the helper sets itself or one that changes how programs are loaded (LD_*).
bool allowed_env_entry(const std::string& entry);

}  // namespace portico::host::privsep

#pragma once
// Control channel messages between session host and broker (docs/protocol.md): JSON objects
// over a WebSocket, parsed into typed structs with every field checked.

#include "common/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace portico::protocol::control {

inline constexpr int kVersion = 1;

struct Register {
    int version = kVersion;
    std::string host_id, name, secret, display_url, cert_sha256;
    std::vector<std::string> apps;  // names offered; "*" = any
    int max_sessions = 0;
    std::vector<std::string> images;  // golden images this host can run as VM desktops (absent = none)
    std::string vm_accel;             // with images: "kvm" or "tcg" (software emulation, much slower)
    // How app sessions run: "per-user" (each as its user's account, through the helper), "none"
    // (single-user mode: as the host's own account) or "refused" (no helper, not allowed).
    std::string isolation = "none";
    // The sessions running on the host as it (re)connects; absent from hosts that predate it.
    // The broker revives those it had marked lost and ends those it knows to be over.
    std::optional<std::vector<std::string>> sessions;
};
struct Registered {
    std::string ticket_key;
};  // base64 raw Ed25519 public key
struct AppSpec {
    std::string id, name;
    std::vector<std::string> command;
};
// A VM desktop to run: the pool it belongs to, the golden image, and how its disk is kept
// (pooled: discarded at session end; dedicated: the user's overlay is kept across sessions).
struct DesktopSpec {
    std::string pool, image, mode;  // mode: "pooled" | "dedicated"
    int memory_mib = 512, cpus = 1;
};
struct StartSession {
    std::uint64_t request_id = 0;
    std::string session_id, user;
    AppSpec app;  // empty when `desktop` is set
    int width = 0, height = 0;
    std::optional<DesktopSpec> desktop;  // a VM desktop instead of an app
    // The client's device pixel ratio (kMinScale..kMaxScale; absent on the wire = 1): an app
    // session's X server runs at 96 * scale DPI so text is as large as on a local HiDPI screen.
    // VM desktops ignore it.
    double scale = 1;
};
inline constexpr double kMinScale = 1, kMaxScale = 4;
struct SessionReady {
    std::uint64_t request_id = 0;
    std::string session_id;
};
struct SessionFailed {
    std::uint64_t request_id = 0;
    std::string session_id, message;
};
struct EndSession {
    std::string session_id;
};
struct SessionEnded {
    std::string session_id, reason;
};
// cpu: host CPU use since the last heartbeat, mem: used memory fraction (both 0..1; optional on
// the wire, 0 when absent). Sent every 2 s.
struct Heartbeat {
    int sessions = 0;
    double cpu = 0, mem = 0;
    // Optional: seconds since the last input of each session that has a viewer (idle timeout).
    std::vector<std::pair<std::string, int>> idle;
};
// Host -> broker: a session's first viewer attached ("active") / its last viewer left ("disconnected").
struct SessionState {
    std::string session_id, state;
};
// Broker -> host: close the session's viewers but keep the session running.
struct DisconnectSession {
    std::string session_id;
};
// broker -> host: every desktop pool (the full list each time); the host keeps `spares` booted
// VMs per pooled pool whose image it has and removes the files of pools no longer listed.
struct PoolSpec {
    std::string pool, image, mode;
    int spares = 0, memory_mib = 512, cpus = 1;
};
struct Pools {
    std::vector<PoolSpec> pools;
};
struct ErrorMsg {
    std::string message;
};
// Host -> broker, every 2 s next to the heartbeat: live stream figures per session with viewers.
// Every figure is optional (absent or null on the wire = unknown); unknown fields are ignored.
struct StreamStats {
    std::string session_id;
    std::optional<double> fps, kbps, rtt_ms, encode_ms, input_to_photon_ms;
    std::optional<std::int64_t> skipped, viewers;
};
struct SessionStats {
    std::vector<StreamStats> stats;
};
// Broker -> host: a small JPEG of the session's current screen, at most max_width x max_height
// (kMinThumbnailSide..kMaxThumbnailSide each), keeping its aspect. The host answers with
// `thumbnail` or `thumbnail_failed` carrying the same request_id.
struct ThumbnailRequest {
    std::uint64_t request_id = 0;
    std::string session_id;
    int max_width = 320, max_height = 200;
};
inline constexpr int kMinThumbnailSide = 16, kMaxThumbnailSide = 640;
// The JPEG's bytes, base64 (at most kMaxThumbnailBase64 characters: a control message stays
// under the channel's 64 KiB message bound).
struct Thumbnail {
    std::uint64_t request_id = 0;
    std::string session_id, jpeg_base64;
};
inline constexpr std::size_t kMaxThumbnailBase64 = 48 * 1024;
// No picture: an unknown session, one whose screen has no frame yet, or one that is ending.
struct ThumbnailFailed {
    std::uint64_t request_id = 0;
    std::string session_id, message;
};

using Message = std::variant<Register, Registered, StartSession, SessionReady, SessionFailed, EndSession, SessionEnded,
                             Heartbeat, ErrorMsg, SessionState, DisconnectSession, Pools, SessionStats,
                             ThumbnailRequest, Thumbnail, ThumbnailFailed>;

std::string serialize(const Message& m);
// Rejects non-JSON, non-objects, unknown types, missing or mistyped fields, and fields out of
// range, with a message saying which.
Result<Message, std::string> parse(std::string_view text);

}  // namespace portico::protocol::control

#pragma once
// Launch files (docs/native-client.md, "Launch files"): what the portal's "Open in the Portico
// app" downloads and portico-client opens. Small, text, versioned, MIME type
// application/x-portico-launch, suffix .portico:
//
//   [portico-launch]
//   version=1
//   broker=https://broker.example.org:8443
//   broker_cert_sha256=<64 hex digits: the broker's certificate, so the client trusts exactly it>
//   resource=<resource id>
//   session=<session id, for a reconnect; absent for a new launch>
//   expires_at=<unix seconds>
//   token=<43 base64url characters: single use, exchanged at POST /api/v1/launch-files/redeem>
//
// The token is last and of fixed length, so a file cut short anywhere is refused here rather than
// sent.
//
// The same fields travel as a launch link (the URL handler x-scheme-handler/portico that the
// portico-client package registers), the broker as the authority and the rest as the query, in
// the file's order:
//
//   portico://broker.example.org:8443/launch?version=1&broker_cert_sha256=<hex>&resource=<id>
//       [&session=<id>]&expires_at=<unix seconds>&token=<43 base64url characters>
//
// A link is read by turning it into the file's text and parsing that: one set of rules for both. It is no long-lived secret: the broker keeps only its SHA-256, accepts it once, for
// LAUNCH_FILE_LIFETIME seconds. The broker writes (format_launch_file) and the client reads
// (parse_launch_file); both are pure.

#include "common/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace portico::protocol {

inline constexpr int kLaunchFileVersion = 1;
inline constexpr std::int64_t kLaunchFileLifetimeSeconds = 60;
inline constexpr const char* kLaunchFileMimeType = "application/x-portico-launch";
inline constexpr const char* kLaunchFileSuffix = ".portico";
inline constexpr std::size_t kLaunchTokenLength = 43;     // 32 random bytes, base64url without padding
inline constexpr std::size_t kMaxLaunchFileBytes = 4096;  // a real one is ~350 bytes

struct LaunchFile {
    int version = kLaunchFileVersion;
    std::string broker;              // https://host[:port]
    std::string broker_cert_sha256;  // lower-case hex
    std::string resource;
    std::string session;  // empty: a new launch (or the user's running session of the resource)
    std::int64_t expires_at = 0;
    std::string token;
};

std::string format_launch_file(const LaunchFile& f);

enum class LaunchFileError {
    damaged,              // not a launch file, cut short, a missing / repeated / unknown key, a bad value
    unsupported_version,  // a version this client does not read (from a newer broker)
};

// The file's fields, or what is wrong in the message (which key, which line). Unknown keys are
// refused too: a file is never half understood.
Result<LaunchFile, LaunchFileError> parse_launch_file(std::string_view text);

inline constexpr const char* kLaunchUrlScheme = "portico";

// The launch link of `f` (its broker must be an https:// URL).
std::string format_launch_url(const LaunchFile& f);

// A launch link's fields: refused (damaged) when it is no portico://HOST[:PORT]/launch?... link,
// has a key twice, an unknown key or a `broker` key (the authority names the broker), or any of
// the file's faults.
Result<LaunchFile, LaunchFileError> parse_launch_url(std::string_view url);

// Whether `token` has the form the broker issues (kLaunchTokenLength base64url characters).
bool well_formed_launch_token(std::string_view token);

}  // namespace portico::protocol

#pragma once
// Parses the https:// and wss:// URLs the client is given or told by the broker. Pure; any thread.

#include <optional>
#include <string>
#include <string_view>

namespace portico::client {

struct Url {
    std::string scheme;  // "https" or "wss"
    std::string host;    // without IPv6 brackets
    std::string port;    // defaulted to 443
    std::string target;  // path and query, at least "/"

    std::string host_port() const;  // for Host headers: brackets added back for IPv6
};

// Only TLS schemes are accepted (https, wss): nothing travels in the clear.
std::optional<Url> parse_url(std::string_view text);

}  // namespace portico::client

#pragma once
// The one URL parser of every Portico process: the broker's https:// address the client is given,
// the wss:// display and control URLs the processes tell each other. Pure; any thread.

#include "common/result.hpp"

#include <string>
#include <string_view>

namespace portico {

struct Url {
    std::string scheme;  // lower case, the one the caller asked for
    std::string host;    // without IPv6 brackets
    std::string port;    // decimal 1..65535; 443 when the URL names none
    std::string target;  // path and query, at least "/"

    std::string host_port() const;  // for Host headers: brackets added back for IPv6
};

enum class UrlError { scheme, authority, port, character };

// Parses `scheme://host[:port][/path[?query]]` where scheme must be `scheme` ("https" or "wss":
// callers only ever speak TLS, so nothing travels in the clear). Refused, with a message naming
// what is wrong: another scheme, user info (`user@`), an empty host, a port that is not 1..65535,
// and any space or control character (they would end up in a request line or a Host header).
Result<Url, UrlError> parse_url(std::string_view text, std::string_view scheme);

}  // namespace portico

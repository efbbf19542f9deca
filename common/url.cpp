#include "common/url.hpp"

#include <algorithm>
#include <cctype>

namespace portico {

namespace {

Error<UrlError> refuse(UrlError code, std::string why, std::string_view text) {
    return {code, std::move(why) + ": " + std::string(text)};
}

bool all_digits(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

}  // namespace

std::string Url::host_port() const {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return h + ":" + port;
}

Result<Url, UrlError> parse_url(std::string_view text, std::string_view scheme) {
    if (std::any_of(text.begin(), text.end(), [](unsigned char c) { return c <= 0x20 || c >= 0x7f; }))
        return refuse(UrlError::character, "URL has a space, control or non-ASCII character", text);
    auto sep = text.find("://");
    std::string given(text.substr(0, sep == std::string_view::npos ? 0 : sep));
    std::transform(given.begin(), given.end(), given.begin(), [](unsigned char c) { return std::tolower(c); });
    if (sep == std::string_view::npos || given != scheme)
        return refuse(UrlError::scheme, "URL must start with " + std::string(scheme) + "://", text);

    Url u;
    u.scheme = given;
    std::string_view rest = text.substr(sep + 3);
    auto slash = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, slash);
    std::string_view target = slash == std::string_view::npos ? "/" : rest.substr(slash);
    target = target.substr(0, target.find('#'));  // a fragment is the browser's, never sent
    u.target = target.empty() || target.front() != '/' ? "/" + std::string(target) : std::string(target);
    if (authority.find('@') != std::string_view::npos)
        return refuse(UrlError::authority, "URL must not carry a user name or password", text);

    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos)
            return refuse(UrlError::authority, "URL has an unclosed IPv6 address", text);
        u.host = std::string(authority.substr(1, close - 1));
        auto after = authority.substr(close + 1);
        if (!after.empty() && after.front() != ':')
            return refuse(UrlError::authority, "URL has text after its IPv6 address", text);
        if (!after.empty()) port = after.substr(1);
        if (after == ":") return refuse(UrlError::port, "URL has an empty port", text);
    } else {
        auto colon = authority.rfind(':');
        u.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            port = authority.substr(colon + 1);
            if (port.empty()) return refuse(UrlError::port, "URL has an empty port", text);
        }
    }
    if (u.host.empty()) return refuse(UrlError::authority, "URL has no host", text);
    if (port.empty()) {
        u.port = "443";
    } else {
        if (port.size() > 5 || !all_digits(port) || std::stoi(std::string(port)) < 1 ||
            std::stoi(std::string(port)) > 65535)
            return refuse(UrlError::port, "URL has a port that is not 1..65535", text);
        u.port = std::string(port);
    }
    return u;
}

}  // namespace portico

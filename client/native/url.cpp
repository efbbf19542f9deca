#include "client/native/url.hpp"

#include <algorithm>
#include <cctype>

namespace portico::client {

std::string Url::host_port() const {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return h + ":" + port;
}

std::optional<Url> parse_url(std::string_view text) {
    Url u;
    auto sep = text.find("://");
    if (sep == std::string_view::npos) return std::nullopt;
    u.scheme = std::string(text.substr(0, sep));
    std::transform(u.scheme.begin(), u.scheme.end(), u.scheme.begin(), [](unsigned char c) { return std::tolower(c); });
    if (u.scheme != "https" && u.scheme != "wss") return std::nullopt;
    std::string_view rest = text.substr(sep + 3);
    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
    std::string_view port;
    if (authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        u.host = std::string(authority.substr(1, close - 1));
        auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return std::nullopt;
            port = after.substr(1);
        }
    } else {
        auto colon = authority.rfind(':');
        u.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    if (u.host.empty()) return std::nullopt;
    if (port.empty()) {
        u.port = "443";
    } else {
        if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); }))
            return std::nullopt;
        int p = std::stoi(std::string(port));
        if (p < 1 || p > 65535) return std::nullopt;
        u.port = std::string(port);
    }
    return u;
}

}  // namespace portico::client

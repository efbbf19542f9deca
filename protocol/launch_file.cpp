#include "protocol/launch_file.hpp"

#include "common/url.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <optional>

namespace portico::protocol {

namespace {

constexpr std::string_view kHeader = "[portico-launch]";

Error<LaunchFileError> damaged(std::string message) { return {LaunchFileError::damaged, std::move(message)}; }

bool is_hex64(std::string_view s) {
    return s.size() == 64 &&
           std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Ids and URLs as the broker writes them: printable ASCII without spaces, at most 512 bytes.
bool is_plain_value(std::string_view s) {
    return !s.empty() && s.size() <= 512 && std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

}  // namespace

bool well_formed_launch_token(std::string_view token) {
    return token.size() == kLaunchTokenLength && std::all_of(token.begin(), token.end(), [](char c) {
               return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '_';
           });
}

std::string format_launch_file(const LaunchFile& f) {
    std::string out = std::string(kHeader) + "\n";
    out += "version=" + std::to_string(f.version) + "\n";
    out += "broker=" + f.broker + "\n";
    out += "broker_cert_sha256=" + f.broker_cert_sha256 + "\n";
    out += "resource=" + f.resource + "\n";
    if (!f.session.empty()) out += "session=" + f.session + "\n";
    out += "expires_at=" + std::to_string(f.expires_at) + "\n";
    out += "token=" + f.token + "\n";  // last: a file cut short lacks it or has it cut
    return out;
}

Result<LaunchFile, LaunchFileError> parse_launch_file(std::string_view text) {
    if (text.size() > kMaxLaunchFileBytes)
        return damaged("larger than " + std::to_string(kMaxLaunchFileBytes) + " bytes: not a launch file");
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a BOM some editors add
    std::map<std::string, std::string, std::less<>> fields;
    std::size_t line_no = 0;
    bool header = false;
    while (!text.empty()) {
        auto end = text.find('\n');
        if (end == std::string_view::npos)
            return damaged("line " + std::to_string(line_no + 1) + " has no end: the file was cut short");
        auto line = text.substr(0, end);
        text.remove_prefix(end + 1);
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty() || line.front() == '#') continue;
        if (!header) {
            if (line != kHeader)
                return damaged("it does not start with " + std::string(kHeader) + ": not a launch file");
            header = true;
            continue;
        }
        auto eq = line.find('=');
        if (eq == std::string_view::npos || eq == 0)
            return damaged("line " + std::to_string(line_no) + " is not key=value");
        std::string key(line.substr(0, eq));
        if (!fields.emplace(key, std::string(line.substr(eq + 1))).second)
            return damaged("'" + key + "' is given twice");
    }
    if (!header) return damaged("it is empty: not a launch file");

    auto take = [&](const char* key) -> std::optional<std::string> {
        auto it = fields.find(key);
        if (it == fields.end()) return std::nullopt;
        auto v = std::move(it->second);
        fields.erase(it);
        return v;
    };
    LaunchFile f;
    auto version = take("version");
    if (!version) return damaged("it has no version");
    auto [p, ec] = std::from_chars(version->data(), version->data() + version->size(), f.version);
    if (ec != std::errc() || p != version->data() + version->size() || f.version < 1)
        return damaged("version '" + version->substr(0, 16) + "' is not a number");
    if (f.version != kLaunchFileVersion)
        return Error<LaunchFileError>{LaunchFileError::unsupported_version,
                                      "it is of version " + std::to_string(f.version) + "; this client reads version " +
                                          std::to_string(kLaunchFileVersion) + " (update portico-client)"};
    auto broker = take("broker"), pin = take("broker_cert_sha256"), resource = take("resource"),
         session = take("session"), expires = take("expires_at"), token = take("token");
    if (!broker || !pin || !resource || !expires)
        return damaged("it lacks broker, broker_cert_sha256, resource or expires_at: it was cut short or edited");
    if (!token) return damaged("it has no token: it was cut short");
    if (!well_formed_launch_token(*token))
        return damaged("its token is not " + std::to_string(kLaunchTokenLength) +
                       " base64url characters: it was cut short or edited");
    if (!fields.empty()) return damaged("unknown key '" + fields.begin()->first.substr(0, 64) + "'");
    if (broker->rfind("https://", 0) != 0 || !is_plain_value(*broker)) return damaged("broker must be an https:// URL");
    if (!is_hex64(*pin)) return damaged("broker_cert_sha256 must be 64 lower-case hex digits");
    if (!is_plain_value(*resource)) return damaged("resource must be a plain id");
    if (session && !is_plain_value(*session)) return damaged("session must be a plain id");
    auto [q, ec2] = std::from_chars(expires->data(), expires->data() + expires->size(), f.expires_at);
    if (ec2 != std::errc() || q != expires->data() + expires->size() || f.expires_at <= 0)
        return damaged("expires_at must be unix seconds");
    f.broker = std::move(*broker);
    f.broker_cert_sha256 = std::move(*pin);
    f.resource = std::move(*resource);
    if (session) f.session = std::move(*session);
    f.token = std::move(*token);
    return f;
}

std::string format_launch_url(const LaunchFile& f) {
    std::string out = std::string(kLaunchUrlScheme) + "://" + f.broker.substr(f.broker.find("://") + 3) + "/launch?";
    out += "version=" + std::to_string(f.version);
    out += "&broker_cert_sha256=" + f.broker_cert_sha256;
    out += "&resource=" + f.resource;
    if (!f.session.empty()) out += "&session=" + f.session;
    out += "&expires_at=" + std::to_string(f.expires_at);
    out += "&token=" + f.token;
    return out;
}

Result<LaunchFile, LaunchFileError> parse_launch_url(std::string_view url) {
    if (url.size() > kMaxLaunchFileBytes)
        return damaged("longer than " + std::to_string(kMaxLaunchFileBytes) + " characters: not a launch link");
    auto u = parse_url(url, kLaunchUrlScheme);
    if (!u) return damaged("not a launch link: " + u.error().message);
    // A host name (letters, digits, dots, dashes) or an IPv6 address: nothing that would read
    // differently once written back into a broker URL.
    const bool ipv6 = u->host.find(':') != std::string::npos;
    const bool plain_host = std::all_of(u->host.begin(), u->host.end(), [ipv6](char c) {
        const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        return ipv6 ? hex || c == ':' || c == '.' : std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
    });
    if (!plain_host) return damaged("not a launch link: its broker is no host name or address");
    std::string_view target = u->target;
    constexpr std::string_view kPath = "/launch?";
    if (target.substr(0, kPath.size()) != kPath) return damaged("not a launch link: its path must be /launch?...");
    target.remove_prefix(kPath.size());
    // Percent-escapes are refused rather than decoded: the broker writes none (ids, hex,
    // base64url), and one would be a way to smuggle a line break into the file's text.
    if (target.find_first_of("%\n\r") != std::string_view::npos)
        return damaged("the link has an escaped character: it was edited");
    std::string text = std::string(kHeader) + "\nbroker=https://" + u->host_port() + "\n";
    while (!target.empty()) {
        auto amp = target.find('&');
        auto field = target.substr(0, amp);
        target = amp == std::string_view::npos ? std::string_view{} : target.substr(amp + 1);
        if (field.substr(0, 7) == "broker=") return damaged("the link names its broker twice");
        if (field.find('=') == std::string_view::npos) return damaged("the link has a field without '=': it was cut");
        text.append(field).push_back('\n');
    }
    return parse_launch_file(text);
}

}  // namespace portico::protocol

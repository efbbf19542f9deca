#include "common/log.hpp"

#include "common/log_format.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <optional>
#include <string>

namespace portico::log {
namespace {
std::atomic<Level> g_level{Level::info};
std::mutex g_mu;
std::string g_component = "portico";
std::optional<Format> g_format;  // guarded by g_mu; read from the environment on first use
std::string g_format_warning;    // a bad PORTICO_LOG_FORMAT, said once on the first line
const char* name(Level l) {
    switch (l) {
        case Level::debug: return "DEBUG";
        case Level::info: return "INFO";
        case Level::warn: return "WARN";
        case Level::error: return "ERROR";
    }
    return "?";
}
const char* json_name(Level l) {
    switch (l) {
        case Level::debug: return "debug";
        case Level::info: return "info";
        case Level::warn: return "warn";
        case Level::error: return "error";
    }
    return "?";
}

// Caller holds g_mu.
Format format_locked() {
    if (!g_format) {
        const char* v = std::getenv("PORTICO_LOG_FORMAT");
        const std::string want = v ? v : "";
        if (want == "json")
            g_format = Format::json;
        else
            g_format = Format::text;
        if (!want.empty() && want != "json" && want != "text")
            g_format_warning = "PORTICO_LOG_FORMAT='" + want + "' is neither 'text' nor 'json'; logging as text";
    }
    return *g_format;
}

// The length of the valid UTF-8 sequence at s[i] (2..4), or 0 if the bytes there are not one.
// ASCII is handled by the caller. Follows RFC 3629: no overlong forms, no surrogates, <= U+10FFFF.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
    auto at = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
    auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) { return at(k) >= lo && at(k) <= hi; };
    const unsigned c = at(0);
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
    if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1) && cont(2) ? 3 : 0;
    if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
    if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
    if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
    if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
    return 0;
}
}  // namespace

std::string json_string(std::string_view s) {
    static const char* const hex = "0123456789abcdef";
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    auto u00 = [&](unsigned c) {
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
    };
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            switch (c) {
                case '"': out += "\\\""; break;
                case '\\': out += "\\\\"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                case '\t': out += "\\t"; break;
                case '\b': out += "\\b"; break;
                case '\f': out += "\\f"; break;
                default:
                    if (c < 0x20 || c == 0x7F)
                        u00(c);
                    else
                        out += static_cast<char>(c);
            }
            ++i;
            continue;
        }
        const std::size_t n = utf8_sequence(s, i);
        if (n == 0) {
            out += "\\ufffd";  // one replacement per byte that is not part of a valid sequence
            ++i;
        } else if (n == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) <= 0x9F) {
            u00(static_cast<unsigned char>(s[i + 1]));  // a C1 control
            i += 2;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
    out += '"';
    return out;
}

std::string format_line(Format f, std::chrono::system_clock::time_point at, Level l, std::string_view component,
                        std::string_view msg) {
    const auto t = std::chrono::system_clock::to_time_t(at);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char ts[48];
    if (f == Format::text) {
        std::strftime(ts, sizeof ts, "%H:%M:%S", &tm);
        char head[96];
        std::snprintf(head, sizeof head, "%s.%03d %-5s [", ts, static_cast<int>(ms), name(l));
        return std::string(head) + std::string(component) + "] " + escape(msg);
    }
    std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    char stamp[64];
    std::snprintf(stamp, sizeof stamp, "%s.%03dZ", ts, static_cast<int>(ms));
    // A collector sees the program, not the text format's short tag.
    const std::string program =
        component.rfind("portico", 0) == 0 ? std::string(component) : "portico-" + std::string(component);
    return std::string("{\"ts\":\"") + stamp + "\",\"level\":\"" + json_name(l) +
           "\",\"component\":" + json_string(program) + ",\"msg\":" + json_string(msg) + "}";
}

std::string escape(std::string_view s) {
    static const char* const hex = "0123456789abcdef";
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
            static_cast<unsigned char>(s[i + 1]) <= 0x9F) {
            auto c1 = static_cast<unsigned char>(s[++i]);
            out += "\\u00";
            out += hex[c1 >> 4];
            out += hex[c1 & 15];
            continue;
        }
        if (c >= 0x20 && c != 0x7F) {
            out += static_cast<char>(c);
            continue;
        }
        switch (c) {
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case 0x1B: out += "\\e"; break;
            default:
                out += "\\x";
                out += hex[c >> 4];
                out += hex[c & 15];
        }
    }
    return out;
}

void set_level(Level l) { g_level = l; }
void set_component(std::string_view n) {
    std::lock_guard lk(g_mu);
    g_component = n;
}

void write(Level l, std::string_view msg) {
    if (l < g_level.load()) return;
    const auto now = std::chrono::system_clock::now();
    std::lock_guard lk(g_mu);
    const Format f = format_locked();
    if (!g_format_warning.empty()) {
        const std::string w = format_line(f, now, Level::warn, g_component, g_format_warning);
        std::fprintf(stderr, "%s\n", w.c_str());
        g_format_warning.clear();
    }
    const std::string line = format_line(f, now, l, g_component, msg);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fputc('\n', stderr);
    std::fflush(stderr);
}

}  // namespace portico::log

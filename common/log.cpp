#include "common/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

namespace portico::log {
namespace {
std::atomic<Level> g_level{Level::info};
std::mutex g_mu;
std::string g_component = "portico";
const char* name(Level l) {
    switch (l) {
        case Level::debug: return "DEBUG";
        case Level::info: return "INFO";
        case Level::warn: return "WARN";
        case Level::error: return "ERROR";
    }
    return "?";
}
}  // namespace

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
    auto now = std::chrono::system_clock::now();
    auto t = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char ts[32];
    std::strftime(ts, sizeof ts, "%H:%M:%S", &tm);
    const std::string safe = escape(msg);
    std::lock_guard lk(g_mu);
    std::fprintf(stderr, "%s.%03d %-5s [%s] %.*s\n", ts, static_cast<int>(ms), name(l), g_component.c_str(),
                 static_cast<int>(safe.size()), safe.data());
    std::fflush(stderr);
}

}  // namespace portico::log

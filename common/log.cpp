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
    std::lock_guard lk(g_mu);
    std::fprintf(stderr, "%s.%03d %-5s [%s] %.*s\n", ts, static_cast<int>(ms), name(l), g_component.c_str(),
                 static_cast<int>(msg.size()), msg.data());
    std::fflush(stderr);
}

}  // namespace portico::log

#pragma once
// Minimal thread-safe logging to stderr: one line per event, with time, level and component.

#include <sstream>
#include <string_view>

namespace portico::log {

enum class Level { debug, info, warn, error };

void set_level(Level l);
void set_component(std::string_view name);  // process-wide prefix, e.g. "broker"
void write(Level l, std::string_view msg);

template <class... A>
void emit(Level l, const A&... parts) {
    std::ostringstream s;
    (s << ... << parts);
    write(l, s.str());
}
template <class... A> void debug(const A&... a) { emit(Level::debug, a...); }
template <class... A> void info(const A&... a) { emit(Level::info, a...); }
template <class... A> void warn(const A&... a) { emit(Level::warn, a...); }
template <class... A> void error(const A&... a) { emit(Level::error, a...); }

}  // namespace portico::log

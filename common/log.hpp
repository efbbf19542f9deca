#pragma once
// Minimal thread-safe logging to stderr: one line per event, with time, level and component.
// Messages often carry what a client sent (user names, paths, error text), so write() escapes
// control characters: no input can end a line early and forge the next one, or drive the terminal.

#include <sstream>
#include <string>
#include <string_view>

namespace portico::log {

enum class Level { debug, info, warn, error };

void set_level(Level l);
void set_component(std::string_view name);  // process-wide prefix, e.g. "broker"
void write(Level l, std::string_view msg);  // msg is escaped (see escape)

// `s` with C0 controls, DEL and the C1 controls (U+0080..U+009F, which some terminals obey) shown
// as \n, \r, \t, \e or \xNN / \u00NN. Everything else, including other UTF-8, is kept.
std::string escape(std::string_view s);

template <class... A>
void emit(Level l, const A&... parts) {
    std::ostringstream s;
    (s << ... << parts);
    write(l, s.str());
}
template <class... A>
void debug(const A&... a) {
    emit(Level::debug, a...);
}
template <class... A>
void info(const A&... a) {
    emit(Level::info, a...);
}
template <class... A>
void warn(const A&... a) {
    emit(Level::warn, a...);
}
template <class... A>
void error(const A&... a) {
    emit(Level::error, a...);
}

}  // namespace portico::log

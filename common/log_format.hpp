#pragma once
// How log.hpp's lines look: text for people (the default) or JSON lines for log collectors, chosen
// by the environment (PORTICO_LOG_FORMAT=json, read before the first line), so a systemd unit can
// set it without any new flag:
//   {"ts":"2026-12-04T00:55:01.123Z","level":"info","component":"portico-broker","msg":"..."}
// Any other value logs text, and the first line says so. Pure functions; any thread.

#include "common/log.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace portico::log {

enum class Format { text, json };

// `s` as a JSON string, quotes included: " and \ escaped, C0 controls as \n \r \t \b \f or
// \u00NN, DEL and the C1 controls as \u00NN (as escape() keeps them off terminals), every byte of
// invalid UTF-8 (stray continuation bytes, overlong forms, surrogates, truncated sequences) as
// \ufffd. Valid UTF-8 is kept as it is, so the result is valid JSON for any input.
std::string json_string(std::string_view s);

// One log line without its newline, as write() prints it: text "HH:MM:SS.mmm LEVEL [component] msg"
// (msg through escape()), or a JSON object with "ts" (RFC 3339, UTC, milliseconds), "level",
// "component" ("portico-" and the component, unless it already starts with "portico") and "msg".
std::string format_line(Format f, std::chrono::system_clock::time_point at, Level l, std::string_view component,
                        std::string_view msg);

}  // namespace portico::log

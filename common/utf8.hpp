#pragma once
// Cutting text to a byte budget without splitting a UTF-8 character. Anything that truncates a
// string which may later be written as JSON (error messages, audit fields, log lines) goes through
// utf8_prefix: a cut in the middle of a multi-byte sequence leaves invalid UTF-8, and nlohmann's
// JSON writer throws on that by default. Pure functions; any thread.

#include <cstddef>
#include <string>
#include <string_view>

namespace portico {

// The longest prefix of `s` that is at most `max_bytes` long and does not end inside a UTF-8
// sequence. Input that is not UTF-8 at all is cut like bytes (never longer than max_bytes).
inline std::string_view utf8_prefix_view(std::string_view s, std::size_t max_bytes) {
    if (s.size() <= max_bytes) return s;
    std::size_t cut = max_bytes;
    // Back off over continuation bytes (10xxxxxx) to the lead byte of the character that straddles
    // the cut; a character is at most 4 bytes, so never more than 3 steps.
    std::size_t steps = 0;
    while (cut > 0 && steps < 3 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) {
        --cut;
        ++steps;
    }
    if ((static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) cut = max_bytes;  // not UTF-8: cut as bytes
    return s.substr(0, cut);
}

inline std::string utf8_prefix(std::string_view s, std::size_t max_bytes) {
    return std::string(utf8_prefix_view(s, max_bytes));
}

}  // namespace portico

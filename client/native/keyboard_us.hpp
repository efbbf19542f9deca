#pragma once
// Turns text into the evdev key presses a US keyboard would need to type it, so headless runs
// can type into remote apps. Pure functions; any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portico::client {

inline constexpr std::uint16_t kKeyShiftLeft = 42;
inline constexpr std::uint16_t kKeyEnter = 28;
inline constexpr std::uint16_t kKeyTab = 15;

struct KeyEvent {
    std::uint16_t code = 0;
    bool down = false;
    bool operator==(const KeyEvent&) const = default;
};

// The key events that type c on a US layout (shifted characters hold ShiftLeft around the key),
// or nullopt for characters a US keyboard has no key for (non-ASCII, control characters other
// than '\n' and '\t').
std::optional<std::vector<KeyEvent>> us_key_sequence(char c);

// Interprets the escapes a shell leaves in a --type argument: "\n", "\t" and "\\". Any other
// backslash is kept as it is.
std::string unescape_text(std::string_view text);

}  // namespace portico::client

#pragma once
// SDL scancodes (USB HID usages: the physical key, whatever the layout) -> Linux evdev key codes,
// the codes the display protocol's Key and KeyChar carry. The same keys client/web/keymap.js
// forwards, so the native client and the browser send a session the same codes. Pure; any thread.

#include <SDL_scancode.h>

#include <cstdint>
#include <optional>

namespace portico::client {

// The evdev code of the physical key, or nullopt for keys the client does not forward.
std::optional<std::uint16_t> evdev_code(SDL_Scancode sc);

// True for keys that may type a character under the local layout (letters, digits, punctuation,
// space, the 105-key extra key, the numeric keypad): their text input decides what is sent.
bool may_type_character(SDL_Scancode sc);

// True for the numeric keypad, whose keys go by physical code when they type nothing (Num Lock off).
bool is_keypad(SDL_Scancode sc);

}  // namespace portico::client

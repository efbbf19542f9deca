#pragma once
// KeyTranslator: SDL keyboard and text events -> the display protocol's Key and KeyChar, the way
// the web client sends them (client/web/input.js): a key that types a character under the local
// layout goes as KeyChar (the character, plus its physical key), so the session gets the right
// character whatever the two layouts are; other keys, and every key while Ctrl, Alt (not AltGr)
// or the logo key is held, go as Key by physical code (evdev). Text with no key behind it (an
// input method's or compose's result) goes as KeyChar with code 0.
//
// SDL reports a key press first and the text it typed right after, from the same X event; so a
// press of a character key is held back until the next event shows whether text follows. No
// text means the key was a dead key or part of a compose sequence: it types nothing now (the
// composed character comes as text later). Keypad keys typing nothing (Num Lock off) go as Key.
// Pure state machine, no SDL calls; owned by the window thread.

#include "protocol/display.hpp"

#include <SDL_keycode.h>
#include <SDL_scancode.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

namespace portico::client {

class KeyTranslator {
public:
    using Out = std::vector<protocol::Message>;

    // A key went down (repeat: auto-repeat). mods: SDL_Keymod at the time.
    void key_down(SDL_Scancode sc, std::uint16_t mods, Out& out);
    // Text typed (SDL_TEXTINPUT, UTF-8).
    void text(std::string_view utf8, Out& out);
    // A key went up.
    void key_up(SDL_Scancode sc, Out& out);
    // Any event other than text, or the end of a batch: a held-back press typed nothing.
    void settle(Out& out);
    // Lets go of every key the host believes held (focus lost, grab released, disconnect).
    void release_all(Out& out);

    bool holding() const { return !held_keys_.empty() || !held_chars_.empty(); }

private:
    struct Pending {
        SDL_Scancode sc;
        std::uint16_t code;
    };
    struct HeldChar {
        std::uint32_t codepoint;
        std::uint16_t code;
    };
    void press_key(std::uint16_t code, Out& out);

    std::optional<Pending> pending_;
    std::set<std::uint16_t> held_keys_;            // evdev codes sent down as Key
    std::map<SDL_Scancode, HeldChar> held_chars_;  // keys whose press went as KeyChar
};

// The Unicode scalar values of UTF-8 text; invalid sequences are skipped.
std::vector<std::uint32_t> code_points(std::string_view utf8);

// True for code points a KeyChar may carry (no control characters, no surrogates), as the web
// client's isTypableCodePoint.
bool typable(std::uint32_t cp);

}  // namespace portico::client

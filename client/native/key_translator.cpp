#include "client/native/key_translator.hpp"

#include "client/native/sdl_keymap.hpp"

namespace portico::client {

namespace proto = protocol;

namespace {

// Modifiers that make a key a shortcut rather than a character (AltGr, KMOD_RALT or KMOD_MODE
// under X, only selects characters).
constexpr std::uint16_t kShortcutMods = KMOD_CTRL | KMOD_LALT | KMOD_GUI;

}  // namespace

bool typable(std::uint32_t cp) {
    return cp >= 0x20 && cp != 0x7f && !(cp >= 0x80 && cp < 0xa0) && !(cp >= 0xd800 && cp <= 0xdfff) && cp <= 0x10ffff;
}

std::vector<std::uint32_t> code_points(std::string_view s) {
    std::vector<std::uint32_t> out;
    std::size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        const int len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + static_cast<std::size_t>(len) > s.size() ||
            !proto::valid_utf8(s.substr(i, static_cast<std::size_t>(len)))) {
            ++i;
            continue;
        }
        std::uint32_t cp = len == 1 ? b : b & (0x7f >> len);
        for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
        out.push_back(cp);
        i += static_cast<std::size_t>(len);
    }
    return out;
}

void KeyTranslator::press_key(std::uint16_t code, Out& out) {
    held_keys_.insert(code);
    out.push_back(proto::Key{true, code});
}

void KeyTranslator::key_down(SDL_Scancode sc, std::uint16_t mods, Out& out) {
    settle(out);
    // Caps Lock and Num Lock are this keyboard's state, already in the characters sent.
    if (sc == SDL_SCANCODE_CAPSLOCK || sc == SDL_SCANCODE_NUMLOCKCLEAR) return;
    const auto code = evdev_code(sc);
    if (!code) return;
    if (may_type_character(sc) && (mods & kShortcutMods) == 0) {
        pending_ = Pending{sc, *code};
        return;
    }
    press_key(*code, out);
}

void KeyTranslator::text(std::string_view utf8, Out& out) {
    for (const auto cp : code_points(utf8)) {
        if (!typable(cp)) continue;
        if (pending_) {
            // The held-back press typed this character: it goes down now and up with its key.
            held_chars_[pending_->sc] = HeldChar{cp, pending_->code};
            out.push_back(proto::KeyChar{true, cp, pending_->code});
            pending_.reset();
        } else {
            out.push_back(proto::KeyChar{true, cp, 0});
            out.push_back(proto::KeyChar{false, cp, 0});
        }
    }
}

void KeyTranslator::settle(Out& out) {
    if (!pending_) return;
    if (is_keypad(pending_->sc)) press_key(pending_->code, out);
    pending_.reset();
}

void KeyTranslator::key_up(SDL_Scancode sc, Out& out) {
    settle(out);
    if (auto it = held_chars_.find(sc); it != held_chars_.end()) {
        out.push_back(proto::KeyChar{false, it->second.codepoint, it->second.code});
        held_chars_.erase(it);
        return;
    }
    const auto code = evdev_code(sc);
    if (code && held_keys_.erase(*code)) out.push_back(proto::Key{false, *code});
}

void KeyTranslator::release_all(Out& out) {
    pending_.reset();
    for (const auto& [sc, held] : held_chars_) out.push_back(proto::KeyChar{false, held.codepoint, held.code});
    held_chars_.clear();
    for (const auto code : held_keys_) out.push_back(proto::Key{false, code});
    held_keys_.clear();
}

}  // namespace portico::client

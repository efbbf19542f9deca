#include "client/native/keyboard_us.hpp"

namespace portico::client {

namespace {

struct Stroke {
    std::uint16_t code;
    bool shift;
};

// Codes are linux/input-event-codes.h (KEY_1 = 2 ... KEY_0 = 11, KEY_Q = 16, KEY_A = 30, ...).
std::optional<Stroke> stroke_for(char c) {
    static constexpr std::uint16_t letter_codes[26] = {
        30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50,  // a..m
        49, 24, 25, 16, 19, 31, 20, 22, 47, 17, 45, 21, 44,  // n..z
    };
    if (c >= 'a' && c <= 'z') return Stroke{letter_codes[c - 'a'], false};
    if (c >= 'A' && c <= 'Z') return Stroke{letter_codes[c - 'A'], true};
    if (c >= '1' && c <= '9') return Stroke{static_cast<std::uint16_t>(2 + (c - '1')), false};
    switch (c) {
        case '0': return Stroke{11, false};
        case '!': return Stroke{2, true};
        case '@': return Stroke{3, true};
        case '#': return Stroke{4, true};
        case '$': return Stroke{5, true};
        case '%': return Stroke{6, true};
        case '^': return Stroke{7, true};
        case '&': return Stroke{8, true};
        case '*': return Stroke{9, true};
        case '(': return Stroke{10, true};
        case ')': return Stroke{11, true};
        case '-': return Stroke{12, false};
        case '_': return Stroke{12, true};
        case '=': return Stroke{13, false};
        case '+': return Stroke{13, true};
        case '[': return Stroke{26, false};
        case '{': return Stroke{26, true};
        case ']': return Stroke{27, false};
        case '}': return Stroke{27, true};
        case ';': return Stroke{39, false};
        case ':': return Stroke{39, true};
        case '\'': return Stroke{40, false};
        case '"': return Stroke{40, true};
        case '`': return Stroke{41, false};
        case '~': return Stroke{41, true};
        case '\\': return Stroke{43, false};
        case '|': return Stroke{43, true};
        case ',': return Stroke{51, false};
        case '<': return Stroke{51, true};
        case '.': return Stroke{52, false};
        case '>': return Stroke{52, true};
        case '/': return Stroke{53, false};
        case '?': return Stroke{53, true};
        case ' ': return Stroke{57, false};
        case '\n': return Stroke{kKeyEnter, false};
        case '\t': return Stroke{kKeyTab, false};
        default: return std::nullopt;
    }
}

}  // namespace

std::optional<std::vector<KeyEvent>> us_key_sequence(char c) {
    auto s = stroke_for(c);
    if (!s) return std::nullopt;
    std::vector<KeyEvent> out;
    if (s->shift) out.push_back({kKeyShiftLeft, true});
    out.push_back({s->code, true});
    out.push_back({s->code, false});
    if (s->shift) out.push_back({kKeyShiftLeft, false});
    return out;
}

std::string unescape_text(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) {
            char n = text[i + 1];
            if (n == 'n') {
                out += '\n';
                ++i;
                continue;
            }
            if (n == 't') {
                out += '\t';
                ++i;
                continue;
            }
            if (n == '\\') {
                out += '\\';
                ++i;
                continue;
            }
        }
        out += text[i];
    }
    return out;
}

}  // namespace portico::client

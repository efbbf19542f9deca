#include "client/native/keyboard_us.hpp"

#include <catch2/catch.hpp>

using portico::client::KeyEvent;
using portico::client::unescape_text;
using portico::client::us_key_sequence;

namespace {
std::vector<KeyEvent> press(std::uint16_t code) { return {{code, true}, {code, false}}; }
std::vector<KeyEvent> shifted(std::uint16_t code) { return {{42, true}, {code, true}, {code, false}, {42, false}}; }
}  // namespace

TEST_CASE("lower-case letters are one press of their key") {
    CHECK(us_key_sequence('a') == press(30));
    CHECK(us_key_sequence('q') == press(16));
    CHECK(us_key_sequence('z') == press(44));
    CHECK(us_key_sequence('m') == press(50));
}

TEST_CASE("upper-case letters hold ShiftLeft around the key") {
    CHECK(us_key_sequence('A') == shifted(30));
    CHECK(us_key_sequence('Z') == shifted(44));
}

TEST_CASE("digits and their shifted symbols use the number row") {
    CHECK(us_key_sequence('1') == press(2));
    CHECK(us_key_sequence('9') == press(10));
    CHECK(us_key_sequence('0') == press(11));
    CHECK(us_key_sequence('!') == shifted(2));  // Shift+1 (KEY_1 = 2)
    CHECK(us_key_sequence('@') == shifted(3));  // Shift+2 (KEY_2 = 3)
    CHECK(us_key_sequence('#') == shifted(4));
    CHECK(us_key_sequence('$') == shifted(5));
    CHECK(us_key_sequence('%') == shifted(6));
    CHECK(us_key_sequence('^') == shifted(7));
    CHECK(us_key_sequence('&') == shifted(8));
    CHECK(us_key_sequence('*') == shifted(9));
    CHECK(us_key_sequence('(') == shifted(10));
    CHECK(us_key_sequence(')') == shifted(11));
}

TEST_CASE("punctuation pairs share a key, the second one shifted") {
    const std::vector<std::tuple<char, char, std::uint16_t>> pairs = {
        {'-', '_', 12}, {'=', '+', 13},  {'[', '{', 26}, {']', '}', 27}, {';', ':', 39}, {'\'', '"', 40},
        {'`', '~', 41}, {'\\', '|', 43}, {',', '<', 51}, {'.', '>', 52}, {'/', '?', 53},
    };
    for (auto [plain, shift, code] : pairs) {
        INFO(plain << " / " << shift);
        CHECK(us_key_sequence(plain) == press(code));
        CHECK(us_key_sequence(shift) == shifted(code));
    }
}

TEST_CASE("whitespace maps to Space, Enter and Tab") {
    CHECK(us_key_sequence(' ') == press(57));
    CHECK(us_key_sequence('\n') == press(28));
    CHECK(us_key_sequence('\t') == press(15));
}

TEST_CASE("characters without a US key are refused") {
    CHECK_FALSE(us_key_sequence('\x01').has_value());
    CHECK_FALSE(us_key_sequence('\r').has_value());
    CHECK_FALSE(us_key_sequence('\x7f').has_value());
    CHECK_FALSE(us_key_sequence(static_cast<char>(0xc3)).has_value());  // UTF-8 lead byte
}

TEST_CASE("every printable ASCII character is typeable") {
    for (char c = 0x20; c < 0x7f; ++c) {
        INFO(int(c));
        auto seq = us_key_sequence(c);
        REQUIRE(seq.has_value());
        CHECK((seq->size() == 2 || seq->size() == 4));
        for (auto& k : *seq) CHECK((k.code >= 1 && k.code <= 767));
    }
}

TEST_CASE("escapes in --type text are interpreted") {
    CHECK(unescape_text(R"(echo hi\n)") == "echo hi\n");
    CHECK(unescape_text(R"(a\tb)") == "a\tb");
    CHECK(unescape_text(R"(back\\slash)") == "back\\slash");
    CHECK(unescape_text(R"(\x stays)") == "\\x stays");
    CHECK(unescape_text("trailing\\") == "trailing\\");
    CHECK(unescape_text(R"(\\n)") == "\\n");
}

// The windowed client's pure parts: SDL scancodes to evdev codes, key and text events to Key and
// KeyChar as the web client sends them, wheel notches, where the picture goes in the window,
// resize-follows, clipboard chunks, the overlay's font.
#include "client/native/clipboard_sync.hpp"
#include "client/native/key_translator.hpp"
#include "client/native/overlay_text.hpp"
#include "client/native/pointer_input.hpp"
#include "client/native/resize_follower.hpp"
#include "client/native/sdl_keymap.hpp"
#include "client/native/view_geometry.hpp"

#include <catch2/catch.hpp>

using namespace portico::client;
namespace proto = portico::protocol;

namespace {

std::string describe(const proto::Message& m) {
    if (auto* k = std::get_if<proto::Key>(&m)) return std::string(k->down ? "down " : "up ") + std::to_string(k->code);
    if (auto* c = std::get_if<proto::KeyChar>(&m))
        return std::string(c->down ? "char-down " : "char-up ") + std::to_string(c->codepoint) + "/" +
               std::to_string(c->code);
    return "other";
}

std::vector<std::string> describe_all(const KeyTranslator::Out& out) {
    std::vector<std::string> v;
    for (const auto& m : out) v.push_back(describe(m));
    return v;
}

}  // namespace

TEST_CASE("sdl keymap: physical keys map to the evdev codes the web client sends") {
    CHECK(evdev_code(SDL_SCANCODE_A) == std::optional<std::uint16_t>(30));
    CHECK(evdev_code(SDL_SCANCODE_Y) == std::optional<std::uint16_t>(21));  // the German Z key
    CHECK(evdev_code(SDL_SCANCODE_Z) == std::optional<std::uint16_t>(44));
    CHECK(evdev_code(SDL_SCANCODE_1) == std::optional<std::uint16_t>(2));
    CHECK(evdev_code(SDL_SCANCODE_0) == std::optional<std::uint16_t>(11));
    CHECK(evdev_code(SDL_SCANCODE_RETURN) == std::optional<std::uint16_t>(28));
    CHECK(evdev_code(SDL_SCANCODE_RALT) == std::optional<std::uint16_t>(100));
    CHECK(evdev_code(SDL_SCANCODE_NONUSBACKSLASH) == std::optional<std::uint16_t>(86));
    CHECK(evdev_code(SDL_SCANCODE_KP_ENTER) == std::optional<std::uint16_t>(96));
    CHECK(evdev_code(SDL_SCANCODE_F12) == std::optional<std::uint16_t>(88));
    CHECK_FALSE(evdev_code(SDL_SCANCODE_UNKNOWN));
    CHECK_FALSE(evdev_code(static_cast<SDL_Scancode>(SDL_NUM_SCANCODES + 5)));
    CHECK(may_type_character(SDL_SCANCODE_Q));
    CHECK(may_type_character(SDL_SCANCODE_SPACE));
    CHECK(may_type_character(SDL_SCANCODE_KP_5));
    CHECK_FALSE(may_type_character(SDL_SCANCODE_RETURN));
    CHECK_FALSE(may_type_character(SDL_SCANCODE_TAB));
    CHECK_FALSE(may_type_character(SDL_SCANCODE_KP_ENTER));
}

TEST_CASE("key translator: a character key goes as KeyChar with its physical code, released with its key") {
    KeyTranslator t;
    KeyTranslator::Out out;
    // German layout: the key at US Y types 'z'.
    t.key_down(SDL_SCANCODE_Y, KMOD_NONE, out);
    CHECK(out.empty());  // held back until the text shows what it typed
    t.text("z", out);
    t.key_up(SDL_SCANCODE_Y, out);
    CHECK(describe_all(out) == std::vector<std::string>{"char-down 122/21", "char-up 122/21"});
}

TEST_CASE("key translator: AltGr characters and shifted ones go as the character") {
    KeyTranslator t;
    KeyTranslator::Out out;
    t.key_down(SDL_SCANCODE_RALT, KMOD_NONE, out);  // AltGr itself goes as a key, like the browser's
    t.key_down(SDL_SCANCODE_E, KMOD_RALT, out);
    t.text("\xE2\x82\xAC", out);  // €
    t.key_up(SDL_SCANCODE_E, out);
    t.key_up(SDL_SCANCODE_RALT, out);
    CHECK(describe_all(out) == std::vector<std::string>{"down 100", "char-down 8364/18", "char-up 8364/18", "up 100"});
}

TEST_CASE("key translator: shortcuts with Ctrl go by physical key") {
    KeyTranslator t;
    KeyTranslator::Out out;
    t.key_down(SDL_SCANCODE_LCTRL, KMOD_NONE, out);
    t.key_down(SDL_SCANCODE_C, KMOD_LCTRL, out);
    t.key_up(SDL_SCANCODE_C, out);
    t.key_up(SDL_SCANCODE_LCTRL, out);
    CHECK(describe_all(out) == std::vector<std::string>{"down 29", "down 46", "up 46", "up 29"});
}

TEST_CASE("key translator: a dead key types nothing, the composed character follows as text") {
    KeyTranslator t;
    KeyTranslator::Out out;
    t.key_down(SDL_SCANCODE_EQUALS, KMOD_NONE, out);  // German dead acute
    t.settle(out);                                    // no text came with it
    t.key_up(SDL_SCANCODE_EQUALS, out);
    t.key_down(SDL_SCANCODE_E, KMOD_NONE, out);
    t.text("\xC3\xA9", out);  // é
    t.key_up(SDL_SCANCODE_E, out);
    CHECK(describe_all(out) == std::vector<std::string>{"char-down 233/18", "char-up 233/18"});
}

TEST_CASE("key translator: input-method text without a key goes as KeyChar with code 0") {
    KeyTranslator t;
    KeyTranslator::Out out;
    t.text("\xE6\x97\xA5", out);  // 日
    CHECK(describe_all(out) == std::vector<std::string>{"char-down 26085/0", "char-up 26085/0"});
}

TEST_CASE("key translator: non-character keys, keypad without Num Lock, release_all") {
    KeyTranslator t;
    KeyTranslator::Out out;
    t.key_down(SDL_SCANCODE_RETURN, KMOD_NONE, out);
    t.key_down(SDL_SCANCODE_KP_7, KMOD_NONE, out);  // Num Lock off: no text, goes as Home (KP_7)
    t.settle(out);
    t.key_down(SDL_SCANCODE_CAPSLOCK, KMOD_NONE, out);  // local state, never forwarded
    t.key_down(SDL_SCANCODE_A, KMOD_SHIFT, out);
    t.text("A", out);
    CHECK(t.holding());
    t.release_all(out);
    CHECK_FALSE(t.holding());
    CHECK(describe_all(out) ==
          std::vector<std::string>{"down 28", "down 71", "char-down 65/30", "char-up 65/30", "up 28", "up 71"});
    out.clear();
    t.key_up(SDL_SCANCODE_RETURN, out);  // already released: nothing more
    CHECK(out.empty());
}

TEST_CASE("code points: UTF-8 decoded, invalid bytes skipped, typable excludes control characters") {
    CHECK(code_points("a\xC3\xBC\xE2\x82\xAC\xF0\x9F\x98\x80") ==
          std::vector<std::uint32_t>{0x61, 0xFC, 0x20AC, 0x1F600});
    CHECK(code_points("a\xFFz") == std::vector<std::uint32_t>{0x61, 0x7A});
    CHECK(code_points("\xE2\x82") == std::vector<std::uint32_t>{});
    CHECK_FALSE(typable(0x0A));
    CHECK_FALSE(typable(0x7F));
    CHECK_FALSE(typable(0x85));
    CHECK(typable(0xA0));
}

TEST_CASE("pointer: SDL buttons map to the protocol's bits") {
    CHECK(protocol_button(1) == 1);
    CHECK(protocol_button(2) == 2);
    CHECK(protocol_button(3) == 4);
    CHECK(protocol_button(4) == 0);
}

TEST_CASE("wheel: whole notches, high-resolution steps summed, up is negative dy, flipped reversed") {
    WheelNotches w;
    auto s = w.add(0, 1, false);
    REQUIRE(s);
    CHECK(s->dy == -1);
    CHECK(s->dx == 0);
    CHECK_FALSE(w.add(0, -0.4f, false));
    CHECK_FALSE(w.add(0, -0.4f, false));
    s = w.add(0, -0.4f, false);
    REQUIRE(s);
    CHECK(s->dy == 1);
    s = w.add(2, 0, true);
    REQUIRE(s);
    CHECK(s->dx == -2);
}

TEST_CASE("relative motion: summed between sends, one message per send, the remainder kept beyond the limit") {
    RelativeMotion m;
    CHECK_FALSE(m.take(0).has_value());  // no motion, nothing to send
    m.add(3, -2);
    m.add(4, 1);
    auto r = m.take(1);
    REQUIRE(r);
    CHECK(r->dx == 7);
    CHECK(r->dy == -1);
    CHECK(r->buttons == 1);
    CHECK_FALSE(m.pending());

    // A button change goes at once, with the motion so far (none here).
    auto click = m.take_with_buttons(4);
    CHECK(click.dx == 0);
    CHECK(click.dy == 0);
    CHECK(click.buttons == 4);

    m.add(40000, -40000);  // more than one message carries
    auto first = m.take(0);
    REQUIRE(first);
    CHECK(first->dx == portico::protocol::kMaxRelativeMotion);
    CHECK(first->dy == -portico::protocol::kMaxRelativeMotion);
    auto rest = m.take(0);
    REQUIRE(rest);
    CHECK(rest->dx == 40000 - portico::protocol::kMaxRelativeMotion);
    CHECK(rest->dy == -(40000 - portico::protocol::kMaxRelativeMotion));
    CHECK_FALSE(m.take(0).has_value());
}

TEST_CASE("view: a session that fits is shown 1:1 at the top left, a larger one scaled to fit") {
    CHECK(fit_view(800, 600, 1024, 768) == ViewRect{0, 0, 800, 600});
    CHECK(fit_view(2000, 1000, 1000, 1000) == ViewRect{0, 250, 1000, 500});
    CHECK(fit_view(0, 600, 1024, 768) == ViewRect{});
    const ViewRect v{0, 250, 1000, 500};
    CHECK(session_point(v, 2000, 1000, 500, 500) == std::optional<SessionPoint>({1000, 500}));
    CHECK(session_point(v, 2000, 1000, -5, 9999) == std::optional<SessionPoint>({0, 999}));
    CHECK_FALSE(session_point(ViewRect{}, 10, 10, 1, 1));
}

TEST_CASE("resize follower: asks once per new size, rounded as the host rounds, not for what it has") {
    ResizeFollower r;
    r.announced(1280, 800);
    CHECK_FALSE(r.want(1280, 800));
    auto q = r.want(1001, 701);
    REQUIRE(q);
    CHECK(q->width == 1000);
    CHECK(q->height == 700);
    CHECK_FALSE(r.want(1000, 700));  // asked already
    CHECK_FALSE(r.want(1001, 701));
    r.announced(1000, 700);
    q = r.want(10, 20000);
    REQUIRE(q);
    CHECK(q->width == 64);
    CHECK(q->height == 8192);
    // After a reconnect the host may have forgotten: the wish is asked again.
    q = r.reconnected(1000, 700);
    REQUIRE(q);
    CHECK(q->width == 64);
    CHECK_FALSE(r.want(0, 5));
}

TEST_CASE("clipboard: long text in valid UTF-8 chunks, and what came from the session is not sent back") {
    std::string text(proto::kClipboardChunkBytes - 1, 'a');
    text += "\xE2\x82\xAC";  // € straddles the chunk boundary
    text += "tail";
    auto msgs = clipboard_messages(text);
    REQUIRE(msgs.size() == 2);
    CHECK(msgs[0].more);
    CHECK_FALSE(msgs[1].more);
    CHECK(msgs[0].text.size() == proto::kClipboardChunkBytes - 1);
    CHECK(proto::valid_utf8(msgs[1].text));
    CHECK(msgs[0].text + msgs[1].text == text);

    ClipboardSync sync;
    CHECK_FALSE(sync.remote({"from the ", true}));
    auto whole = sync.remote({"session", false});
    REQUIRE(whole);
    CHECK(whole->data == "from the session");
    CHECK_FALSE(whole->png);
    CHECK(sync.local("from the session").empty());  // the local clipboard now holds what came in
    auto sent = sync.local("local text");
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].text == "local text");
    CHECK(sync.local("local text").empty());  // the same text once
    CHECK(sync.local("bad \xFF").empty());
    CHECK_FALSE(sync.remote({"\xFF", false}));  // invalid UTF-8 from the host is dropped
}

TEST_CASE("clipboard: a PNG image goes in raw chunks flagged png, and comes back whole") {
    const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + std::string(proto::kClipboardChunkBytes, '\x80');
    auto msgs = clipboard_messages(png, true);
    REQUIRE(msgs.size() == 2);  // no UTF-8 rule: cut at exactly the chunk size
    CHECK(msgs[0].text.size() == proto::kClipboardChunkBytes);
    CHECK((msgs[0].more && msgs[0].png && !msgs[1].more && msgs[1].png));

    ClipboardSync sync;
    CHECK(sync.local_image("GIF89a").empty());  // not a PNG file
    CHECK(sync.local_image(png).size() == 2);
    CHECK(sync.local_image(png).empty());  // the same image once
    CHECK(sync.local_image(std::string(proto::kMaxClipboardImageBytes + 1, 'x')).empty());

    CHECK_FALSE(sync.remote({png.substr(0, 100), true, true}));
    auto whole = sync.remote({png.substr(100), false, true});
    REQUIRE(whole);
    CHECK(whole->png);
    CHECK(whole->data == png);
    CHECK_FALSE(sync.remote({png.substr(0, 100), true, true}));
    CHECK_FALSE(sync.remote({"text in an image transfer", false, false}));  // mixed kinds: dropped
    auto text = sync.remote({"next text", false, false});                   // the next transfer is fine
    REQUIRE(text);
    CHECK(text->data == "next text");
    CHECK_FALSE(sync.remote({"not a png", false, true}));
}

TEST_CASE("overlay font: digits and capitals have glyphs, lower case draws as capitals, unknown is blank") {
    for (char c : std::string("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ./:-")) {
        const Glyph g = glyph(c);
        int lit = 0;
        for (auto row : g.rows) lit += row != 0;
        CHECK(lit > 0);
    }
    const Glyph a = glyph('a'), A = glyph('A'), q = glyph('~');
    CHECK(std::equal(std::begin(a.rows), std::end(a.rows), std::begin(A.rows)));
    for (auto row : q.rows) CHECK(row == 0);
    CHECK(text_width("FPS", 2) == 24);
}

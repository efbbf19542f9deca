// LoginDialog on a real Xvfb (SDL's X11 video driver, SDL2_ttf, DejaVu Sans), driven by the events
// SDL makes of key presses and text input, pushed into SDL's queue: which field gets the text,
// Tab, Backspace by whole characters, the length cap, Enter, Escape, the window closed, and the
// password asked again after a failure. The whole flow against a real broker, typed with xdotool,
// is native_window_login_dialog.
#include "client/native/login_dialog.hpp"

#include "tests/support/sdl_on_xvfb.hpp"

#include <SDL.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <string>

using namespace portico;
using portico::test::SdlOnXvfb;

namespace {

void push_text(const std::string& utf8) {
    SDL_Event e{};
    e.type = SDL_TEXTINPUT;
    std::strncpy(e.text.text, utf8.c_str(), sizeof e.text.text - 1);
    REQUIRE(SDL_PushEvent(&e) == 1);
}

void push_key(SDL_Keycode key, Uint16 mod = KMOD_NONE) {
    SDL_Event e{};
    e.type = SDL_KEYDOWN;
    e.key.state = SDL_PRESSED;
    e.key.keysym.sym = key;
    e.key.keysym.mod = mod;
    REQUIRE(SDL_PushEvent(&e) == 1);
}

}  // namespace

TEST_CASE("login dialog: text goes to the focused field, Tab switches, Backspace erases whole characters", "[login]") {
    SdlOnXvfb sdl;
    client::LoginDialog dialog("broker.example:8443", "", "", std::nullopt);
    push_text("d\xc3\xab");  // dë: Backspace takes both bytes of the ë
    push_key(SDLK_BACKSPACE);
    push_text("emo");
    push_key(SDLK_TAB);
    push_text("p\xc3\xa4sswort\xe2\x82\xac");  // pässwort€: another layout's characters arrive as text
    push_key(SDLK_BACKSPACE);
    push_text("!");
    push_key(SDLK_RETURN);
    REQUIRE(dialog.ask(""));
    CHECK(dialog.user() == "demo");
    CHECK(dialog.password() == "p\xc3\xa4sswort!");

    // After a failure the password is asked again from an empty, focused field; the name stays.
    push_text("second");
    push_key(SDLK_KP_ENTER);
    REQUIRE(dialog.ask("login: HTTP 401 invalid_credentials: wrong user name or password"));
    CHECK(dialog.user() == "demo");
    CHECK(dialog.password() == "second");

    // Enter without a user name does not answer; Escape cancels.
    push_key(SDLK_TAB);  // to the user name (two fields: Tab goes round)
    for (int i = 0; i < 4; ++i) push_key(SDLK_BACKSPACE);
    push_key(SDLK_RETURN);
    push_key(SDLK_ESCAPE);
    CHECK_FALSE(dialog.ask(""));
    CHECK(dialog.user().empty());
}

TEST_CASE("login dialog: --user prefills the name and focuses the password, text stops at 256 bytes, closing cancels",
          "[login]") {
    SdlOnXvfb sdl;
    client::LoginDialog dialog("broker.example", "alice", "", 2.0);
    const std::string chunk(30, 'x');  // a text input event holds at most 31 bytes
    for (int i = 0; i < 10; ++i) push_text(chunk);
    push_key(SDLK_RETURN);
    REQUIRE(dialog.ask(""));
    CHECK(dialog.user() == "alice");
    CHECK(dialog.password() == std::string(240, 'x'));  // 8 chunks fit in 256 bytes; the ninth would not

    SDL_Event quit{};
    quit.type = SDL_QUIT;
    REQUIRE(SDL_PushEvent(&quit) == 1);
    CHECK_FALSE(dialog.ask("try again"));
    CHECK(dialog.password().empty());  // wiped when asked again
}

TEST_CASE("login dialog: a password from --password-file is prefilled, masked, and used as given", "[login]") {
    SdlOnXvfb sdl;
    client::LoginDialog dialog("broker.example", "", "from-file", std::nullopt);
    push_text("bob");
    push_key(SDLK_RETURN);
    REQUIRE(dialog.ask(""));
    CHECK(dialog.user() == "bob");
    CHECK(dialog.password() == "from-file");
}

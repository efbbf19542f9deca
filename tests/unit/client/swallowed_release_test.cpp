// SwallowedRelease on a real Xvfb with SDL's X11 driver: "tt" typed by program (XTest, the four
// events in one write, as xdotool or a password manager's auto-type send them when the X server
// handles them together) makes SDL drop the first release and report the second press as a
// repeat; with the X events watched, the session still gets two presses and two releases.
#include "client/native/swallowed_release.hpp"
#include "client/native/key_translator.hpp"
#include "session-host/x11/input_injector.hpp"

#include "tests/support/sdl_on_xvfb.hpp"

#include <SDL.h>
#include <catch2/catch.hpp>
#include <xcb/xtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <variant>
#include <vector>

using namespace portico;
using namespace std::chrono_literals;

TEST_CASE("swallowed release: a release and press SDL took for a repeat reach the session as both", "[x11]") {
    test::SdlOnXvfb sdl;
    SDL_Window* window = SDL_CreateWindow("keys", 0, 0, 200, 200, SDL_WINDOW_SHOWN);
    REQUIRE(window);
    REQUIRE(client::SwallowedRelease::enable());
    SDL_StartTextInput();
    host::InputInjector in(sdl.x.display(), sdl.x.xauthority());
    in.pointer(100, 100, 0);  // no window manager: the keyboard focus follows the pointer
    const auto settle = std::chrono::steady_clock::now() + 500ms;
    for (SDL_Event e; std::chrono::steady_clock::now() < settle;) SDL_WaitEventTimeout(&e, 20);

    // One write of all four, so the X server handles them together (the same millisecond) and
    // all are in SDL's socket before it reads any: it sees the press right behind the release.
    test::XConn x(sdl.x.display(), sdl.x.xauthority());
    constexpr std::uint8_t keycode_t = 20 + 8;  // evdev KEY_T
    for (const bool down : {true, false, true, false})
        xcb_test_fake_input(x.c, down ? XCB_KEY_PRESS : XCB_KEY_RELEASE, keycode_t, XCB_CURRENT_TIME, XCB_NONE, 0, 0,
                            0);
    xcb_flush(x.c);
    x.sync();
    std::this_thread::sleep_for(200ms);

    client::SwallowedRelease released;
    client::KeyTranslator keys;
    client::KeyTranslator::Out out;
    int sdl_repeats = 0;
    const auto until = std::chrono::steady_clock::now() + 1s;
    for (SDL_Event e; std::chrono::steady_clock::now() < until;) {
        if (!SDL_WaitEventTimeout(&e, 20)) continue;
        released.on_event(e);  // as the window's event loop does
        if (e.type == SDL_KEYDOWN) {
            sdl_repeats += e.key.repeat;
            if (released.dropped_before(e.key)) keys.key_up(e.key.keysym.scancode, out);
            keys.key_down(e.key.keysym.scancode, e.key.keysym.mod, out);
        } else if (e.type == SDL_KEYUP) {
            keys.key_up(e.key.keysym.scancode, out);
        } else if (e.type == SDL_TEXTINPUT) {
            keys.text(e.text.text, out);
        }
    }
    keys.settle(out);
    SDL_DestroyWindow(window);

    std::vector<std::string> got;
    for (const auto& m : out) {
        if (const auto* c = std::get_if<protocol::KeyChar>(&m))
            got.push_back(std::string(c->down ? "down " : "up ") + static_cast<char>(c->codepoint));
        else
            got.push_back("other");
    }
    CHECK(sdl_repeats == 1);  // SDL did merge the middle release and press (else nothing is tested)
    CHECK(got == std::vector<std::string>{"down t", "up t", "down t", "up t"});
}

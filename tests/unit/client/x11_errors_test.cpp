// tolerate_vanished_windows on a real Xvfb with SDL's X11 driver: an event sent to a window that
// has gone (BadWindow on SendEvent, as when a clipboard requestor exits before SDL answers it) is
// ignored; any other X error still reaches the handler that was in place before.
#include "client/native/x11_errors.hpp"

#include "tests/support/sdl_on_xvfb.hpp"

#include <SDL.h>
#include <SDL_syswm.h>
#include <catch2/catch.hpp>

namespace {

int errors_passed_on = 0;
int count_error(Display*, XErrorEvent*) {
    ++errors_passed_on;
    return 0;
}

}  // namespace

TEST_CASE("x11 errors: an event to a vanished window is ignored, other errors go on", "[x11]") {
    portico::test::SdlOnXvfb sdl;
    SDL_Window* window = SDL_CreateWindow("errors", 0, 0, 100, 100, SDL_WINDOW_HIDDEN);
    REQUIRE(window);
    SDL_SysWMinfo info;
    SDL_VERSION(&info.version);
    REQUIRE(SDL_GetWindowWMInfo(window, &info) == SDL_TRUE);
    Display* display = info.info.x11.display;

    // A window that existed and is gone (its id is not reused at once).
    const Window gone = XCreateSimpleWindow(display, DefaultRootWindow(display), 0, 0, 10, 10, 0, 0, 0);
    XDestroyWindow(display, gone);
    XSync(display, False);

    XSetErrorHandler(count_error);  // stands for SDL's handler, which would end the process
    portico::client::tolerate_vanished_windows();

    XEvent ev{};
    ev.xselection.type = SelectionNotify;
    ev.xselection.requestor = gone;
    XSendEvent(display, gone, False, 0, &ev);
    XSync(display, False);
    CHECK(errors_passed_on == 0);

    XMapWindow(display, gone);  // BadWindow too, but not a SendEvent: passed on
    XSync(display, False);
    CHECK(errors_passed_on == 1);
    SDL_DestroyWindow(window);
}

// tolerate_vanished_windows on a real Xvfb with SDL's X11 driver: an event sent to a window that
// has gone (BadWindow on SendEvent) is ignored, while SDL runs and after SDL_Quit (which puts
// back the handler it found, just before Xlib closes the connection and reports what is still
// pending); any other X error still reaches the handler that was in place before.
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

// A window that existed and is gone (its id is not reused at once).
Window vanished_window(Display* display) {
    const Window w = XCreateSimpleWindow(display, DefaultRootWindow(display), 0, 0, 10, 10, 0, 0, 0);
    XDestroyWindow(display, w);
    XSync(display, False);
    return w;
}

void send_to(Display* display, Window w) {
    XEvent ev{};
    ev.xselection.type = SelectionNotify;
    ev.xselection.requestor = w;
    XSendEvent(display, w, False, 0, &ev);
}

}  // namespace

TEST_CASE("x11 errors: an event to a vanished window is ignored, other errors go on", "[x11]") {
    XSetErrorHandler(count_error);  // stands for Xlib's default, which would end the process
    portico::client::tolerate_vanished_windows();
    portico::test::SdlOnXvfb sdl;  // SDL_Init: SDL's own handler goes on top
    SDL_Window* window = SDL_CreateWindow("errors", 0, 0, 100, 100, SDL_WINDOW_HIDDEN);
    REQUIRE(window);
    SDL_SysWMinfo info;
    SDL_VERSION(&info.version);
    REQUIRE(SDL_GetWindowWMInfo(window, &info) == SDL_TRUE);
    Display* display = info.info.x11.display;
    const Window gone = vanished_window(display);

    send_to(display, gone);
    XSync(display, False);
    CHECK(errors_passed_on == 0);
    XMapWindow(display, gone);  // BadWindow too, but not a SendEvent: passed on
    XSync(display, False);
    CHECK(errors_passed_on == 1);

    // Still unsynced at SDL_Quit: reported when Xlib closes the connection, after SDL put the
    // handler it found back.
    send_to(display, gone);
    SDL_DestroyWindow(window);
    SDL_Quit();
    CHECK(errors_passed_on == 1);
}

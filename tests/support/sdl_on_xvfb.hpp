#pragma once
// SDL's video on an Xvfb of its own, for one test (SDL's X11 driver: real X events, real SDL).

#include "session-host/x11/x_display.hpp"

#include "tests/support/x_test_util.hpp"

#include <SDL.h>
#include <catch2/catch.hpp>

#include <cstdlib>

namespace portico::test {

struct SdlOnXvfb {
    TempDir dir;
    host::XvfbDisplay x{640, 480, dir.path};
    SdlOnXvfb() {
        ::setenv("DISPLAY", x.display().c_str(), 1);
        ::setenv("XAUTHORITY", x.xauthority().c_str(), 1);
        REQUIRE(SDL_Init(SDL_INIT_VIDEO) == 0);
    }
    ~SdlOnXvfb() { SDL_Quit(); }
};

}  // namespace portico::test

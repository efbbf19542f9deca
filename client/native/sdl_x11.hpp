#pragma once
// Whether SDL's video runs on X11: the client's X-only parts (the image clipboard, the dropped
// releases) check this one way.

#include <SDL.h>

#include <cstring>

namespace portico::client {

inline bool sdl_video_is_x11() {
    const char* driver = SDL_GetCurrentVideoDriver();
    return driver && std::strcmp(driver, "x11") == 0;
}

}  // namespace portico::client

#include "client/native/swallowed_release.hpp"

#include "client/native/sdl_x11.hpp"

// Xlib's headers (through SDL_syswm.h) define macros such as Status and None: they stay in this file.
#include <SDL_syswm.h>

namespace portico::client {

bool SwallowedRelease::enable() {
    if (!sdl_video_is_x11()) return false;
    SDL_EventState(SDL_SYSWMEVENT, SDL_ENABLE);
    return true;
}

void SwallowedRelease::on_event(const SDL_Event& e) {
    if (e.type == SDL_KEYUP) return key_up();
    if (e.type != SDL_SYSWMEVENT || !e.syswm.msg || e.syswm.msg->subsystem != SDL_SYSWM_X11) return;
    const XEvent& x = e.syswm.msg->msg.x11.event;
    if (x.type == KeyRelease) raw_release(x.xkey.keycode);
    if (x.type == KeyPress) raw_press(x.xkey.keycode);
}

void SwallowedRelease::raw_release(unsigned keycode) { released_ = keycode; }

void SwallowedRelease::raw_press(unsigned keycode) {
    new_press_ = released_ == keycode;
    released_.reset();
}

void SwallowedRelease::key_up() { released_.reset(); }

}  // namespace portico::client

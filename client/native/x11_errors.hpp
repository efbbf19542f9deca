#pragma once
// Keeps one kind of X error from ending the client. Xlib's default error handler, to which SDL's
// own passes every error, exits the process. But a window of another program can go away at any
// moment, and an event SDL sends it just then (the answer to that program's clipboard request, a
// SelectionNotify by XSendEvent) fails with BadWindow: the other program's exit, not a fault here.
// That one is logged and ignored; every other error goes to the handler that was in place.

namespace portico::client {

// After each SDL_Init(SDL_INIT_VIDEO) (SDL_Quit puts Xlib's handler back). Nothing unless SDL's
// video driver is X11.
void tolerate_vanished_windows();

}  // namespace portico::client

#pragma once
// Keeps one kind of X error from ending the client. Xlib's default error handler, to which SDL's
// own passes every error, exits the process. But a window can go away at any moment (another
// program's, as a clipboard requestor that exits, or the client's own as it closes), and an event
// SDL sends it just then (XSendEvent) fails with BadWindow: no fault worth ending the client for.
// That one is logged and ignored; every other error goes to the handler that was in place.

namespace portico::client {

// Once, before the first SDL_Init: SDL keeps the handler it finds, passes errors on to it, and
// puts it back at SDL_Quit, just before Xlib closes the connection and reports the errors still
// pending (installed after SDL_Init, it was gone by then, and such an error ended the client at
// exit). Harmless where no X connection is made.
void tolerate_vanished_windows();

}  // namespace portico::client

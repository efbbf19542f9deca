#pragma once
// The windowed client (docs/native-client.md): login, launch, and the session in an SDL window
// with keyboard, pointer, wheel, resize-follows, full screen, clipboard, reconnect and a stats
// overlay, until the window is closed or the session ends. Runs SDL on the calling (main)
// thread; the display channel moves on a NetPump thread.

#include "client/native/options.hpp"

#include <iosfwd>

namespace portico::client {

// Returns the process exit code (as for --headless: 0 ok, 2 usage, 3 refused, 4 connection).
int run_windowed(Options o);

// --list-monitors: one line per monitor of the display (the numbers --monitors takes, SDL's
// display index + 1; the primary first on X11). Returns the exit code.
int list_monitors(std::ostream& out);

}  // namespace portico::client

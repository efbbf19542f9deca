#pragma once
// The client's failure as the user sees it: "portico-client: <message>" on stderr always, and,
// when the desktop started the client (--error-window: a launch file or link opened from a file
// manager or browser, where nobody reads stderr), also a modal message box, so an expired link,
// an unreachable broker or a damaged file does not look like nothing happening. Main thread.

#include <string>

namespace portico::client {

// The message box's title; tests find the box by it.
inline constexpr const char* kErrorWindowTitle = "Portico: the session could not be opened";

// Writes the failure to stderr and, with `window`, shows it in a message box (SDL; works before
// or after SDL_Init) until the user dismisses it. Returns `exit_code`, for `return failed(...)`.
int report_failure(const std::string& message, int exit_code, bool window);

}  // namespace portico::client

#include "client/native/error_window.hpp"

#include "common/log.hpp"

#include <SDL.h>

#include <iostream>

namespace portico::client {

int report_failure(const std::string& message, int exit_code, bool window) {
    std::cerr << "portico-client: " << message << "\n";
    if (!window) return exit_code;
    // The box blocks until dismissed (OK, Return or Escape); the exit status follows it.
    const std::string text = message +
                             "\n\nIf you opened a launch file or link from the portal, open the session there "
                             "again: each one works once, within a minute.";
    if (SDL_ShowSimpleMessageBox(SDL_MESSAGEBOX_ERROR, kErrorWindowTitle, text.c_str(), nullptr) != 0)
        log::warn("cannot show the error window: ", SDL_GetError());
    return exit_code;
}

}  // namespace portico::client

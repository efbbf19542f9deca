#pragma once
// Writes a BGRX frame as an 8-bit RGB PNG (libpng), for --png snapshots and test evidence.
// Any thread.

#include "capture/frame.hpp"

#include <string>

namespace portico::client {

// False with a reason in error if the frame is empty or the file cannot be written.
bool write_png(const std::string& path, const capture::Frame& frame, std::string& error);

}  // namespace portico::client

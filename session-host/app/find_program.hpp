#pragma once
// Looks a program up the way execvp would (PATH, or the name itself if it has a slash), before
// forking, so a missing program is a clear start-up error instead of a child that dies at exec.

#include <string>

namespace portico::host {

// The path of an executable `name`, or an empty string if there is none.
std::string find_program(const std::string& name);

}  // namespace portico::host

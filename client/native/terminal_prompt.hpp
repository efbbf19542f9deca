#pragma once
// The windowed client's login prompt on its controlling terminal (/dev/tty, so redirected stdin
// and stdout do not matter): a user name, and a password read with echo off, so a password is
// never on the command line nor on the screen. Main thread, before the window opens.

#include <optional>
#include <string>

namespace portico::client {

// Writes `prompt` to the terminal and reads one line (without its newline). With echo false the
// terminal's echo is off while the line is typed and restored after, also on Ctrl+C. nullopt if
// there is no terminal or it closed before a line was read.
std::optional<std::string> ask_on_terminal(const std::string& prompt, bool echo);

}  // namespace portico::client

#pragma once
// An app's command as one line of text, the way an admin writes it in a shell: words separated by
// blanks, 'single quotes' taken literally, "double quotes" with \" \\ \$ \` escapes, and a
// backslash outside quotes escaping the next character. No expansion of any kind ($VAR, *, ~):
// the host runs the words as an argv, never through a shell. The REST API takes an app's command
// either as this line ("command_line") or as the argv itself ("command"). Pure; any thread.

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace portico::broker {

enum class CommandLineError { unterminated_quote, trailing_backslash, control_character, empty };

// The argv of `line`, or why it cannot be split (the message says where, for a person).
Result<std::vector<std::string>, CommandLineError> split_command_line(std::string_view line);

// The line split_command_line turns back into `argv`: plain words as they are, others in single
// quotes (a ' inside as '\'').
std::string join_command_line(const std::vector<std::string>& argv);

}  // namespace portico::broker

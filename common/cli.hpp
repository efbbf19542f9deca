#pragma once
// The one command-line parser of every Portico executable: CLI11 (Debian libcli11-dev), set up the
// same way everywhere so flags, errors and config files behave alike:
//   - options are declared on a CLI::App (names, defaults, help text, validators) by each program;
//   - `-h, --help` is a plain flag: parsing goes on and the program decides what help prints;
//   - `--config FILE` (add_config) reads options from a TOML or INI file whose keys are the long
//     option names (`broker = "wss://..."`); flags on the command line win over the file, so
//     services can later share one config format;
//   - a bad command line is one Result error whose message names the argument, in the words the
//     programs used before CLI11 ("unknown flag '--x' (see --help)", "--broker needs a value", a
//     validator's message prefixed by its flag). Programs exit 2 on it.
// Used once at start-up on the main thread.

#include "common/result.hpp"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace portico::cli {

enum class Code {
    unknown_argument,  // a flag no option has, or a positional argument where none is taken
    missing_value,     // a flag that takes a value came last or was followed by another flag
    invalid_value,     // a validator or a conversion refused a value
    missing_required,  // a required option (or one another option needs) is absent
    bad_config,        // --config FILE unreadable, or a key in it that no option has
};

// Portico's conventions on `app`: `-h, --help` into *help, unknown arguments left for parse() to
// report, help printed as the description (begin it with the usage lines) and then the options.
void setup(CLI::App& app, bool* help);
// `--config FILE`: options from a TOML/INI file (keys = long option names); the command line wins.
void add_config(CLI::App& app);

// Parses args (without the program name, in command-line order) into app's options.
Result<void, Code> parse(CLI::App& app, std::vector<std::string> args);
Result<void, Code> parse(CLI::App& app, int argc, const char* const* argv);  // skips argv[0]
// Like parse(), but the arguments no option or positional takes are returned, in order, instead of
// refused: for a program that hands them on (portico-pack run PKG ARGS...).
Result<std::vector<std::string>, Code> parse_known(CLI::App& app, std::vector<std::string> args);

// "N" with MIN <= N <= MAX, else "expected a number from MIN to MAX, got 'X'".
CLI::Validator count(long min, long max);
// One of `words`, else "expected a, b or c, got 'X'".
CLI::Validator one_of(std::vector<std::string> words);
// Not the empty string, else "needs a value".
CLI::Validator non_empty();

}  // namespace portico::cli

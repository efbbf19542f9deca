#pragma once
// Trusted package launches: when a published app's command names a Portico package (recognised
// by the format's trailer magic, not by its file name), the host never executes the package file
// itself — its front is a runtime the package's author wrote. Instead it verifies the package with
// the host's own installed runtime (portico-pack-runtime) and the admin's trust list before the
// session starts, and starts the app through that runtime with the same trust list. The host does
// not link the packager (session-host → capture, codec, protocol, common only); it runs the
// runtime as a program. See packager/FORMAT.md, "Trusted launch".
//
// Called on SessionManager's session-start worker threads; resolve() blocks while the runtime
// verifies (it hashes the whole package: milliseconds for tens of MB). No state; thread-safe.

#include <stdexcept>
#include <string>
#include <vector>

namespace portico::host::package_launch {

// How this host starts packages (portico-host --package-runtime, --package-trust-dir).
struct Policy {
    // The host's portico-pack-runtime. Empty: portico-pack-runtime on PATH, else next to this
    // executable (or in ../packager/ of a build tree).
    std::string runtime;
    // A directory of trusted publishers' "*.pub" keys (portico-pack keygen writes them). Empty:
    // every package is refused.
    std::string trust_dir;
    int verify_timeout_ms = 30000;
};

// A package that may not start: what() is the reason the broker shows the user.
struct Refused : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// True if the file at `path` is a Portico package: it ends with a package trailer, or it is an
// ELF image followed by a manifest but no trailer (a truncated or damaged package, which the
// runtime then refuses by name rather than the host running its front as a program).
bool is_package(const std::string& path);

// The runtime to use: `configured` if set (it must be executable), else the default places.
// Throws Refused if there is none, or if it is itself a package.
std::string find_runtime(const std::string& configured);

// `command` unchanged unless command[0] (looked up in PATH like execvp) is a package. For a
// package: verifies it now with the host's runtime (signature, trust list, entry point) and
// returns the argv that runs it through that runtime:
//   RUNTIME --package PKG --trust-dir DIR [--entry E] [--isolation M] -- ARGS...
// The published command's --portico-entry=E and --portico-isolation=M become --entry/--isolation;
// any other --portico-* argument is refused (trust comes only from the host's policy). Throws
// Refused naming what is wrong: no trust list configured, no runtime, the runtime's "REFUSED: …".
std::vector<std::string> resolve(const std::vector<std::string>& command, const Policy& policy);

}  // namespace portico::host::package_launch

#pragma once
// The build side's handle on the package runtime (portico-pack-runtime, packager/runtime/): where
// it is, and running a package or a sandboxed command through it. Main thread of portico-pack.

#include <cstdint>
#include <string>
#include <vector>

namespace portico::pack {

struct RuntimePaths {
    std::string cache;    // ~/.cache/portico (chunks/, roots/)
    std::string sandbox;  // ~/.local/share/portico/sandbox
    static RuntimePaths from_env();
};

// $PORTICO_PACK_RUNTIME, else portico-pack-runtime next to this executable. Throws if missing.
std::string find_runtime();

struct RunOptions {
    std::string isolation;  // empty = manifest's
    std::string entry;      // empty = first entry point
    bool reset = false;
    std::vector<std::string> args;
    std::vector<std::string> trust_files;  // empty = the configured trust list, if any
};

// Replaces this process by the runtime, which verifies (signature, trust) and runs the package.
// The caller's runtime is used, not the one inside the package: a package is never trusted to
// verify itself. Returns only on exec failure (throws).
[[noreturn]] void run_package(const std::string& package_path, const RunOptions& opt);

// Runs argv (absolute paths as seen inside) in a sandbox over `root` (an assembled package root,
// may be an empty directory) with writes kept in `sandbox`; returns the exit status.
int sandbox_exec(const std::string& mode, const std::string& root, const std::string& sandbox,
                 const std::vector<std::string>& argv, const std::string& name);

// Keys in ~/.config/portico/trusted-keys/*.pub (the configured trust list), if any.
std::vector<std::vector<std::uint8_t>> load_default_trust();

}  // namespace portico::pack

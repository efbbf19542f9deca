#pragma once
// Runs a verified package: chunk cache + assembled root, then an unprivileged user+mount+pid
// namespace sandbox in one of three isolation modes. Called on the main thread; forks.

#include <cstdint>
#include <string>
#include <vector>

#include "packager/format.hpp"

namespace portico::pack {

struct RuntimePaths {
    std::string cache;    // ~/.cache/portico (chunks/, roots/)
    std::string sandbox;  // ~/.local/share/portico/sandbox
    static RuntimePaths from_env();
};

struct RunOptions {
    std::string isolation;  // empty = manifest's
    std::string entry;      // empty = first entry point
    bool reset = false;
    std::vector<std::string> args;
    std::vector<std::vector<std::uint8_t>> trusted;  // empty = no trust list configured
    RuntimePaths paths = RuntimePaths::from_env();
};

// Keys in ~/.config/portico/trusted-keys/*.pub (the configured trust list), if any.
std::vector<std::vector<std::uint8_t>> load_default_trust();

// Decompresses missing chunks into the cache (each checked against its SHA-256) and assembles
// the package root from hard links; returns the root. A warm call only checks a marker file.
std::string ensure_extracted(const Package& p, const std::string& cache_dir);

// Verifies (signature, trust) then runs; returns the app's exit status. Throws PackageError
// before anything from the package runs if verification fails.
int run_package(const std::string& package_path, const RunOptions& opt);

// Runs argv (absolute paths as seen inside) in a sandbox over `root` (the assembled package root,
// may be an empty directory) with writes kept in `sandbox`; returns the exit status.
int sandbox_exec(const std::string& mode, const std::string& root, const std::string& sandbox,
                 const std::vector<std::string>& argv, const std::string& name);

// Sandbox directory of an app (per user); --reset removes it.
std::string sandbox_dir(const RuntimePaths& paths, const std::string& name);

}  // namespace portico::pack

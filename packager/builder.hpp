#pragma once
// Builds a .portico package from entry executables plus extra files: collects the ELF closure
// (see elf.hpp), stores each distinct content once as a zstd chunk, signs. Main thread only.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "packager/format.hpp"

namespace portico::pack {

// Gathers host paths into a package file list, recording every symlink on the way (so
// /lib64/ld-linux-x86-64.so.2 -> /lib/... and /lib -> usr/lib both exist inside the package).
class PathCollector {
public:
    explicit PathCollector(std::string sysroot = "") : sysroot_(std::move(sysroot)) {}
    void add_path(const std::string& abs_path, int depth = 0);  // throws runtime_error if missing
    void add_tree(const std::string& abs_dir);
    const std::map<std::string, FileEntry>& entries() const { return entries_; }  // rel path -> entry
    std::string host_path(const std::string& rel) const { return sysroot_ + "/" + rel; }

private:
    std::string sysroot_;
    std::map<std::string, FileEntry> entries_;
};

struct BuildOptions {
    std::vector<std::string> entries;  // absolute paths; first is the default entry point
    std::string name;
    std::string version = "1.0";
    std::string isolation = "full";
    std::string publisher;
    std::string icon;
    std::vector<std::string> add;  // extra files or folders
    int zstd_level = 19;
    std::string runtime_exe;  // empty: find_runtime(); a package works too (its runtime part is used)
    std::string output;
};

struct BuildStats {
    std::size_t files = 0, chunks = 0;
    std::uint64_t raw_bytes = 0, unique_bytes = 0, stored_bytes = 0, package_bytes = 0, runtime_bytes = 0;
    std::vector<std::string> missing;  // unresolved sonames (warned, package still built)
};

BuildStats build_package(const BuildOptions& opt, const crypto::Ed25519Key& key);

// Builds from an explicit file list (used by build_package and by capture).
BuildStats write_package(const BuildOptions& opt, const crypto::Ed25519Key& key,
                         const std::map<std::string, FileEntry>& entries, const std::string& file_root,
                         const std::string& loader, const std::vector<std::string>& library_path,
                         const std::map<std::string, std::string>& sources = {});

// ThinApp-style setup capture: runs `command` in a writecopy sandbox over the host root,
// packages exactly the files it wrote (minus caches/logs) plus their ELF closure from the host.
struct CaptureResult {
    BuildStats stats;
    std::vector<std::string> installed;  // absolute paths written by the installer
    std::vector<std::string> deleted;    // host paths it deleted (whiteouts in the package)
    std::vector<std::string> entries;
    std::vector<std::string> excluded;
};
CaptureResult capture_package(BuildOptions opt, const crypto::Ed25519Key& key, const std::vector<std::string>& command);

}  // namespace portico::pack

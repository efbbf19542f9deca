#pragma once
// ELF64 dynamic-section reader and dependency-closure resolver for the package builder; reads
// headers only, never runs the program or ldd. Main thread of portico-pack only.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace portico::pack {

struct ElfInfo {
    std::uint16_t machine = 0;
    std::string interp;                // PT_INTERP, empty for libraries / static programs
    std::vector<std::string> needed;   // DT_NEEDED in order
    std::vector<std::string> rpath;    // DT_RPATH, split on ':'
    std::vector<std::string> runpath;  // DT_RUNPATH, split on ':'
};

// Parses an in-memory ELF image. Returns nullopt with `error` set for non-ELF or malformed input;
// every header, segment and string read is bounds-checked.
std::optional<ElfInfo> parse_elf(std::span<const std::uint8_t> image, std::string* error = nullptr);
std::optional<ElfInfo> read_elf_file(const std::string& path, std::string* error = nullptr);
bool is_elf_file(const std::string& path);

struct Closure {
    std::string interp;                     // absolute path of the loader
    std::vector<std::string> objects;       // absolute paths (as found), entry first
    std::vector<std::string> library_dirs;  // dirs libraries were found in, search order
    std::vector<std::string> missing;       // sonames that could not be resolved
};

struct ResolverOptions {
    std::vector<std::string> default_dirs = {
        "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"};
    bool use_ld_so_conf = true;
    std::string sysroot;  // prefix for every lookup (tests); empty = host root
    std::string overlay;  // checked before sysroot (capture: the installer's writes)
};

// Breadth-first closure over DT_NEEDED with the loader's rules: RPATH (when no RUNPATH) of the
// object and of the executable, RUNPATH of the object, ld.so.conf dirs, default dirs; $ORIGIN,
// $LIB expanded.
Closure resolve_closure(const std::vector<std::string>& roots, const ResolverOptions& opt = {});

std::vector<std::string> read_ld_so_conf(const std::string& path = "/etc/ld.so.conf");

}  // namespace portico::pack

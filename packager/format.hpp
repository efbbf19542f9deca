#pragma once
// The .portico single-file package format: writer (build side) and bounds-checked, signature-first
// parser (runtime side). Used on the main thread of portico-pack only. See FORMAT.md.

#include <array>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/crypto.hpp"

namespace portico::pack {

// Every refusal (truncated, corrupt, bad signature, untrusted key) is a PackageError whose
// message names what is wrong; nothing from a package runs before parse_package() succeeded.
struct PackageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

inline constexpr std::size_t kTrailerSize = 96;
inline constexpr std::size_t kSignatureSize = 64;
inline constexpr std::uint32_t kFormatVersion = 2;       // written; 1 and 2 are read
inline constexpr std::uint64_t kMaxManifest = 1u << 20;  // 1 MiB
inline constexpr std::uint64_t kMaxTable = 64u << 20;    // 64 MiB
inline constexpr std::uint32_t kMaxEntries = 1u << 20;

struct Trailer {
    std::uint32_t version = kFormatVersion;
    std::uint32_t flags = 0;
    std::uint64_t payload_offset = 0;  // == length of the runtime executable at the front
    std::uint64_t manifest_len = 0;
    std::uint64_t table_len = 0;
    std::uint64_t chunks_len = 0;
    std::uint64_t signature_offset = 0;
    std::array<std::uint8_t, 32> publisher_key{};  // raw Ed25519 public key

    std::array<std::uint8_t, kTrailerSize> encode() const;
    // Throws PackageError naming the problem (bad magic, unsupported version).
    static Trailer decode(std::span<const std::uint8_t, kTrailerSize> bytes);
};

// whiteout (format 2): a host path the installer deleted, hidden by the runtime in merged and
// writecopy isolation (full never shows host files).
enum class EntryType : std::uint8_t { file = 0, dir = 1, symlink = 2, whiteout = 3 };

struct FileEntry {
    std::string path;  // relative to the package root, no leading '/', no ".." components
    EntryType type = EntryType::file;
    std::uint32_t mode = 0;
    std::uint32_t chunk = 0;  // files: index into the chunk list
    std::uint64_t size = 0;   // files: uncompressed size
    std::string target;       // symlinks
};

struct ChunkRef {
    std::array<std::uint8_t, 32> hash{};  // SHA-256 of the uncompressed content
    std::uint64_t offset = 0;             // into the chunk section
    std::uint64_t comp_size = 0;
    std::uint64_t raw_size = 0;
    std::string hex() const;
};

struct EntryPoint {
    std::string name;
    std::string path;  // absolute path inside the package root
};

struct Manifest {
    std::string name;
    std::string version = "1.0";
    std::vector<EntryPoint> entries;        // first is the default
    std::string isolation = "full";         // merged | writecopy | full
    std::string publisher_fpr;              // sha256 hex of the raw public key (must match trailer)
    std::string publisher;                  // free-form name
    std::string loader;                     // absolute path of PT_INTERP inside the package
    std::vector<std::string> library_path;  // absolute dirs inside the package
    std::string icon;                       // optional path inside the package
    std::string created;

    std::string to_json() const;
    static Manifest from_json(std::string_view text);  // throws PackageError
};

struct Package {
    Trailer trailer;
    Manifest manifest;
    std::vector<ChunkRef> chunks;
    std::vector<FileEntry> files;
    std::span<const std::uint8_t> chunk_section;  // views into the caller's buffer
    std::span<const std::uint8_t> runtime;

    std::span<const std::uint8_t> chunk_bytes(const ChunkRef& c) const {
        return chunk_section.subspan(c.offset, c.comp_size);
    }
};

bool is_safe_relative_path(std::string_view p);
std::string key_fingerprint(std::span<const std::uint8_t> raw_pub);

std::vector<std::uint8_t> encode_table(const std::vector<ChunkRef>& chunks, const std::vector<FileEntry>& files);
void decode_table(std::span<const std::uint8_t> bytes, std::uint64_t chunks_len, std::vector<ChunkRef>& chunks,
                  std::vector<FileEntry>& files, std::uint32_t format = kFormatVersion);

// Builds the whole package file in memory: runtime || manifest || table || chunks || sig || trailer.
std::vector<std::uint8_t> assemble_package(std::span<const std::uint8_t> runtime, Manifest manifest,
                                           const std::vector<ChunkRef>& chunks, const std::vector<FileEntry>& files,
                                           std::span<const std::uint8_t> chunk_section, const crypto::Ed25519Key& key);

// True when the last bytes look like a trailer (cheap check used to decide "am I a package?").
bool has_trailer(std::span<const std::uint8_t> file);

// True when an ELF executable has bytes after its own end (sections, segments, headers): a file
// that is a runtime with something appended, i.e. a package even if its trailer is damaged.
bool has_appended_data(std::span<const std::uint8_t> exe);

// Verifies size, trailer, then the signature over everything, THEN parses manifest and table.
// Throws PackageError. The returned spans point into `file`.
Package parse_package(std::span<const std::uint8_t> file);

// Throws PackageError unless the package's publisher key is one of `trusted` (raw 32-byte keys).
void check_trust(const Package& p, const std::vector<std::vector<std::uint8_t>>& trusted);

// Public key files: one line "portico-ed25519 <base64 raw key>".
std::string format_public_key(std::span<const std::uint8_t> raw);
std::vector<std::uint8_t> load_public_key_file(const std::string& path);  // throws runtime_error

// The runtime part of an executable: the whole file, or the part before the payload when the
// file is itself a package (so packages built by a package carry one runtime, not two).
std::span<const std::uint8_t> runtime_part(std::span<const std::uint8_t> exe);

// Read-only mapping of a whole file.
class MappedFile {
public:
    explicit MappedFile(const std::string& path);  // throws runtime_error
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile();
    std::span<const std::uint8_t> bytes() const { return {data_, size_}; }

private:
    const std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace portico::pack

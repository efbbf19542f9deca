// libFuzzer target: the package format as the builder's side reads it (packager/format.hpp, used
// by portico-pack inspect/verify/run). A package's signature covers everything after the trailer
// checks, so random bytes would never get past it; this target therefore also calls each parser
// that runs behind the signature directly. The first byte picks:
//   0: parse_package() on the whole file (size and trailer checks, then the signature check),
//      plus has_trailer / has_appended_data / runtime_part on the same bytes;
//   1: Trailer::decode on 96 bytes;
//   2: Manifest::from_json; what it accepts must survive to_json -> from_json unchanged;
//   3: decode_table (8 bytes chunk-section length, 1 byte format version, then the table); what
//      it accepts must re-encode to a table that decodes and re-encodes identically.
// Every refusal must be a PackageError (the documented contract: callers catch only that).

#include "fuzz_check.hpp"
#include "packager/format.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>

using namespace portico::pack;

namespace {

std::uint64_t get_u64(const std::uint8_t* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
    return v;
}

void whole_file(std::span<const std::uint8_t> file) {
    (void)has_trailer(file);
    (void)has_appended_data(file);
    try {
        auto rt = runtime_part(file);
        FUZZ_CHECK(rt.size() <= file.size(), "the runtime part lies inside the file");
    } catch (const PackageError&) {
    }
    try {
        (void)parse_package(file);
    } catch (const PackageError&) {
    }
}

void manifest(std::string_view text) {
    Manifest m;
    try {
        m = Manifest::from_json(text);
    } catch (const PackageError&) {
        return;
    }
    const Manifest again = Manifest::from_json(m.to_json());
    FUZZ_CHECK(again.name == m.name && again.version == m.version && again.isolation == m.isolation &&
                   again.publisher == m.publisher && again.publisher_fpr == m.publisher_fpr &&
                   again.loader == m.loader && again.library_path == m.library_path && again.icon == m.icon &&
                   again.created == m.created && again.entries.size() == m.entries.size(),
               "a manifest survives to_json -> from_json");
}

void table(std::span<const std::uint8_t> in) {
    if (in.size() < 9) return;
    const std::uint64_t chunks_len = get_u64(in.data());
    const std::uint32_t format = 1 + in[8] % 2;
    auto bytes = in.subspan(9);
    std::vector<ChunkRef> chunks;
    std::vector<FileEntry> files;
    try {
        decode_table(bytes, chunks_len, chunks, files, format);
    } catch (const PackageError&) {
        return;
    }
    for (const auto& f : files) FUZZ_CHECK(is_safe_relative_path(f.path), "accepted paths are safe");
    // Mode bits beyond 07777 are dropped on reading, so compare a second round, not the input.
    const auto re = encode_table(chunks, files);
    std::vector<ChunkRef> chunks2;
    std::vector<FileEntry> files2;
    decode_table(re, chunks_len, chunks2, files2, format);  // a PackageError here is a finding
    FUZZ_CHECK(encode_table(chunks2, files2) == re, "an accepted table re-encodes stably");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    std::span<const std::uint8_t> rest(data + 1, size - 1);
    switch (data[0] % 4) {
        case 0: whole_file(rest); break;
        case 1:
            if (rest.size() >= kTrailerSize) {
                try {
                    auto t = Trailer::decode(rest.first<kTrailerSize>());
                    auto back = t.encode();
                    FUZZ_CHECK(std::memcmp(back.data(), rest.data(), 16) == 0, "a trailer re-encodes its header");
                } catch (const PackageError&) {
                }
            }
            break;
        case 2: manifest({reinterpret_cast<const char*>(rest.data()), rest.size()}); break;
        case 3: table(rest); break;
    }
    return 0;
}

// Package format: round trip, and refusal of truncated / modified / wrongly signed packages.
#include <catch2/catch.hpp>

#include <cstring>

#include "packager/format.hpp"

using namespace portico;
using namespace portico::pack;

namespace {

struct Built {
    crypto::Ed25519Key key = crypto::Ed25519Key::generate();
    std::vector<std::uint8_t> bytes;
};

Built make_package() {
    Built b;
    std::vector<std::uint8_t> runtime(4096, 0x90);  // stand-in for the runtime executable
    std::memcpy(runtime.data(),
                "\x7f"
                "ELF",
                4);
    std::vector<std::uint8_t> section = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    std::vector<ChunkRef> chunks(2);
    chunks[0].offset = 0;
    chunks[0].comp_size = 6;
    chunks[0].raw_size = 100;
    chunks[1].offset = 6;
    chunks[1].comp_size = 4;
    chunks[1].raw_size = 7;
    chunks[0].hash.fill(0xaa);
    chunks[1].hash.fill(0xbb);
    std::vector<FileEntry> files = {
        {"usr", EntryType::dir, 0755, 0, 0, {}},
        {"usr/bin", EntryType::dir, 0755, 0, 0, {}},
        {"usr/bin/tool", EntryType::file, 0755, 0, 100, {}},
        {"usr/bin/alias", EntryType::symlink, 0777, 0, 0, "tool"},
        {"usr/share/a", EntryType::file, 0644, 1, 7, {}},
        {"usr/share/b", EntryType::file, 0644, 1, 7, {}},  // same content, same chunk
    };
    Manifest m;
    m.name = "tool";
    m.entries = {{"tool", "/usr/bin/tool"}};
    m.loader = "/lib64/ld-linux-x86-64.so.2";
    m.library_path = {"/usr/lib/x86_64-linux-gnu"};
    b.bytes = assemble_package(runtime, m, chunks, files, section, b.key);
    return b;
}

std::string refusal(std::span<const std::uint8_t> bytes) {
    try {
        parse_package(bytes);
    } catch (const PackageError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("a package round-trips through assemble and parse") {
    auto b = make_package();
    auto p = parse_package(b.bytes);
    CHECK(p.manifest.name == "tool");
    CHECK(p.manifest.entries.at(0).path == "/usr/bin/tool");
    CHECK(p.manifest.publisher_fpr == key_fingerprint(b.key.public_raw()));
    CHECK(p.runtime.size() == 4096);
    REQUIRE(p.files.size() == 6);
    CHECK(p.files[3].type == EntryType::symlink);
    CHECK(p.files[3].target == "tool");
    CHECK(p.files[4].chunk == p.files[5].chunk);
    CHECK(p.chunk_bytes(p.chunks[1]).size() == 4);
    CHECK(p.chunk_bytes(p.chunks[1])[0] == 7);
    CHECK(has_trailer(b.bytes));
    CHECK(runtime_part(b.bytes).size() == 4096);
}

TEST_CASE("a truncated package is refused at every length") {
    auto b = make_package();
    for (std::size_t cut : {std::size_t(0), std::size_t(1), std::size_t(95), std::size_t(96), std::size_t(160),
                            b.bytes.size() / 2, b.bytes.size() - 97, b.bytes.size() - 1}) {
        auto msg = refusal(std::span(b.bytes).first(cut));
        INFO("cut at " << cut);
        CHECK(!msg.empty());
    }
    auto msg = refusal(std::span(b.bytes).first(b.bytes.size() - 1));
    CHECK_THAT(msg, Catch::Contains("truncated"));
}

TEST_CASE("one flipped byte anywhere is refused") {
    auto b = make_package();
    // Every byte of the payload, signature and trailer, and a sample of the runtime.
    std::size_t checked = 0;
    for (std::size_t i = 0; i < b.bytes.size(); i += (i < 4096 ? 97 : 1)) {
        auto copy = b.bytes;
        copy[i] ^= 0x01;
        auto msg = refusal(copy);
        INFO("flipped byte " << i);
        REQUIRE(!msg.empty());
        ++checked;
    }
    CHECK(checked > 100);
    auto copy = b.bytes;
    copy[4096 + 10] ^= 0x20;  // inside the manifest
    CHECK_THAT(refusal(copy), Catch::Contains("signature does not verify"));
}

TEST_CASE("a package re-signed with another key in the trailer fails the signature check") {
    auto b = make_package();
    auto other = crypto::Ed25519Key::generate().public_raw();
    auto copy = b.bytes;
    std::memcpy(copy.data() + copy.size() - kTrailerSize + 56, other.data(), 32);
    CHECK_THAT(refusal(copy), Catch::Contains("signature does not verify"));
}

TEST_CASE("trust list: the signing key is accepted, any other key is refused by name") {
    auto b = make_package();
    auto p = parse_package(b.bytes);
    CHECK_NOTHROW(check_trust(p, {b.key.public_raw()}));
    auto other = crypto::Ed25519Key::generate();
    try {
        check_trust(p, {other.public_raw()});
        FAIL("untrusted key accepted");
    } catch (const PackageError& e) {
        CHECK_THAT(std::string(e.what()), Catch::Contains("not in the trust list"));
        CHECK_THAT(std::string(e.what()), Catch::Contains(key_fingerprint(b.key.public_raw())));
    }
}

TEST_CASE("file table decoding is bounds-checked") {
    std::vector<ChunkRef> chunks(1);
    chunks[0].offset = 0;
    chunks[0].comp_size = 5;
    chunks[0].raw_size = 3;
    std::vector<FileEntry> files = {{"a/b", EntryType::file, 0644, 0, 3, {}}};
    auto table = encode_table(chunks, files);
    std::vector<ChunkRef> c2;
    std::vector<FileEntry> f2;
    CHECK_NOTHROW(decode_table(table, 5, c2, f2));
    CHECK(f2.at(0).path == "a/b");
    // Chunk pointing past the chunk section.
    CHECK_THROWS_WITH(decode_table(table, 4, c2, f2), Catch::Contains("outside the chunk section"));
    // Every truncation throws a PackageError instead of reading past the end.
    for (std::size_t n = 0; n < table.size(); ++n)
        CHECK_THROWS_AS(decode_table(std::span(table).first(n), 5, c2, f2), PackageError);
    // Unsafe paths are rejected.
    for (auto bad : {"../etc/passwd", "/etc/passwd", "a/../../b", "a//b", "./a"}) {
        auto t = encode_table(chunks, {{bad, EntryType::file, 0644, 0, 3, {}}});
        CHECK_THROWS_WITH(decode_table(t, 5, c2, f2), Catch::Contains("unsafe path"));
    }
    // Nothing may be extracted through a symlink, and no path may repeat.
    auto via_link = encode_table(
        chunks, {{"usr", EntryType::symlink, 0777, 0, 0, "/etc"}, {"usr/passwd", EntryType::file, 0644, 0, 3, {}}});
    CHECK_THROWS_WITH(decode_table(via_link, 5, c2, f2), Catch::Contains("below a symlink"));
    auto dup =
        encode_table(chunks, {{"a", EntryType::dir, 0755, 0, 0, {}}, {"a", EntryType::symlink, 0777, 0, 0, "/"}});
    CHECK_THROWS_WITH(decode_table(dup, 5, c2, f2), Catch::Contains("duplicate path"));
    // Missing chunk index.
    auto t = encode_table(chunks, {{"x", EntryType::file, 0644, 7, 3, {}}});
    CHECK_THROWS_WITH(decode_table(t, 5, c2, f2), Catch::Contains("missing chunk"));
}

TEST_CASE("manifest validation names the bad field") {
    CHECK_THROWS_WITH(Manifest::from_json("{"), Catch::Contains("not valid JSON"));
    CHECK_THROWS_WITH(Manifest::from_json(R"({"name":"x"})"), Catch::Contains("missing a field"));
    Manifest m;
    m.name = "x";
    m.entries = {{"x", "/../x"}};
    m.publisher_fpr = "00";
    m.loader = "/lib64/ld";
    CHECK_THROWS_WITH(Manifest::from_json(m.to_json()), Catch::Contains("invalid path"));
    m.entries = {{"x", "/usr/bin/x"}};
    m.isolation = "none";
    CHECK_THROWS_WITH(Manifest::from_json(m.to_json()), Catch::Contains("isolation"));
    m.isolation = "writecopy";
    CHECK(Manifest::from_json(m.to_json()).isolation == "writecopy");
}

TEST_CASE("has_appended_data reads no program header past the file, whatever e_phoff says") {
    // Found by tests/fuzz (fuzz_runtime_package; the C++ reader had the same check): for a huge
    // e_phoff, "off + sizeof(Elf64_Phdr)" wrapped around, passed the bounds check and the header
    // was read from before the buffer.
    std::vector<std::uint8_t> exe(64, 0);  // an ELF header and nothing else
    std::memcpy(exe.data(),
                "\x7f"
                "ELF",
                4);
    exe[56] = 1;  // e_phnum
    for (std::uint64_t phoff : {~std::uint64_t{0} - 7, ~std::uint64_t{0} - 55, std::uint64_t{60}, std::uint64_t{64}}) {
        std::memcpy(&exe[32], &phoff, 8);  // e_phoff
        CHECK_FALSE(has_appended_data(exe));
    }
}

TEST_CASE("a file table's counts are checked against its size before anything is allocated") {
    // Found by tests/fuzz (fuzz_package ran at 40 inputs/s): a 4-byte table claiming 2^20 chunks
    // made decode_table allocate 56 MB before finding the table truncated.
    std::vector<ChunkRef> c;
    std::vector<FileEntry> f;
    const std::vector<std::uint8_t> many_chunks = {0x00, 0x00, 0x10, 0x00};
    CHECK_THROWS_WITH(decode_table(many_chunks, 0, c, f), Catch::Contains("truncated while reading chunk records"));
    CHECK(c.empty());
    const std::vector<std::uint8_t> many_files = {0, 0, 0, 0, 0x00, 0x00, 0x10, 0x00};
    CHECK_THROWS_WITH(decode_table(many_files, 0, c, f), Catch::Contains("truncated while reading file entries"));
    CHECK(f.empty());
}

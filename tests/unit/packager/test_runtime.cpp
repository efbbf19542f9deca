// The static package runtime (portico-pack-runtime) run as a real process on packages that are
// correctly signed but malformed inside: it must refuse each by name (exit 65) before running
// anything, and accept a well-formed one (inspect shows its whiteouts).
#include <catch2/catch.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "packager/format.hpp"

using namespace portico;
using namespace portico::pack;
namespace fs = std::filesystem;

namespace {

struct Result {
    int status = -1;
    std::string output;
};

struct Fixture {
    fs::path dir = fs::temp_directory_path() / ("portico-rt-test-" + std::to_string(::getpid()));
    crypto::Ed25519Key key = crypto::Ed25519Key::generate();
    Fixture() { fs::create_directories(dir / "config"); }
    ~Fixture() { fs::remove_all(dir); }

    fs::path write(const std::vector<std::uint8_t>& bytes) {
        auto path = dir / "p.portico";
        std::ofstream(path, std::ios::binary | std::ios::trunc)
            .write(reinterpret_cast<const char*>(bytes.data()), long(bytes.size()));
        return path;
    }

    // The runtime with `args`, the user's configuration in dir/config; output is stdout + stderr.
    Result runtime(const std::string& args) {
        auto cmd = "XDG_CONFIG_HOME=" + (dir / "config").string() + " " PORTICO_PACK_RUNTIME_BIN " " + args + " 2>&1";
        Result r;
        FILE* p = ::popen(cmd.c_str(), "r");
        REQUIRE(p);
        char buf[4096];
        for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.output.append(buf, n);
        int st = ::pclose(p);
        r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        return r;
    }

    Result run(const std::vector<std::uint8_t>& bytes, const std::string& args = "--portico-inspect") {
        return runtime(write(bytes).string() + " " + args);
    }

    // One 3-byte file "a" in chunk 0 (a real zstd frame of "hi\n"), plus `extra` entries.
    std::vector<std::uint8_t> package(std::vector<FileEntry> files, Manifest m = {}) {
        static const std::uint8_t frame[] = {0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x03, 0x19, 0x00, 0x00, 'h', 'i', '\n'};
        std::vector<ChunkRef> chunks(1);
        chunks[0].comp_size = sizeof frame;
        chunks[0].raw_size = 3;
        if (m.name.empty()) {
            m.name = "t";
            m.entries = {{"a", "/a"}};
            m.loader = "/lib64/ld-linux-x86-64.so.2";
        }
        std::vector<std::uint8_t> runtime(512, 0);
        return assemble_package(runtime, m, chunks, files, std::span(frame), key);
    }
};

}  // namespace

TEST_CASE("runtime accepts a well-formed package and lists its whiteouts") {
    Fixture f;
    auto r = f.run(f.package({{"a", EntryType::file, 0755, 0, 3, {}},
                              {"etc", EntryType::dir, 0755, 0, 0, {}},
                              {"etc/gone", EntryType::whiteout, 0, 0, 0, {}}}));
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK_THAT(r.output, Catch::Contains("signature:  valid"));
    CHECK_THAT(r.output, Catch::Contains("w 0000 etc/gone (deleted)"));
    CHECK_THAT(r.output, Catch::Contains("f 0755 a (3 bytes)"));
}

TEST_CASE("runtime refuses signed packages whose file table is malformed") {
    Fixture f;
    const FileEntry a{"a", EntryType::file, 0755, 0, 3, {}};
    struct Case {
        std::vector<FileEntry> files;
        const char* why;
    } cases[] = {
        {{a, {"../escape", EntryType::file, 0644, 0, 3, {}}}, "unsafe path"},
        {{a, {"x//y", EntryType::dir, 0755, 0, 0, {}}}, "unsafe path"},
        {{a, {"a", EntryType::dir, 0755, 0, 0, {}}}, "duplicate path"},
        {{a, {"lnk", EntryType::symlink, 0777, 0, 0, "/etc"}, {"lnk/passwd", EntryType::whiteout, 0, 0, 0, {}}},
         "below a symlink"},
        {{a, {"b", EntryType::file, 0644, 5, 3, {}}}, "missing chunk"},
        {{a, {"c", EntryType::file, 0644, 0, 4, {}}}, "disagrees with its chunk"},
    };
    for (auto& c : cases) {
        auto r = f.run(f.package(c.files));
        INFO(c.why << ": " << r.output);
        CHECK(r.status == 65);
        CHECK_THAT(r.output, Catch::Contains("REFUSED") && Catch::Contains(c.why));
    }
}

TEST_CASE("runtime refuses signed packages whose manifest is malformed") {
    Fixture f;
    const std::vector<FileEntry> files = {{"a", EntryType::file, 0755, 0, 3, {}}};
    Manifest m;
    m.name = "t";
    m.entries = {{"a", "/a"}};
    m.loader = "/lib64/ld-linux-x86-64.so.2";
    auto bad = m;
    bad.isolation = "none";
    CHECK_THAT(f.run(f.package(files, bad)).output, Catch::Contains("unknown isolation mode 'none'"));
    bad = m;
    bad.entries = {{"a", "/x/../../a"}};
    CHECK_THAT(f.run(f.package(files, bad)).output, Catch::Contains("invalid path"));
    bad = m;
    bad.name = "..";
    CHECK_THAT(f.run(f.package(files, bad)).output, Catch::Contains("invalid name"));
    bad = m;
    bad.entries.clear();
    auto r = f.run(f.package(files, bad));
    CHECK(r.status == 65);
    CHECK_THAT(r.output, Catch::Contains("no entry points"));
}

TEST_CASE("runtime refuses flipped, truncated and untrusted packages") {
    Fixture f;
    auto good = f.package({{"a", EntryType::file, 0755, 0, 3, {}}});
    // Every byte of manifest, table, chunks, signature and trailer, and a sample of the runtime part.
    for (std::size_t i = 0; i < good.size(); i += (i < 512 ? 37 : 1)) {
        auto copy = good;
        copy[i] ^= 0x08;
        auto r = f.run(copy);
        INFO("flipped byte " << i << ": " << r.output);
        REQUIRE(r.status == 65);
        // A flip in the trailer's lengths is caught before the signature is even checked.
        CHECK_THAT(r.output, Catch::Contains(i < good.size() - kTrailerSize ? "signature does not verify" : "REFUSED"));
    }
    for (std::size_t cut : {std::size_t(0), std::size_t(100), good.size() / 2, good.size() - 96, good.size() - 1}) {
        auto r = f.run(std::vector<std::uint8_t>(good.begin(), good.begin() + long(cut)));
        INFO("cut at " << cut << ": " << r.output);
        CHECK(r.status == 65);
        CHECK_THAT(r.output, Catch::Contains("REFUSED"));
    }
    auto other = crypto::Ed25519Key::generate();
    std::ofstream(f.dir / "other.pub") << format_public_key(other.public_raw());
    std::ofstream(f.dir / "mine.pub") << format_public_key(f.key.public_raw());
    auto r = f.run(good, "--portico-trust=" + (f.dir / "other.pub").string() + " --portico-inspect");
    CHECK(r.status == 65);
    CHECK_THAT(r.output, Catch::Contains("not in the trust list"));
    // The configured trust list applies when no --portico-trust is given.
    fs::create_directories(f.dir / "config/portico/trusted-keys");
    fs::copy_file(f.dir / "other.pub", f.dir / "config/portico/trusted-keys/other.pub");
    CHECK(f.run(good).status == 65);
    CHECK(f.run(good, "--portico-trust=" + (f.dir / "mine.pub").string() + " --portico-inspect").status == 0);
}

TEST_CASE("runtime's host mode requires the host's trust list and ignores the user's own") {
    Fixture f;
    auto good = f.package({{"a", EntryType::file, 0755, 0, 3, {}}});
    auto other = crypto::Ed25519Key::generate();
    for (auto* d : {"mine", "other", "empty", "config/portico/trusted-keys"}) fs::create_directories(f.dir / d);
    std::ofstream(f.dir / "mine/mine.pub") << format_public_key(f.key.public_raw());
    std::ofstream(f.dir / "other/other.pub") << format_public_key(other.public_raw());
    // The session user's own list trusts the package; a host launch must not care.
    std::ofstream(f.dir / "config/portico/trusted-keys/mine.pub") << format_public_key(f.key.public_raw());
    // A host's launch: options first, the package named by --package.
    auto host = [&](const std::string& flags) {
        return f.runtime("--package " + f.write(good).string() + " " + flags);
    };
    auto r = host("--verify-only");
    CHECK(r.status == 65);
    CHECK_THAT(r.output, Catch::Contains("REFUSED: no trusted publisher keys configured for packages"));
    r = host("--trust-dir " + (f.dir / "empty").string() + " --verify-only");
    CHECK(r.status == 65);
    CHECK_THAT(r.output, Catch::Contains("REFUSED: no trusted publisher keys configured for packages"));
    r = host("--trust-dir " + (f.dir / "other").string() + " --verify-only");
    CHECK(r.status == 65);
    CHECK_THAT(r.output, Catch::Contains("not in the trust list"));
    r = host("--trust-dir " + (f.dir / "mine").string() + " --verify-only");
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK_THAT(r.output, Catch::StartsWith("verified: t ") && Catch::Contains("(trusted)"));
    r = host("--trust-dir " + (f.dir / "mine").string() + " --entry nope --verify-only");
    CHECK(r.status == 1);
    CHECK_THAT(r.output, Catch::Contains("no entry point 'nope'"));
    r = host("--trust-dir " + (f.dir / "mine").string() + " --portico-trust=x --verify-only");
    CHECK(r.status == 1);
    CHECK_THAT(r.output, Catch::Contains("unknown or incomplete option '--portico-trust=x'"));
}

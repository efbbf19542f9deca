// ELF reader and dependency closure against real binaries on this machine and a fixture that
// only resolves through DT_RUNPATH $ORIGIN.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>

#include "packager/elf.hpp"
#include "packager/format.hpp"

using namespace portico::pack;

namespace {
bool contains_suffix(const std::vector<std::string>& v, const std::string& suffix) {
    return std::any_of(v.begin(), v.end(), [&](const std::string& s) {
        return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
    });
}
}  // namespace

TEST_CASE("parse_elf reads PT_INTERP and DT_NEEDED of a real executable") {
    std::string err;
    auto info = read_elf_file("/usr/bin/jq", &err);
    REQUIRE(info);
    CHECK(info->interp == "/lib64/ld-linux-x86-64.so.2");
    CHECK(std::find(info->needed.begin(), info->needed.end(), "libjq.so.1") != info->needed.end());
    CHECK(std::find(info->needed.begin(), info->needed.end(), "libc.so.6") != info->needed.end());
}

TEST_CASE("parse_elf refuses non-ELF and truncated images without reading out of bounds") {
    std::string err;
    std::vector<std::uint8_t> junk(100, 0x41);
    CHECK_FALSE(parse_elf(junk, &err));
    CHECK(err == "not an ELF file");
    MappedFile jq("/usr/bin/jq");
    auto img = jq.bytes();
    std::size_t refused = 0;
    for (std::size_t n : {std::size_t(4), std::size_t(20), std::size_t(63), std::size_t(64), std::size_t(200),
                          std::size_t(1000), img.size() / 4}) {
        std::vector<std::uint8_t> cut(img.begin(), img.begin() + long(n));
        auto r = parse_elf(cut, &err);
        if (!r) ++refused;
    }
    CHECK(refused >= 5);  // the short ones cannot yield a dynamic section
}

TEST_CASE("closure of jq contains its libraries and the loader, found in the default dirs") {
    auto c = resolve_closure({"/usr/bin/jq"});
    CHECK(c.interp == "/lib64/ld-linux-x86-64.so.2");
    CHECK(c.missing.empty());
    CHECK(contains_suffix(c.objects, "/libjq.so.1"));
    CHECK(contains_suffix(c.objects, "/libonig.so.5"));
    CHECK(contains_suffix(c.objects, "/libc.so.6"));
    CHECK(contains_suffix(c.objects, "/ld-linux-x86-64.so.2"));
    CHECK(c.objects.front() == "/usr/bin/jq");
    REQUIRE_FALSE(c.library_dirs.empty());
}

TEST_CASE("closure follows DT_RUNPATH with $ORIGIN") {
    std::string exe = FIXTURE_EXE;
    auto info = read_elf_file(exe);
    REQUIRE(info);
    REQUIRE(info->runpath.size() == 1);
    REQUIRE(info->runpath[0].rfind("$ORIGIN", 0) == 0);  // no absolute fallback
    auto c = resolve_closure({exe});
    INFO("missing: " << (c.missing.empty() ? "" : c.missing.front()));
    CHECK(c.missing.empty());
    auto dir = exe.substr(0, exe.rfind('/'));
    CHECK(contains_suffix(c.objects, "/lib/libportico_fixture.so"));
    CHECK(c.library_dirs.front().rfind(dir, 0) == 0);
}

TEST_CASE("an unresolvable DT_NEEDED is reported as missing, not ignored") {
    ResolverOptions opt;
    opt.default_dirs = {"/nonexistent-dir"};
    opt.use_ld_so_conf = false;
    auto c = resolve_closure({"/usr/bin/jq"}, opt);
    CHECK(contains_suffix(c.missing, "libjq.so.1"));
}

// The session host's trusted package launch (session-host/app/package_launch): packages are found by
// their magic, verified by the host's own runtime against the host's trust list before a session
// starts, and refused with the runtime's reason otherwise; a trusted one runs through the host's
// runtime. Real packages (built by portico-pack) and the real runtime, as processes.
#include <catch2/catch.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>

#include "session-host/app/package_launch.hpp"

using namespace portico::host;
namespace fs = std::filesystem;

namespace {

std::string sh(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    REQUIRE(p);
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    int st = ::pclose(p);
    INFO(cmd << ": " << out);
    REQUIRE(WIFEXITED(st));
    REQUIRE(WEXITSTATUS(st) == 0);
    return out;
}

std::vector<char> read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
}

void write_file(const fs::path& p, const std::vector<char>& bytes) {
    std::ofstream(p, std::ios::binary | std::ios::trunc).write(bytes.data(), long(bytes.size()));
    fs::permissions(p, fs::perms(0755));
}

// One package of /bin/dash signed by `mine`, a second key `other`, and trust lists for each; built
// once (zstd level 19 takes a second or two).
struct Packages {
    fs::path dir = fs::temp_directory_path() / ("portico-launch-test-" + std::to_string(::getpid()));
    fs::path pkg = dir / "dash.portico";
    fs::path trust_mine = dir / "trust-mine", trust_other = dir / "trust-other", trust_empty = dir / "trust-empty";
    Packages() {
        fs::create_directories(dir);
        for (auto& d : {trust_mine, trust_other, trust_empty}) fs::create_directories(d);
        const std::string pack = PORTICO_PACK_BIN;
        sh(pack + " keygen --out " + (dir / "mine.pem").string());
        sh(pack + " keygen --out " + (dir / "other.pem").string());
        sh(pack + " build --entry /bin/dash --name dashpkg --key " + (dir / "mine.pem").string() + " --level 3 -o " +
           pkg.string());
        fs::copy_file(dir / "mine.pem.pub", trust_mine / "mine.pub");
        fs::copy_file(dir / "other.pem.pub", trust_other / "other.pub");
    }
    ~Packages() { fs::remove_all(dir); }
    package_launch::Policy policy(const fs::path& trust) const { return {PORTICO_PACK_RUNTIME_BIN, trust.string()}; }
    fs::path variant(const std::string& name, const std::function<void(std::vector<char>&)>& change) const {
        auto bytes = read_file(pkg);
        change(bytes);
        auto p = dir / name;
        write_file(p, bytes);
        return p;
    }
};

const Packages& packages() {
    static Packages p;
    return p;
}

std::string refusal(const std::vector<std::string>& command, const package_launch::Policy& policy) {
    try {
        package_launch::resolve(command, policy);
    } catch (const package_launch::Refused& e) {
        return e.what();
    }
    return "(not refused)";
}

}  // namespace

TEST_CASE("is_package recognises packages by their magic, not their name") {
    auto& p = packages();
    CHECK(package_launch::is_package(p.pkg.string()));
    auto renamed = p.dir / "app.bin";
    fs::copy_file(p.pkg, renamed, fs::copy_options::overwrite_existing);
    CHECK(package_launch::is_package(renamed.string()));
    // A package cut short has lost its trailer but is still recognised (the runtime refuses it).
    auto cut = p.variant("cut.portico", [](auto& b) { b.resize(b.size() - 1000); });
    CHECK(package_launch::is_package(cut.string()));
    CHECK_FALSE(package_launch::is_package(PORTICO_PACK_RUNTIME_BIN));  // the bare runtime
    CHECK_FALSE(package_launch::is_package("/bin/dash"));
    auto script = p.dir / "fake.portico";
    std::ofstream(script) << "#!/bin/sh\necho PORTICOP\n";
    CHECK_FALSE(package_launch::is_package(script.string()));
    CHECK_FALSE(package_launch::is_package(p.dir.string()));
    CHECK_FALSE(package_launch::is_package((p.dir / "missing").string()));
}

TEST_CASE("resolve leaves ordinary commands alone") {
    auto& p = packages();
    const std::vector<std::string> cmd = {"dash", "-c", "true"};
    CHECK(package_launch::resolve(cmd, p.policy(p.trust_mine)) == cmd);
    CHECK(package_launch::resolve(cmd, {}) == cmd);  // no trust list needed for non-packages
    const std::vector<std::string> missing = {"no-such-program-portico", "x"};
    CHECK(package_launch::resolve(missing, {}) == missing);  // AppProcess reports it
    CHECK(package_launch::resolve({}, {}).empty());
}

TEST_CASE("a trusted package runs through the host's runtime with the host's trust list") {
    auto& p = packages();
    auto argv = package_launch::resolve({p.pkg.string(), "--portico-entry=dash", "-c", "echo ran:$0:$1", "a1", "b 2"},
                                        p.policy(p.trust_mine));
    const std::vector<std::string> want = {fs::canonical(PORTICO_PACK_RUNTIME_BIN).string(),
                                           "--package",
                                           fs::canonical(p.pkg).string(),
                                           "--trust-dir",
                                           p.trust_mine.string(),
                                           "--entry",
                                           "dash",
                                           "--",
                                           "-c",
                                           "echo ran:$0:$1",
                                           "a1",
                                           "b 2"};
    CHECK(argv == want);
    // Run it as the session would (the package file itself is never executed).
    std::string cmd = "HOME=" + (p.dir / "home").string() + " XDG_CACHE_HOME= XDG_DATA_HOME=";
    for (auto& a : argv) cmd += " '" + a + "'";
    CHECK(sh(cmd) == "ran:a1:b 2\n");
    // The package file needs no execute bit: the host runs its own runtime, never the file.
    auto plain = p.dir / "plain.portico";
    fs::copy_file(p.pkg, plain, fs::copy_options::overwrite_existing);
    fs::permissions(plain, fs::perms(0644));
    CHECK(package_launch::resolve({plain.string()}, p.policy(p.trust_mine)).at(2) == fs::canonical(plain).string());
}

TEST_CASE("packages are refused without a trust list, by an untrusted key, unsigned, tampered or truncated") {
    auto& p = packages();
    const std::vector<std::string> run = {"-c", "touch " + (p.dir / "RAN").string()};
    auto cmd = [&](const fs::path& pkg) {
        std::vector<std::string> c = {pkg.string(), "--portico-entry=dash"};
        c.insert(c.end(), run.begin(), run.end());
        return c;
    };
    CHECK_THAT(refusal(cmd(p.pkg), p.policy("")), Catch::Contains("no trusted publisher keys configured"));
    CHECK_THAT(refusal(cmd(p.pkg), p.policy(p.trust_empty)),
               Catch::Contains("REFUSED") && Catch::Contains("no trusted publisher keys configured"));
    CHECK_THAT(refusal(cmd(p.pkg), p.policy(p.dir / "no-such-dir")),
               Catch::Contains("REFUSED") && Catch::Contains("trusted publisher keys directory"));
    CHECK_THAT(refusal(cmd(p.pkg), p.policy(p.trust_other)),
               Catch::Contains("REFUSED") && Catch::Contains("not in the trust list"));
    // Unsigned: the signature slot (the 64 bytes before the 96-byte trailer) is zero.
    auto unsigned_pkg = p.variant("unsigned.portico", [](auto& b) { std::fill(b.end() - 160, b.end() - 96, 0); });
    CHECK_THAT(refusal(cmd(unsigned_pkg), p.policy(p.trust_mine)),
               Catch::Contains("REFUSED") && Catch::Contains("signature does not verify"));
    auto tampered = p.variant("tampered.portico", [](auto& b) { b[b.size() * 3 / 4] ^= 1; });
    CHECK_THAT(refusal(cmd(tampered), p.policy(p.trust_mine)),
               Catch::Contains("REFUSED") && Catch::Contains("signature does not verify"));
    auto cut = p.variant("cut2.portico", [](auto& b) { b.resize(b.size() - 1000); });
    CHECK_THAT(refusal(cmd(cut), p.policy(p.trust_mine)), Catch::Contains("REFUSED") && Catch::Contains("truncated"));
    CHECK_THAT(refusal({p.pkg.string(), "--portico-entry=nope"}, p.policy(p.trust_mine)),
               Catch::Contains("no entry point 'nope'"));
    // Trust comes from the host only: the published command cannot bring its own.
    CHECK_THAT(
        refusal({p.pkg.string(), "--portico-trust=" + (p.dir / "other.pem.pub").string()}, p.policy(p.trust_mine)),
        Catch::Contains("--portico-trust="));
    CHECK_FALSE(fs::exists(p.dir / "RAN"));
}

TEST_CASE("the host's runtime must be a runtime") {
    auto& p = packages();
    CHECK_THAT(refusal({p.pkg.string()}, {p.pkg.string(), p.trust_mine.string()}), Catch::Contains("is a package"));
    CHECK_THAT(refusal({p.pkg.string()}, {(p.dir / "missing-runtime").string(), p.trust_mine.string()}),
               Catch::Contains("--package-runtime"));
}

#include "session-host/vm/accel.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace portico::host::vm;

namespace {

struct FakeSys {
    fs::path root;
    fs::path dev_kvm;
    FakeSys() {
        char tmpl[] = "/tmp/portico-accel-XXXXXX";
        root = ::mkdtemp(tmpl);
        dev_kvm = root / "dev-kvm";
    }
    ~FakeSys() { fs::remove_all(root); }
    void module(const char* name) { fs::create_directories(root / "module" / name); }
    void make_dev() { std::ofstream(dev_kvm) << ""; }
};

}  // namespace

TEST_CASE("accel: parse modes", "[accel]") {
    AccelMode m{};
    CHECK(parse_accel_mode("auto", m));
    CHECK(m == AccelMode::auto_);
    CHECK(parse_accel_mode("kvm", m));
    CHECK(m == AccelMode::kvm);
    CHECK(parse_accel_mode("tcg", m));
    CHECK(m == AccelMode::tcg);
    CHECK_FALSE(parse_accel_mode("hvf", m));
}

TEST_CASE("accel: auto picks KVM with a vendor module and an openable /dev/kvm", "[accel]") {
    FakeSys sys;
    sys.module("kvm");
    sys.module("kvm_intel");
    sys.make_dev();
    const auto c = choose_accelerator(AccelMode::auto_, sys.root.string(), sys.dev_kvm.string());
    REQUIRE(c.ok);
    CHECK(c.accel == "kvm");
    CHECK(c.warning.empty());
    sys.module("kvm_amd");
    CHECK(choose_accelerator(AccelMode::kvm, sys.root.string(), sys.dev_kvm.string()).accel == "kvm");
}

TEST_CASE("accel: kvm_pvm is never chosen", "[accel]") {
    FakeSys sys;
    sys.module("kvm");
    sys.module("kvm_pvm");
    sys.make_dev();
    const auto c = choose_accelerator(AccelMode::auto_, sys.root.string(), sys.dev_kvm.string());
    REQUIRE(c.ok);
    CHECK(c.accel == "tcg");
    CHECK_THAT(c.warning, Catch::Contains("kvm_pvm"));
    const auto forced = choose_accelerator(AccelMode::kvm, sys.root.string(), sys.dev_kvm.string());
    CHECK_FALSE(forced.ok);
    CHECK_THAT(forced.error, Catch::Contains("kvm_pvm"));
}

TEST_CASE("accel: vendor module but /dev/kvm missing falls back to TCG, forced kvm fails", "[accel]") {
    FakeSys sys;
    sys.module("kvm_amd");
    const auto c = choose_accelerator(AccelMode::auto_, sys.root.string(), sys.dev_kvm.string());
    REQUIRE(c.ok);
    CHECK(c.accel == "tcg");
    CHECK_THAT(c.warning, Catch::Contains("cannot be opened"));
    const auto forced = choose_accelerator(AccelMode::kvm, sys.root.string(), sys.dev_kvm.string());
    CHECK_FALSE(forced.ok);
    CHECK_THAT(forced.error, Catch::Contains("kvm was requested"));
}

TEST_CASE("accel: no KVM at all, and tcg forced", "[accel]") {
    FakeSys sys;
    auto c = choose_accelerator(AccelMode::auto_, sys.root.string(), sys.dev_kvm.string());
    REQUIRE(c.ok);
    CHECK(c.accel == "tcg");
    CHECK_THAT(c.warning, Catch::Contains("no KVM vendor module"));
    c = choose_accelerator(AccelMode::tcg, sys.root.string(), sys.dev_kvm.string());
    REQUIRE(c.ok);
    CHECK(c.accel == "tcg");
    CHECK(c.warning.empty());
}

// The defaults read the real /sys and /dev/kvm. What they must yield is worked out here from the
// same facts, independently, so every machine checks its own case: this one (kvm_pvm, no vendor
// module, no /dev/kvm) must get TCG with a warning naming kvm_pvm; one with usable KVM must get kvm.
TEST_CASE("accel: this machine's real sysfs never yields kvm through kvm_pvm", "[accel]") {
    const bool vendor = fs::is_directory("/sys/module/kvm_intel") || fs::is_directory("/sys/module/kvm_amd");
    const bool pvm = fs::is_directory("/sys/module/kvm_pvm");
    const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    const bool opens = fd >= 0;
    if (opens) ::close(fd);
    INFO("vendor module " << vendor << ", kvm_pvm " << pvm << ", /dev/kvm opens " << opens);

    const auto c = choose_accelerator(AccelMode::auto_);
    REQUIRE(c.ok);
    const auto forced = choose_accelerator(AccelMode::kvm);
    if (vendor && opens) {
        CHECK(c.accel == "kvm");
        CHECK(c.warning.empty());
        CHECK(forced.ok);
    } else {
        CHECK(c.accel == "tcg");
        CHECK_FALSE(c.warning.empty());  // the log and the session say why VMs are slow
        CHECK_FALSE(forced.ok);
        if (!vendor && pvm) {
            CHECK_THAT(c.warning, Catch::Contains("kvm_pvm"));
            CHECK_THAT(forced.error, Catch::Contains("kvm_pvm"));
        }
    }
}

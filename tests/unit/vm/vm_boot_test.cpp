// Real QEMU (TCG on these machines) booting the console guest image: display over RFB, keyboard as
// scancodes, QMP control, exit and crash reporting.
#include "session-host/vm/accel.hpp"
#include "session-host/vm/rfb_source.hpp"
#include "session-host/vm/vm_instance.hpp"

#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using namespace portico::host::vm;
using Clock = std::chrono::steady_clock;

namespace {

// Builds the image once per run. A machine that cannot build it fails these tests loudly: the
// [vm] tests are excluded by label (ctest -LE / "~[vm]"), never by skipping silently.
const std::string& console_image() {
    static const std::string dir = [] {
        const std::string out = PORTICO_VM_IMAGE_DIR;
        if (!fs::exists(out + "/vmlinuz") || !fs::exists(out + "/initrd.cpio.gz")) {
            const std::string cmd = std::string(PORTICO_SOURCE_DIR) + "/deploy/guest/build-console-image.sh '" + out + "' 2>&1";
            std::string output;
            if (std::FILE* p = ::popen(cmd.c_str(), "r")) {
                char buf[512];
                while (std::fgets(buf, sizeof(buf), p)) output += buf;
                const int rc = ::pclose(p);
                if (rc != 0) FAIL("cannot build the console guest image (needs linux-image-amd64, busybox-static, cpio, qemu-utils): " << output);
            } else {
                FAIL("cannot run " << cmd);
            }
        }
        return out;
    }();
    return dir;
}

// A per-test runtime directory, removed even when an assertion ends the test early.
struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/portico-vm-XXXXXX";
        const char* d = ::mkdtemp(tmpl);
        REQUIRE(d != nullptr);
        path = d;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

VmConfig console_config(const std::string& runtime_dir) {
    const std::string img = console_image();
    VmConfig c;
    c.runtime_dir = runtime_dir;
    const auto accel = choose_accelerator(AccelMode::auto_);
    REQUIRE(accel.ok);
    static bool warned = false;
    if (!accel.warning.empty() && !warned) std::printf("note: %s\n", accel.warning.c_str());
    warned = true;
    c.accel = accel.accel;
    // As the image's image.json boots it: the uncompressed (PVH) kernel when it could be extracted.
    c.kernel = img + (fs::exists(img + "/vmlinux") ? "/vmlinux" : "/vmlinuz");
    c.initrd = img + "/initrd.cpio.gz";
    c.append = "console=tty0 console=ttyS0 quiet mitigations=off";
    return c;
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0; }

// US layout: the guest kernel's default keymap.
void type_text(RfbFrameSource& src, const std::string& text) {
    static const std::string lower = "abcdefghijklmnopqrstuvwxyz";
    static const int letter_codes[26] = {30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50,
                                         49, 24, 25, 16, 19, 31, 20, 22, 47, 17, 45, 21, 44};
    for (char ch : text) {
        int code = 0;
        bool shift = false;
        if (ch >= 'a' && ch <= 'z') code = letter_codes[ch - 'a'];
        else if (ch >= 'A' && ch <= 'Z') { code = letter_codes[ch - 'A']; shift = true; }
        else if (ch >= '1' && ch <= '9') code = 2 + (ch - '1');
        else if (ch == '0') code = 11;
        else if (ch == ' ') code = 57;
        else if (ch == '-') code = 12;
        else if (ch == '_') { code = 12; shift = true; }
        else if (ch == '.') code = 52;
        else if (ch == '>') { code = 52; shift = true; }
        else if (ch == '/') code = 53;
        else if (ch == '\n') code = 28;
        REQUIRE(code != 0);
        if (shift) src.key(42, true);
        src.key(static_cast<std::uint16_t>(code), true);
        src.key(static_cast<std::uint16_t>(code), false);
        if (shift) src.key(42, false);
        src.capture(std::chrono::milliseconds(15));  // flushes the queued keys to QEMU
    }
}

bool non_blank(const portico::capture::Frame& f) {
    for (int y = 0; y < f.height; y += 2)
        for (int x = 0; x < f.width; x += 2)
            if (f.at(x, y)[0] | f.at(x, y)[1] | f.at(x, y)[2]) return true;
    return false;
}

}  // namespace

TEST_CASE("vm: console guest boots, streams over RFB, takes scancodes, powers off", "[vm]") {
    const TempDir tmp;
    const std::string& dir = tmp.path;
    const auto t0 = Clock::now();
    VmInstance vm(console_config(dir));
    RfbFrameSource src(vm.vnc_socket(), std::chrono::seconds(10));
    CHECK(src.width() >= 320);
    CHECK(src.height() >= 200);

    // First non-blank frame.
    bool seen = false;
    portico::capture::Frame last;
    while (Clock::now() - t0 < std::chrono::seconds(60) && !seen) {
        auto c = src.capture(std::chrono::milliseconds(100));
        if (c && non_blank(*c->frame)) {
            seen = true;
            last = *c->frame;
        }
    }
    REQUIRE(seen);
    const double first_frame_s = std::chrono::duration<double>(Clock::now() - t0).count();

    // The shell is up when init has written its banner to the serial port.
    while (Clock::now() - t0 < std::chrono::seconds(90) &&
           read_file(vm.serial_log()).find("PORTICO_GUEST_READY") == std::string::npos) {
        if (auto c = src.capture(std::chrono::milliseconds(100))) last = *c->frame;
    }
    REQUIRE(read_file(vm.serial_log()).find("PORTICO_GUEST_READY") != std::string::npos);
    const double ready_s = std::chrono::duration<double>(Clock::now() - t0).count();
    // Let the VGA shell print its prompt, and take the settled screen.
    const auto settle = Clock::now() + std::chrono::seconds(3);
    while (Clock::now() < settle)
        if (auto c = src.capture(std::chrono::milliseconds(100))) last = *c->frame;
    CHECK(src.ext_key_supported());

    type_text(src, "echo PORTICO_MARK > /dev/ttyS0\n");
    bool marked = false, changed = false;
    const auto t1 = Clock::now();
    while (Clock::now() - t1 < std::chrono::seconds(30) && !(marked && changed)) {
        if (auto c = src.capture(std::chrono::milliseconds(100)); c && !c->damage.empty())
            changed = changed || c->frame->pixels != last.pixels;
        // The command's output, a line of its own: the typed command line itself echoes on tty1 only.
        const std::string serial = read_file(vm.serial_log());
        marked = serial.find("PORTICO_MARK\r") != std::string::npos || serial.find("PORTICO_MARK\n") != std::string::npos;
    }
    const double typed_s = std::chrono::duration<double>(Clock::now() - t1).count();
    CHECK(marked);
    CHECK(changed);
    std::printf("vm boot (accel %s): first non-blank frame %.2f s, shell ready %.2f s, typed marker seen %.2f s later\n",
                vm.config().accel.c_str(), first_frame_s, ready_s, typed_s);

    // invalidate(): the next capture is the whole screen, at once.
    src.invalidate();
    auto whole = src.capture(std::chrono::milliseconds(0));
    REQUIRE(whole.has_value());
    CHECK(whole->damage.area() == static_cast<long long>(src.width()) * src.height());
    // Pointer, wheel and release_all are accepted by QEMU (the stream stays up).
    src.pointer(10, 10, 1);
    src.wheel(0, 2);
    src.key(42, true);
    src.release_all();
    src.capture(std::chrono::milliseconds(200));

    // A guest that powers off ends QEMU cleanly and QMP reports SHUTDOWN.
    type_text(src, "poweroff -f\n");
    bool shutdown_event = false;
    const auto t2 = Clock::now();
    while (Clock::now() - t2 < std::chrono::seconds(30) && !shutdown_event) {
        auto e = vm.qmp().next_event(std::chrono::milliseconds(200));
        if (e && e->value("event", "") == "SHUTDOWN") shutdown_event = true;
        if (!vm.qmp().connected()) break;
    }
    CHECK(shutdown_event);
    auto exit = vm.wait_exit(std::chrono::seconds(15));
    REQUIRE(exit.has_value());
    CHECK_FALSE(exit->crashed);
    CHECK(exit->status == 0);
    CHECK_FALSE(process_exists(vm.pid()));
    CHECK_THROWS(src.capture(std::chrono::milliseconds(500)));  // the display is gone
}

TEST_CASE("vm: QMP quit stops QEMU, a linked clone overlays the golden disk", "[vm]") {
    const TempDir tmp;
    const std::string& dir = tmp.path;
    VmConfig cfg = console_config(dir);
    cfg.golden_image = console_image() + "/disk.qcow2";
    REQUIRE(fs::exists(cfg.golden_image));
    const auto golden_size = fs::file_size(cfg.golden_image);
    pid_t pid = -1;
    {
        VmInstance vm(cfg);
        pid = vm.pid();
        REQUIRE(process_exists(pid));
        REQUIRE(fs::exists(dir + "/overlay.qcow2"));
        std::string error;
        auto status = vm.qmp().execute("query-status", nlohmann::json::object(), std::chrono::seconds(5), error);
        REQUIRE(status.has_value());
        CHECK(status->value("status", "") == "running");
        auto blocks = vm.qmp().execute("query-block", nlohmann::json::object(), std::chrono::seconds(5), error);
        REQUIRE(blocks.has_value());
        CHECK_THAT(blocks->dump(), Catch::Contains("disk.qcow2"));  // the backing file of the overlay
        auto bad = vm.qmp().execute("no-such-command", nlohmann::json::object(), std::chrono::seconds(5), error);
        CHECK_FALSE(bad.has_value());
        CHECK_THAT(error, Catch::Contains("CommandNotFound"));

        const auto t = Clock::now();
        const VmExit e = vm.stop();
        CHECK_FALSE(e.crashed);
        CHECK(Clock::now() - t < std::chrono::seconds(5));  // QMP quit, not the SIGKILL fallback
        CHECK_FALSE(e.signaled);
    }
    CHECK_FALSE(process_exists(pid));
    CHECK(fs::file_size(cfg.golden_image) == golden_size);  // writes go to the overlay only
}

TEST_CASE("vm: QEMU killed from outside is reported as a crash", "[vm]") {
    const TempDir tmp;
    const std::string& dir = tmp.path;
    VmInstance vm(console_config(dir));
    REQUIRE_FALSE(vm.poll_exit().has_value());
    REQUIRE(::kill(vm.pid(), SIGKILL) == 0);
    auto e = vm.wait_exit(std::chrono::seconds(10));
    REQUIRE(e.has_value());
    CHECK(e->crashed);
    CHECK(e->signaled);
    CHECK(e->status == SIGKILL);
    CHECK_THAT(e->describe(), Catch::Contains("crash"));
    CHECK_FALSE(process_exists(vm.pid()));
}

TEST_CASE("vm: a bad QEMU option fails start-up with QEMU's message and leaves nothing running", "[vm]") {
    const TempDir tmp;
    const std::string& dir = tmp.path;
    VmConfig cfg = console_config(dir);
    cfg.accel = "no-such-accel";
    try {
        VmInstance vm(cfg);
        FAIL("QEMU started with a bogus accelerator");
    } catch (const std::runtime_error& e) {
        CHECK_THAT(e.what(), Catch::Contains("QEMU failed to start"));
    }
}

// Real QEMU (TCG on these machines) booting the console guest image: display over RFB, keyboard as
// scancodes, pointer and wheel (seen by the guest's USB tablet driver), QMP control, exit and crash
// reporting.
#include "session-host/vm/accel.hpp"
#include "session-host/vm/rfb_source.hpp"
#include "session-host/vm/vm_instance.hpp"

#include <catch2/catch.hpp>

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

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
            const std::string cmd =
                std::string(PORTICO_SOURCE_DIR) + "/deploy/guest/build-console-image.sh '" + out + "' 2>&1";
            std::string output;
            if (std::FILE* p = ::popen(cmd.c_str(), "r")) {
                char buf[512];
                while (std::fgets(buf, sizeof(buf), p)) output += buf;
                const int rc = ::pclose(p);
                if (rc != 0)
                    FAIL(
                        "cannot build the console guest image (needs linux-image-amd64, busybox-static, cpio, qemu-utils): "
                        << output);
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

std::vector<pid_t> all_pids() {
    std::vector<pid_t> out;
    std::error_code ec;
    for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos) out.push_back(std::stoi(name));
    }
    return out;
}

// Processes whose command line mentions `needle`: QEMU names its sockets and serial log in the
// VM's runtime directory, so this finds a QEMU of that VM wherever it was reparented to.
std::vector<pid_t> processes_mentioning(const std::string& needle) {
    std::vector<pid_t> out;
    for (pid_t pid : all_pids())
        if (read_file("/proc/" + std::to_string(pid) + "/cmdline").find(needle) != std::string::npos)
            out.push_back(pid);
    return out;
}

// This process's children, exited ones nobody waited for (zombies) included.
std::vector<pid_t> child_processes() {
    std::vector<pid_t> out;
    for (pid_t pid : all_pids()) {
        const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
        const auto close = stat.rfind(')');  // "pid (comm) state ppid ...": comm may hold anything
        if (close == std::string::npos) continue;
        char state = 0;
        int ppid = 0;
        if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2 && ppid == ::getpid())
            out.push_back(pid);
    }
    std::sort(out.begin(), out.end());
    return out;
}

// An input event as the guest's evdev reports it: struct input_event on x86-64 (a 16-byte
// timeval, then type, code, value), printed in hex by the guest's portico-input-probe.
struct InputEvent {
    int type = 0, code = 0, value = 0;
};
constexpr int kEvKey = 1, kEvRel = 2, kEvAbs = 3;
constexpr int kAbsX = 0, kAbsY = 1, kRelWheel = 8, kBtnLeft = 0x110;

std::vector<InputEvent> probe_events(const std::string& serial) {
    std::vector<InputEvent> out;
    static const std::string tag = "PORTICO_INPUT ";
    for (auto at = serial.find(tag); at != std::string::npos; at = serial.find(tag, at + 1)) {
        const std::string hex = serial.substr(at + tag.size(), 48);
        if (hex.size() < 48 || hex.find_first_not_of("0123456789abcdef") != std::string::npos) continue;
        auto le = [&](int at, int bytes) {  // little-endian
            std::uint32_t v = 0;
            for (int i = at + bytes - 1; i >= at; --i) v = v << 8 | std::stoul(hex.substr(2 * i, 2), nullptr, 16);
            return v;
        };
        out.push_back({static_cast<int>(le(16, 2)), static_cast<int>(le(18, 2)), static_cast<std::int32_t>(le(20, 4))});
    }
    return out;
}

// US layout: the guest kernel's default keymap.
void type_text(RfbFrameSource& src, const std::string& text) {
    static const std::string lower = "abcdefghijklmnopqrstuvwxyz";
    static const int letter_codes[26] = {30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50,
                                         49, 24, 25, 16, 19, 31, 20, 22, 47, 17, 45, 21, 44};
    for (char ch : text) {
        int code = 0;
        bool shift = false;
        if (ch >= 'a' && ch <= 'z')
            code = letter_codes[ch - 'a'];
        else if (ch >= 'A' && ch <= 'Z') {
            code = letter_codes[ch - 'A'];
            shift = true;
        } else if (ch >= '1' && ch <= '9')
            code = 2 + (ch - '1');
        else if (ch == '0')
            code = 11;
        else if (ch == ' ')
            code = 57;
        else if (ch == '-')
            code = 12;
        else if (ch == '_') {
            code = 12;
            shift = true;
        } else if (ch == '.')
            code = 52;
        else if (ch == '>') {
            code = 52;
            shift = true;
        } else if (ch == '/')
            code = 53;
        else if (ch == '\n')
            code = 28;
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

// Pixels that differ between two frames of one size.
long changed_pixels(const portico::capture::Frame& a, const portico::capture::Frame& b) {
    if (a.width != b.width || a.height != b.height) return static_cast<long>(a.width) * a.height;
    long n = 0;
    for (int y = 0; y < a.height; ++y)
        for (int x = 0; x < a.width; ++x)
            if (std::memcmp(a.at(x, y), b.at(x, y), 3) != 0) ++n;
    return n;
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
    // No tablet driver yet (portico-input-probe loads it): QEMU's pointer is the PS/2 mouse.
    CHECK(src.pointer_relative());

    type_text(src, "echo PORTICO_MARK > /dev/ttyS0\n");
    // The typed line must show on the streamed screen: over 1000 pixels of text, where a blinking
    // cursor alone changes a few dozen (it made a weaker "any change" check pass while tty1 was
    // drawn nowhere).
    bool marked = false, changed = false;
    long most_changed = 0;
    const auto t1 = Clock::now();
    while (Clock::now() - t1 < std::chrono::seconds(30) && !(marked && changed)) {
        if (auto c = src.capture(std::chrono::milliseconds(100)); c && !c->damage.empty()) {
            most_changed = std::max(most_changed, changed_pixels(*c->frame, last));
            changed = most_changed > 1000;
        }
        // The command's output, a line of its own: the typed command line itself echoes on tty1 only.
        const std::string serial = read_file(vm.serial_log());
        marked =
            serial.find("PORTICO_MARK\r") != std::string::npos || serial.find("PORTICO_MARK\n") != std::string::npos;
    }
    const double typed_s = std::chrono::duration<double>(Clock::now() - t1).count();
    CHECK(marked);
    INFO("pixels changed by typing: " << most_changed);
    CHECK(changed);
    std::printf(
        "vm boot (accel %s): first non-blank frame %.2f s, shell ready %.2f s, typed marker seen %.2f s later\n",
        vm.config().accel.c_str(), first_frame_s, ready_s, typed_s);

    // invalidate(): the next capture is the whole screen, at once.
    src.invalidate();
    auto whole = src.capture(std::chrono::milliseconds(0));
    REQUIRE(whole);
    CHECK(whole->damage.area() == static_cast<long long>(src.width()) * src.height());

    // Pointer, wheel and release_all reach the guest: its USB tablet driver reports them, seen
    // through portico-input-probe (the image's; it prints the tablet's evdev events on the serial
    // port once it reads them).
    type_text(src, "portico-input-probe\n");
    const auto on_serial = [&](const char* word) { return read_file(vm.serial_log()).find(word) != std::string::npos; };
    const auto t3 = Clock::now();
    while (Clock::now() - t3 < std::chrono::seconds(30) && !on_serial("PORTICO_INPUT_READY") &&
           !on_serial("PORTICO_INPUT_MISSING"))
        src.capture(std::chrono::milliseconds(100));
    REQUIRE(on_serial("PORTICO_INPUT_READY"));
    // The tablet's driver is the guest's pointer now: QEMU reports the switch to absolute (the
    // pointer was relative, the PS/2 mouse, since boot), and positions go as they are from then on.
    const auto t_abs = Clock::now();
    while (Clock::now() - t_abs < std::chrono::seconds(10) && src.pointer_relative())
        src.capture(std::chrono::milliseconds(100));
    REQUIRE_FALSE(src.pointer_relative());
    const int px = src.width() / 3, py = src.height() / 4;
    src.pointer(px, py, 0);
    src.capture(std::chrono::milliseconds(200));
    src.pointer(px, py, 1);  // left button down ...
    src.key(42, true);       // ... and Shift: release_all lets go of both
    src.capture(std::chrono::milliseconds(200));
    src.release_all();
    src.capture(std::chrono::milliseconds(200));
    src.wheel(0, 2);  // two notches down
    int wheel = 0;
    std::vector<int> left;
    std::optional<int> abs_x, abs_y;
    const auto t4 = Clock::now();
    while (Clock::now() - t4 < std::chrono::seconds(20) && !(left.size() >= 2 && wheel <= -2)) {
        src.capture(std::chrono::milliseconds(100));
        wheel = 0;
        left.clear();
        for (const auto& e : probe_events(read_file(vm.serial_log()))) {
            if (e.type == kEvRel && e.code == kRelWheel) wheel += e.value;
            if (e.type == kEvKey && e.code == kBtnLeft) left.push_back(e.value);
            if (e.type == kEvAbs && e.code == kAbsX) abs_x = e.value;
            if (e.type == kEvAbs && e.code == kAbsY) abs_y = e.value;
        }
    }
    // QEMU scales the RFB position to the tablet's 0..32767 by the screen size.
    const int tol_x = 32767 / src.width() + 1, tol_y = 32767 / src.height() + 1;
    INFO("pointer at " << px << "," << py << " of " << src.width() << "x" << src.height() << "; guest saw x "
                       << abs_x.value_or(-1) << ", y " << abs_y.value_or(-1) << ", wheel " << wheel);
    REQUIRE(abs_x.has_value());
    REQUIRE(abs_y.has_value());
    CHECK(std::abs(*abs_x - px * 32767 / src.width()) <= tol_x);
    CHECK(std::abs(*abs_y - py * 32767 / src.height()) <= tol_y);
    CHECK(left == std::vector<int>{1, 0});  // pressed once, released by release_all
    CHECK(wheel == -2);                     // two notches down (Linux: negative is down)

    // A guest that powers off ends QEMU cleanly and QMP reports SHUTDOWN. (Typed after
    // release_all: with Shift still held it would be "POWEROFF _F" and nothing would shut down.)
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
    const auto gone = src.capture(std::chrono::milliseconds(500));  // the display is gone
    CHECK(gone.status() == portico::capture::CaptureResult::Status::permanent_error);
    CHECK_FALSE(gone.error().empty());
}

// The guest's CPU starved, as on a loaded host: its virtual CPU thread shares one core with a
// real-time busy loop that takes the core for `stall` at a time. Keys typed meanwhile wait in the
// VM's keyboard; none may be lost.
class CpuStarver {
public:
    CpuStarver(pid_t qemu, std::chrono::milliseconds stall, std::chrono::milliseconds every)
        : thread_([this, qemu, stall, every] { run(qemu, stall, every); }) {}
    ~CpuStarver() {
        stop_ = true;
        thread_.join();
    }
    std::string error() const { return error_; }
    int stalls() const { return stalls_; }
    // The most CPU time the guest got during one stall: near zero if the starving worked.
    long long most_guest_ms_in_stall() const { return most_guest_ms_in_stall_; }

private:
    void run(pid_t qemu, std::chrono::milliseconds stall, std::chrono::milliseconds every) {
        const int cpu = static_cast<int>(std::thread::hardware_concurrency()) - 1;
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        std::vector<std::string> vcpus;  // /proc/PID/task/TID of each virtual CPU thread
        std::error_code ec;
        const std::string tasks = "/proc/" + std::to_string(qemu) + "/task";
        for (fs::directory_iterator it(tasks, ec), end; !ec && it != end; it.increment(ec)) {
            if (read_file(it->path().string() + "/comm").rfind("CPU ", 0) != 0) continue;  // "CPU 0/TCG"
            if (::sched_setaffinity(std::stoi(it->path().filename().string()), sizeof(one), &one) == 0)
                vcpus.push_back(it->path().string());
        }
        sched_param rt{};
        rt.sched_priority = 10;
        if (vcpus.empty())
            error_ = "found no vCPU thread of QEMU " + std::to_string(qemu) + " to pin";
        else if (::sched_setaffinity(0, sizeof(one), &one) != 0 ||
                 ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &rt) != 0)
            error_ = std::string("cannot run a real-time busy loop (needs CAP_SYS_NICE): ") + std::strerror(errno);
        if (!error_.empty()) return;
        // The guest's CPU time, from the kernel's account of each vCPU thread (schedstat: ns on a CPU).
        const auto guest_ns = [&] {
            long long ns = 0;
            for (const auto& t : vcpus) ns += std::atoll(read_file(t + "/schedstat").c_str());
            return ns;
        };
        while (!stop_) {
            const long long before = guest_ns();
            const auto until = Clock::now() + stall;
            while (Clock::now() < until) {
            }
            most_guest_ms_in_stall_ = std::max<long long>(most_guest_ms_in_stall_, (guest_ns() - before) / 1000000);
            ++stalls_;
            std::this_thread::sleep_for(every - stall);
        }
    }
    std::atomic<bool> stop_{false};
    std::string error_;
    std::atomic<int> stalls_{0};
    std::atomic<long long> most_guest_ms_in_stall_{0};
    std::thread thread_;
};

TEST_CASE("vm: keys typed while the guest's CPU is starved all reach it", "[vm]") {
    const TempDir tmp;
    VmInstance vm(console_config(tmp.path));
    RfbFrameSource src(vm.vnc_socket(), std::chrono::seconds(10));
    const auto t0 = Clock::now();
    while (Clock::now() - t0 < std::chrono::seconds(90) &&
           read_file(vm.serial_log()).find("PORTICO_GUEST_READY") == std::string::npos)
        src.capture(std::chrono::milliseconds(100));
    REQUIRE(read_file(vm.serial_log()).find("PORTICO_GUEST_READY") != std::string::npos);
    const auto settle = Clock::now() + std::chrono::seconds(3);
    while (Clock::now() < settle) src.capture(std::chrono::milliseconds(100));

    // Typed at 60 ms a character, as the integration tests type; the guest gets no CPU for 500 ms
    // of every second: eight characters (24 bytes of PS/2 scancodes) arrive during each stall.
    const std::string mark = "STARVED_TYPING_abcdefghijklmnopqrstuvwxyz_0123456789";
    {
        CpuStarver starver(vm.pid(), std::chrono::milliseconds(500), std::chrono::milliseconds(1000));
        for (char ch : "echo " + mark + " > /dev/ttyS0\n") {
            type_text(src, std::string(1, ch));
            std::this_thread::sleep_for(std::chrono::milliseconds(45));
        }
        REQUIRE(starver.error() == "");
        CHECK(starver.stalls() >= 2);
        std::printf("starved the guest %d times for 500 ms (it ran at most %lld ms during one)\n", starver.stalls(),
                    starver.most_guest_ms_in_stall());
        CHECK(starver.most_guest_ms_in_stall() < 50);
    }
    bool seen = false;
    const auto t1 = Clock::now();
    while (Clock::now() - t1 < std::chrono::seconds(30) && !seen) {
        src.capture(std::chrono::milliseconds(100));
        const std::string serial = read_file(vm.serial_log());
        seen = serial.find(mark + "\r") != std::string::npos || serial.find(mark + "\n") != std::string::npos;
    }
    INFO("serial: " << read_file(vm.serial_log()));
    CHECK(seen);
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
    const auto children = child_processes();
    try {
        VmInstance vm(cfg);
        FAIL("QEMU started with a bogus accelerator");
    } catch (const std::runtime_error& e) {
        CHECK_THAT(e.what(), Catch::Contains("QEMU failed to start"));
    }
    // Nothing of it is left: no process mentions the VM's runtime directory, and this process has
    // no child it did not have before, not even an exited QEMU nobody waited for.
    CHECK(processes_mentioning(dir).empty());
    CHECK(child_processes() == children);
}

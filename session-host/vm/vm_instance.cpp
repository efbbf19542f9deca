#include "session-host/vm/vm_instance.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <vector>

extern char** environ;

namespace portico::host::vm {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

std::string lookup(const std::string& name) {
    if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : std::string();
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
    std::size_t start = 0;
    while (start <= dirs.size()) {
        const std::size_t end = dirs.find(':', start);
        const std::string dir = dirs.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (!dir.empty()) {
            const std::string candidate = dir + "/" + name;
            if (::access(candidate.c_str(), X_OK) == 0) return candidate;
        }
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return {};
}

// fork+exec with PR_SET_PDEATHSIG; stdout/stderr to `log_path`. Everything the child needs is
// prepared before fork() (the parent is multi-threaded).
pid_t spawn(const std::string& exe, const std::vector<std::string>& args, const std::string& log_path) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log_fd < 0) throw std::runtime_error("cannot create " + log_path + ": " + std::strerror(errno));
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        ::close(log_fd);
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);
        ::setpgid(0, 0);
        const int null_fd = ::open("/dev/null", O_RDONLY);
        if (null_fd >= 0) ::dup2(null_fd, 0);
        ::dup2(log_fd, 1);
        ::dup2(log_fd, 2);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execve(exe.c_str(), argv.data(), environ);
        ::_exit(127);
    }
    ::close(log_fd);
    return pid;
}

std::string read_tail(const std::string& path, std::size_t max = 2000) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return {};
    std::string s;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) s.append(buf, n);
    std::fclose(f);
    if (s.size() > max) s.erase(0, s.size() - max);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
}

}  // namespace

std::string VmExit::describe() const {
    if (signaled) return std::string("QEMU killed by signal ") + std::to_string(status) + (crashed ? " (crash)" : "");
    return "QEMU exited with status " + std::to_string(status) + (crashed ? " (crash)" : "");
}

void VmInstance::create_overlay(const std::string& qemu_img, const std::string& golden, const std::string& overlay) {
    const std::string exe = lookup(qemu_img);
    if (exe.empty()) throw std::runtime_error(qemu_img + " not found (install qemu-utils)");
    if (::access(golden.c_str(), R_OK) != 0) throw std::runtime_error("golden image " + golden + " is not readable");
    // An absolute backing path, so the overlay stays valid wherever it is opened from.
    const std::string backing = fs::absolute(golden).string();
    const std::string log = overlay + ".log";
    const pid_t pid = spawn(exe, {exe, "create", "-q", "-f", "qcow2", "-b", backing, "-F", "qcow2", overlay}, log);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    const std::string output = read_tail(log);
    ::unlink(log.c_str());
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error("qemu-img create overlay " + overlay + " failed: " + output);
}

namespace {

// A value inside a QEMU option list: commas are doubled, or they would start a new option.
std::string qemu_escape(const std::string& value) {
    std::string out;
    for (char c : value) {
        out += c;
        if (c == ',') out += ',';
    }
    return out;
}

}  // namespace

std::string nic_option(const VmConfig& config) {
    // No NIC unless the image asks for one (a network or a network boot); then only user-mode
    // networking (no host interfaces). A network boot without a network gets a NIC that reaches
    // nothing but QEMU's own DHCP and TFTP (restrict=on: no route to the host or beyond).
    if (!config.network && config.tftp_root.empty()) return "none";
    std::string nic = "user,model=virtio-net-pci";
    if (!config.network) nic += ",restrict=on";
    if (!config.tftp_root.empty())
        nic += ",tftp=" + qemu_escape(config.tftp_root) + ",bootfile=" + qemu_escape(config.boot_file);
    return nic;
}

VmInstance::VmInstance(VmConfig config) : config_(std::move(config)) {
    if (config_.runtime_dir.empty()) throw std::runtime_error("VmInstance: runtime_dir is required");
    if (config_.kernel.empty() && config_.golden_image.empty() && config_.tftp_root.empty())
        throw std::runtime_error("VmInstance: no kernel, disk image or network boot tree to boot");
    if (config_.tftp_root.empty() != config_.boot_file.empty())
        throw std::runtime_error("VmInstance: a network boot needs both the TFTP root and the boot file");
    std::error_code ec;
    fs::create_directories(config_.runtime_dir, ec);
    ::chmod(config_.runtime_dir.c_str(), 0700);
    for (const char* f : {"qmp.sock", "vnc.sock", "agent.sock"}) ::unlink((config_.runtime_dir + "/" + f).c_str());

    const std::string exe = lookup(config_.qemu);
    if (exe.empty()) throw std::runtime_error(config_.qemu + " not found (install qemu-system-x86)");
    for (const auto* file : {&config_.kernel, &config_.initrd}) {
        if (!file->empty() && ::access(file->c_str(), R_OK) != 0)
            throw std::runtime_error("VM boot file " + *file + " is not readable");
    }

    std::string disk;
    if (!config_.golden_image.empty()) {
        if (config_.overlay.empty()) config_.overlay = config_.runtime_dir + "/overlay.qcow2";
        if (!fs::exists(config_.overlay, ec)) create_overlay(config_.qemu_img, config_.golden_image, config_.overlay);
        disk = config_.overlay;
    }

    std::vector<std::string> args{
        exe,
        // Threads named by role ("CPU 0/TCG", "worker", ...): top and perf show which one is busy.
        "-name",
        "portico-vm,debug-threads=on",
        "-nodefaults",
        "-no-user-config",
        // TCG's translated-code cache defaults to 1 GiB and fills to ~50 MiB while a desktop runs;
        // 32 MiB keeps a VM's host overhead down with no measurable change in boot time.
        "-machine",
        "q35",
        "-accel",
        config_.accel == "tcg" ? "tcg,tb-size=32" : config_.accel,
        "-m",
        std::to_string(config_.memory_mib),
        "-smp",
        std::to_string(config_.cpus),
        "-vga",
        config_.display,
        "-display",
        "none",
        "-vnc",
        "unix:" + vnc_socket(),
        "-qmp",
        "unix:" + qmp_socket() + ",server=on,wait=off",
        "-serial",
        "file:" + serial_log(),
        // usb-tablet: absolute pointer coordinates, so the guest cursor follows the client's exactly.
        "-device",
        "qemu-xhci",
        "-device",
        "usb-tablet",
        // The guest agent's channel (guest_agent.hpp): a virtio-serial port QEMU joins to agent.sock.
        "-chardev",
        "socket,id=agent,path=" + qemu_escape(agent_socket()) + ",server=on,wait=off",
        "-device",
        "virtio-serial-pci",
        "-device",
        "virtserialport,chardev=agent,name=org.portico.agent.0",
        // seccomp: no new processes, no privilege changes, no obsolete syscalls.
        "-sandbox",
        "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
    };
    args.push_back("-nic");
    args.push_back(nic_option(config_));
    // Network boot: the firmware boots from the NIC (its iPXE ROM) before any disk, at every boot,
    // as a machine set to PXE-boot does.
    if (!config_.tftp_root.empty()) args.insert(args.end(), {"-boot", "order=n"});
    if (!config_.kernel.empty()) {
        args.insert(args.end(), {"-kernel", config_.kernel});
        if (!config_.initrd.empty()) args.insert(args.end(), {"-initrd", config_.initrd});
        if (!config_.append.empty()) args.insert(args.end(), {"-append", config_.append});
    }
    if (!disk.empty()) args.insert(args.end(), {"-drive", "file=" + disk + ",if=virtio,format=qcow2,cache=writeback"});

    pid_ = spawn(exe, args, config_.runtime_dir + "/qemu.log");

    std::string error;
    const auto deadline = Clock::now() + std::chrono::seconds(15);
    // QEMU creates the QMP socket early; connect() retries until then, but give up at once if
    // QEMU exits (bad option, missing file) instead of waiting out the timeout.
    while (!qmp_.connected()) {
        if (auto e = poll_exit()) {
            const std::string why = read_tail(config_.runtime_dir + "/qemu.log");
            throw std::runtime_error("QEMU failed to start (" + e->describe() + "): " + why);
        }
        if (Clock::now() >= deadline) {
            stop(std::chrono::milliseconds(0));
            throw std::runtime_error("QEMU did not open its QMP socket: " + error);
        }
        qmp_.connect(qmp_socket(), std::chrono::milliseconds(200), error);
    }
}

VmInstance::~VmInstance() { stop(); }

std::optional<VmExit> VmInstance::poll_exit() {
    if (exit_ || pid_ < 0) return exit_;
    int status = 0;
    pid_t r;
    while ((r = ::waitpid(pid_, &status, WNOHANG)) < 0 && errno == EINTR) {
    }
    if (r != pid_) return std::nullopt;
    VmExit e;
    if (WIFSIGNALED(status)) {
        e.signaled = true;
        e.status = WTERMSIG(status);
        e.crashed = !stopping_;
    } else {
        e.status = WEXITSTATUS(status);
        e.crashed = e.status != 0;
    }
    exit_ = e;
    qmp_.close();
    return exit_;
}

std::optional<VmExit> VmInstance::wait_exit(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (auto e = poll_exit()) return e;
        if (Clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

VmExit VmInstance::stop(std::chrono::milliseconds grace) {
    if (auto e = poll_exit()) return *e;
    if (pid_ < 0) return {};
    stopping_ = true;
    if (qmp_.connected() && grace.count() > 0) {
        std::string error;
        qmp_.execute("quit", nlohmann::json::object(), std::min(grace, std::chrono::milliseconds(2000)), error);
        if (auto e = wait_exit(grace)) return *e;
    }
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    VmExit e;
    e.signaled = true;
    e.status = SIGKILL;
    exit_ = e;
    qmp_.close();
    return e;
}

bool VmInstance::reset(std::string& error) {
    return qmp_.execute("system_reset", nlohmann::json::object(), std::chrono::milliseconds(5000), error).has_value();
}

}  // namespace portico::host::vm

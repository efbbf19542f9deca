#include "session-host/vm/accel.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace portico::host::vm {

namespace {

bool module_loaded(const std::string& sysfs_root, const char* name) {
    std::error_code ec;
    return std::filesystem::is_directory(sysfs_root + "/module/" + name, ec);
}

// Returns an empty string when usable, else why not.
std::string kvm_problem(const std::string& sysfs_root, const std::string& dev_kvm) {
    const bool vendor = module_loaded(sysfs_root, "kvm_intel") || module_loaded(sysfs_root, "kvm_amd");
    if (!vendor) {
        if (module_loaded(sysfs_root, "kvm_pvm"))
            return "/dev/kvm is provided by kvm_pvm (paravirtual KVM), which hangs stock guest kernels";
        return "no KVM vendor module (kvm_intel or kvm_amd) is loaded";
    }
    const int fd = ::open(dev_kvm.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return dev_kvm + " cannot be opened: " + std::strerror(errno);
    ::close(fd);
    return {};
}

}  // namespace

bool parse_accel_mode(const std::string& text, AccelMode& mode) {
    if (text == "auto")
        mode = AccelMode::auto_;
    else if (text == "kvm")
        mode = AccelMode::kvm;
    else if (text == "tcg")
        mode = AccelMode::tcg;
    else
        return false;
    return true;
}

AccelChoice choose_accelerator(AccelMode mode, const std::string& sysfs_root, const std::string& dev_kvm) {
    AccelChoice c;
    if (mode == AccelMode::tcg) {
        c.ok = true;
        c.accel = "tcg";
        return c;
    }
    const std::string problem = kvm_problem(sysfs_root, dev_kvm);
    if (problem.empty()) {
        c.ok = true;
        c.accel = "kvm";
        return c;
    }
    if (mode == AccelMode::kvm) {
        c.error = "accelerator kvm was requested but KVM is not usable: " + problem;
        return c;
    }
    c.ok = true;
    c.accel = "tcg";
    c.warning = "KVM not usable (" + problem + "); using TCG software emulation, guests run much slower";
    return c;
}

}  // namespace portico::host::vm

#pragma once
// Accelerator choice for VM desktops: KVM when a vendor KVM module is loaded and /dev/kvm opens,
// TCG (software emulation) otherwise. Called once per VM start on the VM manager thread.
// kvm_pvm (a paravirtual /dev/kvm some cloud machines expose) hangs stock guest kernels, so it
// never counts as usable.

#include <string>

namespace portico::host::vm {

enum class AccelMode { auto_, kvm, tcg };

struct AccelChoice {
    bool ok = false;
    std::string accel;    // "kvm" or "tcg" (QEMU's -accel value) when ok
    std::string warning;  // non-empty when auto fell back to TCG: goes to the log and session info
    std::string error;    // when !ok (forced kvm that is not usable)
};

// Parses "auto" | "kvm" | "tcg"; returns false on anything else.
bool parse_accel_mode(const std::string& text, AccelMode& mode);

// `sysfs_root` and `dev_kvm` are parameters so tests can point them at a fake tree.
AccelChoice choose_accelerator(AccelMode mode, const std::string& sysfs_root = "/sys",
                               const std::string& dev_kvm = "/dev/kvm");

}  // namespace portico::host::vm

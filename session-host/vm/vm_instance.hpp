#pragma once
// VmInstance: one QEMU process running one desktop VM, with its private sockets (QMP, VNC) and
// serial log in a per-VM runtime directory, and optionally a qcow2 overlay (linked clone) over a
// golden image. start() and stop() block (QEMU start-up, QMP quit, waiting for exit), so they run
// on the VM manager/session thread, never on network threads. Not thread-safe. QEMU gets
// PR_SET_PDEATHSIG, which follows the *thread* that forked: create VMs on a thread that lives as
// long as the host (a worker pool thread), or QEMU dies when that thread ends.

#include "session-host/vm/qmp_client.hpp"

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

namespace portico::host::vm {

struct VmConfig {
    std::string runtime_dir;    // created 0700 if missing; holds qmp.sock, vnc.sock, agent.sock, serial.log
    std::string accel = "tcg";  // from choose_accelerator()
    int memory_mib = 256;
    int cpus = 1;
    std::string kernel;  // direct kernel boot (optional if a bootable disk is given)
    std::string initrd;
    std::string append = "console=tty0 console=ttyS0";
    std::string golden_image;  // qcow2 golden image (optional)
    std::string overlay;       // this VM's qcow2 overlay; created on the golden image if missing
    bool network = false;      // outside network (user-mode NAT) for the guest; none unless the image asks
    // QEMU's -vga: "std" (a fixed resolution the guest picks), or "virtio" (virtio-vga: QEMU passes
    // a viewer's size request to the guest's driver as its monitor's preferred mode).
    std::string display = "std";
    // Network boot (PXE): the guest's firmware fetches `boot_file` from `tftp_root` through QEMU's
    // built-in TFTP server (read-only, on the VM's private user-mode network), as an installer or
    // rescue image made for netbooting expects. Set both or neither; the VM then boots from it.
    std::string tftp_root;
    std::string boot_file;
    std::string qemu = "qemu-system-x86_64";
    std::string qemu_img = "qemu-img";
};

// QEMU's -nic option for `config`: "none", or user-mode networking (restricted to QEMU's own
// DHCP and TFTP unless the image asked for a network), with the network boot tree if any.
std::string nic_option(const VmConfig& config);

struct VmExit {
    bool crashed = false;  // killed by a signal we did not send, or a non-zero exit status
    int status = 0;        // exit status, or the signal number when signaled
    bool signaled = false;
    std::string describe() const;
};

class VmInstance {
public:
    // Starts QEMU and connects QMP. Throws std::runtime_error saying what failed (nothing is left
    // running then).
    explicit VmInstance(VmConfig config);
    ~VmInstance();  // stop()
    VmInstance(const VmInstance&) = delete;
    VmInstance& operator=(const VmInstance&) = delete;

    pid_t pid() const { return pid_; }
    const VmConfig& config() const { return config_; }
    std::string vnc_socket() const { return config_.runtime_dir + "/vnc.sock"; }
    std::string qmp_socket() const { return config_.runtime_dir + "/qmp.sock"; }
    std::string agent_socket() const { return config_.runtime_dir + "/agent.sock"; }
    std::string serial_log() const { return config_.runtime_dir + "/serial.log"; }
    QmpClient& qmp() { return qmp_; }

    // Non-blocking: the exit, once QEMU has exited (reaped once; later calls return the same).
    std::optional<VmExit> poll_exit();
    // Blocks up to `timeout` for QEMU to exit.
    std::optional<VmExit> wait_exit(std::chrono::milliseconds timeout);
    // QMP "quit", then SIGKILL if QEMU is still there after `grace`. Idempotent.
    VmExit stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));
    // QMP system_reset (hard reset of the guest).
    bool reset(std::string& error);

    // Creates `overlay` as a qcow2 linked clone of `golden`. Throws on failure.
    static void create_overlay(const std::string& qemu_img, const std::string& golden, const std::string& overlay);

private:
    VmConfig config_;
    pid_t pid_ = -1;
    std::optional<VmExit> exit_;
    bool stopping_ = false;
    QmpClient qmp_;
};

}  // namespace portico::host::vm

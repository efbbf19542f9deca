#pragma once
// VmDesktops: the session host's VM desktops — the golden images it offers (--images), the
// broker's desktop pools, booted spares per pooled pool, and each session's disk (pooled: a
// throw-away overlay in the VM's runtime directory; dedicated: the user's overlay, kept under
// <vm-dir>/dedicated/<pool>/<user>.qcow2 until the pool is deleted).
// Every QEMU is forked by one manager thread that lives as long as this object: QEMU gets
// PR_SET_PDEATHSIG, which follows the forking *thread*, so no QEMU outlives the host, and none
// dies early because a short-lived thread started it. Thread-safe: set_pools() is called from a
// network thread and never blocks; acquire() blocks (session workers); a DesktopVm is released on
// its session's capture thread.

#include "protocol/control.hpp"
#include "session-host/vm/accel.hpp"
#include "session-host/vm/vm_instance.hpp"

#include <memory>
#include <string>
#include <vector>

namespace portico::host {

namespace detail {
struct VmDesktopsState;
}

// One running VM handed to one session. Destroying it stops QEMU and cleans the files the
// session's mode says to clean (pooled: everything; dedicated: all but the user's overlay).
class DesktopVm {
public:
    ~DesktopVm();
    DesktopVm(const DesktopVm&) = delete;
    DesktopVm& operator=(const DesktopVm&) = delete;

    vm::VmInstance& instance() { return *vm_; }
    const std::string& runtime_dir() const { return runtime_dir_; }
    const std::string& pool() const { return pool_; }
    bool from_spare() const { return from_spare_; }
    // Stops QEMU now (idempotent); the destructor does the rest.
    vm::VmExit stop();

private:
    friend class VmDesktops;
    friend struct detail::VmDesktopsState;
    DesktopVm() = default;
    std::shared_ptr<detail::VmDesktopsState> owner_;
    std::unique_ptr<vm::VmInstance> vm_;
    std::string runtime_dir_, pool_, dedicated_overlay_;
    bool from_spare_ = false;
};

class VmDesktops {
public:
    struct Options {
        std::string images_dir;  // one subdirectory per image, each with an image.json
        std::string vm_dir;      // run/ (per-VM runtime directories) and dedicated/ (users' overlays)
        vm::AccelMode accel = vm::AccelMode::auto_;
        int max_booting_spares = 1;  // spares booting at once (TCG boots are CPU-bound)
    };

    // Loads the images, removes runtime directories a killed host left behind, picks the
    // accelerator and starts the manager thread. Throws std::runtime_error on an unusable
    // configuration (forced kvm that does not work, a vm_dir that cannot be created).
    explicit VmDesktops(Options options);
    ~VmDesktops();  // shutdown()
    VmDesktops(const VmDesktops&) = delete;
    VmDesktops& operator=(const VmDesktops&) = delete;

    std::vector<std::string> image_names() const;
    bool has_image(const std::string& name) const;
    const std::string& accel() const;
    const std::string& accel_warning() const;  // non-empty when auto fell back to TCG

    // The broker's pool list (all pools, each time). Spares follow it; the files of pools no
    // longer listed are removed once no session uses them. Never blocks.
    void set_pools(std::vector<protocol::control::PoolSpec> pools);

    // A running VM for a desktop session: a spare of the pool when one is booted (or booting),
    // else a fresh boot. Blocks while QEMU starts. Throws std::runtime_error saying why not
    // (unknown image, the user's dedicated desktop already in use, QEMU failed).
    std::unique_ptr<DesktopVm> acquire(const std::string& session_id, const std::string& user,
                                       const protocol::control::DesktopSpec& desktop);

    // Spares of `pool` whose guest is ready (for tests and the benchmark).
    int ready_spares(const std::string& pool) const;

    // The VMs running now, for GET /metrics: those given to sessions (booting for one included),
    // and the spares, ready or still booting. Any thread; never blocks for long.
    struct Census {
        int in_session = 0, spare_ready = 0, spare_booting = 0;
    };
    Census census() const;

    // Stops the spares and the manager thread. Sessions must have ended before (their VMs were
    // forked by the manager thread and die with it).
    void shutdown();

private:
    std::shared_ptr<detail::VmDesktopsState> state_;
};

}  // namespace portico::host

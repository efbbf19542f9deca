#pragma once
// GuestImage: one golden image a session host can run as a VM desktop, read from
// `<images>/<name>/image.json` at start-up (see deploy/guest/README.md for the format). Loaded
// once on the main thread; read-only afterwards.

#include "session-host/vm/vm_instance.hpp"

#include <map>
#include <string>
#include <vector>

namespace portico::host::vm {

struct GuestImage {
    std::string name, dir;
    std::string kernel, initrd, append;  // direct kernel boot (optional)
    std::string disk;                    // golden qcow2 (optional; sessions get overlays on it)
    std::string tftp, bootfile;          // network boot: a PXE tree served read-only (optional)
    std::string ready_serial;            // the guest is ready once this appears on its serial port
    int ready_seconds = 0;               // ... or this long after QEMU started (no marker)
    bool network = false;                // a user-mode NIC (no network unless the image asks)
    std::string display = "std";         // QEMU's -vga: "std", or "virtio" (resolution follows the viewer)

    // A VmConfig for this image with everything but runtime_dir/accel/overlay/memory/cpus set.
    VmConfig config() const;
};

// Image and pool names become directory names: letters, digits, '-', '_', '.', at most 64,
// not "." or "..".
bool valid_image_name(const std::string& name);

// Every subdirectory of `dir` holding an image.json. Unusable ones are left out and described in
// `problems` (one line each). A missing `dir` is a problem, not an exception.
std::map<std::string, GuestImage> load_images(const std::string& dir, std::vector<std::string>& problems);

}  // namespace portico::host::vm

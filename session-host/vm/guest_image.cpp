#include "session-host/vm/guest_image.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace portico::host::vm {

namespace fs = std::filesystem;
using nlohmann::json;

bool valid_image_name(const std::string& name) {
    if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
               c == '.';
    });
}

VmConfig GuestImage::config() const {
    VmConfig c;
    c.kernel = kernel;
    c.initrd = initrd;
    c.append = append;
    c.display = display;
    c.golden_image = disk;
    c.network = network;
    c.tftp_root = tftp;
    c.boot_file = bootfile;
    return c;
}

namespace {

// The network boot tree: `tftp` a readable directory, `bootfile` a relative path inside it (QEMU's
// TFTP server refuses names that climb out of its root, so one that does would only fail later,
// in the guest's firmware, where nobody sees why).
void read_netboot(const json& j, GuestImage& img) {
    auto tftp = j.find("tftp");
    auto boot = j.find("bootfile");
    if (tftp == j.end() && boot == j.end()) return;
    if (tftp == j.end() || boot == j.end()) throw std::runtime_error("'tftp' and 'bootfile' go together");
    if (!tftp->is_string() || tftp->get<std::string>().empty()) throw std::runtime_error("'tftp' must be a directory");
    if (!boot->is_string() || boot->get<std::string>().empty())
        throw std::runtime_error("'bootfile' must be a file name");
    fs::path root = tftp->get<std::string>();
    if (root.is_relative()) root = fs::path(img.dir) / root;
    std::error_code ec;
    if (!fs::is_directory(root, ec) || ::access(root.c_str(), R_OK | X_OK) != 0)
        throw std::runtime_error("'tftp': " + root.string() + " is not a readable directory");
    const fs::path rel = boot->get<std::string>();
    if (rel.is_absolute() || std::any_of(rel.begin(), rel.end(), [](const fs::path& p) { return p == ".."; }))
        throw std::runtime_error("'bootfile' must be a path inside 'tftp'");
    if (::access((root / rel).c_str(), R_OK) != 0)
        throw std::runtime_error("'bootfile': " + (root / rel).string() + " is not readable");
    img.tftp = root.string();
    img.bootfile = rel.string();
}

// Reads one image.json; throws std::runtime_error saying what is wrong.
GuestImage read_image(const fs::path& dir) {
    std::ifstream in(dir / "image.json");
    if (!in) throw std::runtime_error("cannot read image.json");
    json j = json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw std::runtime_error("image.json is not a JSON object");
    GuestImage img;
    img.name = dir.filename().string();
    img.dir = fs::absolute(dir).string();
    auto file = [&](const char* key) -> std::string {
        auto it = j.find(key);
        if (it == j.end()) return {};
        if (!it->is_string() || it->get<std::string>().empty())
            throw std::runtime_error(std::string("'") + key + "' must be a file name");
        fs::path p = it->get<std::string>();
        if (p.is_relative()) p = fs::path(img.dir) / p;
        if (::access(p.c_str(), R_OK) != 0)
            throw std::runtime_error(std::string("'") + key + "': " + p.string() + " is not readable");
        return p.string();
    };
    img.kernel = file("kernel");
    img.initrd = file("initrd");
    img.disk = file("disk");
    read_netboot(j, img);
    if (img.kernel.empty() && img.disk.empty() && img.tftp.empty())
        throw std::runtime_error("needs a 'kernel', a 'disk' or 'tftp' to boot");
    if (!img.kernel.empty() && !img.tftp.empty())
        throw std::runtime_error("'kernel' and 'tftp' are two ways to boot: give one");
    if (!img.initrd.empty() && img.kernel.empty()) throw std::runtime_error("'initrd' needs a 'kernel'");
    if (auto it = j.find("append"); it != j.end()) {
        if (!it->is_string()) throw std::runtime_error("'append' must be a string");
        img.append = it->get<std::string>();
    } else {
        img.append = "console=tty0 console=ttyS0";
    }
    if (auto it = j.find("ready_serial"); it != j.end()) {
        if (!it->is_string()) throw std::runtime_error("'ready_serial' must be a string");
        img.ready_serial = it->get<std::string>();
    }
    if (auto it = j.find("ready_seconds"); it != j.end()) {
        if (!it->is_number_integer() || it->get<int>() < 0 || it->get<int>() > 3600)
            throw std::runtime_error("'ready_seconds' must be 0..3600");
        img.ready_seconds = it->get<int>();
    }
    if (auto it = j.find("display"); it != j.end()) {
        if (!it->is_string() || (*it != "std" && *it != "virtio"))
            throw std::runtime_error("'display' must be \"std\" or \"virtio\"");
        img.display = it->get<std::string>();
    }
    if (auto it = j.find("network"); it != j.end()) {
        if (!it->is_boolean()) throw std::runtime_error("'network' must be true or false");
        img.network = it->get<bool>();
    }
    return img;
}

}  // namespace

std::map<std::string, GuestImage> load_images(const std::string& dir, std::vector<std::string>& problems) {
    std::map<std::string, GuestImage> out;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        problems.push_back("images directory " + dir + " does not exist");
        return out;
    }
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (!entry.is_directory(ec)) continue;
        const std::string name = entry.path().filename().string();
        if (!fs::exists(entry.path() / "image.json", ec)) continue;
        if (!valid_image_name(name)) {
            problems.push_back("image '" + name + "': the name may contain only letters, digits, '-', '_' and '.'");
            continue;
        }
        try {
            out.emplace(name, read_image(entry.path()));
        } catch (const std::exception& e) {
            problems.push_back("image '" + name + "': " + e.what());
        }
    }
    if (ec) problems.push_back("cannot list " + dir + ": " + ec.message());
    return out;
}

}  // namespace portico::host::vm

// Golden image catalog (--images DIR): what makes an image usable, and clear reasons when not.
#include "session-host/vm/guest_image.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace portico::host::vm;

namespace {

struct Dir {
    std::string path;
    Dir() {
        char tmpl[] = "/tmp/portico-images-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~Dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    void write(const std::string& rel, const std::string& text) const {
        fs::create_directories(fs::path(path + "/" + rel).parent_path());
        std::ofstream(path + "/" + rel) << text;
    }
};

bool mentions(const std::vector<std::string>& problems, const std::string& image, const std::string& what) {
    for (const auto& p : problems)
        if (p.find("'" + image + "'") != std::string::npos && p.find(what) != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("images: every subdirectory with a valid image.json is one image", "[images]") {
    Dir d;
    d.write("console/vmlinuz", "k");
    d.write("console/initrd.cpio.gz", "i");
    d.write("console/image.json", R"({"kernel":"vmlinuz","initrd":"initrd.cpio.gz","ready_serial":"READY"})");
    d.write("win/win.qcow2", "q");
    d.write("win/image.json", R"({"disk":"win.qcow2","ready_seconds":60,"display":"virtio"})");
    d.write("baddisplay/vmlinuz", "k");
    d.write("baddisplay/image.json", R"({"kernel":"vmlinuz","display":"cirrus"})");
    d.write("notes/readme.txt", "not an image: no image.json");
    d.write("nokernel/image.json", R"({"append":"x"})");
    d.write("missing/image.json", R"({"kernel":"nope"})");
    d.write("garbage/image.json", "{not json");
    d.write("badready/vmlinuz", "k");
    d.write("badready/image.json", R"({"kernel":"vmlinuz","ready_seconds":-1})");
    d.write("bad name/vmlinuz", "k");
    d.write("bad name/image.json", R"({"kernel":"vmlinuz"})");

    std::vector<std::string> problems;
    auto images = load_images(d.path, problems);
    REQUIRE(images.size() == 2);
    const auto& c = images.at("console");
    CHECK(c.kernel == d.path + "/console/vmlinuz");
    CHECK(c.initrd == d.path + "/console/initrd.cpio.gz");
    CHECK(c.ready_serial == "READY");
    CHECK(c.append.find("console=ttyS0") != std::string::npos);  // default command line
    CHECK(c.disk.empty());
    CHECK(c.config().display == "std");  // the default: the guest picks its resolution
    const auto& w = images.at("win");
    CHECK(w.disk == d.path + "/win/win.qcow2");
    CHECK(w.ready_seconds == 60);
    CHECK_FALSE(w.network);
    auto cfg = w.config();
    CHECK(cfg.golden_image == w.disk);
    CHECK(cfg.kernel.empty());
    CHECK(cfg.display == "virtio");  // the guest's resolution follows the viewer

    CHECK(mentions(problems, "nokernel", "kernel"));
    CHECK(mentions(problems, "missing", "not readable"));
    CHECK(mentions(problems, "garbage", "JSON"));
    CHECK(mentions(problems, "badready", "ready_seconds"));
    CHECK(mentions(problems, "bad name", "letters"));
    CHECK(mentions(problems, "baddisplay", "display"));
    CHECK(problems.size() == 6);
}

TEST_CASE("images: a missing directory is a problem, not a crash, and names are checked", "[images]") {
    std::vector<std::string> problems;
    CHECK(load_images("/nonexistent/portico-images", problems).empty());
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].find("does not exist") != std::string::npos);

    CHECK(valid_image_name("console"));
    CHECK(valid_image_name("win-11_v2.0"));
    CHECK_FALSE(valid_image_name(""));
    CHECK_FALSE(valid_image_name(".."));
    CHECK_FALSE(valid_image_name("a/b"));
    CHECK_FALSE(valid_image_name(std::string(65, 'a')));
}

TEST_CASE("images: a network boot tree (PXE) is an image, served on a NIC that reaches nothing else", "[images]") {
    Dir d;
    d.write("installer/tree/pxelinux.0", "p");
    d.write("installer/image.json", R"({"tftp":"tree","bootfile":"pxelinux.0","ready_seconds":30})");
    d.write("half/tree/pxelinux.0", "p");
    d.write("half/image.json", R"({"tftp":"tree"})");
    d.write("climbs/tree/x", "p");
    d.write("climbs/image.json", R"({"tftp":"tree","bootfile":"../image.json"})");
    d.write("nofile/tree/x", "p");
    d.write("nofile/image.json", R"({"tftp":"tree","bootfile":"pxelinux.0"})");
    d.write("both/vmlinuz", "k");
    d.write("both/tree/pxelinux.0", "p");
    d.write("both/image.json", R"({"kernel":"vmlinuz","tftp":"tree","bootfile":"pxelinux.0"})");

    std::vector<std::string> problems;
    auto images = load_images(d.path, problems);
    REQUIRE(images.size() == 1);
    const auto& i = images.at("installer");
    CHECK(i.tftp == d.path + "/installer/tree");
    CHECK(i.bootfile == "pxelinux.0");
    CHECK(i.kernel.empty());
    CHECK(i.disk.empty());
    auto cfg = i.config();
    CHECK(nic_option(cfg) ==
          "user,model=virtio-net-pci,restrict=on,tftp=" + d.path + "/installer/tree,bootfile=pxelinux.0");
    cfg.network = true;  // the image asked for a network: no restriction
    CHECK(nic_option(cfg) == "user,model=virtio-net-pci,tftp=" + d.path + "/installer/tree,bootfile=pxelinux.0");
    cfg.tftp_root = "/srv/a,b";  // a comma inside a QEMU option value is doubled
    CHECK(nic_option(cfg).find("tftp=/srv/a,,b,bootfile") != std::string::npos);

    CHECK(mentions(problems, "half", "go together"));
    CHECK(mentions(problems, "climbs", "inside 'tftp'"));
    CHECK(mentions(problems, "nofile", "not readable"));
    CHECK(mentions(problems, "both", "give one"));
    CHECK(problems.size() == 4);

    VmConfig none;
    CHECK(nic_option(none) == "none");  // no network, no network boot: no NIC at all
}

// portico-pack: build, sign, inspect, verify and run portable application packages. Packages run
// through portico-pack-runtime (packager/runtime/), which is also the front of every package.

#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "common/log.hpp"
#include "packager/builder.hpp"
#include "packager/format.hpp"
#include "packager/runtime.hpp"

namespace fs = std::filesystem;
using namespace portico;
using namespace portico::pack;

namespace {

int usage() {
    std::cerr <<
        "usage: portico-pack keygen --out KEY\n"
        "       portico-pack build --entry PATH [--entry PATH...] --name NAME --key KEY [--version V]\n"
        "                          [--isolation merged|writecopy|full] [--publisher TEXT] [--add PATH...]\n"
        "                          [--level N] [--runtime PATH] -o OUT.portico\n"
        "       portico-pack capture --name NAME --key KEY [--entry PATH...] [--runtime PATH] -o OUT.portico\n"
        "                          -- INSTALL-COMMAND...\n"
        "       portico-pack inspect PKG [--files]\n"
        "       portico-pack verify PKG [--trust PUBKEY...]\n"
        "       portico-pack run PKG [--isolation MODE] [--entry NAME] [--reset] [--trust PUBKEY...] [-- ARGS...]\n"
        "A package runs directly: ./app.portico [--portico-isolation=MODE] [--portico-reset]\n"
        "  [--portico-entry=NAME] [--portico-trust=KEY.pub] [--portico-inspect] ARGS...\n";
    return 2;
}

struct Args {
    std::vector<std::string> v;
    std::size_t i = 0;
    bool more() const { return i < v.size(); }
    std::string next(const std::string& flag) {
        if (i >= v.size()) throw std::runtime_error(flag + " needs a value");
        return v[i++];
    }
};

std::vector<std::vector<std::uint8_t>> trust_from(const std::vector<std::string>& files) {
    std::vector<std::vector<std::uint8_t>> keys;
    for (auto& f : files) keys.push_back(load_public_key_file(f));
    if (keys.empty()) keys = load_default_trust();
    return keys;
}

int cmd_keygen(Args& a) {
    std::string out;
    while (a.more()) {
        auto f = a.next("");
        if (f == "--out" || f == "-o") out = a.next(f);
        else return usage();
    }
    if (out.empty()) return usage();
    auto key = crypto::Ed25519Key::generate();
    key.save_private_pem(out);
    ::chmod(out.c_str(), 0600);
    std::ofstream(out + ".pub") << format_public_key(key.public_raw());
    std::cout << "private key: " << out << " (mode 0600)\npublic key:  " << out << ".pub\nfingerprint: "
              << key_fingerprint(key.public_raw()) << "\n";
    return 0;
}

int cmd_build(Args& a) {
    BuildOptions o;
    std::string key_path;
    while (a.more()) {
        auto f = a.next("");
        if (f == "--entry") o.entries.push_back(a.next(f));
        else if (f == "--name") o.name = a.next(f);
        else if (f == "--key") key_path = a.next(f);
        else if (f == "--version") o.version = a.next(f);
        else if (f == "--isolation") o.isolation = a.next(f);
        else if (f == "--publisher") o.publisher = a.next(f);
        else if (f == "--icon") o.icon = a.next(f);
        else if (f == "--add") o.add.push_back(a.next(f));
        else if (f == "--level") o.zstd_level = std::stoi(a.next(f));
        else if (f == "--runtime") o.runtime_exe = a.next(f);
        else if (f == "-o" || f == "--out") o.output = a.next(f);
        else return usage();
    }
    if (key_path.empty() || o.output.empty()) return usage();
    if (o.isolation != "merged" && o.isolation != "writecopy" && o.isolation != "full")
        throw std::runtime_error("--isolation must be merged, writecopy or full");
    auto key = crypto::Ed25519Key::load_private_pem(key_path);
    auto t0 = std::chrono::steady_clock::now();
    auto s = build_package(o, key);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    for (auto& m : s.missing) log::warn("unresolved dependency: ", m);
    std::cout << o.output << ": " << s.files << " entries, " << s.chunks << " chunks, " << s.raw_bytes
              << " bytes of files (" << s.unique_bytes << " unique) stored in " << s.stored_bytes
              << " bytes; runtime " << s.runtime_bytes << " bytes; package " << s.package_bytes << " bytes; "
              << ms << " ms\n";
    return s.missing.empty() ? 0 : 3;
}

int cmd_capture(Args& a) {
    BuildOptions o;
    std::string key_path;
    std::vector<std::string> command;
    while (a.more()) {
        auto f = a.next("");
        if (f == "--") { while (a.more()) command.push_back(a.next("")); }
        else if (f == "--entry") o.entries.push_back(a.next(f));
        else if (f == "--name") o.name = a.next(f);
        else if (f == "--key") key_path = a.next(f);
        else if (f == "--version") o.version = a.next(f);
        else if (f == "--isolation") o.isolation = a.next(f);
        else if (f == "--publisher") o.publisher = a.next(f);
        else if (f == "--level") o.zstd_level = std::stoi(a.next(f));
        else if (f == "--runtime") o.runtime_exe = a.next(f);
        else if (f == "-o" || f == "--out") o.output = a.next(f);
        else return usage();
    }
    if (key_path.empty() || o.output.empty() || command.empty()) return usage();
    o.output = fs::absolute(o.output).string();
    auto key = crypto::Ed25519Key::load_private_pem(key_path);
    auto r = capture_package(o, key, command);
    for (auto& p : r.installed) std::cout << "installed: " << p << "\n";
    for (auto& p : r.deleted) std::cout << "deleted:   " << p << "\n";
    for (auto& p : r.excluded) std::cout << "excluded:  " << p << "\n";
    for (auto& e : r.entries) std::cout << "entry:     " << e << "\n";
    for (auto& m : r.stats.missing) log::warn("unresolved dependency: ", m);
    std::cout << o.output << ": " << r.stats.files << " entries, package " << r.stats.package_bytes << " bytes\n";
    return r.stats.missing.empty() ? 0 : 3;
}

int cmd_inspect(const std::string& path, bool files) {
    MappedFile f(path);
    auto p = parse_package(f.bytes());
    auto& m = p.manifest;
    std::cout << "package:    " << m.name << " " << m.version << "\n"
              << "publisher:  " << (m.publisher.empty() ? "(unnamed)" : m.publisher) << ", key sha256 "
              << m.publisher_fpr << "\n"
              << "signature:  valid\n"
              << "isolation:  " << m.isolation << "\n"
              << "created:    " << m.created << "\n"
              << "loader:     " << m.loader << "\n";
    for (auto& e : m.entries) std::cout << "entry:      " << e.name << " = " << e.path << "\n";
    std::uint64_t raw = 0;
    for (auto& c : p.chunks) raw += c.raw_size;
    std::cout << "files:      " << p.files.size() << " entries, " << p.chunks.size() << " chunks, " << raw
              << " bytes unpacked, " << p.chunk_section.size() << " bytes compressed\n"
              << "runtime:    " << p.runtime.size() << " bytes\n";
    if (files)
        for (auto& e : p.files) {
            char mode[8];
            std::snprintf(mode, sizeof mode, "%04o", e.mode);
            std::cout << "fdlw"[int(e.type)] << " " << mode << " " << e.path;
            if (e.type == EntryType::symlink) std::cout << " -> " << e.target;
            if (e.type == EntryType::whiteout) std::cout << " (deleted)";
            if (e.type == EntryType::file) std::cout << " (" << e.size << " bytes, " << p.chunks[e.chunk].hex().substr(0, 12) << ")";
            std::cout << "\n";
        }
    return 0;
}

int cmd_verify(Args& a) {
    std::string path;
    std::vector<std::string> trust;
    while (a.more()) {
        auto f = a.next("");
        if (f == "--trust") trust.push_back(a.next(f));
        else if (path.empty()) path = f;
        else return usage();
    }
    if (path.empty()) return usage();
    MappedFile f(path);
    auto p = parse_package(f.bytes());
    auto keys = trust_from(trust);
    if (!keys.empty()) check_trust(p, keys);
    std::cout << path << ": OK: " << p.manifest.name << " " << p.manifest.version << " signed by "
              << p.manifest.publisher_fpr << (keys.empty() ? " (no trust list configured: integrity only)" : " (trusted)")
              << "\n";
    return 0;
}

int cmd_run(Args& a) {
    RunOptions o;
    std::string path;
    while (a.more()) {
        auto f = a.next("");
        if (f == "--") {
            while (a.more()) o.args.push_back(a.next(""));
        } else if (f == "--isolation") o.isolation = a.next(f);
        else if (f == "--entry") o.entry = a.next(f);
        else if (f == "--reset") o.reset = true;
        else if (f == "--trust") o.trust_files.push_back(a.next(f));
        else if (path.empty()) path = f;
        else o.args.push_back(f);
    }
    if (path.empty()) return usage();
    run_package(path, o);
}

}  // namespace

int main(int argc, char** argv) {
    log::set_component("portico-pack");
    try {
        if (argc < 2) return usage();
        std::string cmd = argv[1];
        Args a{std::vector<std::string>(argv + 2, argv + argc)};
        if (cmd == "keygen") return cmd_keygen(a);
        if (cmd == "build") return cmd_build(a);
        if (cmd == "capture") return cmd_capture(a);
        if (cmd == "inspect") {
            if (a.v.empty()) return usage();
            return cmd_inspect(a.v[0], a.v.size() > 1 && a.v[1] == "--files");
        }
        if (cmd == "verify") return cmd_verify(a);
        if (cmd == "run") return cmd_run(a);
        return usage();
    } catch (const PackageError& e) {
        std::cerr << "portico-pack: REFUSED: " << e.what() << "\n";
        return 65;
    } catch (const std::exception& e) {
        std::cerr << "portico-pack: error: " << e.what() << "\n";
        return 1;
    }
}

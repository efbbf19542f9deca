// portico-pack: build, sign, inspect, verify and run portable application packages. Packages run
// through portico-pack-runtime (packager/runtime/), which is also the front of every package.

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "common/cli.hpp"
#include "common/log.hpp"
#include "packager/builder.hpp"
#include "packager/format.hpp"
#include "packager/runtime.hpp"

namespace fs = std::filesystem;
using namespace portico;
using namespace portico::pack;

namespace {

const char* const kUsage =
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

// A bad command line: the reason (if any) and the usage, exit 2.
int usage(const std::string& why = "") {
    if (!why.empty()) std::cerr << "portico-pack: " << why << "\n";
    std::cerr << kUsage;
    return 2;
}

// One command's options (CLI11 through common/cli.hpp); `help` is set by -h/--help.
struct Command {
    bool help = false;
    CLI::App app;
    explicit Command(const std::string& name) : app("", "portico-pack " + name) {
        cli::setup(app, &help);
        app.description(kUsage);
    }
};

// The words after "--" (a command to run); `before` keeps the ones before it.
std::vector<std::string> split_at_dashes(std::vector<std::string>& before) {
    auto dashes = std::find(before.begin(), before.end(), "--");
    std::vector<std::string> after(dashes == before.end() ? dashes : dashes + 1, before.end());
    before.erase(dashes, before.end());
    return after;
}

// The options build and capture share.
void add_build_options(CLI::App& app, BuildOptions& o, std::string& key_path) {
    app.add_option("--entry", o.entries, "a program the package starts (repeatable)")->option_text("PATH");
    app.add_option("--name", o.name, "the package's name")->option_text("NAME");
    app.add_option("--key", key_path, "the publisher's private key (portico-pack keygen)")->option_text("KEY");
    app.add_option("--version", o.version, "the package's version")->option_text("V");
    app.add_option("--isolation", o.isolation, "merged | writecopy | full")->option_text("MODE");
    app.add_option("--publisher", o.publisher, "the publisher's name")->option_text("TEXT");
    app.add_option("--level", o.zstd_level, "zstd level")->option_text("N");
    app.add_option("--runtime", o.runtime_exe, "the portico-pack-runtime to put in front")->option_text("PATH");
    app.add_option("-o,--out", o.output, "the package file to write")->option_text("OUT.portico");
}

std::vector<std::vector<std::uint8_t>> trust_from(const std::vector<std::string>& files) {
    std::vector<std::vector<std::uint8_t>> keys;
    for (auto& f : files) keys.push_back(load_public_key_file(f));
    if (keys.empty()) keys = load_default_trust();
    return keys;
}

int cmd_keygen(std::vector<std::string> args) {
    Command c("keygen");
    std::string out;
    c.app.add_option("-o,--out", out, "where the private key goes (its public key: KEY.pub)")->option_text("KEY");
    if (auto r = cli::parse(c.app, args); !r) return usage(r.error().message);
    if (c.help) return std::cout << c.app.help(), 0;
    if (out.empty()) return usage("--out is required");
    auto key = crypto::Ed25519Key::generate();
    key.save_private_pem(out);
    ::chmod(out.c_str(), 0600);
    std::ofstream(out + ".pub") << format_public_key(key.public_raw());
    std::cout << "private key: " << out << " (mode 0600)\npublic key:  " << out
              << ".pub\nfingerprint: " << key_fingerprint(key.public_raw()) << "\n";
    return 0;
}

int cmd_build(std::vector<std::string> args) {
    Command c("build");
    BuildOptions o;
    std::string key_path;
    add_build_options(c.app, o, key_path);
    c.app.add_option("--icon", o.icon, "the package's icon")->option_text("PATH");
    c.app.add_option("--add", o.add, "another file or directory to include (repeatable)")->option_text("PATH");
    if (auto r = cli::parse(c.app, args); !r) return usage(r.error().message);
    if (c.help) return std::cout << c.app.help(), 0;
    if (key_path.empty() || o.output.empty()) return usage("--key and --out are required");
    if (o.isolation != "merged" && o.isolation != "writecopy" && o.isolation != "full")
        throw std::runtime_error("--isolation must be merged, writecopy or full");
    auto key = crypto::Ed25519Key::load_private_pem(key_path);
    auto t0 = std::chrono::steady_clock::now();
    auto s = build_package(o, key);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    for (auto& m : s.missing) log::warn("unresolved dependency: ", m);
    std::cout << o.output << ": " << s.files << " entries, " << s.chunks << " chunks, " << s.raw_bytes
              << " bytes of files (" << s.unique_bytes << " unique) stored in " << s.stored_bytes << " bytes; runtime "
              << s.runtime_bytes << " bytes; package " << s.package_bytes << " bytes; " << ms << " ms\n";
    return s.missing.empty() ? 0 : 3;
}

int cmd_capture(std::vector<std::string> args) {
    Command c("capture");
    BuildOptions o;
    std::string key_path;
    add_build_options(c.app, o, key_path);
    std::vector<std::string> command = split_at_dashes(args);
    if (auto r = cli::parse(c.app, args); !r) return usage(r.error().message);
    if (c.help) return std::cout << c.app.help(), 0;
    if (key_path.empty() || o.output.empty() || command.empty())
        return usage("--key, --out and the install command after -- are required");
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
            if (e.type == EntryType::file)
                std::cout << " (" << e.size << " bytes, " << p.chunks[e.chunk].hex().substr(0, 12) << ")";
            std::cout << "\n";
        }
    return 0;
}

int cmd_inspect(std::vector<std::string> args) {
    Command c("inspect");
    std::string path;
    bool files = false;
    c.app.add_option("package", path, "the package file")->option_text("PKG");
    c.app.add_flag("--files", files, "list every file");
    if (auto r = cli::parse(c.app, args); !r) return usage(r.error().message);
    if (c.help) return std::cout << c.app.help(), 0;
    if (path.empty()) return usage("give the package to inspect");
    return cmd_inspect(path, files);
}

int cmd_verify(std::vector<std::string> args) {
    Command c("verify");
    std::string path;
    std::vector<std::string> trust;
    c.app.add_option("package", path, "the package file")->option_text("PKG");
    c.app.add_option("--trust", trust, "a trusted publisher's public key (repeatable)")->option_text("PUBKEY");
    if (auto r = cli::parse(c.app, args); !r) return usage(r.error().message);
    if (c.help) return std::cout << c.app.help(), 0;
    if (path.empty()) return usage("give the package to verify");
    MappedFile f(path);
    auto p = parse_package(f.bytes());
    auto keys = trust_from(trust);
    if (!keys.empty()) check_trust(p, keys);
    std::cout << path << ": OK: " << p.manifest.name << " " << p.manifest.version << " signed by "
              << p.manifest.publisher_fpr
              << (keys.empty() ? " (no trust list configured: integrity only)" : " (trusted)") << "\n";
    return 0;
}

int cmd_run(std::vector<std::string> args) {
    Command c("run");
    RunOptions o;
    std::string path;
    c.app.add_option("package", path, "the package file")->option_text("PKG");
    c.app.add_option("--isolation", o.isolation, "merged | writecopy | full (default: the package's)")
        ->option_text("MODE");
    c.app.add_option("--entry", o.entry, "which entry to start (default: the first)")->option_text("NAME");
    c.app.add_flag("--reset", o.reset, "start from the package's files, forgetting earlier changes");
    c.app.add_option("--trust", o.trust_files, "a trusted publisher's public key (repeatable)")->option_text("PUBKEY");
    // Words no option takes, and all after "--", are the program's own arguments.
    std::vector<std::string> after = split_at_dashes(args);
    auto extras = cli::parse_known(c.app, args);
    if (!extras) return usage(extras.error().message);
    if (c.help) return std::cout << c.app.help(), 0;
    o.args = std::move(*extras);
    o.args.insert(o.args.end(), after.begin(), after.end());
    if (path.empty()) return usage("give the package to run");
    run_package(path, o);
}

}  // namespace

int main(int argc, char** argv) {
    log::set_component("portico-pack");
    try {
        if (argc < 2) return usage();
        std::string cmd = argv[1];
        std::vector<std::string> args(argv + 2, argv + argc);
        if (cmd == "--help" || cmd == "-h") return std::cout << kUsage, 0;
        if (cmd == "keygen") return cmd_keygen(args);
        if (cmd == "build") return cmd_build(args);
        if (cmd == "capture") return cmd_capture(args);
        if (cmd == "inspect") return cmd_inspect(args);
        if (cmd == "verify") return cmd_verify(args);
        if (cmd == "run") return cmd_run(args);
        return usage("unknown command '" + cmd + "'");
    } catch (const PackageError& e) {
        std::cerr << "portico-pack: REFUSED: " << e.what() << "\n";
        return 65;
    } catch (const std::exception& e) {
        std::cerr << "portico-pack: error: " << e.what() << "\n";
        return 1;
    }
}

#include "packager/runtime.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "common/log.hpp"

namespace fs = std::filesystem;

namespace portico::pack {
namespace {

std::string env_or(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

void write_file(const std::string& path, const std::string& text) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
    auto n = ::write(fd, text.data(), text.size());
    int err = errno;
    ::close(fd);
    if (n != ssize_t(text.size())) throw std::runtime_error("cannot write " + path + ": " + std::strerror(err));
}

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "portico-pack: sandbox: %s: %s\n", what.c_str(), std::strerror(errno));
    ::_exit(126);
}

void must_mount(const char* src, const std::string& dst, const char* type, unsigned long flags,
                const char* data = nullptr) {
    if (::mount(src, dst.c_str(), type, flags, data) != 0)
        die(std::string("mount ") + (type ? type : "bind") + " " + (src ? src : "") + " on " + dst);
}

bool mount_overlay(const std::string& lower, const std::string& upper, const std::string& work,
                   const std::string& target) {
    fs::create_directories(upper);
    fs::create_directories(work);
    auto opts = "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work;
    // userxattr lets an unprivileged user namespace own the overlay (kernel >= 5.11).
    if (::mount("overlay", target.c_str(), "overlay", 0, (opts + ",userxattr").c_str()) == 0) return true;
    return ::mount("overlay", target.c_str(), "overlay", 0, opts.c_str()) == 0;
}

void bind_host(const std::string& host, const std::string& target) {
    fs::create_directories(target);
    must_mount(host.c_str(), target, nullptr, MS_BIND | MS_REC);
}

void mount_proc(const std::string& target) {
    fs::create_directories(target);
    if (::mount("proc", target.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
        bind_host("/proc", target);
}

bool is_under(const std::string& path, const std::string& dir) {
    return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                           (dir == "/" || path[dir.size()] == '/'));
}

// writecopy: the host tree appears read-only with writes copied up into the sandbox. One overlay
// per directory, splitting the directories on the way to the sandbox itself, because overlayfs
// refuses an upper dir that lies inside its own lower dir.
void overlay_host_dir(const std::string& host, const std::string& target, const std::string& sb,
                      const std::string& pkgroot, const std::string& mode_dir) {
    auto rel = host == "/" ? std::string() : host.substr(1);
    std::error_code ec;
    if (!is_under(sb, host)) {
        fs::create_directories(target);
        std::string lower = host;
        if (fs::is_directory(pkgroot + host, ec) && !fs::is_symlink(pkgroot + host, ec))
            lower = pkgroot + host + ":" + host;
        if (mount_overlay(lower, mode_dir + "/upper/" + rel, mode_dir + "/work/" + rel, target)) return;
        // A directory holding mounts we may not clone (locked in the user namespace, e.g. a
        // container's bind mounts) cannot be an overlay lower dir as a whole: split it too.
        if (host == "/") die("overlay of /");
    } else if (host == sb) {  // the sandbox itself stays hidden
        fs::create_directories(target);
        return;
    }
    fs::create_directories(target);
    if (host != "/") {
        // New files directly in a split directory must persist too: back it with its own dir
        // (kept apart from the overlay uppers, because the mount-point stubs made below would
        // otherwise shadow real files in a later run where this directory is not split).
        auto backing = mode_dir + "/split/" + rel;
        fs::create_directories(backing);
        must_mount(backing.c_str(), target, nullptr, MS_BIND);
    }
    // Union of host and package names; the package wins for non-directories.
    std::set<std::string> names;
    for (auto& de : fs::directory_iterator(host, fs::directory_options::skip_permission_denied, ec))
        names.insert(de.path().filename().string());
    for (auto& de : fs::directory_iterator(pkgroot + host, ec)) names.insert(de.path().filename().string());
    for (auto& name : names) {
        auto child = (host == "/" ? "" : host) + "/" + name;
        auto t = target + "/" + name;
        if (host == "/") {
            if (name == "proc") { mount_proc(t); continue; }
            if (name == "dev" || name == "sys" || name == "tmp" || name == "run") { bind_host(child, t); continue; }
        }
        auto pkg = pkgroot + child;
        bool pkg_has = fs::exists(fs::symlink_status(pkg, ec));
        bool pkg_dir = pkg_has && fs::is_directory(fs::symlink_status(pkg, ec));
        auto hst = fs::symlink_status(child, ec);
        bool host_has = fs::exists(hst);
        std::string src = child;
        if (pkg_has && !pkg_dir) src = pkg;
        else if (!host_has) src = pkg;
        auto st = fs::symlink_status(src, ec);
        fs::remove(t, ec);
        if (fs::is_symlink(st)) {
            fs::create_symlink(fs::read_symlink(src), t);
        } else if (fs::is_directory(st)) {
            if (host_has && fs::is_directory(hst)) overlay_host_dir(child, t, sb, pkgroot, mode_dir);
            else bind_host(src, t);
        } else if (fs::exists(st)) {
            std::ofstream(t).close();
            if (::mount(src.c_str(), t.c_str(), nullptr, MS_BIND, nullptr) == 0)
                ::mount(nullptr, t.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr);
        }
    }
}

void pivot_into(const std::string& newroot) {
    if (::chdir(newroot.c_str()) != 0) die("chdir " + newroot);
    if (::syscall(SYS_pivot_root, ".", ".") != 0) die("pivot_root");
    if (::umount2(".", MNT_DETACH) != 0) die("detach old root");
    if (::chdir("/") != 0) die("chdir /");
}

std::string resolve_in_root(const std::string& root, const std::string& path, int depth = 0) {
    if (depth > 40) return root + path;
    std::string cur;
    std::size_t s = 1;
    while (s <= path.size()) {
        auto e = path.find('/', s);
        if (e == std::string::npos) e = path.size();
        auto comp = path.substr(s, e - s);
        s = e + 1;
        if (comp.empty() || comp == ".") continue;
        if (comp == "..") { auto k = cur.rfind('/'); cur = k == std::string::npos ? "" : cur.substr(0, k); continue; }
        auto next = cur + "/" + comp;
        std::error_code ec;
        if (fs::is_symlink(root + next, ec)) {
            auto t = fs::read_symlink(root + next).string();
            auto rest = s <= path.size() ? path.substr(s - 1) : std::string();
            return resolve_in_root(root, (t[0] == '/' ? t : cur + "/" + t) + rest, depth + 1);
        }
        cur = next;
    }
    return root + cur;
}

std::string join(const std::vector<std::string>& v, const std::string& prefix) {
    std::string out;
    for (auto& s : v) out += (out.empty() ? "" : ":") + prefix + s;
    return out;
}

// pid 1 of the new pid namespace: starts the app and reaps until it exits, so the app itself
// keeps normal signal semantics (pid 1 would ignore SIGINT/SIGTERM without handlers).
[[noreturn]] void init_and_exec(const std::vector<std::string>& argv) {
    pid_t app = ::fork();
    if (app == 0) {
        std::vector<char*> cargv;
        for (auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
        cargv.push_back(nullptr);
        ::execv(cargv[0], cargv.data());
        std::fprintf(stderr, "portico-pack: cannot execute %s: %s\n", argv[0].c_str(), std::strerror(errno));
        ::_exit(127);
    }
    int status = 0;
    for (;;) {
        pid_t w = ::waitpid(-1, &status, 0);
        if (w == app) break;
        if (w < 0 && errno != EINTR) ::_exit(126);
    }
    if (WIFSIGNALED(status)) ::_exit(128 + WTERMSIG(status));
    ::_exit(WEXITSTATUS(status));
}

}  // namespace

RuntimePaths RuntimePaths::from_env() {
    auto home = env_or("HOME", "/tmp");
    return {env_or("XDG_CACHE_HOME", home + "/.cache") + "/portico",
            env_or("XDG_DATA_HOME", home + "/.local/share") + "/portico/sandbox"};
}

std::string sandbox_dir(const RuntimePaths& paths, const std::string& name) { return paths.sandbox + "/" + name; }

std::vector<std::vector<std::uint8_t>> load_default_trust() {
    std::vector<std::vector<std::uint8_t>> keys;
    auto dir = env_or("XDG_CONFIG_HOME", env_or("HOME", "/tmp") + "/.config") + "/portico/trusted-keys";
    std::error_code ec;
    for (auto& de : fs::directory_iterator(dir, ec))
        if (de.path().extension() == ".pub") keys.push_back(load_public_key_file(de.path().string()));
    return keys;
}

std::string ensure_extracted(const Package& p, const std::string& cache_dir) {
    auto sig = std::span<const std::uint8_t>(p.chunk_section.data() + p.chunk_section.size(), kSignatureSize);
    auto id = crypto::sha256_hex(sig).substr(0, 32);
    auto root = cache_dir + "/roots/" + p.manifest.name + "-" + id;
    if (fs::exists(root + "/.portico-complete")) return root;

    auto chunks = cache_dir + "/chunks";
    fs::create_directories(chunks);
    fs::create_directories(cache_dir + "/roots");
    auto tmp = root + ".tmp." + std::to_string(::getpid());
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    std::set<std::uint32_t> done;
    for (auto& f : p.files) {
        auto dst = tmp + "/" + f.path;
        fs::create_directories(fs::path(dst).parent_path());
        if (f.type == EntryType::dir) {
            fs::create_directories(dst);
            ::chmod(dst.c_str(), (f.mode & 0777) | 0700);
            continue;
        }
        if (f.type == EntryType::symlink) {
            fs::create_symlink(f.target, dst);
            continue;
        }
        auto& c = p.chunks[f.chunk];
        auto cpath = chunks + "/" + c.hex();
        if (!done.count(f.chunk) && !fs::exists(cpath)) {
            auto comp = p.chunk_bytes(c);
            auto fsize = ZSTD_getFrameContentSize(comp.data(), comp.size());
            if (fsize != c.raw_size)
                throw PackageError("chunk " + c.hex().substr(0, 16) + " (" + f.path + ") has a bad zstd frame header");
            std::vector<std::uint8_t> raw(c.raw_size);
            auto n = ZSTD_decompressDCtx(dctx, raw.data(), raw.size(), comp.data(), comp.size());
            if (ZSTD_isError(n) || n != c.raw_size)
                throw PackageError("chunk " + c.hex().substr(0, 16) + " (" + f.path + ") does not decompress");
            if (crypto::sha256_hex(raw) != c.hex())
                throw PackageError("chunk " + c.hex().substr(0, 16) + " (" + f.path + ") content does not match its hash");
            auto ctmp = cpath + ".tmp." + std::to_string(::getpid());
            {
                std::ofstream out(ctmp, std::ios::binary | std::ios::trunc);
                out.write(reinterpret_cast<const char*>(raw.data()), long(raw.size()));
                if (!out) throw std::runtime_error("cannot write chunk cache " + ctmp);
            }
            ::chmod(ctmp.c_str(), 0555);
            fs::rename(ctmp, cpath);
        }
        done.insert(f.chunk);
        if (::link(cpath.c_str(), dst.c_str()) != 0) {
            fs::copy_file(cpath, dst);
            ::chmod(dst.c_str(), f.mode & 0777);
        }
    }
    ZSTD_freeDCtx(dctx);
    for (auto d : {"proc", "dev", "tmp"})
        if (!fs::exists(tmp + "/" + d) && !fs::is_symlink(tmp + "/" + d)) fs::create_directory(tmp + "/" + d);
    std::ofstream(tmp + "/.portico-complete").close();
    std::error_code ec;
    fs::rename(tmp, root, ec);
    if (ec) fs::remove_all(tmp);  // another launch finished first; its root is identical
    return root;
}

int run_package(const std::string& package_path, const RunOptions& opt) {
    std::string root;
    Manifest m;
    {
        MappedFile file(package_path);
        auto p = parse_package(file.bytes());
        if (!opt.trusted.empty()) check_trust(p, opt.trusted);
        root = ensure_extracted(p, opt.paths.cache);
        m = p.manifest;
    }
    auto mode = opt.isolation.empty() ? m.isolation : opt.isolation;
    if (mode != "merged" && mode != "writecopy" && mode != "full")
        throw std::runtime_error("unknown isolation mode '" + mode + "' (merged|writecopy|full)");
    const EntryPoint* entry = &m.entries.front();
    if (!opt.entry.empty()) {
        entry = nullptr;
        for (auto& e : m.entries)
            if (e.name == opt.entry || e.path == opt.entry) entry = &e;
        if (!entry) throw std::runtime_error("package has no entry point '" + opt.entry + "'");
    }
    auto sb = sandbox_dir(opt.paths, m.name);
    if (opt.reset) fs::remove_all(sb);
    fs::create_directories(sb);
    sb = fs::canonical(sb).string();

    std::vector<std::string> argv;
    if (mode == "merged") {
        std::vector<std::string> libdirs;
        for (auto& d : m.library_path) libdirs.push_back(resolve_in_root(root, d));
        argv = {resolve_in_root(root, m.loader), "--inhibit-cache", "--library-path", join(libdirs, ""),
                "--argv0", entry->path, resolve_in_root(root, entry->path)};
    } else {
        argv = {m.loader, "--inhibit-cache", "--library-path", join(m.library_path, ""), "--argv0",
                entry->path, entry->path};
    }
    for (auto& a : opt.args) argv.push_back(a);
    return sandbox_exec(mode, root, sb, argv, m.name);
}

int sandbox_exec(const std::string& mode, const std::string& root, const std::string& sb,
                 const std::vector<std::string>& argv, const std::string& name) {
    uid_t uid = ::getuid();
    gid_t gid = ::getgid();
    auto cwd = fs::current_path().string();
    // The namespaces are made in a child, so the caller (e.g. capture, which reads the sandbox
    // afterwards) keeps its own view: pivot_root would otherwise move the caller's root too.
    pid_t outer = ::fork();
    if (outer < 0) throw std::runtime_error("fork failed");
    if (outer > 0) {
        ::signal(SIGINT, SIG_IGN);
        ::signal(SIGQUIT, SIG_IGN);
        int status = 0;
        while (::waitpid(outer, &status, 0) < 0 && errno == EINTR) {}
        if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
        return WEXITSTATUS(status);
    }
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID) != 0) {
        std::fprintf(stderr, "portico-pack: cannot create user/mount/pid namespaces (unprivileged user "
                             "namespaces disabled?): %s\n", std::strerror(errno));
        ::_exit(126);
    }
    try {
        write_file("/proc/self/setgroups", "deny");
        write_file("/proc/self/uid_map", std::to_string(uid) + " " + std::to_string(uid) + " 1");
        write_file("/proc/self/gid_map", std::to_string(gid) + " " + std::to_string(gid) + " 1");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "portico-pack: %s\n", e.what());
        ::_exit(126);
    }

    pid_t child = ::fork();
    if (child < 0) die("fork");
    if (child == 0) {
        try {
            must_mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE);
            auto mnt = sb + "/mnt";
            fs::create_directories(mnt);
            if (mode == "full") {
                if (!mount_overlay(root, sb + "/full/upper", sb + "/full/work", mnt))
                    die("overlayfs in a user namespace is unavailable (needs kernel >= 5.11)");
                bind_host("/dev", mnt + "/dev");
                bind_host("/tmp", mnt + "/tmp");
                mount_proc(mnt + "/proc");
                auto home = env_or("HOME", "/tmp");
                fs::create_directories(mnt + home);
                pivot_into(mnt);
                if (::chdir(home.c_str()) != 0) (void)::chdir("/");
            } else if (mode == "writecopy") {
                must_mount("tmpfs", mnt, "tmpfs", 0, "mode=0755");
                overlay_host_dir("/", mnt, sb, root, sb + "/writecopy");
                pivot_into(mnt);
                if (::chdir(cwd.c_str()) != 0) (void)::chdir("/");
            } else {
                mount_proc("/proc");
            }
        } catch (const std::exception& e) {
            std::fprintf(stderr, "portico-pack: sandbox setup failed: %s\n", e.what());
            ::_exit(126);
        }
        ::setenv("PORTICO_PACKAGE", name.c_str(), 1);
        ::setenv("PORTICO_ISOLATION", mode.c_str(), 1);
        init_and_exec(argv);
    }
    ::signal(SIGINT, SIG_IGN);
    ::signal(SIGQUIT, SIG_IGN);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    if (WIFSIGNALED(status)) ::_exit(128 + WTERMSIG(status));
    ::_exit(WEXITSTATUS(status));
}

}  // namespace portico::pack

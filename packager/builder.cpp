#include "packager/builder.hpp"

#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zstd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <unordered_map>

#include "common/log.hpp"
#include "packager/elf.hpp"
#include "packager/runtime.hpp"

namespace fs = std::filesystem;

namespace portico::pack {
namespace {

std::vector<std::string> split_path(const std::string& p) {
    std::vector<std::string> out;
    std::size_t s = 0;
    while (s <= p.size()) {
        auto e = p.find('/', s);
        if (e == std::string::npos) e = p.size();
        auto c = p.substr(s, e - s);
        if (c == "..") {
            if (!out.empty()) out.pop_back();
        } else if (!c.empty() && c != ".") {
            out.push_back(c);
        }
        s = e + 1;
    }
    return out;
}

std::vector<std::uint8_t> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::array<std::uint8_t, 32> unhex32(const std::string& h) {
    std::array<std::uint8_t, 32> out{};
    for (int i = 0; i < 32; ++i) out[i] = std::uint8_t(std::stoi(h.substr(2 * i, 2), nullptr, 16));
    return out;
}

// overlayfs marks a directory that replaced a deleted one as opaque (user.* xattr in a user
// namespace mount with userxattr, trusted.* otherwise).
bool is_opaque_dir(const std::string& path) {
    char v[4] = {};
    for (auto name : {"user.overlay.opaque", "trusted.overlay.opaque"})
        if (::lgetxattr(path.c_str(), name, v, sizeof v) > 0 && v[0] == 'y') return true;
    return false;
}

}  // namespace

void PathCollector::add_path(const std::string& abs_path, int depth) {
    if (depth > 40) throw std::runtime_error("too many levels of symbolic links at " + abs_path);
    auto comps = split_path(abs_path);
    std::string rel;
    for (std::size_t i = 0; i < comps.size(); ++i) {
        rel = rel.empty() ? comps[i] : rel + "/" + comps[i];
        struct stat st {};
        auto host = sysroot_ + "/" + rel;
        if (::lstat(host.c_str(), &st) != 0)
            throw std::runtime_error("cannot stat " + host + ": " + std::strerror(errno));
        if (S_ISLNK(st.st_mode)) {
            char buf[4096];
            auto n = ::readlink(host.c_str(), buf, sizeof buf - 1);
            if (n < 0) throw std::runtime_error("cannot read link " + host);
            std::string target(buf, std::size_t(n));
            entries_[rel] = FileEntry{rel, EntryType::symlink, 0777, 0, 0, target};
            std::string parent = "/";
            for (std::size_t k = 0; k < i; ++k) parent += comps[k] + "/";
            std::string resolved = target[0] == '/' ? target : parent + target;
            for (std::size_t k = i + 1; k < comps.size(); ++k) resolved += "/" + comps[k];
            return add_path(resolved, depth + 1);
        }
        if (S_ISDIR(st.st_mode)) {
            if (!entries_.count(rel)) entries_[rel] = FileEntry{rel, EntryType::dir, st.st_mode & 07777, 0, 0, {}};
        } else if (S_ISREG(st.st_mode)) {
            if (i + 1 != comps.size()) throw std::runtime_error(host + " is not a directory");
            entries_[rel] = FileEntry{rel, EntryType::file, st.st_mode & 07777, 0, std::uint64_t(st.st_size), {}};
        } else {
            log::warn("skipping special file ", host);
            return;
        }
    }
}

void PathCollector::add_tree(const std::string& abs_dir) {
    add_path(abs_dir);
    struct stat st {};
    if (::stat((sysroot_ + abs_dir).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return;
    for (auto& de :
         fs::recursive_directory_iterator(sysroot_ + abs_dir, fs::directory_options::skip_permission_denied)) {
        auto p = de.path().string().substr(sysroot_.size());
        if (de.is_symlink() || de.is_regular_file() || de.is_directory()) {
            try {
                add_path(p);
            } catch (const std::exception& e) {
                log::warn("skipping ", p, ": ", e.what());
            }
        }
    }
}

BuildStats write_package(const BuildOptions& opt, const crypto::Ed25519Key& key,
                         const std::map<std::string, FileEntry>& entries, const std::string& file_root,
                         const std::string& loader, const std::vector<std::string>& library_path,
                         const std::map<std::string, std::string>& sources) {
    BuildStats stats;
    std::vector<ChunkRef> chunks;
    std::vector<FileEntry> files;
    std::vector<std::uint8_t> section;
    std::unordered_map<std::string, std::uint32_t> by_hash;
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, opt.zstd_level);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0);  // SHA-256 already covers content

    for (auto& [rel, e0] : entries) {
        FileEntry e = e0;
        if (e.type == EntryType::file) {
            auto src = sources.find(rel);
            auto data = read_file(src != sources.end() ? src->second : file_root + "/" + rel);
            e.size = data.size();
            auto h = crypto::sha256_hex(data);
            stats.raw_bytes += data.size();
            auto it = by_hash.find(h);
            if (it == by_hash.end()) {
                std::vector<std::uint8_t> out(ZSTD_compressBound(data.size()));
                auto n = ZSTD_compress2(cctx, out.data(), out.size(), data.data(), data.size());
                if (ZSTD_isError(n)) throw std::runtime_error(std::string("zstd: ") + ZSTD_getErrorName(n));
                ChunkRef c;
                c.hash = unhex32(h);
                c.offset = section.size();
                c.comp_size = n;
                c.raw_size = data.size();
                section.insert(section.end(), out.begin(), out.begin() + long(n));
                stats.unique_bytes += data.size();
                it = by_hash.emplace(h, std::uint32_t(chunks.size())).first;
                chunks.push_back(c);
            }
            e.chunk = it->second;
        }
        files.push_back(std::move(e));
    }
    ZSTD_freeCCtx(cctx);

    Manifest m;
    m.name = opt.name;
    m.version = opt.version;
    for (auto& p : opt.entries) m.entries.push_back({fs::path(p).filename().string(), p});
    m.isolation = opt.isolation;
    m.publisher = opt.publisher;
    m.loader = loader;
    m.library_path = library_path;
    m.icon = opt.icon;
    auto now = std::time(nullptr);
    char tbuf[32];
    std::strftime(tbuf, sizeof tbuf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    m.created = tbuf;

    MappedFile exe(opt.runtime_exe.empty() ? find_runtime() : opt.runtime_exe);
    auto runtime = runtime_part(exe.bytes());
    auto pkg = assemble_package(runtime, m, chunks, files, section, key);

    auto tmp = opt.output + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(pkg.data()), long(pkg.size()));
        if (!out) throw std::runtime_error("cannot write " + tmp);
    }
    ::chmod(tmp.c_str(), 0755);
    fs::rename(tmp, opt.output);
    stats.files = files.size();
    stats.chunks = chunks.size();
    stats.stored_bytes = section.size();
    stats.package_bytes = pkg.size();
    stats.runtime_bytes = runtime.size();
    return stats;
}

BuildStats build_package(const BuildOptions& opt, const crypto::Ed25519Key& key) {
    if (opt.entries.empty()) throw std::runtime_error("build needs at least one --entry");
    if (opt.name.empty()) throw std::runtime_error("build needs --name");
    PathCollector col;
    std::vector<std::string> elf_roots;
    for (auto& e : opt.entries) {
        if (e.empty() || e[0] != '/') throw std::runtime_error("--entry must be an absolute path: " + e);
        if (!is_elf_file(e)) throw std::runtime_error("--entry " + e + " is not an ELF executable");
        col.add_path(e);
        elf_roots.push_back(e);
    }
    for (auto& a : opt.add) {
        auto abs = fs::absolute(a).lexically_normal().string();
        col.add_tree(abs);
    }
    for (auto& [rel, e] : col.entries())
        if (e.type == EntryType::file && is_elf_file("/" + rel)) elf_roots.push_back("/" + rel);
    auto closure = resolve_closure(elf_roots);
    if (closure.interp.empty())
        throw std::runtime_error("entry has no PT_INTERP (static executables are not supported yet)");
    for (auto& o : closure.objects) col.add_path(o);
    auto stats = write_package(opt, key, col.entries(), "", closure.interp, closure.library_dirs);
    stats.missing = closure.missing;
    return stats;
}

CaptureResult capture_package(BuildOptions opt, const crypto::Ed25519Key& key,
                              const std::vector<std::string>& command) {
    if (command.empty()) throw std::runtime_error("capture needs an install command after --");
    if (opt.name.empty()) throw std::runtime_error("capture needs --name");
    auto paths = RuntimePaths::from_env();
    auto work =
        fs::path(paths.sandbox).parent_path().string() + "/capture/" + opt.name + "-" + std::to_string(::getpid());
    fs::remove_all(work);
    fs::create_directories(work + "/emptyroot");
    fs::create_directories(work + "/sb");
    auto sb = fs::canonical(work + "/sb").string();
    std::vector<std::string> argv = {"/bin/sh", "-c", "exec \"$@\"", "sh"};
    argv.insert(argv.end(), command.begin(), command.end());
    int rc = sandbox_exec("writecopy", work + "/emptyroot", sb, argv, opt.name);
    if (rc != 0) {
        fs::remove_all(work);
        throw std::runtime_error("install command failed with exit status " + std::to_string(rc));
    }
    auto upper = sb + "/writecopy/upper";
    CaptureResult res;
    // Bookkeeping an installer leaves behind that is not part of the application.
    const std::vector<std::string> noise = {"var/cache",   "var/log",         "var/lib/apt", "var/lib/dpkg",
                                            "root/.cache", "etc/ld.so.cache", "var/tmp",     "tmp"};
    std::map<std::string, FileEntry> entries;
    std::map<std::string, std::string> sources;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(upper); it != fs::recursive_directory_iterator(); ++it) {
        auto rel = it->path().string().substr(upper.size() + 1);
        bool skip = false;
        for (auto& n : noise) skip |= rel == n || rel.rfind(n + "/", 0) == 0;
        if (skip) {
            res.excluded.push_back("/" + rel);
            if (it->is_directory() && !it->is_symlink()) it.disable_recursion_pending();
            continue;
        }
        struct stat st {};
        ::lstat(it->path().c_str(), &st);
        if (S_ISCHR(st.st_mode) && st.st_rdev == 0) {  // overlayfs whiteout: the installer deleted it
            entries[rel] = FileEntry{rel, EntryType::whiteout, 0, 0, 0, {}};
            res.deleted.push_back("/" + rel);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            // An opaque dir was deleted and made anew: every host entry in it is gone.
            if (is_opaque_dir(it->path().string()))
                for (auto& de : fs::directory_iterator("/" + rel, fs::directory_options::skip_permission_denied, ec)) {
                    auto child = rel + "/" + de.path().filename().string();
                    struct stat cst {};
                    if (::lstat((upper + "/" + child).c_str(), &cst) != 0) {
                        entries[child] = FileEntry{child, EntryType::whiteout, 0, 0, 0, {}};
                        res.deleted.push_back("/" + child);
                    }
                }
            continue;  // the overlay makes an upper dir for every host dir; keep only parents (below)
        } else if (S_ISLNK(st.st_mode)) {
            entries[rel] = FileEntry{rel, EntryType::symlink, 0777, 0, 0, fs::read_symlink(it->path()).string()};
            res.installed.push_back("/" + rel);
        } else if (S_ISREG(st.st_mode)) {
            entries[rel] = FileEntry{rel, EntryType::file, st.st_mode & 07777, 0, std::uint64_t(st.st_size), {}};
            sources[rel] = it->path().string();
            res.installed.push_back("/" + rel);
        }
    }
    std::vector<std::string> written = res.installed;
    written.insert(written.end(), res.deleted.begin(), res.deleted.end());
    for (auto& p : written) {
        for (auto parent = fs::path(p).parent_path(); parent != "/"; parent = parent.parent_path()) {
            auto rel = parent.string().substr(1);
            struct stat st {};
            if (::lstat((upper + parent.string()).c_str(), &st) == 0)
                entries.emplace(rel, FileEntry{rel, EntryType::dir, st.st_mode & 07777, 0, 0, {}});
        }
    }
    // Entry points: given, or every executable ELF installed into a bin directory.
    if (opt.entries.empty()) {
        for (auto& p : res.installed) {
            auto dir = fs::path(p).parent_path().string();
            if ((dir == "/usr/bin" || dir == "/usr/local/bin" || dir == "/bin" || dir == "/usr/sbin" ||
                 dir == "/usr/local/sbin" ||
                 (dir.rfind("/opt/", 0) == 0 && dir.size() > 4 && dir.substr(dir.size() - 4) == "/bin")) &&
                sources.count(p.substr(1)) && (entries[p.substr(1)].mode & 0111) && is_elf_file(sources[p.substr(1)]))
                opt.entries.push_back(p);
        }
    }
    if (opt.entries.empty()) {
        fs::remove_all(work);
        throw std::runtime_error("the install command wrote no executable into a bin directory; pass --entry");
    }
    std::vector<std::string> roots = opt.entries;
    for (auto& p : res.installed)
        if (sources.count(p.substr(1)) && is_elf_file(sources[p.substr(1)])) roots.push_back(p);
    ResolverOptions ro;
    ro.overlay = upper;
    auto closure = resolve_closure(roots, ro);
    if (closure.interp.empty()) throw std::runtime_error("entry point has no PT_INTERP");
    PathCollector host;
    for (auto& o : closure.objects) {
        struct stat st {};
        if (::lstat((upper + o).c_str(), &st) == 0) continue;  // installed: already captured
        host.add_path(o);
    }
    for (auto& [rel, e] : host.entries())
        if (!entries.count(rel)) entries[rel] = e;
    res.stats = write_package(opt, key, entries, "", closure.interp, closure.library_dirs, sources);
    res.stats.missing = closure.missing;
    res.entries = opt.entries;
    fs::remove_all(work);
    return res;
}

}  // namespace portico::pack

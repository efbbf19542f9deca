#include "packager/elf.hpp"

#include <elf.h>
#include <glob.h>
#include <sys/stat.h>

#include <cstring>
#include <deque>
#include <fstream>
#include <set>

#include "packager/format.hpp"

namespace portico::pack {
namespace {

template <class T>
bool read_struct(std::span<const std::uint8_t> img, std::uint64_t off, T& out) {
    if (off > img.size() || img.size() - off < sizeof(T)) return false;
    std::memcpy(&out, img.data() + off, sizeof(T));
    return true;
}

std::vector<std::string> split_colon(const std::string& s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= s.size()) {
        auto end = s.find(':', start);
        if (end == std::string::npos) end = s.size();
        if (end > start) out.push_back(s.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

std::string dirname_of(const std::string& p) {
    auto slash = p.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return p.substr(0, slash);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (std::size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
        s.replace(pos, from.size(), to);
    return s;
}

std::string expand(const std::string& dir, const std::string& origin) {
    auto s = replace_all(dir, "${ORIGIN}", origin);
    s = replace_all(s, "$ORIGIN", origin);
    s = replace_all(s, "${LIB}", "lib/x86_64-linux-gnu");
    s = replace_all(s, "$LIB", "lib/x86_64-linux-gnu");
    return s;
}

}  // namespace

std::optional<ElfInfo> parse_elf(std::span<const std::uint8_t> img, std::string* error) {
    auto fail = [&](const std::string& m) -> std::optional<ElfInfo> {
        if (error) *error = m;
        return std::nullopt;
    };
    Elf64_Ehdr eh;
    if (img.size() < EI_NIDENT || std::memcmp(img.data(), ELFMAG, SELFMAG) != 0) return fail("not an ELF file");
    if (img[EI_CLASS] != ELFCLASS64) return fail("not a 64-bit ELF file");
    if (img[EI_DATA] != ELFDATA2LSB) return fail("not a little-endian ELF file");
    if (!read_struct(img, 0, eh)) return fail("ELF header truncated");
    if (eh.e_phentsize != sizeof(Elf64_Phdr) && eh.e_phnum != 0) return fail("unexpected program header size");
    ElfInfo info;
    info.machine = eh.e_machine;
    std::vector<Elf64_Phdr> phdrs(eh.e_phnum);
    for (unsigned i = 0; i < eh.e_phnum; ++i)
        if (!read_struct(img, eh.e_phoff + std::uint64_t(i) * sizeof(Elf64_Phdr), phdrs[i]))
            return fail("program header table truncated");

    const Elf64_Phdr* dyn = nullptr;
    for (auto& ph : phdrs) {
        if (ph.p_type == PT_INTERP) {
            if (ph.p_offset > img.size() || img.size() - ph.p_offset < ph.p_filesz || ph.p_filesz == 0)
                return fail("PT_INTERP outside the file");
            const char* s = reinterpret_cast<const char*>(img.data() + ph.p_offset);
            info.interp.assign(s, strnlen(s, ph.p_filesz));
        } else if (ph.p_type == PT_DYNAMIC) {
            dyn = &ph;
        }
    }
    if (!dyn) return info;  // static executable or plain object

    // Dynamic entries store virtual addresses; map them to file offsets through PT_LOAD.
    auto vaddr_to_off = [&](std::uint64_t va) -> std::optional<std::uint64_t> {
        for (auto& ph : phdrs)
            if (ph.p_type == PT_LOAD && va >= ph.p_vaddr && va - ph.p_vaddr < ph.p_filesz)
                return ph.p_offset + (va - ph.p_vaddr);
        return std::nullopt;
    };
    std::uint64_t strtab_va = 0, strsz = 0;
    std::vector<std::uint64_t> needed, rpath, runpath;
    if (dyn->p_offset > img.size() || img.size() - dyn->p_offset < dyn->p_filesz)
        return fail("PT_DYNAMIC outside the file");
    for (std::uint64_t off = dyn->p_offset; off + sizeof(Elf64_Dyn) <= dyn->p_offset + dyn->p_filesz;
         off += sizeof(Elf64_Dyn)) {
        Elf64_Dyn d;
        if (!read_struct(img, off, d)) return fail("dynamic section truncated");
        if (d.d_tag == DT_NULL) break;
        switch (d.d_tag) {
            case DT_STRTAB: strtab_va = d.d_un.d_ptr; break;
            case DT_STRSZ: strsz = d.d_un.d_val; break;
            case DT_NEEDED: needed.push_back(d.d_un.d_val); break;
            case DT_RPATH: rpath.push_back(d.d_un.d_val); break;
            case DT_RUNPATH: runpath.push_back(d.d_un.d_val); break;
            default: break;
        }
    }
    if (needed.empty() && rpath.empty() && runpath.empty()) return info;
    auto stroff = vaddr_to_off(strtab_va);
    if (!stroff || *stroff > img.size() || img.size() - *stroff < strsz) return fail("DT_STRTAB outside the file");
    auto str = [&](std::uint64_t i) -> std::optional<std::string> {
        if (i >= strsz) return std::nullopt;
        const char* s = reinterpret_cast<const char*>(img.data() + *stroff + i);
        auto n = strnlen(s, strsz - i);
        if (n == strsz - i) return std::nullopt;  // unterminated
        return std::string(s, n);
    };
    for (auto i : needed) {
        auto s = str(i);
        if (!s) return fail("DT_NEEDED string out of range");
        info.needed.push_back(*s);
    }
    for (auto i : rpath) {
        auto s = str(i);
        if (!s) return fail("DT_RPATH string out of range");
        for (auto& p : split_colon(*s)) info.rpath.push_back(p);
    }
    for (auto i : runpath) {
        auto s = str(i);
        if (!s) return fail("DT_RUNPATH string out of range");
        for (auto& p : split_colon(*s)) info.runpath.push_back(p);
    }
    return info;
}

std::optional<ElfInfo> read_elf_file(const std::string& path, std::string* error) {
    try {
        MappedFile f(path);
        return parse_elf(f.bytes(), error);
    } catch (const std::exception& e) {
        if (error) *error = e.what();
        return std::nullopt;
    }
}

bool is_elf_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    char m[4] = {};
    in.read(m, 4);
    return in.gcount() == 4 && std::memcmp(m, ELFMAG, SELFMAG) == 0;
}

std::vector<std::string> read_ld_so_conf(const std::string& path) {
    std::vector<std::string> dirs;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (auto h = line.find('#'); h != std::string::npos) line.resize(h);
        auto b = line.find_first_not_of(" \t");
        if (b == std::string::npos) continue;
        line = line.substr(b, line.find_last_not_of(" \t\r") - b + 1);
        if (line.rfind("include", 0) == 0) {
            auto pat = line.substr(line.find_first_not_of(" \t", 7));
            if (pat[0] != '/') pat = dirname_of(path) + "/" + pat;
            glob_t g{};
            if (::glob(pat.c_str(), 0, nullptr, &g) == 0)
                for (std::size_t i = 0; i < g.gl_pathc; ++i)
                    for (auto& d : read_ld_so_conf(g.gl_pathv[i])) dirs.push_back(d);
            ::globfree(&g);
        } else {
            dirs.push_back(line);
        }
    }
    return dirs;
}

Closure resolve_closure(const std::vector<std::string>& roots, const ResolverOptions& opt) {
    Closure c;
    std::vector<std::string> conf_dirs;
    if (opt.use_ld_so_conf) conf_dirs = read_ld_so_conf(opt.sysroot + "/etc/ld.so.conf");
    std::set<std::string> seen_paths, seen_sonames;
    std::vector<std::string> exe_rpath;
    std::uint16_t machine = 0;

    struct Item {
        std::string path;
        bool is_root;
    };
    std::deque<Item> queue;
    for (auto& r : roots) queue.push_back({r, true});

    auto real = [&](const std::string& p) {
        struct stat st {};
        if (!opt.overlay.empty() && ::lstat((opt.overlay + p).c_str(), &st) == 0) return opt.overlay + p;
        return opt.sysroot + p;
    };
    auto try_dir = [&](const std::string& dir, const std::string& soname) -> std::optional<std::string> {
        auto cand = dir + "/" + soname;
        std::string err;
        auto info = read_elf_file(real(cand), &err);
        if (!info || (machine && info->machine != machine)) return std::nullopt;
        return cand;
    };

    while (!queue.empty()) {
        auto item = queue.front();
        queue.pop_front();
        if (!seen_paths.insert(item.path).second) continue;
        std::string err;
        auto info = read_elf_file(real(item.path), &err);
        if (!info) {
            if (item.is_root) continue;  // --add of a non-ELF file, nothing to follow
            c.missing.push_back(item.path + " (" + err + ")");
            continue;
        }
        c.objects.push_back(item.path);
        if (item.is_root && !info->interp.empty()) {
            if (c.interp.empty()) c.interp = info->interp;
            if (!machine) machine = info->machine;
            if (exe_rpath.empty() && info->runpath.empty())
                for (auto& r : info->rpath) exe_rpath.push_back(expand(r, dirname_of(item.path)));
            if (!info->interp.empty()) queue.push_back({info->interp, false});
        }
        auto origin = dirname_of(item.path);
        for (auto& so : info->needed) {
            if (so.find('/') != std::string::npos) {
                queue.push_back({so, false});
                continue;
            }
            std::vector<std::string> search;
            if (info->runpath.empty()) {
                for (auto& r : info->rpath) search.push_back(expand(r, origin));
                for (auto& r : exe_rpath) search.push_back(r);
            }
            for (auto& r : info->runpath) search.push_back(expand(r, origin));
            for (auto& d : conf_dirs) search.push_back(d);
            for (auto& d : opt.default_dirs) search.push_back(d);
            std::optional<std::string> found;
            for (auto& d : search)
                if ((found = try_dir(d, so))) break;
            if (!found) {
                if (seen_sonames.insert(so).second) c.missing.push_back(so);
                continue;
            }
            auto dir = dirname_of(*found);
            bool have = false;
            for (auto& d : c.library_dirs) have |= d == dir;
            if (!have) c.library_dirs.push_back(dir);
            queue.push_back({*found, false});
        }
    }
    return c;
}

}  // namespace portico::pack

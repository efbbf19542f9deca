#include "packager/format.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace portico::pack {
namespace {

constexpr char kMagic[8] = {'P', 'O', 'R', 'T', 'I', 'C', 'O', 'P'};
constexpr char kEndMagic[8] = {'P', 'K', 'G', 'E', 'N', 'D', 'v', '1'};
constexpr std::string_view kSigDomain = "portico-pack/v1 signature";

void put_u32(std::uint8_t* p, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = std::uint8_t(v >> (8 * i));
}
void put_u64(std::uint8_t* p, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = std::uint8_t(v >> (8 * i));
}
std::uint32_t get_u32(const std::uint8_t* p) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}
std::uint64_t get_u64(const std::uint8_t* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

// Bounds-checked little-endian reader over the file table; every overrun names the field.
class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> b) : b_(b) {}
    void need(std::size_t n, const char* what) {
        if (b_.size() - pos_ < n) throw PackageError(std::string("file table is truncated while reading ") + what);
    }
    std::uint8_t u8(const char* w) {
        need(1, w);
        return b_[pos_++];
    }
    std::uint16_t u16(const char* w) {
        need(2, w);
        std::uint16_t v = b_[pos_] | (b_[pos_ + 1] << 8);
        pos_ += 2;
        return v;
    }
    std::uint32_t u32(const char* w) {
        need(4, w);
        auto v = get_u32(&b_[pos_]);
        pos_ += 4;
        return v;
    }
    std::uint64_t u64(const char* w) {
        need(8, w);
        auto v = get_u64(&b_[pos_]);
        pos_ += 8;
        return v;
    }
    std::string str(std::size_t n, const char* w) {
        need(n, w);
        std::string s(reinterpret_cast<const char*>(&b_[pos_]), n);
        pos_ += n;
        return s;
    }
    void bytes(std::uint8_t* out, std::size_t n, const char* w) {
        need(n, w);
        std::memcpy(out, &b_[pos_], n);
        pos_ += n;
    }
    bool done() const { return pos_ == b_.size(); }

private:
    std::span<const std::uint8_t> b_;
    std::size_t pos_ = 0;
};

class Writer {
public:
    void u8(std::uint8_t v) { out.push_back(v); }
    void u16(std::uint16_t v) {
        out.push_back(v & 0xff);
        out.push_back(v >> 8);
    }
    void u32(std::uint32_t v) {
        std::uint8_t b[4];
        put_u32(b, v);
        out.insert(out.end(), b, b + 4);
    }
    void u64(std::uint64_t v) {
        std::uint8_t b[8];
        put_u64(b, v);
        out.insert(out.end(), b, b + 8);
    }
    void str(const std::string& s) { out.insert(out.end(), s.begin(), s.end()); }
    std::vector<std::uint8_t> out;
};

std::string hex(std::span<const std::uint8_t> b) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (auto c : b) {
        s += d[c >> 4];
        s += d[c & 15];
    }
    return s;
}

std::vector<std::uint8_t> signed_message(std::span<const std::uint8_t> covered,
                                         const std::array<std::uint8_t, kTrailerSize>& trailer) {
    std::vector<std::uint8_t> msg(kSigDomain.begin(), kSigDomain.end());
    msg.push_back(0);
    auto digest = crypto::sha256_hex(covered);
    msg.insert(msg.end(), digest.begin(), digest.end());
    msg.insert(msg.end(), trailer.begin(), trailer.end());
    return msg;
}

}  // namespace

std::string ChunkRef::hex() const { return pack::hex(hash); }

std::string key_fingerprint(std::span<const std::uint8_t> raw) { return crypto::sha256_hex(raw); }

std::array<std::uint8_t, kTrailerSize> Trailer::encode() const {
    std::array<std::uint8_t, kTrailerSize> b{};
    std::memcpy(&b[0], kMagic, 8);
    put_u32(&b[8], version);
    put_u32(&b[12], flags);
    put_u64(&b[16], payload_offset);
    put_u64(&b[24], manifest_len);
    put_u64(&b[32], table_len);
    put_u64(&b[40], chunks_len);
    put_u64(&b[48], signature_offset);
    std::memcpy(&b[56], publisher_key.data(), 32);
    std::memcpy(&b[88], kEndMagic, 8);
    return b;
}

Trailer Trailer::decode(std::span<const std::uint8_t, kTrailerSize> b) {
    if (std::memcmp(&b[0], kMagic, 8) != 0 || std::memcmp(&b[88], kEndMagic, 8) != 0)
        throw PackageError(
            "no package trailer at the end of the file: the file is truncated, "
            "has data appended, or is not a Portico package");
    Trailer t;
    t.version = get_u32(&b[8]);
    if (t.version != 1 && t.version != kFormatVersion)
        throw PackageError("unsupported package format version " + std::to_string(t.version) +
                           " (this version of portico-pack reads 1 and 2)");
    t.flags = get_u32(&b[12]);
    t.payload_offset = get_u64(&b[16]);
    t.manifest_len = get_u64(&b[24]);
    t.table_len = get_u64(&b[32]);
    t.chunks_len = get_u64(&b[40]);
    t.signature_offset = get_u64(&b[48]);
    std::memcpy(t.publisher_key.data(), &b[56], 32);
    return t;
}

bool is_safe_relative_path(std::string_view p) {
    if (p.empty() || p.front() == '/' || p.size() > 4096) return false;
    std::size_t start = 0;
    while (start <= p.size()) {
        auto end = p.find('/', start);
        if (end == std::string_view::npos) end = p.size();
        auto comp = p.substr(start, end - start);
        if (comp.empty() || comp == "." || comp == "..") return false;
        start = end + 1;
    }
    return p.find('\0') == std::string_view::npos;
}

std::string Manifest::to_json() const {
    nlohmann::json j;
    j["format"] = kFormatVersion;
    j["name"] = name;
    j["version"] = version;
    j["entries"] = nlohmann::json::array();
    for (auto& e : entries) j["entries"].push_back({{"name", e.name}, {"path", e.path}});
    j["isolation"] = isolation;
    j["publisher"] = {{"name", publisher}, {"key_sha256", publisher_fpr}};
    j["loader"] = loader;
    j["library_path"] = library_path;
    if (!icon.empty()) j["icon"] = icon;
    j["created"] = created;
    return j.dump(2);
}

Manifest Manifest::from_json(std::string_view text) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const std::exception& e) {
        throw PackageError(std::string("manifest is not valid JSON: ") + e.what());
    }
    Manifest m;
    try {
        m.name = j.at("name").get<std::string>();
        m.version = j.value("version", "");
        for (auto& e : j.at("entries")) m.entries.push_back({e.at("name"), e.at("path")});
        m.isolation = j.value("isolation", "full");
        m.publisher = j.at("publisher").value("name", "");
        m.publisher_fpr = j.at("publisher").at("key_sha256").get<std::string>();
        m.loader = j.at("loader").get<std::string>();
        m.library_path = j.at("library_path").get<std::vector<std::string>>();
        m.icon = j.value("icon", "");
        m.created = j.value("created", "");
    } catch (const PackageError&) {
        throw;
    } catch (const std::exception& e) {
        throw PackageError(std::string("manifest is missing a field or has a wrong type: ") + e.what());
    }
    if (m.name.empty() || m.name.find('/') != std::string::npos || m.name == "." || m.name == "..")
        throw PackageError("manifest has an invalid name '" + m.name + "'");
    if (m.entries.empty()) throw PackageError("manifest has no entry points");
    for (auto& e : m.entries)
        if (e.path.empty() || e.path[0] != '/' || !is_safe_relative_path(e.path.substr(1)))
            throw PackageError("manifest entry point has an invalid path '" + e.path + "'");
    if (m.isolation != "merged" && m.isolation != "writecopy" && m.isolation != "full")
        throw PackageError("manifest has unknown isolation mode '" + m.isolation + "'");
    return m;
}

std::vector<std::uint8_t> encode_table(const std::vector<ChunkRef>& chunks, const std::vector<FileEntry>& files) {
    Writer w;
    w.u32(std::uint32_t(chunks.size()));
    for (auto& c : chunks) {
        w.out.insert(w.out.end(), c.hash.begin(), c.hash.end());
        w.u64(c.offset);
        w.u64(c.comp_size);
        w.u64(c.raw_size);
    }
    w.u32(std::uint32_t(files.size()));
    for (auto& f : files) {
        w.u8(std::uint8_t(f.type));
        w.u32(f.mode);
        w.u16(std::uint16_t(f.path.size()));
        w.str(f.path);
        if (f.type == EntryType::file) {
            w.u32(f.chunk);
            w.u64(f.size);
        } else if (f.type == EntryType::symlink) {
            w.u16(std::uint16_t(f.target.size()));
            w.str(f.target);
        }
    }
    return std::move(w.out);
}

void decode_table(std::span<const std::uint8_t> bytes, std::uint64_t chunks_len, std::vector<ChunkRef>& chunks,
                  std::vector<FileEntry>& files, std::uint32_t format) {
    Reader r(bytes);
    auto nchunks = r.u32("chunk count");
    if (nchunks > kMaxEntries) throw PackageError("file table: too many chunks");
    // Counts are checked against the bytes left before anything is allocated for them: 4 bytes
    // claiming a million chunks used to allocate 56 MB first (found by fuzzing).
    r.need(std::size_t(nchunks) * (32 + 3 * 8), "chunk records");
    chunks.resize(nchunks);
    for (std::uint32_t i = 0; i < nchunks; ++i) {
        auto& c = chunks[i];
        r.bytes(c.hash.data(), 32, "chunk hash");
        c.offset = r.u64("chunk offset");
        c.comp_size = r.u64("chunk size");
        c.raw_size = r.u64("chunk raw size");
        if (c.offset > chunks_len || c.comp_size > chunks_len - c.offset)
            throw PackageError("file table: chunk " + std::to_string(i) + " lies outside the chunk section");
    }
    auto nfiles = r.u32("file count");
    if (nfiles > kMaxEntries) throw PackageError("file table: too many files");
    r.need(std::size_t(nfiles) * (1 + 4 + 2), "file entries");  // type, mode, path length at least
    files.resize(nfiles);
    for (std::uint32_t i = 0; i < nfiles; ++i) {
        auto& f = files[i];
        auto type = r.u8("entry type");
        if (type > 3 || (type == 3 && format < 2))
            throw PackageError("file table: unknown entry type " + std::to_string(type));
        f.type = EntryType(type);
        f.mode = r.u32("mode") & 07777;
        f.path = r.str(r.u16("path length"), "path");
        if (!is_safe_relative_path(f.path)) throw PackageError("file table: unsafe path '" + f.path + "'");
        if (f.type == EntryType::file) {
            f.chunk = r.u32("chunk index");
            f.size = r.u64("file size");
            if (f.chunk >= chunks.size()) throw PackageError("file table: '" + f.path + "' refers to a missing chunk");
            if (chunks[f.chunk].raw_size != f.size)
                throw PackageError("file table: size of '" + f.path + "' disagrees with its chunk");
        } else if (f.type == EntryType::symlink) {
            f.target = r.str(r.u16("symlink target length"), "symlink target");
            if (f.target.empty() || f.target.find('\0') != std::string::npos)
                throw PackageError("file table: bad symlink target for '" + f.path + "'");
        }
    }
    if (!r.done()) throw PackageError("file table has trailing bytes");
    // Extraction must never write through a symlink (a package could otherwise place files
    // anywhere on the host): no path may appear twice or lie below a symlink entry.
    std::set<std::string_view> seen, links;
    for (auto& f : files) {
        if (!seen.insert(f.path).second) throw PackageError("file table: duplicate path '" + f.path + "'");
        if (f.type == EntryType::symlink) links.insert(f.path);
    }
    for (auto& f : files)
        for (auto pos = f.path.find('/'); pos != std::string::npos; pos = f.path.find('/', pos + 1))
            if (links.count(std::string_view(f.path).substr(0, pos)))
                throw PackageError("file table: '" + f.path + "' lies below a symlink in the package");
}

std::vector<std::uint8_t> assemble_package(std::span<const std::uint8_t> runtime, Manifest manifest,
                                           const std::vector<ChunkRef>& chunks, const std::vector<FileEntry>& files,
                                           std::span<const std::uint8_t> chunk_section, const crypto::Ed25519Key& key) {
    auto pub = key.public_raw();
    manifest.publisher_fpr = key_fingerprint(pub);
    auto mjson = manifest.to_json();
    auto table = encode_table(chunks, files);

    std::vector<std::uint8_t> out;
    out.reserve(runtime.size() + mjson.size() + table.size() + chunk_section.size() + 256);
    out.insert(out.end(), runtime.begin(), runtime.end());
    out.insert(out.end(), mjson.begin(), mjson.end());
    out.insert(out.end(), table.begin(), table.end());
    out.insert(out.end(), chunk_section.begin(), chunk_section.end());

    Trailer t;
    t.payload_offset = runtime.size();
    t.manifest_len = mjson.size();
    t.table_len = table.size();
    t.chunks_len = chunk_section.size();
    t.signature_offset = out.size();
    std::memcpy(t.publisher_key.data(), pub.data(), 32);
    auto tb = t.encode();
    auto sig = key.sign(signed_message(out, tb));
    out.insert(out.end(), sig.begin(), sig.end());
    out.insert(out.end(), tb.begin(), tb.end());
    return out;
}

bool has_trailer(std::span<const std::uint8_t> file) {
    if (file.size() < kTrailerSize) return false;
    auto t = file.subspan(file.size() - kTrailerSize);
    return std::memcmp(t.data(), kMagic, 8) == 0 && std::memcmp(t.data() + 88, kEndMagic, 8) == 0;
}

bool has_appended_data(std::span<const std::uint8_t> exe) {
    Elf64_Ehdr eh;
    if (exe.size() < sizeof eh || std::memcmp(exe.data(), ELFMAG, SELFMAG) != 0) return false;
    std::memcpy(&eh, exe.data(), sizeof eh);
    std::uint64_t end = std::uint64_t(eh.e_shoff) + std::uint64_t(eh.e_shnum) * eh.e_shentsize;
    end = std::max<std::uint64_t>(end, eh.e_phoff + std::uint64_t(eh.e_phnum) * eh.e_phentsize);
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        Elf64_Phdr ph;
        // Written so no sum can wrap: a huge e_phoff once made "off + sizeof ph" wrap and pass.
        auto off = eh.e_phoff + std::uint64_t(i) * sizeof ph;
        if (off < eh.e_phoff || off > exe.size() || exe.size() - off < sizeof ph) return false;
        std::memcpy(&ph, exe.data() + off, sizeof ph);
        end = std::max<std::uint64_t>(end, ph.p_offset + ph.p_filesz);
    }
    return exe.size() > end;
}

std::span<const std::uint8_t> runtime_part(std::span<const std::uint8_t> exe) {
    if (!has_trailer(exe)) return exe;
    auto t = Trailer::decode(exe.subspan(exe.size() - kTrailerSize).first<kTrailerSize>());
    if (t.payload_offset > exe.size()) throw PackageError("runtime: bad payload offset in own trailer");
    return exe.first(t.payload_offset);
}

Package parse_package(std::span<const std::uint8_t> file) {
    if (file.size() < kTrailerSize + kSignatureSize)
        throw PackageError("file is too small to be a package (" + std::to_string(file.size()) +
                           " bytes): truncated or not a Portico package");
    Package p;
    auto tb = file.subspan(file.size() - kTrailerSize).first<kTrailerSize>();
    p.trailer = Trailer::decode(tb);
    const auto& t = p.trailer;

    // Overflow-safe consistency of the section lengths with the real file size.
    std::uint64_t end = t.payload_offset;
    for (auto len : {t.manifest_len, t.table_len, t.chunks_len}) {
        if (len > file.size() || end > file.size() - len)
            throw PackageError("trailer section lengths exceed the file size: file is truncated or corrupt");
        end += len;
    }
    if (end != t.signature_offset) throw PackageError("trailer offsets are inconsistent: corrupt package");
    if (t.signature_offset + kSignatureSize + kTrailerSize != file.size())
        throw PackageError("file size " + std::to_string(file.size()) + " does not match the trailer (expected " +
                           std::to_string(t.signature_offset + kSignatureSize + kTrailerSize) +
                           "): truncated or modified package");
    if (t.manifest_len > kMaxManifest) throw PackageError("manifest is larger than 1 MiB");
    if (t.table_len > kMaxTable) throw PackageError("file table is larger than 64 MiB");

    // Signature first: nothing below is trusted until it verifies.
    auto key = crypto::Ed25519Key::from_public_raw(t.publisher_key);
    if (!key) throw PackageError("publisher key in the trailer is not a valid Ed25519 key");
    std::array<std::uint8_t, kTrailerSize> tcopy;
    std::memcpy(tcopy.data(), tb.data(), kTrailerSize);
    auto sig = file.subspan(t.signature_offset, kSignatureSize);
    if (!key->verify(signed_message(file.first(t.signature_offset), tcopy), sig))
        throw PackageError("signature does not verify with publisher key " +
                           key_fingerprint(t.publisher_key).substr(0, 16) +
                           "…: the package was modified or corrupted after signing");

    auto mbytes = file.subspan(t.payload_offset, t.manifest_len);
    p.manifest = Manifest::from_json({reinterpret_cast<const char*>(mbytes.data()), mbytes.size()});
    if (p.manifest.publisher_fpr != key_fingerprint(t.publisher_key))
        throw PackageError("manifest publisher fingerprint does not match the signing key");
    decode_table(file.subspan(t.payload_offset + t.manifest_len, t.table_len), t.chunks_len, p.chunks, p.files,
                 t.version);
    p.chunk_section = file.subspan(t.payload_offset + t.manifest_len + t.table_len, t.chunks_len);
    p.runtime = file.first(t.payload_offset);
    return p;
}

void check_trust(const Package& p, const std::vector<std::vector<std::uint8_t>>& trusted) {
    for (auto& k : trusted)
        if (k.size() == 32 && std::memcmp(k.data(), p.trailer.publisher_key.data(), 32) == 0) return;
    throw PackageError("publisher key " + key_fingerprint(p.trailer.publisher_key) + " is not in the trust list (" +
                       std::to_string(trusted.size()) + " trusted key(s))");
}

std::string format_public_key(std::span<const std::uint8_t> raw) {
    return "portico-ed25519 " + crypto::base64_encode(raw) + "\n";
}

std::vector<std::uint8_t> load_public_key_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read public key file " + path);
    std::string kind, b64;
    in >> kind >> b64;
    auto raw = crypto::base64_decode(b64);
    if (kind != "portico-ed25519" || !raw || raw->size() != 32)
        throw std::runtime_error(path + " is not a portico-ed25519 public key file");
    return *raw;
}

MappedFile::MappedFile(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw std::runtime_error(path + " is not a regular file");
    }
    size_ = std::size_t(st.st_size);
    if (size_ > 0) {
        void* m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            ::close(fd);
            throw std::runtime_error("cannot map " + path + ": " + std::strerror(errno));
        }
        data_ = static_cast<const std::uint8_t*>(m);
    }
    ::close(fd);
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(const_cast<std::uint8_t*>(data_), size_);
}

}  // namespace portico::pack

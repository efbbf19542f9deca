// Signature-first, bounds-checked reading of a .portico file (FORMAT.md "Parse order").
#define _GNU_SOURCE
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt.h"

// libsodium's Ed25519 verifier (third_party/libsodium: just it, SHA-512 and the curve code).
int crypto_sign_ed25519_verify_detached(const unsigned char* sig, const unsigned char* m, unsigned long long mlen,
                                        const unsigned char* pk);

#define TRAILER 96
#define SIGNATURE 64
static const char kMagic[8] = "PORTICOP";
static const char kEndMagic[8] = "PKGENDv1";
static const char kSigDomain[] = "portico-pack/v1 signature";  // + NUL, part of the message

static uint32_t get_u32(const uint8_t* p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const uint8_t* p) { return get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

bool rt_has_trailer(const uint8_t* f, size_t size) {
    if (size < TRAILER) return false;
    const uint8_t* t = f + size - TRAILER;
    return memcmp(t, kMagic, 8) == 0 && memcmp(t + 88, kEndMagic, 8) == 0;
}

bool rt_has_appended_data(const uint8_t* exe, size_t size) {
    Elf64_Ehdr eh;
    if (size < sizeof eh || memcmp(exe, ELFMAG, SELFMAG) != 0) return false;
    memcpy(&eh, exe, sizeof eh);
    uint64_t end = eh.e_shoff + (uint64_t)eh.e_shnum * eh.e_shentsize;
    uint64_t ph_end = eh.e_phoff + (uint64_t)eh.e_phnum * eh.e_phentsize;
    if (ph_end > end) end = ph_end;
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        Elf64_Phdr ph;
        // Written so no sum can wrap: a huge e_phoff once made "off + sizeof ph" wrap and pass.
        uint64_t off = eh.e_phoff + (uint64_t)i * sizeof ph;
        if (off < eh.e_phoff || off > size || size - off < sizeof ph) return false;
        memcpy(&ph, exe + off, sizeof ph);
        if (ph.p_offset + ph.p_filesz > end) end = ph.p_offset + ph.p_filesz;
    }
    return size > end;
}

static bool safe_relative_path(const char* p) {
    size_t n = strlen(p);
    if (n == 0 || p[0] == '/' || n > 4096) return false;
    for (const char* s = p;;) {
        const char* e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.')) return false;
        if (!e) return true;
        s = e + 1;
    }
}

// ---- file table ------------------------------------------------------------------------------

typedef struct {
    const uint8_t* p;
    size_t n, pos;
} Reader;

static const uint8_t* take(Reader* r, size_t n, const char* what) {
    if (r->n - r->pos < n) rt_refuse("file table is truncated while reading %s", what);
    const uint8_t* p = r->p + r->pos;
    r->pos += n;
    return p;
}
static uint32_t r_u32(Reader* r, const char* w) { return get_u32(take(r, 4, w)); }
static uint64_t r_u64(Reader* r, const char* w) { return get_u64(take(r, 8, w)); }
static char* r_str(Reader* r, const char* w) {
    const uint8_t* l = take(r, 2, w);
    size_t n = (size_t)l[0] | (size_t)l[1] << 8;
    const uint8_t* s = take(r, n, w);
    if (memchr(s, 0, n)) rt_refuse("file table: NUL byte in %s", w);
    return rt_strndup((const char*)s, n);
}

static int cmp_str(const void* a, const void* b) { return strcmp(*(char* const*)a, *(char* const*)b); }

static void decode_table(RtPackage* p, const uint8_t* bytes, size_t len) {
    Reader r = {bytes, len, 0};
    p->nchunks = r_u32(&r, "chunk count");
    if (p->nchunks > (1u << 20)) rt_refuse("file table: too many chunks");
    p->chunks = rt_alloc(p->nchunks * sizeof *p->chunks);
    for (uint32_t i = 0; i < p->nchunks; ++i) {
        RtChunk* c = &p->chunks[i];
        memcpy(c->hash, take(&r, 32, "chunk hash"), 32);
        c->offset = r_u64(&r, "chunk offset");
        c->comp_size = r_u64(&r, "chunk size");
        c->raw_size = r_u64(&r, "chunk raw size");
        if (c->offset > p->chunks_len || c->comp_size > p->chunks_len - c->offset)
            rt_refuse("file table: chunk %u lies outside the chunk section", i);
    }
    p->nfiles = r_u32(&r, "file count");
    if (p->nfiles > (1u << 20)) rt_refuse("file table: too many files");
    p->files = rt_alloc(p->nfiles * sizeof *p->files);
    char** paths = rt_alloc(p->nfiles * sizeof *paths);
    char** links = rt_alloc(p->nfiles * sizeof *links);
    size_t nlinks = 0;
    for (uint32_t i = 0; i < p->nfiles; ++i) {
        RtEntry* f = &p->files[i];
        f->type = *take(&r, 1, "entry type");
        if (f->type > RT_WHITEOUT || (f->type == RT_WHITEOUT && p->format < 2))
            rt_refuse("file table: unknown entry type %d", f->type);
        f->mode = r_u32(&r, "mode") & 07777;
        f->path = r_str(&r, "path");
        if (!safe_relative_path(f->path)) rt_refuse("file table: unsafe path '%s'", f->path);
        if (f->type == RT_FILE) {
            f->chunk = r_u32(&r, "chunk index");
            f->size = r_u64(&r, "file size");
            if (f->chunk >= p->nchunks) rt_refuse("file table: '%s' refers to a missing chunk", f->path);
            if (p->chunks[f->chunk].raw_size != f->size)
                rt_refuse("file table: size of '%s' disagrees with its chunk", f->path);
        } else if (f->type == RT_SYMLINK) {
            f->target = r_str(&r, "symlink target");
            if (!*f->target) rt_refuse("file table: bad symlink target for '%s'", f->path);
            links[nlinks++] = f->path;
        }
        paths[i] = f->path;
    }
    if (r.pos != r.n) rt_refuse("file table has trailing bytes");
    // Extraction must never write through a symlink (a package could otherwise place files
    // anywhere on the host): no path may appear twice or lie below a symlink entry.
    qsort(paths, p->nfiles, sizeof *paths, cmp_str);
    for (uint32_t i = 1; i < p->nfiles; ++i)
        if (strcmp(paths[i - 1], paths[i]) == 0) rt_refuse("file table: duplicate path '%s'", paths[i]);
    qsort(links, nlinks, sizeof *links, cmp_str);
    for (uint32_t i = 0; i < p->nfiles && nlinks; ++i) {
        const char* path = p->files[i].path;
        char* prefix = rt_strndup(path, strlen(path));  // a copy: links[] points at the paths
        for (char* s = strchr(prefix, '/'); s; s = strchr(s + 1, '/')) {
            *s = 0;
            bool below = bsearch(&prefix, links, nlinks, sizeof *links, cmp_str) != NULL;
            *s = '/';
            if (below) rt_refuse("file table: '%s' lies below a symlink in the package", path);
        }
        free(prefix);
    }
    free(paths);
    free(links);
}

// ---- manifest --------------------------------------------------------------------------------

static char* str_field(const RtJson* obj, const char* key, bool required) {
    const RtJson* v = rt_json_get(obj, key);
    if (!v) {
        if (required) rt_refuse("manifest is missing the field '%s'", key);
        return "";
    }
    if (v->type != RT_JSTR) rt_refuse("manifest field '%s' is not a string", key);
    return v->str;
}

static void decode_manifest(RtPackage* p, const char* text, size_t len) {
    const char* err = NULL;
    RtJson* j = rt_json_parse(text, len, &err);
    if (!j) rt_refuse("manifest is not valid JSON: %s", err);
    if (j->type != RT_JOBJ) rt_refuse("manifest is not a JSON object");
    p->name = str_field(j, "name", true);
    p->version = str_field(j, "version", false);
    p->isolation = str_field(j, "isolation", false);
    if (!*p->isolation) p->isolation = "full";
    p->loader = str_field(j, "loader", true);
    p->icon = str_field(j, "icon", false);
    p->created = str_field(j, "created", false);
    const RtJson* pub = rt_json_get(j, "publisher");
    if (!pub || pub->type != RT_JOBJ) rt_refuse("manifest is missing the field 'publisher'");
    p->publisher = str_field(pub, "name", false);
    if (strcmp(str_field(pub, "key_sha256", true), p->fpr) != 0)
        rt_refuse("manifest publisher fingerprint does not match the signing key");
    const RtJson* e = rt_json_get(j, "entries");
    if (!e || e->type != RT_JARR) rt_refuse("manifest is missing the field 'entries'");
    if (e->n == 0) rt_refuse("manifest has no entry points");
    p->nentries = e->n;
    p->entries = rt_alloc(e->n * sizeof *p->entries);
    for (size_t i = 0; i < e->n; ++i) {
        if (e->items[i].type != RT_JOBJ) rt_refuse("manifest entry point is not an object");
        p->entries[i].name = str_field(&e->items[i], "name", true);
        p->entries[i].path = str_field(&e->items[i], "path", true);
        if (p->entries[i].path[0] != '/' || !safe_relative_path(p->entries[i].path + 1))
            rt_refuse("manifest entry point has an invalid path '%s'", p->entries[i].path);
    }
    const RtJson* lp = rt_json_get(j, "library_path");
    if (!lp || lp->type != RT_JARR) rt_refuse("manifest is missing the field 'library_path'");
    p->nlibrary_path = lp->n;
    p->library_path = rt_alloc((lp->n + 1) * sizeof *p->library_path);
    for (size_t i = 0; i < lp->n; ++i) {
        if (lp->items[i].type != RT_JSTR) rt_refuse("manifest library_path holds a non-string");
        p->library_path[i] = lp->items[i].str;
    }
    if (!*p->name || strchr(p->name, '/') || !strcmp(p->name, ".") || !strcmp(p->name, ".."))
        rt_refuse("manifest has an invalid name '%s'", p->name);
    if (strcmp(p->isolation, "merged") && strcmp(p->isolation, "writecopy") && strcmp(p->isolation, "full"))
        rt_refuse("manifest has unknown isolation mode '%s'", p->isolation);
}

// ---- package ---------------------------------------------------------------------------------

void rt_parse_package(const uint8_t* f, size_t size, RtPackage* p) {
    memset(p, 0, sizeof *p);
    p->file = f;
    p->size = size;
    if (size < TRAILER + SIGNATURE)
        rt_refuse("file is too small to be a package (%zu bytes): truncated or not a Portico package", size);
    const uint8_t* t = f + size - TRAILER;
    if (memcmp(t, kMagic, 8) != 0 || memcmp(t + 88, kEndMagic, 8) != 0)
        rt_refuse(
            "no package trailer at the end of the file: the file is truncated, has data appended, "
            "or is not a Portico package");
    p->format = get_u32(t + 8);
    if (p->format != 1 && p->format != 2)
        rt_refuse("unsupported package format version %u (this runtime reads 1 and 2)", p->format);
    p->payload_offset = get_u64(t + 16);
    p->manifest_len = get_u64(t + 24);
    p->table_len = get_u64(t + 32);
    p->chunks_len = get_u64(t + 40);
    p->signature_offset = get_u64(t + 48);
    memcpy(p->key, t + 56, 32);
    uint64_t lens[3] = {p->manifest_len, p->table_len, p->chunks_len}, end = p->payload_offset;
    if (end > size) rt_refuse("trailer section lengths exceed the file size: file is truncated or corrupt");
    for (int i = 0; i < 3; ++i) {
        if (lens[i] > size || end > size - lens[i])
            rt_refuse("trailer section lengths exceed the file size: file is truncated or corrupt");
        end += lens[i];
    }
    if (end != p->signature_offset) rt_refuse("trailer offsets are inconsistent: corrupt package");
    if (p->signature_offset + SIGNATURE + TRAILER != size)
        rt_refuse("file size %zu does not match the trailer (expected %llu): truncated or modified package", size,
                  (unsigned long long)(p->signature_offset + SIGNATURE + TRAILER));
    if (p->manifest_len > (1u << 20)) rt_refuse("manifest is larger than 1 MiB");
    if (p->table_len > (64u << 20)) rt_refuse("file table is larger than 64 MiB");

    // Signature first: nothing below is trusted until it verifies.
    uint8_t digest[32];
    rt_sha256(f, p->signature_offset, digest);
    uint8_t msg[sizeof kSigDomain + 64 + TRAILER];
    memcpy(msg, kSigDomain, sizeof kSigDomain);
    rt_hex(digest, 32, (char*)msg + sizeof kSigDomain);  // its NUL is overwritten by the trailer
    memcpy(msg + sizeof kSigDomain + 64, t, TRAILER);
    uint8_t keyhash[32];
    rt_sha256(p->key, 32, keyhash);
    rt_hex(keyhash, 32, p->fpr);
    if (crypto_sign_ed25519_verify_detached(f + p->signature_offset, msg, sizeof msg, p->key) != 0)
        rt_refuse(
            "signature does not verify with publisher key %.16s…: the package was modified or corrupted "
            "after signing",
            p->fpr);

    decode_manifest(p, (const char*)f + p->payload_offset, p->manifest_len);
    decode_table(p, f + p->payload_offset + p->manifest_len, p->table_len);
    p->chunk_section = f + p->payload_offset + p->manifest_len + p->table_len;
}

// ---- trust -----------------------------------------------------------------------------------

static int b64val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

size_t rt_load_key_file(const char* path, uint8_t (**keys)[32], size_t count) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) rt_fail("cannot read public key file %s: %s", path, strerror(errno));
    char text[256];
    ssize_t got = read(fd, text, sizeof text - 1);
    close(fd);
    text[got > 0 ? got : 0] = 0;
    static const char kPrefix[] = "portico-ed25519 ";
    const char* b64 = text + sizeof kPrefix - 1;
    uint8_t raw[96];
    size_t len = 0;
    unsigned acc = 0;
    int bits = 0;
    bool ok = strncmp(text, kPrefix, sizeof kPrefix - 1) == 0;
    for (const char* s = b64; ok && *s && *s != '=' && *s != '\n'; ++s) {
        int v = b64val(*s);
        if (v < 0 || len >= sizeof raw) {
            ok = false;
            break;
        }
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) bits -= 8, raw[len++] = (uint8_t)(acc >> bits);
    }
    if (!ok || len != 32) rt_fail("%s is not a portico-ed25519 public key file", path);
    uint8_t(*grown)[32] = rt_alloc((count + 1) * 32);
    if (count) memcpy(grown, *keys, count * 32);
    memcpy(grown[count], raw, 32);
    *keys = grown;
    return count + 1;
}

size_t rt_load_default_trust(uint8_t (**keys)[32]) {
    const char* home = rt_env_or("HOME", "/tmp");
    const char* cfg = rt_env_or("XDG_CONFIG_HOME", NULL);
    char* dir = cfg ? rt_fmt("%s/portico/trusted-keys", cfg) : rt_fmt("%s/.config/portico/trusted-keys", home);
    DIR* d = opendir(dir);
    size_t n = 0;
    if (!d) return 0;
    for (struct dirent* de; (de = readdir(d));) {
        size_t len = strlen(de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".pub") == 0)
            n = rt_load_key_file(rt_fmt("%s/%s", dir, de->d_name), keys, n);
    }
    closedir(d);
    return n;
}

void rt_check_trust(const RtPackage* p, uint8_t (*keys)[32], size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (memcmp(keys[i], p->key, 32) == 0) return;
    rt_refuse("publisher key %s is not in the trust list (%zu trusted key(s))", p->fpr, n);
}

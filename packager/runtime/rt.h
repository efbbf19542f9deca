#pragma once
// The package runtime: the small, statically linked (musl) program at the front of every
// .portico file. It verifies the package it belongs to, extracts it into the chunk cache and runs
// it in a user+mount+pid namespace sandbox. Single-threaded; it exits on any error (there is
// nothing to recover: the process exists to run one package). Written in C so that it links
// without libstdc++ and stays ~150 KB, since every package carries a copy. See ../FORMAT.md.

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RT_EXIT_REFUSED 65  // verification failed: nothing from the package ran
#define RT_EXIT_SANDBOX 126

// Exits with "portico-pack: REFUSED: <message>" and status 65.
_Noreturn void rt_refuse(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// Exits with "portico-pack: error: <message>" and status 1.
_Noreturn void rt_fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// Exits with "portico-pack: sandbox: <message>: <errno text>" and status 126.
_Noreturn void rt_die(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void rt_warn(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

void* rt_alloc(size_t n);  // never returns NULL; the process is short-lived, nothing is freed
char* rt_strndup(const char* s, size_t n);
char* rt_fmt(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
const char* rt_env_or(const char* name, const char* fallback);

// SHA-256, with the x86 SHA extensions when the CPU has them (8x faster than portable C; the
// whole package is hashed on every launch).
typedef struct {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t n;
} RtSha256;
void rt_sha256_init(RtSha256* s);
void rt_sha256_update(RtSha256* s, const void* data, size_t len);
void rt_sha256_final(RtSha256* s, uint8_t out[32]);
void rt_sha256(const void* data, size_t len, uint8_t out[32]);
void rt_hex(const uint8_t* b, size_t n, char* out);  // out holds 2n+1

// Minimal JSON reader for the manifest (objects, arrays, strings, numbers, literals).
enum { RT_JNULL, RT_JBOOL, RT_JNUM, RT_JSTR, RT_JARR, RT_JOBJ };
typedef struct RtJson RtJson;
struct RtJson {
    int type;
    char* str;      // RT_JSTR
    double num;     // RT_JNUM, RT_JBOOL
    size_t n;       // RT_JARR, RT_JOBJ
    RtJson* items;  // n values
    char** keys;    // RT_JOBJ: n keys
};
RtJson* rt_json_parse(const char* text, size_t len, const char** error);
const RtJson* rt_json_get(const RtJson* obj, const char* key);  // NULL if absent / not an object

// The package (see FORMAT.md). All pointers into the mapped file or the arena.
enum { RT_FILE = 0, RT_DIR = 1, RT_SYMLINK = 2, RT_WHITEOUT = 3 };
typedef struct {
    uint8_t hash[32];
    uint64_t offset, comp_size, raw_size;
} RtChunk;
typedef struct {
    char* path;
    int type;
    uint32_t mode;
    uint32_t chunk;
    uint64_t size;
    char* target;
} RtEntry;
typedef struct {
    char* name;
    char* path;
} RtEntryPoint;
typedef struct {
    const uint8_t* file;
    size_t size;
    uint32_t format;
    uint64_t payload_offset, manifest_len, table_len, chunks_len, signature_offset;
    uint8_t key[32];
    char fpr[65];
    // manifest
    char *name, *version, *isolation, *publisher, *loader, *icon, *created;
    RtEntryPoint* entries;
    size_t nentries;
    char** library_path;
    size_t nlibrary_path;
    // file table
    RtChunk* chunks;
    uint32_t nchunks;
    RtEntry* files;
    uint32_t nfiles;
    const uint8_t* chunk_section;
} RtPackage;

bool rt_has_trailer(const uint8_t* file, size_t size);
bool rt_has_appended_data(const uint8_t* exe, size_t size);
// Size, trailer, signature, THEN manifest and table; refuses (exit 65) naming what is wrong.
void rt_parse_package(const uint8_t* file, size_t size, RtPackage* p);
// Loads "portico-ed25519 <base64>" key files; returns the count. Fails on an unreadable file.
size_t rt_load_key_file(const char* path, uint8_t (**keys)[32], size_t count);
size_t rt_load_default_trust(uint8_t (**keys)[32]);
void rt_check_trust(const RtPackage* p, uint8_t (*keys)[32], size_t n);

// Extraction into the chunk cache; returns the assembled root.
char* rt_ensure_extracted(const RtPackage* p, const char* cache_dir);

// Runs argv in the sandbox (forks; returns the exit status). `defer_cleanup`: the stale overlay
// work dirs this launch set aside are removed by a detached low-priority process after the app
// exits, not before this returns (sandbox.c, "overlay work dirs").
int rt_sandbox_exec(const char* mode, const char* root, const char* sandbox, char** argv, const char* name,
                    const char* const* whiteouts, size_t nwhiteouts, bool defer_cleanup);

// Filesystem helpers.
void rt_mkdir_p(const char* path, unsigned mode);
void rt_rm_rf(const char* path);
const uint8_t* rt_map_file(const char* path, size_t* size);  // NULL + errno on failure

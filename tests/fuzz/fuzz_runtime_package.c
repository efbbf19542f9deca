// libFuzzer target: the static package runtime's reader (packager/runtime/format.c), the C code at
// the front of every .portico file that reads the package it belongs to before running it.
//
// The runtime is a one-shot process, so its reader has two habits a fuzzer must work around, both
// handled here by linker wrapping (-Wl,--wrap, set in CMakeLists.txt) and not by changing it:
//   - a refusal exits the process (rt_refuse): the wrapper returns to this harness by longjmp;
//   - it never frees (rt_alloc, "nothing is freed"): allocations made while one input is parsed
//     are recorded and freed after it, so ten million inputs do not exhaust memory.
// The signature check is replaced by one that accepts (crypto_sign_ed25519_verify_detached below,
// instead of the vendored libsodium): the manifest and table parsers behind it are the attack
// surface worth fuzzing, and no fuzzer can forge Ed25519 signatures. What is accepted must obey the
// rules the runtime relies on afterwards (safe paths, chunks inside the chunk section).

#include "rt.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static jmp_buf refused_;
static int parsing_;
static void** allocs_;
static size_t nallocs_, cap_allocs_;

void* __real_calloc(size_t n, size_t size);
void __real_free(void* p);

void* __wrap_calloc(size_t n, size_t size) {
    void* p = __real_calloc(n, size);
    if (parsing_ && p) {
        if (nallocs_ == cap_allocs_) {
            cap_allocs_ = cap_allocs_ ? cap_allocs_ * 2 : 1024;
            allocs_ = realloc(allocs_, cap_allocs_ * sizeof *allocs_);
            if (!allocs_) abort();
        }
        allocs_[nallocs_++] = p;
    }
    return p;
}

void __wrap_free(void* p) {
    if (parsing_ && p)
        for (size_t i = nallocs_; i-- > 0;)
            if (allocs_[i] == p) {
                allocs_[i] = allocs_[--nallocs_];
                break;
            }
    __real_free(p);
}

_Noreturn void __wrap_rt_refuse(const char* fmt, ...) {
    (void)fmt;
    longjmp(refused_, 1);
}

int crypto_sign_ed25519_verify_detached(const unsigned char* sig, const unsigned char* m, unsigned long long mlen,
                                        const unsigned char* pk) {
    (void)sig, (void)m, (void)mlen, (void)pk;
    return 0;
}

static int safe_path(const char* p) {
    if (!*p || *p == '/') return 0;
    for (const char* s = p;;) {
        const char* e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return 0;
        if (!e) return 1;
        s = e + 1;
    }
}

#define CHECK(cond, what)                                                                       \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "fuzz property violated at %s:%d: %s\n", __FILE__, __LINE__, what); \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    (void)rt_has_trailer(data, size);
    (void)rt_has_appended_data(data, size);
    RtPackage p;
    parsing_ = 1;
    if (setjmp(refused_) == 0) {
        rt_parse_package(data, size, &p);
        CHECK(p.nentries > 0, "an accepted package has an entry point");
        CHECK(p.payload_offset + p.manifest_len + p.table_len + p.chunks_len <= size, "sections lie inside the file");
        for (uint32_t i = 0; i < p.nchunks; ++i)
            CHECK(p.chunks[i].offset <= p.chunks_len && p.chunks[i].comp_size <= p.chunks_len - p.chunks[i].offset,
                  "chunks lie inside the chunk section");
        for (uint32_t i = 0; i < p.nfiles; ++i) {
            CHECK(safe_path(p.files[i].path), "accepted paths are safe");
            if (p.files[i].type == RT_FILE) CHECK(p.files[i].chunk < p.nchunks, "files refer to chunks that exist");
        }
    }
    parsing_ = 0;
    for (size_t i = 0; i < nallocs_; ++i) __real_free(allocs_[i]);
    nallocs_ = 0;
    return 0;
}

// Errors, allocation, JSON and filesystem helpers of the runtime.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt.h"

static void vreport(const char* kind, const char* fmt, va_list ap, int err) {
    char buf[2048];
    vsnprintf(buf, sizeof buf, fmt, ap);
    if (err)
        dprintf(2, "portico-pack: %s%s: %s\n", kind, buf, strerror(err));
    else
        dprintf(2, "portico-pack: %s%s\n", kind, buf);
}

_Noreturn void rt_refuse(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport("REFUSED: ", fmt, ap, 0);
    _exit(RT_EXIT_REFUSED);
}

_Noreturn void rt_fail(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport("error: ", fmt, ap, 0);
    _exit(1);
}

_Noreturn void rt_die(const char* fmt, ...) {
    int err = errno;
    va_list ap;
    va_start(ap, fmt);
    vreport("sandbox: ", fmt, ap, err);
    _exit(RT_EXIT_SANDBOX);
}

void rt_warn(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport("warning: ", fmt, ap, 0);
    va_end(ap);
}

void* rt_alloc(size_t n) {
    void* p = calloc(1, n ? n : 1);
    if (!p) rt_fail("out of memory (%zu bytes)", n);
    return p;
}

char* rt_strndup(const char* s, size_t n) {
    char* p = rt_alloc(n + 1);
    memcpy(p, s, n);
    return p;
}

char* rt_fmt(const char* fmt, ...) {
    va_list ap;
    char* out = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&out, fmt, ap);
    va_end(ap);
    if (n < 0) rt_fail("out of memory");
    return out;
}

const char* rt_env_or(const char* name, const char* fallback) {
    const char* v = getenv(name);
    return v && *v ? v : fallback;
}

// The common case is a directory that exists or whose parent does: one mkdir, rather than one per
// component from the root (a writecopy launch makes hundreds of these).
void rt_mkdir_p(const char* path, unsigned mode) {
    if (mkdir(path, mode) == 0 || errno == EEXIST) return;
    if (errno != ENOENT) rt_die("mkdir %s", path);
    const char* slash = strrchr(path, '/');
    if (slash && slash != path) {
        char* parent = rt_strndup(path, (size_t)(slash - path));
        rt_mkdir_p(parent, mode);
        free(parent);
    }
    if (mkdir(path, mode) != 0 && errno != EEXIST) rt_die("mkdir %s", path);
}

static int rm_one(const char* path, const struct stat* st, int flag, struct FTW* ftw) {
    (void)st, (void)ftw;
    if (flag == FTW_DP) {
        if (rmdir(path) != 0 && errno != ENOENT) chmod(path, 0700), rmdir(path);
    } else if (unlink(path) != 0 && errno != ENOENT) {
        rt_warn("cannot remove %s: %s", path, strerror(errno));
    }
    return 0;
}

// Directories of the root are made writable first (the package may carry 0555 directories).
static int chmod_dirs(const char* path, const struct stat* st, int flag, struct FTW* ftw) {
    (void)ftw;
    if (flag == FTW_D && (st->st_mode & 0700) != 0700) chmod(path, (st->st_mode & 07777) | 0700);
    return 0;
}

void rt_rm_rf(const char* path) {
    nftw(path, chmod_dirs, 32, FTW_PHYS);
    nftw(path, rm_one, 32, FTW_PHYS | FTW_DEPTH);
}

const uint8_t* rt_map_file(const char* path, size_t* size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        errno = EINVAL;
        return NULL;
    }
    *size = (size_t)st.st_size;
    void* m = *size ? mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0) : (void*)"";
    int err = errno;
    close(fd);
    errno = err;
    return m == MAP_FAILED ? NULL : m;
}

// ---- JSON ----------------------------------------------------------------------------------

typedef struct {
    const char* p;
    const char* end;
    const char* err;
    int depth;
} Parser;

static void skip_ws(Parser* ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t')) ps->p++;
}

static bool parse_value(Parser* ps, RtJson* out);

static void put_utf8(char** o, unsigned cp) {
    char* q = *o;
    if (cp < 0x80)
        *q++ = (char)cp;
    else if (cp < 0x800)
        *q++ = (char)(0xC0 | cp >> 6), *q++ = (char)(0x80 | (cp & 63));
    else if (cp < 0x10000)
        *q++ = (char)(0xE0 | cp >> 12), *q++ = (char)(0x80 | ((cp >> 6) & 63)), *q++ = (char)(0x80 | (cp & 63));
    else
        *q++ = (char)(0xF0 | cp >> 18), *q++ = (char)(0x80 | ((cp >> 12) & 63)), *q++ = (char)(0x80 | ((cp >> 6) & 63)),
        *q++ = (char)(0x80 | (cp & 63));
    *o = q;
}

static bool hex4(Parser* ps, unsigned* v) {
    if (ps->end - ps->p < 4) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) {
        char c = *ps->p++;
        *v <<= 4;
        if (c >= '0' && c <= '9')
            *v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            *v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            *v |= (unsigned)(c - 'A' + 10);
        else
            return false;
    }
    return true;
}

static bool parse_string(Parser* ps, char** out) {
    ps->p++;  // opening quote
    const char* s = ps->p;
    while (ps->p < ps->end && *ps->p != '"') ps->p += *ps->p == '\\' ? 2 : 1;
    if (ps->p >= ps->end) return ps->err = "unterminated string", false;
    char* o = rt_alloc((size_t)(ps->p - s) + 1);
    *out = o;
    const char* end = ps->p;
    ps->p = s;
    while (ps->p < end) {
        char c = *ps->p++;
        if ((unsigned char)c < 0x20) return ps->err = "control character in string", false;
        if (c != '\\') {
            *o++ = c;
            continue;
        }
        c = *ps->p++;
        switch (c) {
            case '"':
            case '\\':
            case '/': *o++ = c; break;
            case 'b': *o++ = '\b'; break;
            case 'f': *o++ = '\f'; break;
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 't': *o++ = '\t'; break;
            case 'u': {
                unsigned cp, lo;
                if (!hex4(ps, &cp)) return ps->err = "bad \\u escape", false;
                if (cp >= 0xD800 && cp < 0xDC00) {
                    if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
                        return ps->err = "lone surrogate", false;
                    ps->p += 2;
                    if (!hex4(ps, &lo) || lo < 0xDC00 || lo > 0xDFFF) return ps->err = "bad surrogate pair", false;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp < 0xE000) {
                    return ps->err = "lone surrogate", false;
                }
                if (cp == 0) return ps->err = "NUL in string", false;
                put_utf8(&o, cp);  // never longer than the 6-byte escape it replaces
                break;
            }
            default: return ps->err = "bad escape", false;
        }
    }
    *o = 0;
    ps->p = end + 1;
    return true;
}

static bool parse_container(Parser* ps, RtJson* out, bool object) {
    if (++ps->depth > 32) return ps->err = "nesting too deep", false;
    ps->p++;
    size_t cap = 0;
    out->type = object ? RT_JOBJ : RT_JARR;
    skip_ws(ps);
    char close = object ? '}' : ']';
    if (ps->p < ps->end && *ps->p == close) return ps->p++, ps->depth--, true;
    for (;;) {
        if (out->n == cap) {
            cap = cap ? cap * 2 : 8;
            RtJson* items = rt_alloc(cap * sizeof *items);
            char** keys = rt_alloc(cap * sizeof *keys);
            if (out->n)
                memcpy(items, out->items, out->n * sizeof *items), memcpy(keys, out->keys, out->n * sizeof *keys);
            out->items = items, out->keys = keys;
        }
        skip_ws(ps);
        if (object) {
            if (ps->p >= ps->end || *ps->p != '"') return ps->err = "expected a key", false;
            if (!parse_string(ps, &out->keys[out->n])) return false;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p++ != ':') return ps->err = "expected ':'", false;
        }
        if (!parse_value(ps, &out->items[out->n++])) return false;
        skip_ws(ps);
        if (ps->p >= ps->end) return ps->err = "unterminated container", false;
        char c = *ps->p++;
        if (c == close) break;
        if (c != ',') return ps->err = "expected ',' or end of container", false;
    }
    ps->depth--;
    return true;
}

static bool parse_value(Parser* ps, RtJson* out) {
    skip_ws(ps);
    if (ps->p >= ps->end) return ps->err = "unexpected end", false;
    char c = *ps->p;
    if (c == '{' || c == '[') return parse_container(ps, out, c == '{');
    if (c == '"') return out->type = RT_JSTR, parse_string(ps, &out->str);
    static const char* lits[] = {"true", "false", "null"};
    for (int i = 0; i < 3; ++i) {
        size_t n = strlen(lits[i]);
        if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, lits[i], n) == 0) {
            ps->p += n;
            out->type = i == 2 ? RT_JNULL : RT_JBOOL;
            out->num = i == 0;
            return true;
        }
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        // Numbers are only checked for syntax and read as integers (the manifest's numbers are
        // small counters); strtod would add 6 KB to every package.
        bool neg = c == '-';
        if (neg) ps->p++;
        const char* start = ps->p;
        double v = 0;
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') v = v * 10 + (*ps->p++ - '0');
        if (ps->p == start) return ps->err = "bad number", false;
        if (ps->p < ps->end && *ps->p == '.') {
            const char* f = ++ps->p;
            while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
            if (ps->p == f) return ps->err = "bad number", false;
        }
        if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
            ps->p++;
            if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) ps->p++;
            const char* e = ps->p;
            while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
            if (ps->p == e) return ps->err = "bad number", false;
        }
        out->type = RT_JNUM;
        out->num = neg ? -v : v;
        return true;
    }
    return ps->err = "unexpected character", false;
}

RtJson* rt_json_parse(const char* text, size_t len, const char** error) {
    Parser ps = {text, text + len, NULL, 0};
    RtJson* root = rt_alloc(sizeof *root);
    if (!parse_value(&ps, root)) return *error = ps.err, NULL;
    skip_ws(&ps);
    if (ps.p != ps.end) return *error = "trailing data", NULL;
    return root;
}

const RtJson* rt_json_get(const RtJson* obj, const char* key) {
    if (!obj || obj->type != RT_JOBJ) return NULL;
    for (size_t i = 0; i < obj->n; ++i)
        if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    return NULL;
}

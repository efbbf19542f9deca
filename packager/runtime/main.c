// portico-pack-runtime: the front of every .portico file. Executed as a package it verifies and
// runs itself; as a bare program it runs a package given by path (`portico-pack run` uses that,
// so a package is always verified by a runtime the caller trusts, never by its own), runs a
// session host's launch (--package: the host's trust list required, --verify-only before the
// session starts), or runs a command in a sandbox for `portico-pack capture`.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt.h"

static int usage(void) {
    dprintf(2,
            "usage: portico-pack-runtime PACKAGE [--portico-isolation=merged|writecopy|full] [--portico-entry=NAME]\n"
            "         [--portico-reset] [--portico-trust=KEY.pub]... [--portico-inspect] [ARGS...]\n"
            "       portico-pack-runtime --package PACKAGE (--trust-dir DIR | --trust KEY.pub)... [--verify-only]\n"
            "         [--isolation MODE] [--entry NAME] [-- ARGS...]   (a host's launch: trust list required)\n"
            "       portico-pack-runtime --portico-sandbox-exec MODE ROOT SANDBOX NAME -- COMMAND...\n"
            "A package runs directly: ./app.portico [--portico-*] ARGS...\n");
    return 2;
}

static char* resolve_in_root(const char* root, const char* path, int depth) {
    if (depth > 40) return rt_fmt("%s%s", root, path);
    char* cur = "";
    for (const char* s = path; *s;) {
        while (*s == '/') s++;
        if (!*s) break;
        const char* e = strchrnul(s, '/');
        int len = (int)(e - s);
        if (len == 1 && s[0] == '.') {
            s = e;
            continue;
        }
        if (len == 2 && s[0] == '.' && s[1] == '.') {
            char* k = strrchr(cur, '/');
            cur = k ? rt_strndup(cur, (size_t)(k - cur)) : "";
            s = e;
            continue;
        }
        char* next = rt_fmt("%s/%.*s", cur, len, s);
        char* full = rt_fmt("%s%s", root, next);
        struct stat st;
        if (lstat(full, &st) == 0 && S_ISLNK(st.st_mode)) {
            char buf[PATH_MAX];
            ssize_t n = readlink(full, buf, sizeof buf - 1);
            if (n <= 0) return full;
            buf[n] = 0;
            return resolve_in_root(root, buf[0] == '/' ? rt_fmt("%s%s", buf, e) : rt_fmt("%s/%s%s", cur, buf, e),
                                   depth + 1);
        }
        cur = next;
        s = e;
    }
    return rt_fmt("%s%s", root, cur);
}

static void inspect(const RtPackage* p) {
    uint64_t raw = 0;
    for (uint32_t i = 0; i < p->nchunks; ++i) raw += p->chunks[i].raw_size;
    printf(
        "package:    %s %s\npublisher:  %s, key sha256 %s\nsignature:  valid\nisolation:  %s\n"
        "created:    %s\nloader:     %s\n",
        p->name, p->version, *p->publisher ? p->publisher : "(unnamed)", p->fpr, p->isolation, p->created, p->loader);
    for (size_t i = 0; i < p->nentries; ++i) printf("entry:      %s = %s\n", p->entries[i].name, p->entries[i].path);
    printf("files:      %u entries, %u chunks, %llu bytes unpacked, %llu bytes compressed\nruntime:    %llu bytes\n",
           p->nfiles, p->nchunks, (unsigned long long)raw, (unsigned long long)p->chunks_len,
           (unsigned long long)p->payload_offset);
    for (uint32_t i = 0; i < p->nfiles; ++i) {
        const RtEntry* e = &p->files[i];
        static const char kinds[] = "fdlw";
        printf("%c %04o %s", kinds[e->type], e->mode, e->path);
        if (e->type == RT_SYMLINK) printf(" -> %s", e->target);
        if (e->type == RT_FILE) printf(" (%llu bytes)", (unsigned long long)e->size);
        if (e->type == RT_WHITEOUT) printf(" (deleted)");
        printf("\n");
    }
}

// What one launch asks for, from --portico-* arguments (direct use) or --package flags (a host).
typedef struct {
    const char* isolation;  // NULL = the manifest's
    const char* entry;      // NULL = the first entry point
    bool reset, inspect, verify_only;
    bool host;  // --package: trust list required, the user's own list ignored
    uint8_t (*keys)[32];
    size_t nkeys, ntrust;  // keys loaded; --portico-trust / --trust / --trust-dir given
    char** args;           // the app's arguments
    int nargs;
} Launch;

// Every *.pub in `dir`; refuses (a host's trust list must exist) if the directory cannot be read.
static size_t load_trust_dir(const char* dir, uint8_t (**keys)[32], size_t n) {
    DIR* d = opendir(dir);
    if (!d)
        rt_refuse(
            "cannot read the trusted publisher keys directory %s: %s (see packager/FORMAT.md, \"Trusted launch\")", dir,
            strerror(errno));
    for (struct dirent* de; (de = readdir(d));) {
        size_t len = strlen(de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".pub") == 0)
            n = rt_load_key_file(rt_fmt("%s/%s", dir, de->d_name), keys, n);
    }
    closedir(d);
    return n;
}

static int run_package(const char* path, Launch* l) {
    size_t size = 0;
    const uint8_t* file = rt_map_file(path, &size);
    if (!file) rt_fail("cannot open %s: %s", path, strerror(errno));
    RtPackage p;
    rt_parse_package(file, size, &p);
    if (!l->ntrust && !l->host) l->nkeys = rt_load_default_trust(&l->keys);
    // A host starts only packages by publishers its admin trusts; direct use without a list
    // still proves integrity and names the signer (FORMAT.md, "Signature").
    if (l->host && !l->nkeys)
        rt_refuse(
            "no trusted publisher keys configured for packages: the trust list is empty (give --trust-dir DIR "
            "holding the publishers' *.pub keys; see packager/FORMAT.md, \"Trusted launch\")");
    if (l->nkeys) rt_check_trust(&p, l->keys, l->nkeys);
    if (l->inspect) {
        inspect(&p);
        return 0;
    }
    const char* mode = l->isolation ? l->isolation : p.isolation;
    if (strcmp(mode, "merged") && strcmp(mode, "writecopy") && strcmp(mode, "full"))
        rt_fail("unknown isolation mode '%s' (merged|writecopy|full)", mode);
    const RtEntryPoint* ep = &p.entries[0];
    if (l->entry) {
        ep = NULL;
        for (size_t i = 0; i < p.nentries; ++i)
            if (!strcmp(p.entries[i].name, l->entry) || !strcmp(p.entries[i].path, l->entry)) ep = &p.entries[i];
        if (!ep) rt_fail("package has no entry point '%s'", l->entry);
    }
    if (l->verify_only) {
        printf("verified: %s %s, publisher %s, key sha256 %s (trusted)\n", p.name, p.version,
               *p.publisher ? p.publisher : "(unnamed)", p.fpr);
        return 0;
    }
    const char* home = rt_env_or("HOME", "/tmp");
    const char* xc = rt_env_or("XDG_CACHE_HOME", NULL);
    const char* xd = rt_env_or("XDG_DATA_HOME", NULL);
    char* cache = xc ? rt_fmt("%s/portico", xc) : rt_fmt("%s/.cache/portico", home);
    char* sb =
        xd ? rt_fmt("%s/portico/sandbox/%s", xd, p.name) : rt_fmt("%s/.local/share/portico/sandbox/%s", home, p.name);

    char* root = rt_ensure_extracted(&p, cache);
    if (l->reset) rt_rm_rf(sb);
    rt_mkdir_p(sb, 0755);
    char sbreal[PATH_MAX];
    if (!realpath(sb, sbreal)) rt_fail("cannot resolve %s: %s", sb, strerror(errno));

    // The app runs through the package's own loader, so the host's libc never matters.
    bool merged = !strcmp(mode, "merged");
    char* libs = "";
    for (size_t i = 0; i < p.nlibrary_path; ++i) {
        const char* d = merged ? resolve_in_root(root, p.library_path[i], 0) : p.library_path[i];
        libs = rt_fmt("%s%s%s", libs, *libs ? ":" : "", d);
    }
    char** av = rt_alloc((size_t)(l->nargs + 8) * sizeof *av);
    int n = 0;
    av[n++] = merged ? resolve_in_root(root, p.loader, 0) : p.loader;
    av[n++] = "--inhibit-cache";
    av[n++] = "--library-path";
    av[n++] = libs;
    av[n++] = "--argv0";
    av[n++] = ep->path;
    av[n++] = merged ? resolve_in_root(root, ep->path, 0) : ep->path;
    for (int i = 0; i < l->nargs; ++i) av[n++] = l->args[i];
    av[n] = NULL;

    const char** whiteouts = rt_alloc((p.nfiles + 1) * sizeof *whiteouts);
    size_t nw = 0;
    for (uint32_t i = 0; i < p.nfiles; ++i)
        if (p.files[i].type == RT_WHITEOUT) whiteouts[nw++] = rt_fmt("/%s", p.files[i].path);
    char* name = p.name;
    // The mapping is not needed any more; the app should not inherit it.
    munmap((void*)file, size);
    return rt_sandbox_exec(mode, root, sbreal, av, name, whiteouts, nw, true);
}

// Direct use: `./app.portico ARGS` or `portico-pack-runtime PKG ARGS`; --portico-* anywhere are ours.
static int run_direct(const char* path, int argc, char** argv) {
    Launch l = {0};
    l.args = rt_alloc((size_t)(argc + 1) * sizeof *l.args);
    for (int i = 0; i < argc; ++i) {
        const char* a = argv[i];
        if (!strncmp(a, "--portico-isolation=", 20))
            l.isolation = a + 20;
        else if (!strncmp(a, "--portico-entry=", 16))
            l.entry = a + 16;
        else if (!strcmp(a, "--portico-reset"))
            l.reset = true;
        else if (!strcmp(a, "--portico-inspect"))
            l.inspect = true;
        else if (!strncmp(a, "--portico-trust=", 16))
            l.nkeys = rt_load_key_file(a + 16, &l.keys, l.nkeys), l.ntrust++;
        else
            l.args[l.nargs++] = argv[i];
    }
    return run_package(path, &l);
}

// A host's launch: `--package FILE (--trust-dir DIR | --trust KEY.pub)... [--verify-only]
// [--isolation M] [--entry N] -- ARGS`. The trust list is required, the user's own list is
// ignored, and everything after `--` goes to the app untouched (an argument can change nothing).
static int run_host(int argc, char** argv) {
    Launch l = {0};
    l.host = true;
    const char* path = NULL;
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--"); ++i) {
        const char* a = argv[i];
        bool has_value = i + 1 < argc && strcmp(argv[i + 1], "--");
        if (!strcmp(a, "--verify-only"))
            l.verify_only = true;
        else if (!has_value)
            break;
        else if (!strcmp(a, "--package"))
            path = argv[++i];
        else if (!strcmp(a, "--trust-dir"))
            l.nkeys = load_trust_dir(argv[++i], &l.keys, l.nkeys), l.ntrust++;
        else if (!strcmp(a, "--trust"))
            l.nkeys = rt_load_key_file(argv[++i], &l.keys, l.nkeys), l.ntrust++;
        else if (!strcmp(a, "--isolation"))
            l.isolation = argv[++i];
        else if (!strcmp(a, "--entry"))
            l.entry = argv[++i];
        else
            break;
    }
    if (i < argc && strcmp(argv[i], "--"))
        rt_fail("unknown or incomplete option '%s' (run portico-pack-runtime alone for its usage)", argv[i]);
    if (!path) rt_fail("--package FILE is required");
    if (!l.ntrust)
        rt_refuse(
            "no trusted publisher keys configured for packages (give --trust-dir DIR holding the publishers' "
            "*.pub keys; see packager/FORMAT.md, \"Trusted launch\")");
    if (i < argc) ++i;  // "--"
    l.args = argv + i;
    l.nargs = argc - i;
    return run_package(path, &l);
}

int main(int argc, char** argv) {
    size_t size = 0;
    const uint8_t* self = rt_map_file("/proc/self/exe", &size);
    if (!self) rt_fail("cannot read /proc/self/exe: %s", strerror(errno));
    if (rt_has_trailer(self, size)) {
        munmap((void*)self, size);
        return run_direct("/proc/self/exe", argc - 1, argv + 1);  // never falls through to the CLI
    }
    if (rt_has_appended_data(self, size)) rt_refuse("this package has no valid trailer: it is truncated or corrupt");
    munmap((void*)self, size);
    if (argc >= 8 && !strcmp(argv[1], "--portico-sandbox-exec") && !strcmp(argv[6], "--")) {
        char sbreal[PATH_MAX];
        rt_mkdir_p(argv[4], 0755);
        if (!realpath(argv[4], sbreal)) rt_fail("cannot resolve %s: %s", argv[4], strerror(errno));
        return rt_sandbox_exec(argv[2], argv[3], sbreal, argv + 7, argv[5], NULL, 0, false);
    }
    if (argc >= 2 && !strcmp(argv[1], "--package")) return run_host(argc, argv);
    if (argc < 2 || argv[1][0] == '-') return usage();
    return run_direct(argv[1], argc - 2, argv + 2);
}

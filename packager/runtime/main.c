// portico-pack-runtime: the front of every .portico file. Executed as a package it verifies and
// runs itself; as a bare program it runs a package given by path (`portico-pack run` uses that,
// so a package is always verified by a runtime the caller trusts, never by its own) or runs a
// command in a sandbox for `portico-pack capture`.
#define _GNU_SOURCE
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
        if (len == 1 && s[0] == '.') { s = e; continue; }
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
            return resolve_in_root(root, buf[0] == '/' ? rt_fmt("%s%s", buf, e) : rt_fmt("%s/%s%s", cur, buf, e), depth + 1);
        }
        cur = next;
        s = e;
    }
    return rt_fmt("%s%s", root, cur);
}

static void inspect(const RtPackage* p) {
    uint64_t raw = 0;
    for (uint32_t i = 0; i < p->nchunks; ++i) raw += p->chunks[i].raw_size;
    printf("package:    %s %s\npublisher:  %s, key sha256 %s\nsignature:  valid\nisolation:  %s\n"
           "created:    %s\nloader:     %s\n",
           p->name, p->version, *p->publisher ? p->publisher : "(unnamed)", p->fpr, p->isolation, p->created,
           p->loader);
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

static int run_package(const char* path, int argc, char** argv) {
    const char *isolation = NULL, *entry = NULL;
    bool reset = false, want_inspect = false;
    uint8_t (*keys)[32] = NULL;
    size_t nkeys = 0, ntrust = 0;
    char** app_args = rt_alloc((size_t)(argc + 1) * sizeof *app_args);
    int nargs = 0;
    for (int i = 0; i < argc; ++i) {
        const char* a = argv[i];
        if (!strncmp(a, "--portico-isolation=", 20)) isolation = a + 20;
        else if (!strncmp(a, "--portico-entry=", 16)) entry = a + 16;
        else if (!strcmp(a, "--portico-reset")) reset = true;
        else if (!strcmp(a, "--portico-inspect")) want_inspect = true;
        else if (!strncmp(a, "--portico-trust=", 16)) nkeys = rt_load_key_file(a + 16, &keys, nkeys), ntrust++;
        else app_args[nargs++] = argv[i];
    }
    size_t size = 0;
    const uint8_t* file = rt_map_file(path, &size);
    if (!file) rt_fail("cannot open %s: %s", path, strerror(errno));
    RtPackage p;
    rt_parse_package(file, size, &p);
    if (!ntrust) nkeys = rt_load_default_trust(&keys);
    if (nkeys) rt_check_trust(&p, keys, nkeys);
    if (want_inspect) {
        inspect(&p);
        return 0;
    }
    const char* home = rt_env_or("HOME", "/tmp");
    const char* xc = rt_env_or("XDG_CACHE_HOME", NULL);
    const char* xd = rt_env_or("XDG_DATA_HOME", NULL);
    char* cache = xc ? rt_fmt("%s/portico", xc) : rt_fmt("%s/.cache/portico", home);
    char* sb = xd ? rt_fmt("%s/portico/sandbox/%s", xd, p.name) : rt_fmt("%s/.local/share/portico/sandbox/%s", home, p.name);

    char* root = rt_ensure_extracted(&p, cache);
    const char* mode = isolation ? isolation : p.isolation;
    if (strcmp(mode, "merged") && strcmp(mode, "writecopy") && strcmp(mode, "full"))
        rt_fail("unknown isolation mode '%s' (merged|writecopy|full)", mode);
    const RtEntryPoint* ep = &p.entries[0];
    if (entry) {
        ep = NULL;
        for (size_t i = 0; i < p.nentries; ++i)
            if (!strcmp(p.entries[i].name, entry) || !strcmp(p.entries[i].path, entry)) ep = &p.entries[i];
        if (!ep) rt_fail("package has no entry point '%s'", entry);
    }
    if (reset) rt_rm_rf(sb);
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
    char** av = rt_alloc((size_t)(nargs + 8) * sizeof *av);
    int n = 0;
    av[n++] = merged ? resolve_in_root(root, p.loader, 0) : p.loader;
    av[n++] = "--inhibit-cache";
    av[n++] = "--library-path";
    av[n++] = libs;
    av[n++] = "--argv0";
    av[n++] = ep->path;
    av[n++] = merged ? resolve_in_root(root, ep->path, 0) : ep->path;
    for (int i = 0; i < nargs; ++i) av[n++] = app_args[i];
    av[n] = NULL;

    const char** whiteouts = rt_alloc((p.nfiles + 1) * sizeof *whiteouts);
    size_t nw = 0;
    for (uint32_t i = 0; i < p.nfiles; ++i)
        if (p.files[i].type == RT_WHITEOUT) whiteouts[nw++] = rt_fmt("/%s", p.files[i].path);
    char* name = p.name;
    // The mapping is not needed any more; the app should not inherit it.
    munmap((void*)file, size);
    return rt_sandbox_exec(mode, root, sbreal, av, name, whiteouts, nw);
}

int main(int argc, char** argv) {
    size_t size = 0;
    const uint8_t* self = rt_map_file("/proc/self/exe", &size);
    if (!self) rt_fail("cannot read /proc/self/exe: %s", strerror(errno));
    if (rt_has_trailer(self, size)) {
        munmap((void*)self, size);
        return run_package("/proc/self/exe", argc - 1, argv + 1);  // never falls through to the CLI
    }
    if (rt_has_appended_data(self, size)) rt_refuse("this package has no valid trailer: it is truncated or corrupt");
    munmap((void*)self, size);
    if (argc >= 8 && !strcmp(argv[1], "--portico-sandbox-exec") && !strcmp(argv[6], "--")) {
        char sbreal[PATH_MAX];
        rt_mkdir_p(argv[4], 0755);
        if (!realpath(argv[4], sbreal)) rt_fail("cannot resolve %s: %s", argv[4], strerror(errno));
        return rt_sandbox_exec(argv[2], argv[3], sbreal, argv + 7, argv[5], NULL, 0);
    }
    if (argc < 2 || argv[1][0] == '-') return usage();
    return run_package(argv[1], argc - 2, argv + 2);
}

// Chunk cache extraction and the unprivileged namespace sandbox (FORMAT.md "Runtime cache and
// sandbox").
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ZSTD_STATIC_LINKING_ONLY
#include "rt.h"
#include "zstd.h"

static bool exists_l(const char* p) {
    struct stat st;
    return lstat(p, &st) == 0;
}

static void write_all(const char* path, const uint8_t* data, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) rt_fail("cannot write chunk cache %s: %s", path, strerror(errno));
    while (n) {
        ssize_t w = write(fd, data, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) rt_fail("cannot write chunk cache %s: %s", path, strerror(errno));
        data += w, n -= (size_t)w;
    }
    if (close(fd) != 0) rt_fail("cannot write chunk cache %s: %s", path, strerror(errno));
}

static char* parent_of(const char* path) {
    const char* s = strrchr(path, '/');
    return rt_strndup(path, s ? (size_t)(s - path) : 0);
}

// A whiteout in the package root is what overlayfs itself uses: a 0/0 character device (which
// an unprivileged user may create since Linux 5.8). It hides the host's file in writecopy.
static void make_whiteout(const char* dst) {
    if (mknod(dst, S_IFCHR | 0, makedev(0, 0)) != 0)
        rt_warn("cannot create whiteout %s (%s): that deletion will not show", dst, strerror(errno));
}

// ---- verifying what the cache holds ----------------------------------------------------------
//
// The cache lives in the user's home, so anything that ran as the user (an app of an earlier
// session, a script) can change it. Nothing in it is trusted: a reused chunk is re-hashed against
// its content address, and an assembled root is compared with the verified file table on every
// launch (content, types, symlink targets, and no extra entries), so a change made between
// launches never runs. A process running as the same user *during* the launch can still race it,
// but it already has every right the app would have.

// SHA-256 of the regular file at `path` (never through a symlink); false if it is not one or
// cannot be read. `st` receives its metadata.
static bool hash_regular_file(const char* path, struct stat* st, uint8_t out[32]) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return false;
    bool ok = fstat(fd, st) == 0 && S_ISREG(st->st_mode);
    // read() into one buffer rather than mmap: no page fault per page of a file read once.
    static uint8_t buf[1 << 18];
    RtSha256 h;
    rt_sha256_init(&h);
    uint64_t total = 0;
    while (ok) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            ok = n == 0 && total == (uint64_t)st->st_size;
            break;
        }
        rt_sha256_update(&h, buf, (size_t)n);
        total += (uint64_t)n;
    }
    rt_sha256_final(&h, out);
    close(fd);
    return ok;
}

// True if the cached chunk at `cpath` is a regular file whose content hashes to its address.
static bool chunk_intact(const char* cpath, const RtChunk* c) {
    struct stat st;
    uint8_t got[32];
    return hash_regular_file(cpath, &st, got) && (uint64_t)st.st_size == c->raw_size && memcmp(got, c->hash, 32) == 0;
}

// State of one root walk (nftw has no user pointer; the runtime is single-threaded).
static struct {
    const RtPackage* p;
    size_t root_len;
    char** sorted;    // table paths, sorted
    uint32_t* index;  // sorted position -> table entry
    ino_t* verified;  // per chunk: inode already hashed (hard links share one), 0 = none
    uint32_t seen;    // table entries found
    char* problem;    // first mismatch, NULL = none
} g_walk;

static int cmp_index(const void* a, const void* b) {
    return strcmp(g_walk.p->files[*(const uint32_t*)a].path, g_walk.p->files[*(const uint32_t*)b].path);
}

static long find_path(const char* rel) {
    size_t lo = 0, hi = g_walk.p->nfiles;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(g_walk.sorted[mid], rel);
        if (c == 0) return (long)g_walk.index[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

// A directory the extraction made for a parent the table does not list itself.
static bool implicit_dir(const char* rel) {
    size_t n = strlen(rel), lo = 0, hi = g_walk.p->nfiles;
    while (lo < hi) {  // first table path >= rel + "/"
        size_t mid = (lo + hi) / 2;
        int c = strncmp(g_walk.sorted[mid], rel, n);
        if (c < 0 || (c == 0 && (unsigned char)g_walk.sorted[mid][n] < '/'))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < g_walk.p->nfiles && strncmp(g_walk.sorted[lo], rel, n) == 0 && g_walk.sorted[lo][n] == '/';
}

static int check_one(const char* path, const struct stat* st, int flag, struct FTW* ftw) {
    (void)flag;
    if (ftw->level == 0) return 0;
    const char* rel = path + g_walk.root_len + 1;
    long i = find_path(rel);
    if (i < 0) {
        bool stub = ftw->level == 1 && (!strcmp(rel, "proc") || !strcmp(rel, "dev") || !strcmp(rel, "tmp"));
        if ((stub || implicit_dir(rel)) && S_ISDIR(st->st_mode)) return 0;
        if (ftw->level == 1 && !strcmp(rel, ".portico-complete") && S_ISREG(st->st_mode) && st->st_size == 0) return 0;
        g_walk.problem = rt_fmt("'%s' is not part of the package", rel);
        return 1;
    }
    const RtEntry* f = &g_walk.p->files[i];
    g_walk.seen++;
    if (f->type == RT_DIR && S_ISDIR(st->st_mode)) return 0;
    if (f->type == RT_WHITEOUT && S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0)) return 0;
    if (f->type == RT_SYMLINK && S_ISLNK(st->st_mode)) {
        size_t want = strlen(f->target);
        char* buf = rt_alloc(want + 2);
        ssize_t n = readlink(path, buf, want + 1);
        bool same = n == (ssize_t)want && memcmp(buf, f->target, want) == 0;
        free(buf);
        if (same) return 0;
        g_walk.problem = rt_fmt("symlink '%s' points elsewhere", rel);
        return 1;
    }
    if (f->type == RT_FILE && S_ISREG(st->st_mode)) {
        const RtChunk* c = &g_walk.p->chunks[f->chunk];
        if (g_walk.verified[f->chunk] && g_walk.verified[f->chunk] == st->st_ino) return 0;
        struct stat fst;
        uint8_t got[32];
        if (!hash_regular_file(path, &fst, got) || fst.st_ino != st->st_ino || (uint64_t)fst.st_size != c->raw_size ||
            memcmp(got, c->hash, 32) != 0) {
            g_walk.problem = rt_fmt("content of '%s' does not match its hash in the package", rel);
            return 1;
        }
        g_walk.verified[f->chunk] = fst.st_ino;
        return 0;
    }
    g_walk.problem = rt_fmt("'%s' has the wrong file type", rel);
    return 1;
}

// NULL if `root` holds exactly what the (verified) file table says, else what differs.
static char* root_mismatch(const RtPackage* p, const char* root) {
    memset(&g_walk, 0, sizeof g_walk);
    g_walk.p = p;
    g_walk.root_len = strlen(root);
    g_walk.index = rt_alloc((p->nfiles + 1) * sizeof *g_walk.index);
    g_walk.sorted = rt_alloc((p->nfiles + 1) * sizeof *g_walk.sorted);
    g_walk.verified = rt_alloc((p->nchunks + 1) * sizeof *g_walk.verified);
    for (uint32_t i = 0; i < p->nfiles; ++i) g_walk.index[i] = i;
    qsort(g_walk.index, p->nfiles, sizeof *g_walk.index, cmp_index);
    for (uint32_t i = 0; i < p->nfiles; ++i) g_walk.sorted[i] = p->files[g_walk.index[i]].path;
    uint32_t whiteouts = 0;
    for (uint32_t i = 0; i < p->nfiles; ++i) whiteouts += p->files[i].type == RT_WHITEOUT;
    if (nftw(root, check_one, 32, FTW_PHYS) != 0 && !g_walk.problem)
        g_walk.problem = rt_fmt("cannot read it (%s)", strerror(errno));
    // A whiteout the kernel would not let us create is missing by design (a warning at extraction).
    if (!g_walk.problem && (g_walk.seen > p->nfiles || g_walk.seen + whiteouts < p->nfiles))
        g_walk.problem = rt_fmt("%u of its %u entries are missing", p->nfiles - g_walk.seen, p->nfiles);
    free(g_walk.index);
    free(g_walk.sorted);
    free(g_walk.verified);
    return g_walk.problem;
}

char* rt_ensure_extracted(const RtPackage* p, const char* cache) {
    uint8_t id[32];
    char hex[65];
    rt_sha256(p->file + p->signature_offset, 64, id);
    rt_hex(id, 16, hex);
    char* root = rt_fmt("%s/roots/%s-%s", cache, p->name, hex);
    if (exists_l(rt_fmt("%s/.portico-complete", root))) {
        char* why = root_mismatch(p, root);
        if (!why) return root;
        // Removed so that the next launch extracts a fresh copy from the (verified) package; the
        // tampered chunk goes too (a hard link shares the changed inode).
        for (uint32_t i = 0; i < p->nchunks; ++i) {
            char h[65];
            rt_hex(p->chunks[i].hash, 32, h);
            char* cpath = rt_fmt("%s/chunks/%s", cache, h);
            if (exists_l(cpath) && !chunk_intact(cpath, &p->chunks[i])) unlink(cpath);
        }
        rt_rm_rf(root);
        rt_refuse(
            "the cached copy of package '%s' was modified after it was extracted (%s, in %s): nothing of it "
            "ran; the cached copy was removed, so the next launch extracts it again from the package",
            p->name, why, root);
    }

    char* chunks = rt_fmt("%s/chunks", cache);
    rt_mkdir_p(chunks, 0755);
    rt_mkdir_p(rt_fmt("%s/roots", cache), 0755);
    char* tmp = rt_fmt("%s.tmp.%d", root, (int)getpid());
    rt_rm_rf(tmp);
    rt_mkdir_p(tmp, 0755);
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    if (!dctx) rt_fail("out of memory");
    uint8_t* done = rt_alloc(p->nchunks + 1);
    for (uint32_t i = 0; i < p->nfiles; ++i) {
        const RtEntry* f = &p->files[i];
        char* dst = rt_fmt("%s/%s", tmp, f->path);
        rt_mkdir_p(parent_of(dst), 0755);
        if (f->type == RT_DIR) {
            rt_mkdir_p(dst, 0755);
            chmod(dst, (f->mode & 0777) | 0700);
        } else if (f->type == RT_SYMLINK) {
            if (symlink(f->target, dst) != 0) rt_fail("cannot create symlink %s: %s", dst, strerror(errno));
        } else if (f->type == RT_WHITEOUT) {
            make_whiteout(dst);
        } else {
            const RtChunk* c = &p->chunks[f->chunk];
            char h[65];
            rt_hex(c->hash, 32, h);
            char* cpath = rt_fmt("%s/%s", chunks, h);
            if (!done[f->chunk] && exists_l(cpath) && !chunk_intact(cpath, c)) {
                rt_warn("cached chunk %.16s (%s) does not match its hash: replacing it from the package", h, f->path);
                if (unlink(cpath) != 0) rt_fail("cannot remove tampered chunk %s: %s", cpath, strerror(errno));
            }
            if (!done[f->chunk] && !exists_l(cpath)) {
                const uint8_t* comp = p->chunk_section + c->offset;
                if (ZSTD_getFrameContentSize(comp, c->comp_size) != c->raw_size)
                    rt_refuse("chunk %.16s (%s) has a bad zstd frame header", h, f->path);
                uint8_t* raw = malloc(c->raw_size ? c->raw_size : 1);
                if (!raw) rt_fail("out of memory for chunk %.16s (%llu bytes)", h, (unsigned long long)c->raw_size);
                size_t n = ZSTD_decompressDCtx(dctx, raw, c->raw_size, comp, c->comp_size);
                if (ZSTD_isError(n) || n != c->raw_size) rt_refuse("chunk %.16s (%s) does not decompress", h, f->path);
                uint8_t got[32];
                rt_sha256(raw, c->raw_size, got);
                if (memcmp(got, c->hash, 32) != 0)
                    rt_refuse("chunk %.16s (%s) content does not match its hash", h, f->path);
                char* ctmp = rt_fmt("%s.tmp.%d", cpath, (int)getpid());
                write_all(ctmp, raw, c->raw_size);
                free(raw);
                chmod(ctmp, 0555);
                if (rename(ctmp, cpath) != 0) rt_fail("cannot rename %s: %s", ctmp, strerror(errno));
            }
            done[f->chunk] = 1;
            // Hard links share the chunk's mode (0555): fine for a read-only root. A copy (other
            // file system, link limit) gets the file's own mode.
            if (link(cpath, dst) != 0) {
                size_t n;
                const uint8_t* data = rt_map_file(cpath, &n);
                if (!data) rt_fail("cannot read %s: %s", cpath, strerror(errno));
                write_all(dst, data, n);
                chmod(dst, f->mode & 0777);
            }
        }
    }
    ZSTD_freeDCtx(dctx);
    static const char* stubs[] = {"proc", "dev", "tmp"};
    for (int i = 0; i < 3; ++i) {
        char* d = rt_fmt("%s/%s", tmp, stubs[i]);
        if (!exists_l(d)) mkdir(d, 0755);
    }
    write_all(rt_fmt("%s/.portico-complete", tmp), (const uint8_t*)"", 0);
    if (rename(tmp, root) != 0) {
        // Another launch finished first (same content), or something else is in the way (a root
        // left unfinished, or made by someone): keep it only if it holds exactly the package.
        if (!root_mismatch(p, root)) {
            rt_rm_rf(tmp);
        } else {
            rt_rm_rf(root);
            if (rename(tmp, root) != 0) rt_fail("cannot place %s: %s", root, strerror(errno));
        }
    }
    return root;
}

// ---- sandbox ---------------------------------------------------------------------------------

static void write_text(const char* path, const char* text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        dprintf(2, "portico-pack: cannot write %s: %s\n", path, strerror(errno));
        _exit(RT_EXIT_SANDBOX);
    }
    close(fd);
}

static void must_mount(const char* src, const char* dst, const char* type, unsigned long flags, const char* data) {
    if (mount(src, dst, type, flags, data) != 0) rt_die("mount %s %s on %s", type ? type : "bind", src ? src : "", dst);
}

static bool mount_overlay(const char* lower, const char* upper, const char* work, const char* target) {
    char* opts;
    if (upper) {
        rt_mkdir_p(upper, 0755);
        rt_mkdir_p(work, 0755);
        opts = rt_fmt("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
    } else {
        opts = rt_fmt("lowerdir=%s", lower);  // read-only overlay
    }
    // userxattr lets an unprivileged user namespace own the overlay (kernel >= 5.11).
    if (mount("overlay", target, "overlay", 0, rt_fmt("%s,userxattr", opts)) == 0) return true;
    return mount("overlay", target, "overlay", 0, opts) == 0;
}

static void bind_host(const char* host, const char* target) {
    rt_mkdir_p(target, 0755);
    must_mount(host, target, NULL, MS_BIND | MS_REC, NULL);
}

static void mount_proc(const char* target) {
    rt_mkdir_p(target, 0755);
    if (mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) bind_host("/proc", target);
}

static bool is_under(const char* path, const char* dir) {
    size_t n = strlen(dir);
    return strcmp(path, dir) == 0 ||
           (strlen(path) > n && strncmp(path, dir, n) == 0 && (strcmp(dir, "/") == 0 || path[n] == '/'));
}

static bool is_whiteout(const struct stat* st) { return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0); }

static int cmp_name(const void* x, const void* y) { return strcmp(*(char* const*)x, *(char* const*)y); }

// Sorted union of the names in two directories (`b` may be NULL).
static size_t list_union(const char* a, const char* b, char*** out) {
    size_t n = 0, cap = 64;
    char** names = rt_alloc(cap * sizeof *names);
    const char* dirs[2] = {a, b};
    for (int k = 0; k < 2; ++k) {
        DIR* d = dirs[k] ? opendir(dirs[k]) : NULL;
        if (!d) continue;
        for (struct dirent* de; (de = readdir(d));) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            if (n == cap) {
                char** g = rt_alloc(cap * 2 * sizeof *g);
                memcpy(g, names, n * sizeof *g);
                names = g, cap *= 2;
            }
            names[n++] = rt_strndup(de->d_name, strlen(de->d_name));
        }
        closedir(d);
    }
    qsort(names, n, sizeof *names, cmp_name);
    size_t m = 0;
    for (size_t i = 0; i < n; ++i)
        if (m == 0 || strcmp(names[m - 1], names[i]) != 0) names[m++] = names[i];
    *out = names;
    return m;
}

// ---- overlay work dirs ----------------------------------------------------------------------
//
// overlayfs needs an empty work dir on the upper dir's file system, and at every mount it empties
// the one it is given by removing and re-creating work/work. Freeing that directory was most of a
// writecopy launch: one per overlay, and on a file system that discards freed blocks
// synchronously (ext4 -o discard without a journal, as on the bench machine) 2-4 ms each, all
// before the app starts. So a launch first moves each stale work/work into the sandbox's trash/
// (a rename: nothing is freed), the kernel makes a fresh one (a mkdir is cheap), and the trash is
// emptied by a low-priority process started after the app has exited. Launches of one package
// in one mode at the same time were never supported (they share the upper dirs).

// Moves `work`/work out of overlayfs's way into `trash` under a name no other launch uses.
static void recycle_work_dir(const char* work, const char* trash) {
    static unsigned n;
    char* stale = rt_fmt("%s/work", work);
    if (chmod(stale, 0700) != 0) return;  // none yet (the kernel makes it mode 0: a move needs write access)
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char* dst = rt_fmt("%s/%d.%llx.%u", trash, (int)getpid(),
                       (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec, n++);
    if (rename(stale, dst) != 0) {
        rt_mkdir_p(trash, 0700);
        if (rename(stale, dst) != 0) chmod(stale, 0);  // left to the kernel's own clean-up
    }
}

// Empties the trash. `defer` (a package run, whose caller exits next): in a process of its own
// session at idle priority that outlives the caller, so nobody waits for it; otherwise (capture,
// which removes the sandbox next) here.
static void empty_trash(const char* trash, bool defer) {
    struct stat st;
    // Its entries are directories, so a link count of 2 means empty (1: a file system that does
    // not count them).
    if (lstat(trash, &st) != 0 || st.st_nlink == 2) return;
    if (defer) {
        if (fork() != 0) return;  // not waited for: reparented when the caller exits
        setsid();
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        for (int fd = 0; fd < 3 && null >= 0; ++fd) dup2(null, fd);  // no warnings on the caller's terminal
        if (nice(19) == -1) {
        }
        syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, 3 << 13 /* IOPRIO_CLASS_IDLE */);
    }
    DIR* d = opendir(trash);
    for (struct dirent* de; d && (de = readdir(d));)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) rt_rm_rf(rt_fmt("%s/%s", trash, de->d_name));
    if (d) closedir(d);
    if (defer) _exit(0);
}

// Mount points of this mount namespace (/proc/self/mountinfo, octal escapes decoded). A host
// directory with a mount point below it cannot be an overlay lower dir: in our user namespace
// every inherited mount is locked, and the kernel refuses to clone a tree with locked mounts in
// it ("failed to clone lowerpath"). Knowing them up front spares a failing mount (and the RCU
// grace period its cleanup waits for) per such directory.
static char** g_mounts;
static size_t g_nmounts;

static void load_mount_points(void) {
    size_t size = 0;
    int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    char* text = NULL;
    if (fd >= 0) {
        size_t cap = 1 << 16;
        text = rt_alloc(cap + 1);
        for (ssize_t n; (n = read(fd, text + size, cap - size)) > 0;) {
            size += (size_t)n;
            if (size == cap) {
                char* bigger = rt_alloc(cap * 2 + 1);
                memcpy(bigger, text, size);
                free(text);
                text = bigger, cap *= 2;
            }
        }
        close(fd);
    }
    if (!text) return;  // unknown: every directory is tried as a lower dir, and split if refused
    text[size] = 0;
    size_t lines = 0;
    for (size_t i = 0; i < size; ++i) lines += text[i] == '\n';
    g_mounts = rt_alloc((lines + 1) * sizeof *g_mounts);
    for (char* line = text; *line;) {
        char* end = strchrnul(line, '\n');
        char* f = line;  // the fifth field is the mount point
        for (int field = 0; field < 4 && f < end; ++field) {
            char* sp = memchr(f, ' ', (size_t)(end - f));
            f = sp ? sp + 1 : end;
        }
        char* out = rt_alloc((size_t)(end - f) + 1);
        size_t n = 0;
        for (char* c = f; c < end && *c != ' '; ++c) {
            if (c[0] == '\\' && c + 3 < end && c[1] >= '0' && c[1] <= '3' && c[2] >= '0' && c[2] <= '7' &&
                c[3] >= '0' && c[3] <= '7') {
                out[n++] = (char)(((c[1] - '0') << 6) | ((c[2] - '0') << 3) | (c[3] - '0'));
                c += 3;
            } else {
                out[n++] = *c;
            }
        }
        if (n) g_mounts[g_nmounts++] = out;
        line = *end ? end + 1 : end;
    }
    free(text);
}

static bool mount_point_below(const char* dir) {
    for (size_t i = 0; i < g_nmounts; ++i)
        if (strcmp(g_mounts[i], dir) != 0 && is_under(g_mounts[i], dir)) return true;
    return false;
}

// writecopy: the host tree appears read-only with writes copied up into the sandbox. One overlay
// (package dir above host dir, upper = sandbox/writecopy/upper/<dir>) per directory that holds no
// mount point; a directory that does is split: its entries are overlaid one by one (so are the
// directories above $HOME that are not the caller's). The sandbox may lie inside a lower dir (it
// is in $HOME): the kernel allows an upper dir inside a lower one and answers ELOOP for the upper
// and work dirs inside the overlay, and rt_sandbox_exec() hides the sandbox itself. So a launch
// makes one overlay per top-level directory plus one per entry of the few directories that hold
// mounts or lie above $HOME, however deep the sandbox is. (Splitting every directory on the way
// to the sandbox made ~2.5x as many mounts for a $HOME below /var/tmp.)
typedef struct {
    const char* sb;        // the sandbox: hidden
    const char* pkgroot;   // the package's cached root: its dirs lie above the host's
    const char* mode_dir;  // sb/writecopy: upper/ (the copied-up writes) and split/
    const char* trash;     // where stale overlay work dirs go (see recycle_work_dir)
    const char* foreign;   // the deepest dir above $HOME that is not the caller's, or NULL
} Writecopy;

// overlayfs refuses (EOVERFLOW) to copy up a directory whose owner or group is not mapped in the
// user namespace (only the caller's are), so a write in $HOME would fail where a directory above
// it is someone else's (/home is root's): those are split, down to the deepest one, and $HOME is
// writable wherever the caller may write. Found before the user namespace exists, where owners
// are still told apart (inside it every unmapped id reads as 65534).
static char* deepest_foreign_above_home(uid_t uid, gid_t gid) {
    char home[PATH_MAX];
    if (!realpath(rt_env_or("HOME", "/"), home)) return NULL;
    char* deepest = NULL;
    for (char* s = strchr(home + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = 0;
        struct stat st;
        if (lstat(home, &st) == 0 && (st.st_uid != uid || st.st_gid != gid)) deepest = rt_strndup(home, strlen(home));
        *s = '/';
    }
    return deepest;
}

// ---- migrating an older runtime's split dirs ------------------------------------------------
//
// Runtimes before December 2026 split every directory on the way to the sandbox, backing each by
// sandbox/writecopy/split/<dir>; files an app created directly in one (e.g. $HOME/notes.txt) are
// there. Where such a directory is now one overlay, its old backing is moved into the overlay's
// upper dir before the overlay is mounted, so the app finds its files where it left them. Besides
// the app's files a backing holds what the old runtime made for the lower dirs' entries: empty
// files (mount points for a host file), copies of symlinks, empty dirs (mount points) and, for a
// child directory that was split too, that child's own backing; those are dropped or walked. Never
// overwritten: an entry the upper dir (or the lower dirs) already has keeps its name and the old one
// becomes <name>.portico-migrated-<n>. Once moved, the backing is removed, so a later launch pays
// one lstat per overlaid directory (and the reading of the empty mount-point dir that a directory
// below a still-split one has in split/ anyway): no marker is needed.

// A directory of the upper dir, made (with the lower dir's mode, as overlayfs's copy-up would)
// only when something is moved into it.
typedef struct UpperDir {
    const char* path;
    mode_t mode;
    const struct UpperDir* parent;
    bool ready;
} UpperDir;

static bool ensure_upper(UpperDir* u) {
    if (u->ready) return true;
    if (!u->parent) {  // the overlay's upper dir itself, made as mount_overlay() would
        rt_mkdir_p(u->path, u->mode);
        return u->ready = true;
    }
    if (!ensure_upper((UpperDir*)u->parent)) return false;
    if (mkdir(u->path, u->mode) == 0)
        chmod(u->path, u->mode);  // the umask's share
    else if (errno != EEXIST)
        return false;
    return u->ready = true;
}

// rename(2) that never replaces an existing entry.
static bool move_noreplace(const char* from, const char* to) {
    if (syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 1 /* RENAME_NOREPLACE */) == 0) return true;
    if (errno != EINVAL && errno != ENOSYS) return false;
    struct stat st;  // a file system without RENAME_NOREPLACE (nothing else writes the sandbox now)
    if (lstat(to, &st) == 0) return errno = EEXIST, false;
    return rename(from, to) == 0;
}

// The entry the lower dirs (package dir above host dir) show for `name`; false if none.
static bool lower_entry(const char* host, const char* pkg, const char* name, char** path, struct stat* st) {
    if (pkg) {
        *path = rt_fmt("%s/%s", pkg, name);
        if (lstat(*path, st) == 0) return !is_whiteout(st);
    }
    *path = rt_fmt("%s/%s", host, name);
    return lstat(*path, st) == 0;
}

static bool same_link(const char* a, const char* b) {
    char x[PATH_MAX], y[PATH_MAX];
    ssize_t n = readlink(a, x, sizeof x), m = readlink(b, y, sizeof y);
    return n >= 0 && n == m && memcmp(x, y, (size_t)n) == 0;
}

// Moves `from` into `u` as `name`, or as <name>.portico-migrated-<n> where the upper or the lower
// dirs already have `name`.
static void move_in(const char* from, UpperDir* u, const char* name, bool taken, const char* host, const char* pkg) {
    if (!ensure_upper(u)) {
        rt_warn("cannot migrate %s: cannot create %s (%s); left where it is", from, u->path, strerror(errno));
        return;
    }
    for (unsigned n = 0; n < 1000; ++n) {
        char* as = n ? rt_fmt("%s.portico-migrated-%u", name, n) : rt_strndup(name, strlen(name));
        char* lp;
        struct stat lst;
        if ((n == 0 && taken) || (n && lower_entry(host, pkg, as, &lp, &lst))) continue;
        if (move_noreplace(from, rt_fmt("%s/%s", u->path, as))) {
            if (n) rt_warn("%s/%s: kept the newer entry; the one an older runtime left is now %s", host, name, as);
            return;
        }
        if (errno != EEXIST) break;
    }
    rt_warn("cannot migrate %s into %s (%s); left where it is", from, u->path, strerror(errno));
}

// Moves what an app left in the old backing `old` of host dir `host` (package dir `pkg`, or
// NULL) into `u`; drops what the old runtime made there itself.
static void migrate_dir(const char* old, UpperDir* u, const char* host, const char* pkg) {
    char** names;
    size_t n = list_union(old, NULL, &names);
    for (size_t i = 0; i < n; ++i) {
        char* from = rt_fmt("%s/%s", old, names[i]);
        char* lpath;
        struct stat st, lst, ust;
        if (lstat(from, &st) != 0) continue;
        bool in_lower = lower_entry(host, pkg, names[i], &lpath, &lst);
        char* up = rt_fmt("%s/%s", u->path, names[i]);
        bool in_upper = lstat(up, &ust) == 0;
        if (S_ISDIR(st.st_mode) &&
            ((in_lower && S_ISDIR(lst.st_mode)) || (!in_lower && in_upper && S_ISDIR(ust.st_mode))) &&
            (!in_upper || S_ISDIR(ust.st_mode))) {
            // A mount point, a split child's backing, or a directory both runtimes wrote: merged.
            UpperDir child = {up, in_lower ? (lst.st_mode & 07777) : (st.st_mode & 07777), u, in_upper};
            char* pkgchild = pkg ? rt_fmt("%s/%s", pkg, names[i]) : NULL;
            migrate_dir(from, &child, rt_fmt("%s/%s", host, names[i]), pkgchild);
            if (rmdir(from) != 0 && errno != ENOTEMPTY && errno != EEXIST)
                rt_warn("cannot remove %s: %s", from, strerror(errno));
            continue;
        }
        // What the old runtime made for a lower entry (replaced at its every launch, read-only to
        // the app): dropped, unless it holds something after all.
        bool stub = in_lower && ((S_ISREG(st.st_mode) && st.st_size == 0) || is_whiteout(&st) ||
                                 (S_ISLNK(st.st_mode) && S_ISLNK(lst.st_mode) && same_link(from, lpath)) ||
                                 (S_ISDIR(st.st_mode) && rmdir(from) == 0));
        if (stub) {
            if (!S_ISDIR(st.st_mode) && unlink(from) != 0) rt_warn("cannot remove %s: %s", from, strerror(errno));
            continue;
        }
        move_in(from, u, names[i], in_lower || in_upper, host, pkg);
    }
}

// Before `host` (now one overlay, upper dir `upper`) is mounted: migrates its old backing, if any.
static void migrate_split(const Writecopy* w, const char* host, const char* rel, const char* pkgdir,
                          const char* upper) {
    char* old = rt_fmt("%s/split/%s", w->mode_dir, rel);
    struct stat st, ust;
    if (lstat(old, &st) != 0 || !S_ISDIR(st.st_mode)) return;  // the common case
    UpperDir u = {upper, 0755, NULL, lstat(upper, &ust) == 0};
    if (u.ready && !S_ISDIR(ust.st_mode)) return;
    migrate_dir(old, &u, host, pkgdir);
    // Below a directory that is still split, split/<rel> is that directory's mount point for this
    // overlay (it is the target): kept. A top-level one is the old backing only.
    if (!strchr(rel, '/') && rmdir(old) != 0 && errno != ENOTEMPTY && errno != EEXIST)
        rt_warn("cannot remove %s: %s", old, strerror(errno));
}

static void overlay_host_dir(const Writecopy* w, const char* host, const char* target) {
    bool is_root = strcmp(host, "/") == 0;
    const char* rel = is_root ? "" : host + 1;
    struct stat st;
    if (strcmp(host, w->sb) == 0) {  // the sandbox itself stays hidden
        rt_mkdir_p(target, 0755);
        return;
    }
    char* pkgdir = rt_fmt("%s%s", w->pkgroot, host);
    bool pkg_has_dir = lstat(pkgdir, &st) == 0 && S_ISDIR(st.st_mode);
    // Two lower dirs one inside the other are refused (ELOOP), as is a tree holding mounts.
    // The caller must own the dirs above $HOME (see deepest_foreign_above_home).
    bool split = is_root || mount_point_below(host) || (pkg_has_dir && is_under(w->pkgroot, host)) ||
                 (w->foreign && is_under(w->foreign, host));
    rt_mkdir_p(target, 0755);
    if (!split) {
        const char* lower = pkg_has_dir ? rt_fmt("%s:%s", pkgdir, host) : host;
        char* work = rt_fmt("%s/work/%s", w->mode_dir, rel);
        char* upper = rt_fmt("%s/upper/%s", w->mode_dir, rel);
        migrate_split(w, host, rel, pkg_has_dir ? pkgdir : NULL, upper);
        recycle_work_dir(work, w->trash);
        if (mount_overlay(lower, upper, work, target)) return;
        // Refused after all (e.g. a mount made since mountinfo was read): split it too.
    }
    if (!is_root) {
        // New files directly in a split directory must persist too: back it with its own dir
        // (kept apart from the overlay uppers, because the mount-point stubs made below would
        // otherwise shadow real files in a later run where this directory is not split).
        char* backing = rt_fmt("%s/split/%s", w->mode_dir, rel);
        rt_mkdir_p(backing, 0755);
        must_mount(backing, target, NULL, MS_BIND, NULL);
    }
    char** names;
    size_t n = list_union(host, rt_fmt("%s%s", w->pkgroot, host), &names);
    for (size_t i = 0; i < n; ++i) {
        const char* name = names[i];
        char* child = rt_fmt("%s/%s", is_root ? "" : host, name);
        char* t = rt_fmt("%s/%s", target, name);
        if (is_root) {
            if (!strcmp(name, ".portico-complete")) continue;  // the cache's marker, not a file of the package
            if (!strcmp(name, "proc")) {
                mount_proc(t);
                continue;
            }
            if (!strcmp(name, "dev") || !strcmp(name, "sys") || !strcmp(name, "tmp") || !strcmp(name, "run")) {
                bind_host(child, t);
                continue;
            }
        }
        char* pkg = rt_fmt("%s%s", w->pkgroot, child);
        struct stat pst, hst;
        bool pkg_has = lstat(pkg, &pst) == 0;
        if (pkg_has && is_whiteout(&pst)) continue;  // deleted by the package's installer
        bool pkg_dir = pkg_has && S_ISDIR(pst.st_mode);
        bool host_has = lstat(child, &hst) == 0;
        const char* src = child;
        if ((pkg_has && !pkg_dir) || !host_has) src = pkg;
        if (lstat(src, &st) != 0) continue;
        if (!S_ISDIR(st.st_mode)) unlink(t);
        if (S_ISLNK(st.st_mode)) {
            char buf[4096];
            ssize_t len = readlink(src, buf, sizeof buf - 1);
            if (len >= 0) buf[len] = 0, symlink(buf, t);
        } else if (S_ISDIR(st.st_mode)) {
            if (host_has && S_ISDIR(hst.st_mode))
                overlay_host_dir(w, child, t);
            else
                bind_host(src, t);
        } else {
            close(open(t, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
            if (mount(src, t, NULL, MS_BIND, NULL) == 0) mount(NULL, t, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL);
        }
    }
}

// merged: the host root as it is, except that a path the package deleted is hidden: its
// directory gets a read-only overlay of (package dir with the whiteout) over the host dir.
static void hide_in_merged(const char* pkgroot, const char* const* whiteouts, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        char* dir = parent_of(whiteouts[i]);
        if (!*dir) continue;  // a top-level entry: not hidden (the root cannot be overlaid)
        bool again = false;
        for (size_t k = 0; k < i; ++k) again |= strcmp(parent_of(whiteouts[k]), dir) == 0;
        struct stat st;
        if (again || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        if (!mount_overlay(rt_fmt("%s%s:%s", pkgroot, dir, dir), NULL, NULL, dir))
            rt_warn("cannot hide %s in merged isolation: %s", whiteouts[i], strerror(errno));
    }
}

static void pivot_into(const char* newroot) {
    if (chdir(newroot) != 0) rt_die("chdir %s", newroot);
    if (syscall(SYS_pivot_root, ".", ".") != 0) rt_die("pivot_root");
    if (umount2(".", MNT_DETACH) != 0) rt_die("detach old root");
    if (chdir("/") != 0) rt_die("chdir /");
}

// pid 1 of the new pid namespace: starts the app and reaps until it exits, so the app itself
// keeps normal signal semantics (pid 1 would ignore SIGINT/SIGTERM without handlers).
static _Noreturn void init_and_exec(char** argv) {
    pid_t app = fork();
    if (app == 0) {
        execv(argv[0], argv);
        dprintf(2, "portico-pack: cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status = 0;
    for (;;) {
        pid_t w = waitpid(-1, &status, 0);
        if (w == app) break;
        if (w < 0 && errno != EINTR) _exit(126);
    }
    if (WIFSIGNALED(status)) _exit(128 + WTERMSIG(status));
    _exit(WEXITSTATUS(status));
}

// The exit status the sandbox's outer process sent through `fd`; false if it ended without one.
static bool read_status(int fd, int* status) {
    ssize_t n;
    while ((n = read(fd, status, sizeof *status)) < 0 && errno == EINTR) {
    }
    close(fd);
    return n == (ssize_t)sizeof *status;
}

static int wait_status(pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

int rt_sandbox_exec(const char* mode, const char* root, const char* sb, char** argv, const char* name,
                    const char* const* whiteouts, size_t nwhiteouts, bool defer_cleanup) {
    uid_t uid = getuid();
    gid_t gid = getgid();
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) strcpy(cwd, "/");
    // The namespaces are made in a child, so the caller (capture, which reads the sandbox
    // afterwards) keeps its own view: pivot_root would otherwise move the caller's root too.
    // With `defer_cleanup` that child reports the app's exit status through `done` once every
    // process of the sandbox is gone, and the caller returns then: what is left is the
    // unmounting of the sandbox's mounts when the child exits, which makes the kernel sync the
    // upper dirs' file system once per overlay (all of it, however little the app wrote: on a busy
    // machine 2-20 ms each), and the emptying of the trash. Nothing of the app runs any more.
    char* trash = rt_fmt("%s/trash", sb);
    char* foreign = strcmp(mode, "writecopy") ? NULL : deepest_foreign_above_home(uid, gid);
    int done[2] = {-1, -1};
    if (defer_cleanup && pipe2(done, O_CLOEXEC) != 0) rt_fail("pipe failed: %s", strerror(errno));
    pid_t outer = fork();
    if (outer < 0) rt_fail("fork failed: %s", strerror(errno));
    if (outer > 0) {
        signal(SIGINT, SIG_IGN);
        signal(SIGQUIT, SIG_IGN);
        int status;
        if (!defer_cleanup || (close(done[1]), !read_status(done[0], &status))) status = wait_status(outer);
        empty_trash(trash, defer_cleanup);
        return status;
    }
    if (defer_cleanup) close(done[0]);
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID) != 0) {
        dprintf(2,
                "portico-pack: cannot create user/mount/pid namespaces (unprivileged user namespaces "
                "disabled?): %s\n",
                strerror(errno));
        _exit(RT_EXIT_SANDBOX);
    }
    write_text("/proc/self/setgroups", "deny");
    write_text("/proc/self/uid_map", rt_fmt("%u %u 1", uid, uid));
    write_text("/proc/self/gid_map", rt_fmt("%u %u 1", gid, gid));

    pid_t child = fork();
    if (child < 0) rt_die("fork");
    if (child == 0) {
        must_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
        char* mnt = rt_fmt("%s/mnt", sb);
        rt_mkdir_p(mnt, 0755);
        if (!strcmp(mode, "full")) {
            char* work = rt_fmt("%s/full/work", sb);
            recycle_work_dir(work, trash);
            if (!mount_overlay(root, rt_fmt("%s/full/upper", sb), work, mnt))
                rt_die("overlayfs in a user namespace is unavailable (needs kernel >= 5.11)");
            bind_host("/dev", rt_fmt("%s/dev", mnt));
            bind_host("/tmp", rt_fmt("%s/tmp", mnt));
            mount_proc(rt_fmt("%s/proc", mnt));
            const char* home = rt_env_or("HOME", "/tmp");
            rt_mkdir_p(rt_fmt("%s%s", mnt, home), 0755);
            pivot_into(mnt);
            if (chdir(home) != 0 && chdir("/") != 0) rt_die("chdir /");
        } else if (!strcmp(mode, "writecopy")) {
            load_mount_points();  // the inherited ones (locked), not the tree made below
            must_mount("tmpfs", mnt, "tmpfs", 0, "mode=0755");
            Writecopy w = {sb, root, rt_fmt("%s/writecopy", sb), trash, foreign};
            overlay_host_dir(&w, "/", mnt);
            // The sandbox (its upper and work dirs, the other modes' data) is not the app's to see.
            if (mount("tmpfs", rt_fmt("%s%s", mnt, sb), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      "mode=0755"))
                rt_warn("cannot hide the sandbox %s from the app: %s", sb, strerror(errno));
            pivot_into(mnt);
            if (chdir(cwd) != 0 && chdir("/") != 0) rt_die("chdir /");
        } else {
            mount_proc("/proc");
            hide_in_merged(root, whiteouts, nwhiteouts);
            if (chdir(cwd) != 0 && chdir("/") != 0) rt_die("chdir /");
        }
        setenv("PORTICO_PACKAGE", name, 1);
        setenv("PORTICO_ISOLATION", mode, 1);
        if (defer_cleanup) close(done[1]);
        init_and_exec(argv);
    }
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    // The pid namespace's init has exited, so every process of the app is gone. Our copies of
    // the caller's stdio go too, so that a reader of the app's output sees its end now.
    int status = wait_status(child);
    if (defer_cleanup) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        for (int fd = 0; fd < 3 && null >= 0; ++fd) dup2(null, fd);
        if (write(done[1], &status, sizeof status) != (ssize_t)sizeof status) {
        }
    }
    _exit(status);
}

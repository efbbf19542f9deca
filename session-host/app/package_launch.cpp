#include "session-host/app/package_launch.hpp"

#include "common/log.hpp"
#include "session-host/app/find_program.hpp"

#include <elf.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

extern char** environ;

namespace portico::host::package_launch {

namespace {

// The trailer's magics (packager/FORMAT.md, "Trailer"): the host does not link the packager, so
// it knows only these two constants of the format; everything else is the runtime's business.
constexpr std::size_t kTrailerSize = 96;
constexpr char kMagic[8] = {'P', 'O', 'R', 'T', 'I', 'C', 'O', 'P'};
constexpr char kEndMagic[8] = {'P', 'K', 'G', 'E', 'N', 'D', 'v', '1'};
constexpr std::size_t kMaxOutput = 16 * 1024;

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

bool read_at(int fd, void* buf, std::size_t n, std::uint64_t off) {
    return ::pread(fd, buf, n, static_cast<off_t>(off)) == static_cast<ssize_t>(n);
}

// End of the ELF image (headers, segments, section table) at the front of `fd`; 0 if not ELF.
std::uint64_t elf_image_end(int fd, std::uint64_t size) {
    Elf64_Ehdr eh;
    if (size < sizeof eh || !read_at(fd, &eh, sizeof eh, 0) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64)
        return 0;
    // Every table must lie inside the file (checked without sums that could wrap), else 0.
    auto inside = [size](std::uint64_t off, std::uint64_t count, std::uint64_t entry) -> std::uint64_t {
        if (off > size || (entry && count > (size - off) / entry)) return 0;
        return off + count * entry;
    };
    std::uint64_t sh_end = inside(eh.e_shoff, eh.e_shnum, eh.e_shentsize);
    std::uint64_t ph_end = inside(eh.e_phoff, eh.e_phnum, sizeof(Elf64_Phdr));
    if ((eh.e_shnum && !sh_end) || (eh.e_phnum && !ph_end)) return 0;
    std::uint64_t end = std::max(sh_end, ph_end);
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        Elf64_Phdr ph;
        if (!read_at(fd, &ph, sizeof ph, eh.e_phoff + std::uint64_t(i) * sizeof ph)) return 0;
        const std::uint64_t seg_end = inside(ph.p_offset, ph.p_filesz, 1);
        if (ph.p_filesz && !seg_end) return 0;
        end = std::max(end, seg_end);
    }
    return end;
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

// Runs argv (absolute argv[0]) with stdin from /dev/null, collecting stdout and stderr; kills it
// after `timeout_ms`. Returns the exit status (128 + signal if killed). Everything the child
// needs is prepared before fork(): the host is multi-threaded.
int run_captured(const std::vector<std::string>& args, int timeout_ms, std::string& output) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0)
        throw Refused(std::string("cannot verify the package: pipe: ") + std::strerror(errno));
    Fd read_end{out[0]};
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        ::close(out[1]);
        if (null_fd >= 0) ::close(null_fd);
        throw Refused(std::string("cannot verify the package: fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);
        if (null_fd >= 0) ::dup2(null_fd, 0);
        ::dup2(out[1], 1);
        ::dup2(out[1], 2);
        ::close_range(3, ~0u, 0);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execve(argv[0], argv.data(), environ);
        ::_exit(127);
    }
    ::close(out[1]);
    if (null_fd >= 0) ::close(null_fd);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    bool timed_out = false;
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            ::kill(pid, SIGKILL);
            break;
        }
        pollfd p{read_end.fd, POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        char buf[4096];
        ssize_t n = ::read(read_end.fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // EOF: the runtime closed its output (it has exited or is exiting)
        if (output.size() < kMaxOutput)
            output.append(buf, std::min<std::size_t>(std::size_t(n), kMaxOutput - output.size()));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out)
        throw Refused("package verification did not finish within " + std::to_string(timeout_ms / 1000) + " s");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string exe_dir() {
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::string{} : self.parent_path().string();
}

}  // namespace

bool is_package(const std::string& path) {
    Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
    struct stat st;
    if (f.fd < 0 || ::fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode)) return false;
    const auto size = static_cast<std::uint64_t>(st.st_size);
    char trailer[kTrailerSize];
    if (size >= kTrailerSize && read_at(f.fd, trailer, kTrailerSize, size - kTrailerSize) &&
        std::memcmp(trailer, kMagic, 8) == 0 && std::memcmp(trailer + 88, kEndMagic, 8) == 0)
        return true;
    // Cut short, the trailer is gone but the manifest still follows the runtime's ELF image. An
    // ordinary ELF with other data appended (an AppImage's squashfs) does not start with '{'.
    const std::uint64_t end = elf_image_end(f.fd, size);
    char next = 0;
    return end > 0 && end < size && read_at(f.fd, &next, 1, end) && next == '{';
}

std::string find_runtime(const std::string& configured) {
    std::string runtime;
    if (!configured.empty()) {
        if (::access(configured.c_str(), X_OK) != 0)
            throw Refused("the package runtime " + configured +
                          " (--package-runtime) is not executable: " + std::strerror(errno));
        runtime = configured;
    } else {
        runtime = find_program("portico-pack-runtime");
        const std::string dir = exe_dir();
        for (const char* rel : {"/portico-pack-runtime", "/../packager/portico-pack-runtime"})
            if (runtime.empty() && !dir.empty() && ::access((dir + rel).c_str(), X_OK) == 0) runtime = dir + rel;
        if (runtime.empty())
            throw Refused(
                "packages cannot start on this host: the package runtime portico-pack-runtime is not "
                "installed (give portico-host --package-runtime PATH)");
    }
    std::error_code ec;
    auto abs = std::filesystem::canonical(runtime, ec);
    if (!ec) runtime = abs.string();
    // A package's front is a runtime too; one with a package behind it is someone's app.
    if (is_package(runtime)) throw Refused("the package runtime " + runtime + " is a package, not the host's runtime");
    return runtime;
}

std::vector<std::string> resolve(const std::vector<std::string>& command, const Policy& policy) {
    if (command.empty()) return command;
    // A package needs no execute bit (the host runs its runtime, not the file), so a path is
    // checked even when find_program() would not accept it.
    std::string exe = find_program(command[0]);
    if (exe.empty() && command[0].find('/') != std::string::npos) exe = command[0];
    if (exe.empty() || !is_package(exe)) return command;  // not found: AppProcess says so
    std::error_code ec;
    auto canon = std::filesystem::canonical(exe, ec);
    const std::string package = ec ? exe : canon.string();
    if (policy.trust_dir.empty())
        throw Refused("no trusted publisher keys configured for packages: " + command[0] +
                      " is a Portico package, and this host starts packages only by publishers its admin "
                      "trusts (start portico-host with --package-trust-dir DIR holding their *.pub keys; see "
                      "packager/FORMAT.md, \"Trusted launch\")");
    const std::string runtime = find_runtime(policy.runtime);

    std::vector<std::string> options = {"--trust-dir", policy.trust_dir};
    std::vector<std::string> app_args;
    for (std::size_t i = 1; i < command.size(); ++i) {
        const std::string& a = command[i];
        if (a.rfind("--portico-entry=", 0) == 0)
            options.insert(options.end(), {"--entry", a.substr(16)});
        else if (a.rfind("--portico-isolation=", 0) == 0)
            options.insert(options.end(), {"--isolation", a.substr(20)});
        else if (a.rfind("--portico-", 0) == 0)
            throw Refused("the published command passes " + a + " to package " + command[0] +
                          ": a host launch takes only --portico-entry= and --portico-isolation= (trust comes from "
                          "--package-trust-dir)");
        else
            app_args.push_back(a);
    }

    std::vector<std::string> verify = {runtime, "--package", package};
    verify.insert(verify.end(), options.begin(), options.end());
    verify.push_back("--verify-only");
    std::string output;
    const int status = run_captured(verify, policy.verify_timeout_ms, output);
    output = trim(output);
    if (status != 0) {
        if (output.empty()) output = "the package runtime exited with status " + std::to_string(status);
        throw Refused("package " + command[0] + " refused: " + output);
    }
    log::info("package ", package, ": ", output);

    std::vector<std::string> argv = {runtime, "--package", package};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back("--");
    argv.insert(argv.end(), app_args.begin(), app_args.end());
    return argv;
}

}  // namespace portico::host::package_launch

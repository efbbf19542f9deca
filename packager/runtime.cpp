#include "packager/runtime.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "packager/format.hpp"

namespace fs = std::filesystem;

namespace portico::pack {
namespace {

std::string env_or(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

std::vector<char*> c_argv(std::vector<std::string>& v) {
    std::vector<char*> out;
    for (auto& s : v) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

}  // namespace

RuntimePaths RuntimePaths::from_env() {
    auto home = env_or("HOME", "/tmp");
    return {env_or("XDG_CACHE_HOME", home + "/.cache") + "/portico",
            env_or("XDG_DATA_HOME", home + "/.local/share") + "/portico/sandbox"};
}

std::string find_runtime() {
    auto path = env_or("PORTICO_PACK_RUNTIME", "");
    if (path.empty()) path = (fs::read_symlink("/proc/self/exe").parent_path() / "portico-pack-runtime").string();
    if (::access(path.c_str(), X_OK) != 0)
        throw std::runtime_error("package runtime " + path +
                                 " not found (build target portico-pack-runtime, or "
                                 "set PORTICO_PACK_RUNTIME)");
    return path;
}

void run_package(const std::string& package_path, const RunOptions& opt) {
    std::vector<std::string> argv = {find_runtime(), package_path};
    if (!opt.isolation.empty()) argv.push_back("--portico-isolation=" + opt.isolation);
    if (!opt.entry.empty()) argv.push_back("--portico-entry=" + opt.entry);
    if (opt.reset) argv.push_back("--portico-reset");
    for (auto& t : opt.trust_files) argv.push_back("--portico-trust=" + t);
    argv.insert(argv.end(), opt.args.begin(), opt.args.end());
    auto cargv = c_argv(argv);
    ::execv(cargv[0], cargv.data());
    throw std::runtime_error("cannot execute " + argv[0] + ": " + std::strerror(errno));
}

int sandbox_exec(const std::string& mode, const std::string& root, const std::string& sandbox,
                 const std::vector<std::string>& command, const std::string& name) {
    std::vector<std::string> argv = {find_runtime(), "--portico-sandbox-exec", mode, root, sandbox, name, "--"};
    argv.insert(argv.end(), command.begin(), command.end());
    auto cargv = c_argv(argv);
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::execv(cargv[0], cargv.data());
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

std::vector<std::vector<std::uint8_t>> load_default_trust() {
    std::vector<std::vector<std::uint8_t>> keys;
    auto dir = env_or("XDG_CONFIG_HOME", env_or("HOME", "/tmp") + "/.config") + "/portico/trusted-keys";
    std::error_code ec;
    for (auto& de : fs::directory_iterator(dir, ec))
        if (de.path().extension() == ".pub") keys.push_back(load_public_key_file(de.path().string()));
    return keys;
}

}  // namespace portico::pack

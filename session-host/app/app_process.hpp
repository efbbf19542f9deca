#pragma once
// AppProcess: the published application running inside a session's display as the host's own
// account (single-user mode; see app_launcher.hpp), in its own process group, killed with the
// host if the host dies (PR_SET_PDEATHSIG). Not thread-safe except
// where noted. As with XvfbDisplay, PDEATHSIG follows the constructing thread, so create it on a
// thread that outlives the app.

#include "session-host/app/app_launcher.hpp"

#include <string>
#include <sys/types.h>
#include <vector>

namespace portico::host {

class AppProcess final : public AppHandle {
public:
    // Starts argv[0] (looked up in PATH) with DISPLAY and XAUTHORITY set, cwd = $HOME of the host
    // user, stdin from /dev/null, stdout/stderr appended to `log_path`. `extra_env` ("NAME=value")
    // replaces inherited variables of the same name. Throws on failure.
    AppProcess(const std::vector<std::string>& argv, const std::string& display, const std::string& xauthority,
               const std::string& log_path, const std::vector<std::string>& extra_env = {});
    ~AppProcess() override;  // terminate() if still running
    AppProcess(const AppProcess&) = delete;
    AppProcess& operator=(const AppProcess&) = delete;

    pid_t pid() const { return pid_; }
    // Non-blocking: true once the process has exited (reaps it). Safe to call from any one thread.
    bool exited() override;
    int exit_status() override { return status_; }
    // SIGTERM to the whole process group, SIGKILL after `grace_ms`, then reaps.
    void terminate(int grace_ms = 2000) override;

private:
    pid_t pid_ = -1;
    bool exited_ = false;
    int status_ = 0;
};

}  // namespace portico::host

#pragma once
// AppLauncher: how an app session's program is started, and as whom.
//  - through the privileged helper (privsep/session_helper.hpp): as the portal user's own Unix
//    account, with a clean environment; the normal case, "per-user" isolation;
//  - directly, as the host's own account: only when the admin allows single-user mode, since
//    every such session can read the host's keys and every other session ("none").
// launch() blocks briefly (fork/exec, or one round trip to the helper) and is called on a session
// start worker; the handles it returns are used by one session's threads. Thread-safe.

#include <memory>
#include <string>
#include <vector>

namespace portico::host {

// One running app. exited() never blocks; terminate() blocks up to about `grace_ms`.
class AppHandle {
public:
    virtual ~AppHandle() = default;
    virtual bool exited() = 0;
    virtual int exit_status() = 0;  // meaningful once exited()
    // SIGTERM to the app's process group, SIGKILL after `grace_ms`; the helper also ends every
    // process of an account it created once its user has no other session here.
    virtual void terminate(int grace_ms = 2000) = 0;
};

struct AppLaunch {
    std::string session_id, user;   // user: the portal user the session belongs to
    std::vector<std::string> argv;  // argv[0] is looked up in the host's PATH
    std::string display;            // ":N"
    std::string cookie;             // the display's MIT-MAGIC-COOKIE-1 (raw bytes)
    std::string host_xauthority;    // the host's own copy (used when run directly)
    std::string log_path;           // the app's stdout and stderr, appended
    std::vector<std::string> env;   // extra "NAME=value" entries
};

class AppLauncher {
public:
    virtual ~AppLauncher() = default;
    // Throws std::runtime_error with a reason fit for the user ("no Unix account named ...").
    virtual std::unique_ptr<AppHandle> launch(const AppLaunch& request) = 0;
    virtual const char* isolation() const = 0;  // "per-user" or "none"
};

std::unique_ptr<AppLauncher> make_direct_launcher();
// `socket_fd`: the host's end of the helper's socket (PORTICO_SESSION_HELPER_FD); owned from here.
std::unique_ptr<AppLauncher> make_helper_launcher(int socket_fd);

}  // namespace portico::host

#pragma once
// SessionHelper: the privileged half of the session host (privilege separation as in OpenSSH).
// It runs as root, holds one socket to the unprivileged portico-host and does exactly this:
//   start   - map a portal user to a Unix account (accounts.hpp), make the session's private
//             runtime directory with its X authority, and start the app as that user, in its own
//             process group, with a clean environment; answers with a pidfd for the app;
//   stop    - SIGTERM the session's process group, SIGKILL after a grace period; for accounts
//             it created, every process of the account once the user has no other session;
//   status  - whether the app has exited, and its status.
// Every request is validated (helper_wire.hpp); nothing else is offered. When the host goes away,
// every session it started is killed and run() returns. Single-threaded.

#include "session-host/privsep/accounts.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <string>
#include <sys/types.h>

namespace portico::host::privsep {

class SessionHelper {
public:
    struct Options {
        AccountPolicy accounts;
        std::string runtime_base = "/run/portico-sessions";  // <base>/<session>: the user's, 0700
    };
    SessionHelper(Options options, int socket_fd, pid_t host_pid);

    // Serves requests until the host closes its end or exits; then ends every session. Returns
    // the host's exit status (as a shell reports it).
    int run();

    // One request (public for tests): the reply, and a descriptor to send with it (or -1; it stays
    // the helper's). `fd`, a descriptor that came with the request (or -1), is closed here.
    nlohmann::json handle(const nlohmann::json& request, int fd, int& reply_fd);

private:
    struct Session {
        pid_t pid = -1;  // leader and process group
        int pidfd = -1;
        Account account;
        std::string runtime_dir;
        bool exited = false;
        int status = 0;
        bool stopping = false;
        std::chrono::steady_clock::time_point kill_at;
    };
    nlohmann::json start(const nlohmann::json& req, int log_fd, int& reply_fd);
    nlohmann::json stop(const nlohmann::json& req);
    nlohmann::json status(const nlohmann::json& req);
    void reap();
    void advance_stops(bool force);
    void finish(std::map<std::string, Session>::iterator it);
    int next_timeout_ms() const;

    Options options_;
    int socket_ = -1;
    pid_t host_pid_ = -1;
    int host_status_ = -1;
    std::map<std::string, Session> sessions_;
};

}  // namespace portico::host::privsep

#include "session-host/app/app_launcher.hpp"

#include "session-host/app/app_process.hpp"
#include "session-host/app/find_program.hpp"
#include "session-host/privsep/helper_wire.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace portico::host {

namespace {

class DirectLauncher final : public AppLauncher {
public:
    std::unique_ptr<AppHandle> launch(const AppLaunch& r) override {
        return std::make_unique<AppProcess>(r.argv, r.display, r.host_xauthority, r.log_path, r.env);
    }
    const char* isolation() const override { return "none"; }
};

// The host's end of the helper's socket: one request and its reply at a time.
class HelperChannel {
public:
    explicit HelperChannel(int fd) : fd_(fd) {}
    ~HelperChannel() { ::close(fd_); }

    // The reply (checked for "ok"), and the descriptor that came with it in `reply_fd` if asked.
    nlohmann::json call(const nlohmann::json& request, int send_fd = -1, int* reply_fd = nullptr) {
        std::lock_guard lk(mu_);
        if (auto e = privsep::send_message(fd_, request, send_fd); !e.empty())
            throw std::runtime_error("the session helper is gone (" + e + ")");
        std::string error;
        auto got = privsep::receive_message(fd_, error);
        if (!got) throw std::runtime_error("the session helper is gone (" + error + ")");
        if (reply_fd)
            *reply_fd = got->fd;
        else if (got->fd >= 0)
            ::close(got->fd);
        if (!got->message.value("ok", false)) {
            if (reply_fd && *reply_fd >= 0) ::close(*reply_fd), *reply_fd = -1;
            throw std::runtime_error(got->message.value("error", std::string("the session helper refused")));
        }
        return got->message;
    }

private:
    int fd_;
    std::mutex mu_;
};

class HelperApp final : public AppHandle {
public:
    HelperApp(std::shared_ptr<HelperChannel> channel, std::string session_id, int pidfd)
        : channel_(std::move(channel)), id_(std::move(session_id)), pidfd_(pidfd) {}
    ~HelperApp() override {
        terminate(2000);
        if (pidfd_ >= 0) ::close(pidfd_);
    }

    bool exited() override {
        if (exited_) return true;
        pollfd p{pidfd_, POLLIN, 0};
        if (pidfd_ < 0 || ::poll(&p, 1, 0) > 0) exited_ = true;
        return exited_;
    }
    int exit_status() override {
        if (!status_known_) {
            try {
                auto r = channel_->call({{"op", "status"}, {"session", id_}});
                if (r.value("exited", false)) status_ = r.value("status", 0), status_known_ = true;
            } catch (const std::exception&) {
            }
        }
        return status_;
    }
    void terminate(int grace_ms) override {
        if (terminated_) return;
        terminated_ = true;
        try {
            channel_->call({{"op", "stop"}, {"session", id_}, {"grace_ms", grace_ms}});
        } catch (const std::exception&) {
            return;  // a helper that is gone has killed every session already
        }
        pollfd p{pidfd_, POLLIN, 0};
        if (pidfd_ >= 0) ::poll(&p, 1, grace_ms + 500);
    }

private:
    std::shared_ptr<HelperChannel> channel_;
    std::string id_;
    int pidfd_ = -1;
    bool exited_ = false, status_known_ = false, terminated_ = false;
    int status_ = 0;
};

std::string hex(const std::string& bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) out += digits[c >> 4], out += digits[c & 15];
    return out;
}

class HelperLauncher final : public AppLauncher {
public:
    explicit HelperLauncher(int fd) : channel_(std::make_shared<HelperChannel>(fd)) {}

    std::unique_ptr<AppHandle> launch(const AppLaunch& r) override {
        if (r.argv.empty()) throw std::runtime_error("empty command");
        const std::string exe = find_program(r.argv[0]);
        if (exe.empty()) throw std::runtime_error(r.argv[0] + " not found or not executable");
        std::vector<std::string> argv = r.argv;
        argv[0] = exe;
        int log_fd = ::open(r.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (log_fd < 0) throw std::runtime_error("cannot open " + r.log_path + ": " + std::strerror(errno));
        int pidfd = -1;
        try {
            channel_->call({{"op", "start"},
                            {"session", r.session_id},
                            {"user", r.user},
                            {"argv", argv},
                            {"env", r.env},
                            {"display", r.display},
                            {"cookie", hex(r.cookie)}},
                           log_fd, &pidfd);
        } catch (...) {
            ::close(log_fd);
            throw;
        }
        ::close(log_fd);
        return std::make_unique<HelperApp>(channel_, r.session_id, pidfd);
    }
    const char* isolation() const override { return "per-user"; }

private:
    std::shared_ptr<HelperChannel> channel_;
};

}  // namespace

std::unique_ptr<AppLauncher> make_direct_launcher() { return std::make_unique<DirectLauncher>(); }
std::unique_ptr<AppLauncher> make_helper_launcher(int socket_fd) { return std::make_unique<HelperLauncher>(socket_fd); }

}  // namespace portico::host

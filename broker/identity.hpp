#pragma once
// Identity: who a caller is. Password logins (throttled per user and per address, checked on the
// password workers), the login sessions they open, cookie authentication, logout, and who may read
// /metrics. Whether a user name and password match is asked of an IdentitySource: LocalUsers (the
// store's user table with Argon2 hashes) is the first; a directory (LDAP) or SSO source can
// implement the same interface later without touching the other services.
//
// Threads: login() admits on the calling thread (memory only, never blocks) and runs the check on a
// password worker, which also writes the login session and calls `done`. authenticate(), logout()
// and metrics_access() query the store: store thread (or a password worker), never a network thread.

#include "broker/api_error.hpp"
#include "broker/audit_log.hpp"
#include "broker/broker.hpp"
#include "broker/login_throttle.hpp"
#include "broker/metrics.hpp"
#include "broker/store.hpp"
#include "common/result.hpp"

#include <boost/asio/thread_pool.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace portico::broker {

class IdentitySource {
public:
    virtual ~IdentitySource() = default;
    // The user as the broker knows them when `password` is theirs, else nothing. Slow on purpose
    // (password hashing) and may block (a directory): called on a password worker only. Store
    // failures throw (StoreBusy, std::runtime_error).
    virtual std::optional<Principal> verify(const std::string& user, const std::string& password) = 0;
};

// The users in the broker's own store, with Argon2id password hashes.
class LocalUsers final : public IdentitySource {
public:
    explicit LocalUsers(Store& store);
    // An unknown user costs the same hash as a known one (a dummy hash), so timing tells nothing.
    std::optional<Principal> verify(const std::string& user, const std::string& password) override;

private:
    Store& store_;
    std::string dummy_hash_;
};

class Identity {
public:
    static constexpr std::int64_t kLoginSessionSeconds = 8 * 3600;  // the cookie's Max-Age too
    struct LoginOk {
        std::string token;  // the login cookie's value; only its SHA-256 is stored
        Role role = Role::user;
    };
    // retry_after_seconds: with rate_limited or busy, when the client may try again.
    using LoginCallback = std::function<void(Result<LoginOk, ApiErrorCode>, int retry_after_seconds)>;

    Identity(const BrokerConfig& config, Store& store, AuditLog& audit, Metrics& metrics,
             std::unique_ptr<IdentitySource> source);
    ~Identity();
    Identity(const Identity&) = delete;
    Identity& operator=(const Identity&) = delete;

    // Calls `done` exactly once: at once when refused by the throttles or a full queue, else from a
    // password worker.
    void login(const std::string& user, const std::string& password, const std::string& client_ip, LoginCallback done);
    // A login session for a user whose identity was proven otherwise (a launch file's token,
    // LaunchFiles::redeem): the cookie a password login would set. Store thread or password worker.
    LoginOk open_session(const Principal& who);
    std::optional<Principal> authenticate(const std::string& cookie_token);
    void logout(const std::string& cookie_token, const std::string& client_ip);
    // Whether a GET /metrics with this Authorization header value and login cookie may read them:
    // the scrape token (serve --metrics-token-file) as a Bearer token, or an admin's login.
    // Neither: unauthenticated; a valid login of another role: forbidden.
    Result<void, ApiErrorCode> metrics_access(const std::string& authorization, const std::string& cookie_token);
    // Drops expired login sessions (the liveness tick, now and then).
    void purge_expired(std::int64_t now);

    // The password workers, for the REST routes that hash a password (a new user, a changed
    // password): Argon2 costs ~100 ms of CPU and 64 MiB, so neither on a network nor the store thread.
    boost::asio::thread_pool::executor_type password_workers() { return workers_->get_executor(); }

    // Stops the password workers (queued checks are dropped without an answer). Before the
    // io_contexts the callbacks post to go away.
    void shutdown();

private:
    const BrokerConfig& config_;
    Store& store_;
    AuditLog& audit_;
    Metrics& metrics_;
    std::unique_ptr<IdentitySource> source_;
    std::optional<boost::asio::thread_pool> workers_;
    LoginThrottle user_throttle_;
    LoginThrottle ip_throttle_;
    std::mutex login_mu_;    // admission: both throttles and the queue are checked and counted together
    int queued_logins_ = 0;  // password checks queued or running on workers_ (under login_mu_)
};

}  // namespace portico::broker

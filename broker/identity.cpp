#include "broker/identity.hpp"

#include "common/crypto.hpp"
#include "common/log.hpp"
#include "common/utf8.hpp"

#include <boost/asio/post.hpp>
#include <openssl/crypto.h>

#include <algorithm>

namespace portico::broker {

namespace {

std::int64_t unix_millis() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Login cookies are random tokens; anything outside these bounds cannot be one.
bool plausible_token(const std::string& token) { return !token.empty() && token.size() <= 256; }

std::string token_hash(const std::string& token) { return crypto::sha256_hex(crypto::bytes_of(token)); }

}  // namespace

// ---- LocalUsers ----

LocalUsers::LocalUsers(Store& store) : store_(store), dummy_hash_(crypto::hash_password(crypto::random_token())) {}

std::optional<Principal> LocalUsers::verify(const std::string& user, const std::string& password) {
    auto hash = store_.password_hash(user);
    bool ok = crypto::verify_password(password, hash ? *hash : dummy_hash_) && hash.has_value();
    if (!ok) return std::nullopt;
    auto record = store_.user(user);
    if (!record) return std::nullopt;  // deleted while its password was checked
    return Principal{record->name, record->role};
}

// ---- Identity ----

Identity::Identity(const BrokerConfig& config, Store& store, AuditLog& audit, Metrics& metrics,
                   std::unique_ptr<IdentitySource> source)
    : config_(config),
      store_(store),
      audit_(audit),
      metrics_(metrics),
      source_(std::move(source)),
      user_throttle_(LoginThrottle::per_user(config)),
      ip_throttle_(LoginThrottle::per_address(config)) {
    workers_.emplace(static_cast<std::size_t>(std::max(1, config.worker_threads)));
}

Identity::~Identity() { shutdown(); }

void Identity::shutdown() {
    if (!workers_) return;
    workers_->stop();
    workers_->join();
    workers_.reset();
}

void Identity::login(const std::string& user, const std::string& password, const std::string& client_ip,
                     LoginCallback done) {
    const std::string user_key = "u:" + user, ip_key = "ip:" + client_ip;
    {
        // Counted before hashing, under one lock with the queue check: parallel guesses are
        // admitted one by one, so no burst gets more attempts than the throttles allow.
        std::lock_guard lk(login_mu_);
        const auto now = LoginThrottle::Clock::now();
        auto wait = std::max(user_throttle_.wait_time(user_key, now), ip_throttle_.wait_time(ip_key, now));
        if (wait.count() > 0) {
            const int secs = static_cast<int>((wait.count() + 999) / 1000);
            log::warn("login for user '", utf8_prefix(user, 128), "' from ", client_ip, " delayed ", secs,
                      " s after repeated failures");
            metrics_.logins_rate_limited++;
            done(Error<ApiErrorCode>{ApiErrorCode::rate_limited,
                                     "too many failed logins; try again in " + std::to_string(secs) + " s"},
                 secs);
            return;
        }
        if (queued_logins_ >= std::max(1, config_.max_queued_logins)) {
            // Argon2 is the costly part of a login: a bounded queue keeps a flood from taking every core.
            metrics_.logins_rate_limited++;
            done(Error<ApiErrorCode>{ApiErrorCode::rate_limited, "the broker is busy checking passwords; try again"},
                 1);
            return;
        }
        if (!workers_) return;
        user_throttle_.count(user_key, now);
        ip_throttle_.count(ip_key, now);
        ++queued_logins_;
    }
    boost::asio::post(*workers_, [this, user, password, client_ip, user_key, ip_key, done = std::move(done)] {
        // Whatever happens below, the attempt leaves the queue and its throttles learn the outcome
        // (a success clears the user's count, never the address's) before the answer goes out, so
        // the client's next attempt already sees it.
        struct Finish {
            Identity* self;
            const std::string &user_key, &ip_key;
            bool done = false;
            void operator()(bool ok) {
                if (done) return;
                done = true;
                self->user_throttle_.finished(user_key, ok, true);
                self->ip_throttle_.finished(ip_key, ok, false);
                std::lock_guard lk(self->login_mu_);
                --self->queued_logins_;
            }
            ~Finish() { (*this)(false); }
        } finish{this, user_key, ip_key};
        const std::string shown = utf8_prefix(user, 128);  // audit rows are JSON in the console
        try {
            // The failures every broker on this store saw, under the same policy: guesses spread
            // over several brokers meet the delays one broker would impose (this broker's own
            // count above still admits bursts one by one).
            const auto now_ms = unix_millis();
            const auto forget_before = now_ms - user_throttle_.policy().forget_after.count() * 1000;
            auto by_user = store_.login_failures(user_key), by_ip = store_.login_failures(ip_key);
            auto wait =
                std::max(LoginThrottle::wait_after(user_throttle_.policy(), by_user.failures, by_user.last_at, now_ms),
                         LoginThrottle::wait_after(ip_throttle_.policy(), by_ip.failures, by_ip.last_at, now_ms));
            if (wait.count() > 0) {
                const int secs = static_cast<int>((wait.count() + 999) / 1000);
                log::warn("login for user '", shown, "' from ", client_ip, " delayed ", secs,
                          " s after repeated failures (counted by every broker)");
                metrics_.logins_rate_limited++;
                finish(false);
                done(Error<ApiErrorCode>{ApiErrorCode::rate_limited,
                                         "too many failed logins; try again in " + std::to_string(secs) + " s"},
                     secs);
                return;
            }
            auto who = source_->verify(user, password);
            if (!who) {
                store_.add_login_failure(user_key, now_ms, forget_before);
                store_.add_login_failure(ip_key, now_ms, forget_before);
                metrics_.logins_failed++;
                log::warn("failed login for user '", shown, "' from ", client_ip);
                audit_.record(shown, "login_failed", shown, client_ip);
                finish(false);
                done(Error<ApiErrorCode>{ApiErrorCode::invalid_credentials, "wrong user name or password"}, 0);
                return;
            }
            finish(true);
            if (by_user.failures > 0) store_.clear_login_failures(user_key);
            auto opened = open_session(*who);
            metrics_.logins_ok++;
            audit_.record(user, "login", user, client_ip);
            log::info("user '", user, "' logged in from ", client_ip);
            done(std::move(opened), 0);
        } catch (const StoreBusy& e) {
            log::error("login: the store is busy: ", e.what());
            finish(false);
            done(Error<ApiErrorCode>{ApiErrorCode::busy, "the broker's database is busy; try again"}, 1);
        } catch (const std::exception& e) {
            log::error("login failed internally: ", e.what());
            finish(false);
            done(Error<ApiErrorCode>{ApiErrorCode::internal, "internal error"}, 0);
        }
    });
}

Identity::LoginOk Identity::open_session(const Principal& who) {
    std::string token = crypto::random_token(32);
    auto now = unix_now();
    store_.create_login_session(token_hash(token), who.name, now, now + kLoginSessionSeconds);
    return LoginOk{std::move(token), who.role};
}

std::optional<Principal> Identity::authenticate(const std::string& token) {
    if (!plausible_token(token)) return std::nullopt;
    return store_.authenticate(token_hash(token), unix_now());
}

void Identity::logout(const std::string& token, const std::string& client_ip) {
    if (!plausible_token(token)) return;
    auto hash = token_hash(token);
    auto who = store_.authenticate(hash, unix_now());
    store_.delete_login_session(hash);
    if (who) audit_.record(who->name, "logout", who->name, client_ip);
}

Result<void, ApiErrorCode> Identity::metrics_access(const std::string& authorization, const std::string& cookie_token) {
    const std::string prefix = "Bearer ";
    if (!config_.metrics_token.empty() && authorization.size() > prefix.size() &&
        authorization.compare(0, prefix.size(), prefix) == 0) {
        // Digests compared in constant time, whatever the lengths.
        auto a = token_hash(authorization.substr(prefix.size()));
        auto b = token_hash(config_.metrics_token);
        if (CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0) return {};
    }
    auto who = authenticate(cookie_token);
    if (!who)
        return Error<ApiErrorCode>{ApiErrorCode::unauthenticated,
                                   "metrics need the scrape token (Authorization: Bearer) or an admin login"};
    if (who->role != Role::admin)
        return Error<ApiErrorCode>{ApiErrorCode::forbidden, "metrics are for admins (or the scrape token)"};
    return {};
}

void Identity::purge_expired(std::int64_t now) {
    store_.purge_expired_login_sessions(now);
    store_.purge_login_failures((now - user_throttle_.policy().forget_after.count()) * 1000);
}

}  // namespace portico::broker

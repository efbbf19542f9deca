#include "broker/core.hpp"

#include "common/log.hpp"
#include "common/tls.hpp"
#include "protocol/ticket.hpp"

#include <boost/asio/post.hpp>
#include <openssl/crypto.h>

namespace portico::broker {

namespace net = boost::asio;
namespace control = protocol::control;
using json = nlohmann::json;

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// ---- LoginLimiter ----

void LoginLimiter::prune(std::deque<std::chrono::steady_clock::time_point>& q, std::chrono::steady_clock::time_point now) {
    while (!q.empty() && now - q.front() >= window_) q.pop_front();
}

bool LoginLimiter::blocked(const std::string& key) {
    std::lock_guard lk(mu_);
    auto it = failures_.find(key);
    if (it == failures_.end()) return false;
    prune(it->second, std::chrono::steady_clock::now());
    if (it->second.empty()) {
        failures_.erase(it);
        return false;
    }
    return static_cast<int>(it->second.size()) >= max_;
}

void LoginLimiter::record_failure(const std::string& key) {
    std::lock_guard lk(mu_);
    auto now = std::chrono::steady_clock::now();
    // Keep memory bounded under a spray of usernames: drop every key whose window has passed.
    if (failures_.size() > 10000) {
        for (auto it = failures_.begin(); it != failures_.end();) {
            prune(it->second, now);
            it = it->second.empty() ? failures_.erase(it) : std::next(it);
        }
    }
    auto& q = failures_[key];
    prune(q, now);
    q.push_back(now);
    if (static_cast<int>(q.size()) > max_ * 4) q.pop_front();
}

void LoginLimiter::clear(const std::string& key) {
    std::lock_guard lk(mu_);
    failures_.erase(key);
}

// ---- Core ----

Core::Core(const BrokerConfig& config, net::io_context& ioc)
    : config_(config),
      ioc_(ioc),
      paths_(StatePaths::in(config.state_dir)),
      store_(paths_.database),
      ticket_key_(crypto::Ed25519Key::load_private_pem(paths_.ticket_key)),
      ticket_pub_b64_(crypto::base64_encode(ticket_key_.public_raw())),
      enrollment_secret_(read_enrollment_secret(paths_)),
      dummy_hash_(crypto::hash_password(crypto::random_token())),
      server_tls_(tls::make_server_context(paths_.tls_cert, paths_.tls_key)) {
    workers_.emplace(static_cast<std::size_t>(std::max(1, config.worker_threads)));
    store_.purge_expired_login_sessions(unix_now());
    desktops_ = std::make_unique<DesktopPools>(paths_.database, ioc, hosts_);
    desktops_->start();
}

Core::~Core() { shutdown(); }

void Core::shutdown() {
    if (workers_) {
        workers_->stop();
        workers_->join();
        workers_.reset();
    }
    if (desktops_) desktops_->stop();
    {
        std::lock_guard lk(pending_mu_);
        pending_.clear();
    }
    // The registry holds the control connections; they must go while the io_context still exists.
    hosts_.clear();
}

void Core::login(const std::string& user, const std::string& password, const std::string& client_ip,
                 LoginCallback done) {
    const std::string user_key = "u:" + user, ip_key = "ip:" + client_ip;
    if (user_limiter_.blocked(user_key) || ip_limiter_.blocked(ip_key)) {
        log::warn("login rate-limited for user '", user, "' from ", client_ip);
        done(Error<ApiErrorCode>{ApiErrorCode::rate_limited, "too many failed logins; try again in a minute"});
        return;
    }
    if (!workers_) return;
    // Argon2 costs ~100 ms of CPU and 64 MiB: never on a network thread.
    net::post(*workers_, [this, user, password, client_ip, user_key, ip_key, done = std::move(done)] {
        try {
            auto hash = store_.password_hash(user);
            bool ok = crypto::verify_password(password, hash ? *hash : dummy_hash_) && hash.has_value();
            if (!ok) {
                user_limiter_.record_failure(user_key);
                ip_limiter_.record_failure(ip_key);
                log::warn("failed login for user '", user, "' from ", client_ip);
                done(Error<ApiErrorCode>{ApiErrorCode::invalid_credentials, "wrong user name or password"});
                return;
            }
            user_limiter_.clear(user_key);
            std::string token = crypto::random_token(32);
            auto now = unix_now();
            store_.create_login_session(crypto::sha256_hex(crypto::bytes_of(token)), user, now, now + 8 * 3600);
            log::info("user '", user, "' logged in from ", client_ip);
            done(std::move(token));
        } catch (const std::exception& e) {
            log::error("login failed internally: ", e.what());
            done(Error<ApiErrorCode>{ApiErrorCode::internal, "internal error"});
        }
    });
}

std::optional<std::string> Core::authenticate(const std::string& token) {
    if (token.empty()) return std::nullopt;
    return store_.login_session_user(crypto::sha256_hex(crypto::bytes_of(token)), unix_now());
}

void Core::logout(const std::string& token) {
    if (!token.empty()) store_.delete_login_session(crypto::sha256_hex(crypto::bytes_of(token)));
}

json Core::launch_answer(const SessionRecord& s, const HostInfo& h) {
    protocol::TicketClaims c;
    c.ticket_id = crypto::random_token(16);
    c.session_id = s.id;
    c.user = s.user;
    c.host_id = h.host_id;
    c.resource = s.resource;
    c.expires_at = unix_now() + protocol::kTicketLifetimeSeconds;
    return json{{"session_id", s.id},
                {"ticket", protocol::sign_ticket(c, ticket_key_)},
                {"gateway_path", "/api/v1/gateway/" + s.id},
                {"direct_url", h.display_url},
                {"host_cert_sha256", h.cert_sha256},
                {"width", s.width},
                {"height", s.height}};
}

void Core::launch(const std::string& user, const std::string& resource_id, LaunchCallback done) {
    auto res = store_.resource(resource_id);
    if (!res) {
        done(Error<ApiErrorCode>{ApiErrorCode::not_found, "no such resource: " + resource_id});
        return;
    }
    // Reconnect: the user's running session of this resource on a connected host.
    for (const auto& s : store_.active_sessions_for(user, resource_id)) {
        if (auto h = hosts_.get(s.host_id)) {
            log::info("reconnecting user '", user, "' to session ", s.id, " on host ", h->host_id);
            done(launch_answer(s, *h));
            return;
        }
    }
    std::optional<HostInfo> host;
    std::optional<control::DesktopSpec> desktop;
    if (res->type == "desktop") {
        auto placed = desktops_->place(res->id, user);
        if (!placed) {
            done(placed.error());
            return;
        }
        host = placed.value().host;
        desktop = placed.value().spec;
    } else {
        host = hosts_.pick_and_reserve(res->id, res->name);
    }
    if (!host) {
        done(Error<ApiErrorCode>{ApiErrorCode::no_host, "no connected host offers " + res->name + " with free capacity"});
        return;
    }

    auto p = std::make_shared<PendingLaunch>();
    p->session = SessionRecord{crypto::random_token(18), user, res->id, host->host_id, "starting", 1280, 800,
                               unix_now(), 0};
    p->done = std::move(done);
    p->timer = std::make_unique<net::steady_timer>(ioc_);
    try {
        store_.create_session(p->session);
    } catch (const std::exception& e) {
        hosts_.adjust_sessions(host->host_id, -1);
        log::error("cannot record session: ", e.what());
        p->done(Error<ApiErrorCode>{ApiErrorCode::internal, "internal error"});
        return;
    }

    control::StartSession msg;
    {
        std::lock_guard lk(pending_mu_);
        p->request_id = next_request_id_++;
    }
    msg.request_id = p->request_id;
    msg.session_id = p->session.id;
    msg.user = user;
    if (desktop)
        msg.desktop = desktop;
    else
        msg.app = control::AppSpec{res->id, res->name, res->command};
    msg.width = p->session.width;
    msg.height = p->session.height;

    const auto request_id = p->request_id;
    const auto host_id = host->host_id;
    // Armed before the launch becomes visible to other threads, so nobody cancels it concurrently.
    p->timer->expires_after(std::chrono::seconds(config_.launch_timeout_seconds));
    p->timer->async_wait([this, request_id, host_id](boost::system::error_code ec) {
        if (ec) return;
        auto timed_out = take_pending(request_id, host_id);
        if (!timed_out) return;
        log::warn("session ", timed_out->session.id, " on host ", host_id, " did not become ready in time");
        store_.set_session_state(timed_out->session.id, "ended", unix_now());
        hosts_.adjust_sessions(host_id, -1);
        // The host may still be starting it; tell it to stop rather than leak a session.
        if (auto h = hosts_.get(host_id)) h->link->send(control::serialize(control::EndSession{timed_out->session.id}));
        timed_out->done(Error<ApiErrorCode>{ApiErrorCode::launch_failed, "the host did not start the session in time"});
    });
    {
        std::lock_guard lk(pending_mu_);
        pending_[request_id] = p;
    }
    log::info("starting ", res->id, " for user '", user, "' as session ", p->session.id, " on host ", host_id);
    host->link->send(control::serialize(msg));
}

std::shared_ptr<Core::PendingLaunch> Core::take_pending(std::uint64_t request_id, const std::string& host_id) {
    std::lock_guard lk(pending_mu_);
    auto it = pending_.find(request_id);
    if (it == pending_.end() || it->second->session.host_id != host_id) return nullptr;
    auto p = std::move(it->second);
    pending_.erase(it);
    return p;
}

void Core::session_ready(const std::string& host_id, const control::SessionReady& m) {
    auto p = take_pending(m.request_id, host_id);
    if (!p || p->session.id != m.session_id) {
        log::warn("host ", host_id, " reported session_ready for unknown request ", m.request_id);
        return;
    }
    p->timer->cancel();
    store_.set_session_state(p->session.id, "active", unix_now());
    p->session.state = "active";
    auto h = hosts_.get(host_id);
    if (!h) {
        p->done(Error<ApiErrorCode>{ApiErrorCode::launch_failed, "the host disconnected"});
        return;
    }
    log::info("session ", p->session.id, " is ready on host ", host_id);
    p->done(launch_answer(p->session, *h));
}

void Core::session_failed(const std::string& host_id, const control::SessionFailed& m) {
    auto p = take_pending(m.request_id, host_id);
    if (!p || p->session.id != m.session_id) {
        log::warn("host ", host_id, " reported session_failed for unknown request ", m.request_id);
        return;
    }
    p->timer->cancel();
    store_.set_session_state(p->session.id, "ended", unix_now());
    hosts_.adjust_sessions(host_id, -1);
    log::warn("host ", host_id, " could not start session ", p->session.id, ": ", m.message);
    p->done(Error<ApiErrorCode>{ApiErrorCode::launch_failed, m.message});
}

void Core::session_ended(const std::string& host_id, const control::SessionEnded& m) {
    auto s = store_.session(m.session_id);
    if (!s || s->host_id != host_id) {
        log::warn("host ", host_id, " reported the end of a session it does not run: ", m.session_id);
        return;
    }
    if (store_.set_session_state(m.session_id, "ended", unix_now())) {
        hosts_.adjust_sessions(host_id, -1);
        log::info("session ", m.session_id, " on host ", host_id, " ended (", m.reason, ")");
    }
}

void Core::fail_pending_of_host(const std::string& host_id, const std::string& why) {
    std::vector<std::shared_ptr<PendingLaunch>> failed;
    {
        std::lock_guard lk(pending_mu_);
        for (auto it = pending_.begin(); it != pending_.end();) {
            if (it->second->session.host_id == host_id) {
                failed.push_back(std::move(it->second));
                it = pending_.erase(it);
            } else {
                ++it;
            }
        }
    }
    for (auto& p : failed) {
        p->timer->cancel();
        store_.set_session_state(p->session.id, "ended", unix_now());
        p->done(Error<ApiErrorCode>{ApiErrorCode::launch_failed, why});
    }
}

json Core::live_sessions(const std::string& user) {
    json out = json::array();
    for (const auto& s : store_.live_sessions_of(user))
        out.push_back({{"id", s.id}, {"resource", s.resource}, {"state", s.state}, {"host", s.host_id},
                       {"created_at", s.created_at}});
    return out;
}

std::optional<ApiError> Core::end_session(const std::string& user, const std::string& session_id) {
    auto s = store_.session(session_id);
    if (!s || s->user != user || s->state == "ended") return ApiError{ApiErrorCode::not_found, "no such session"};
    if (auto h = hosts_.get(s->host_id)) {
        // The host answers with session_ended once the app and display are gone.
        h->link->send(control::serialize(control::EndSession{session_id}));
    } else {
        // Nobody to ask: the user wants it gone, so forget it; a returning host reports its own.
        store_.set_session_state(session_id, "ended", unix_now());
    }
    log::info("user '", user, "' ended session ", session_id);
    return std::nullopt;
}

bool Core::enrollment_secret_matches(const std::string& secret) const {
    // Compare digests so the comparison is constant-time regardless of the lengths.
    auto a = crypto::sha256_hex(crypto::bytes_of(secret));
    auto b = crypto::sha256_hex(crypto::bytes_of(enrollment_secret_));
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void Core::host_registered(HostInfo info) {
    auto id = info.host_id;
    auto old = hosts_.add(std::move(info));
    if (old) {
        log::info("host ", id, " re-registered; closing its previous control connection");
        fail_pending_of_host(id, "the host reconnected while starting the session");
        old->close();
    }
}

void Core::host_gone(const std::string& host_id, const ControlLink* link) {
    if (hosts_.remove(host_id, link)) {
        log::info("host ", host_id, " disconnected");
        fail_pending_of_host(host_id, "the host disconnected");
    }
}

Result<HostInfo, ApiErrorCode> Core::gateway_target(const std::string& session_id) {
    auto s = store_.session(session_id);
    if (!s || s->state == "ended") return Error<ApiErrorCode>{ApiErrorCode::not_found, "no such session"};
    auto h = hosts_.get(s->host_id);
    if (!h) return Error<ApiErrorCode>{ApiErrorCode::no_host, "the session's host is not connected"};
    return *h;
}

}  // namespace portico::broker

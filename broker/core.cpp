#include "broker/core.hpp"

#include "broker/placement.hpp"
#include "common/log.hpp"
#include "common/utf8.hpp"
#include "common/tls.hpp"
#include "protocol/ticket.hpp"

#include <boost/asio/post.hpp>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdio>

namespace portico::broker {

namespace net = boost::asio;
namespace control = protocol::control;
using json = nlohmann::json;

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// ---- LoginThrottle ----

void LoginThrottle::prune(Clock::time_point now) {
    for (auto it = entries_.begin(); it != entries_.end();)
        it = now - it->second.last >= policy_.forget_after ? entries_.erase(it) : std::next(it);
}

std::chrono::milliseconds LoginThrottle::wait_time(const std::string& key, Clock::time_point now) {
    std::lock_guard lk(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::chrono::milliseconds(0);
    auto& e = it->second;
    if (now - e.last >= policy_.forget_after) {
        entries_.erase(it);
        return std::chrono::milliseconds(0);
    }
    if (e.failures < policy_.free_attempts) return std::chrono::milliseconds(0);
    // Past the free attempts and some are still being checked: their outcome decides the delay.
    if (e.in_flight > 0) return std::max(policy_.base_delay, std::chrono::milliseconds(1));
    const int doublings = std::min(e.failures - policy_.free_attempts, 30);
    auto delay = std::min<std::chrono::milliseconds>(policy_.max_delay, policy_.base_delay * (std::int64_t{1} << doublings));
    auto ready = e.last + delay;
    if (now >= ready) return std::chrono::milliseconds(0);
    return std::chrono::duration_cast<std::chrono::milliseconds>(ready - now) + std::chrono::milliseconds(1);
}

void LoginThrottle::count(const std::string& key, Clock::time_point now) {
    std::lock_guard lk(mu_);
    // Keep memory bounded under a spray of user names: drop keys nobody tried for a while.
    if (entries_.size() > 10000) prune(now);
    auto& e = entries_[key];
    if (e.failures > 0 && now - e.last >= policy_.forget_after) e.failures = 0;
    e.failures = std::min(e.failures + 1, 1000);
    ++e.in_flight;
    e.last = now;
}

void LoginThrottle::finished(const std::string& key, bool ok, bool clear_on_success, Clock::time_point now) {
    std::lock_guard lk(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    if (ok && clear_on_success) {
        entries_.erase(it);
        return;
    }
    if (it->second.in_flight > 0) --it->second.in_flight;
    if (!ok) {
        it->second.last = now;
    } else if (it->second.failures > 0) {
        // count() booked the attempt as a failure in advance; it was not one. Earlier failures stand
        // (a success must not clear an address's count), but successes never add up: many people
        // behind one NAT address log in all day without being throttled.
        --it->second.failures;
    }
}

LoginThrottle::Policy LoginThrottle::per_user(const BrokerConfig& c) {
    return Policy{5, std::chrono::milliseconds(c.login_delay_base_ms), std::chrono::milliseconds(c.login_delay_max_ms),
                  std::chrono::seconds(900)};
}

LoginThrottle::Policy LoginThrottle::per_address(const BrokerConfig& c) {
    auto p = per_user(c);
    p.free_attempts = 20;
    return p;
}

std::size_t LoginThrottle::keys() {
    std::lock_guard lk(mu_);
    return entries_.size();
}

// ---- Core ----

namespace {

ssl_ctx_st* configure_client_auth(boost::asio::ssl::context& ctx, const std::string& ca_cert) {
    // Hosts may present a client certificate from our CA (mutual TLS on the control channel);
    // browsers present none and are not asked to fail for it. A certificate that is presented
    // but does not chain to the CA fails the handshake.
    ctx.set_verify_mode(boost::asio::ssl::verify_peer);
    ctx.load_verify_file(ca_cert);
    SSL_CTX_set_client_CA_list(ctx.native_handle(), SSL_load_client_CA_file(ca_cert.c_str()));
    static const unsigned char sid_ctx[] = "portico-broker";
    SSL_CTX_set_session_id_context(ctx.native_handle(), sid_ctx, sizeof(sid_ctx) - 1);
    return ctx.native_handle();
}

}  // namespace

Core::Core(const BrokerConfig& config, net::io_context& ioc)
    : config_(config),
      ioc_(ioc),
      paths_(StatePaths::in(config.state_dir)),
      store_(open_store(paths_.database)),
      ticket_key_(crypto::Ed25519Key::load_private_pem(paths_.ticket_key)),
      ticket_pub_b64_(crypto::base64_encode(ticket_key_.public_raw())),
      enrollment_secret_(read_enrollment_secret(paths_)),
      dummy_hash_(crypto::hash_password(crypto::random_token())),
      ca_((ensure_ca(paths_), std::make_unique<BrokerCa>(paths_.ca_cert, paths_.ca_key))),
      server_tls_(tls::make_server_context(paths_.tls_cert, paths_.tls_key)) {
    configure_client_auth(server_tls_, paths_.ca_cert);
    workers_.emplace(static_cast<std::size_t>(std::max(1, config.worker_threads)));
    auto now = unix_now();
    store_->purge_expired_login_sessions(now);
    // Nobody is connected yet; hosts that come back within the grace period keep their sessions.
    store_->mark_all_hosts_down(now);
    started_at_ = std::chrono::steady_clock::now();
    desktops_ = std::make_unique<DesktopPools>(*store_, ioc, hosts_);
}

Core::~Core() { shutdown(); }

void Core::start() {
    tick_timer_ = std::make_unique<net::steady_timer>(ioc_);
    schedule_tick();
    desktops_->start();
}

void Core::shutdown() {
    if (tick_timer_) tick_timer_->cancel();
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
    tick_timer_.reset();
}

void Core::audit(const std::string& actor, const std::string& action, const std::string& target,
                 const std::string& from, const std::string& detail) {
    try {
        store_->append_audit(AuditEvent{0, unix_now(), actor, action, target, from, detail});
    } catch (const std::exception& e) {
        log::error("cannot append to the audit log: ", e.what());
    }
}

// ---- users ----

void Core::login(const std::string& user, const std::string& password, const std::string& client_ip,
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
            done(Error<ApiErrorCode>{ApiErrorCode::rate_limited, "the broker is busy checking passwords; try again"}, 1);
            return;
        }
        if (!workers_) return;
        user_throttle_.count(user_key, now);
        ip_throttle_.count(ip_key, now);
        ++queued_logins_;
    }
    // Argon2 costs ~100 ms of CPU and 64 MiB: never on a network thread.
    net::post(*workers_, [this, user, password, client_ip, user_key, ip_key, done = std::move(done)] {
        // Whatever happens below, the attempt leaves the queue and its throttles learn the outcome
        // (a success clears the user's count, never the address's) before the answer goes out, so
        // the client's next attempt already sees it.
        struct Finish {
            Core* core;
            const std::string &user_key, &ip_key;
            bool done = false;
            void operator()(bool ok) {
                if (done) return;
                done = true;
                core->user_throttle_.finished(user_key, ok, true);
                core->ip_throttle_.finished(ip_key, ok, false);
                std::lock_guard lk(core->login_mu_);
                --core->queued_logins_;
            }
            ~Finish() { (*this)(false); }
        } finish{this, user_key, ip_key};
        const std::string shown = utf8_prefix(user, 128);  // audit rows are JSON in the console
        try {
            auto hash = store_->password_hash(user);
            bool ok = crypto::verify_password(password, hash ? *hash : dummy_hash_) && hash.has_value();
            auto record = ok ? store_->user(user) : std::nullopt;
            if (!ok || !record) {
                metrics_.logins_failed++;
                log::warn("failed login for user '", shown, "' from ", client_ip);
                audit(shown, "login_failed", shown, client_ip);
                finish(false);
                done(Error<ApiErrorCode>{ApiErrorCode::invalid_credentials, "wrong user name or password"}, 0);
                return;
            }
            finish(true);
            std::string token = crypto::random_token(32);
            auto now = unix_now();
            store_->create_login_session(crypto::sha256_hex(crypto::bytes_of(token)), user, now, now + 8 * 3600);
            metrics_.logins_ok++;
            audit(user, "login", user, client_ip);
            log::info("user '", user, "' logged in from ", client_ip);
            done(LoginOk{std::move(token), record->role}, 0);
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

std::optional<ApiError> Core::metrics_refusal(const std::string& authorization, const std::string& cookie_token) {
    const std::string prefix = "Bearer ";
    if (!config_.metrics_token.empty() && authorization.size() > prefix.size() &&
        authorization.compare(0, prefix.size(), prefix) == 0) {
        // Digests compared in constant time, whatever the lengths.
        auto a = crypto::sha256_hex(crypto::bytes_of(authorization.substr(prefix.size())));
        auto b = crypto::sha256_hex(crypto::bytes_of(config_.metrics_token));
        if (CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0) return std::nullopt;
    }
    auto who = authenticate(cookie_token);
    if (!who) return ApiError{ApiErrorCode::unauthenticated, "metrics need the scrape token (Authorization: Bearer) or an admin login"};
    if (who->role != "admin") return ApiError{ApiErrorCode::forbidden, "metrics are for admins (or the scrape token)"};
    return std::nullopt;
}

std::optional<Principal> Core::authenticate(const std::string& token) {
    if (token.empty() || token.size() > 256) return std::nullopt;
    return store_->authenticate(crypto::sha256_hex(crypto::bytes_of(token)), unix_now());
}

void Core::logout(const std::string& token, const std::string& client_ip) {
    if (token.empty() || token.size() > 256) return;
    auto hash = crypto::sha256_hex(crypto::bytes_of(token));
    auto who = store_->authenticate(hash, unix_now());
    store_->delete_login_session(hash);
    if (who) audit(who->name, "logout", who->name, client_ip);
}

// ---- sessions ----

// What the user should know about a session before they see it: a VM desktop on a host without
// usable KVM runs under software emulation (TCG), many times slower. Empty when nothing to say.
std::string Core::session_notice(const SessionRecord& s, const HostInfo& h) {
    if (h.vm_accel != "tcg") return {};  // no query for the common case
    auto r = store_->resource(s.resource);
    if (!r || r->type != "desktop") return {};
    return "This desktop runs under software emulation (its host has no usable KVM), so it is much slower "
           "than a hardware-accelerated one.";
}

json Core::launch_answer(const SessionRecord& s, const HostInfo& h, bool reconnected, bool view_only,
                        const std::string& viewer) {
    protocol::TicketClaims c;
    c.ticket_id = crypto::random_token(16);
    c.session_id = s.id;
    c.user = s.user;
    c.host_id = h.host_id;
    c.resource = s.resource;
    c.expires_at = unix_now() + protocol::kTicketLifetimeSeconds;
    c.view_only = view_only;
    c.viewer = viewer;
    store_->record_ticket(c.ticket_id, s.id, s.user, view_only, unix_now(), c.expires_at);
    return json{{"session_id", s.id},
                {"ticket", protocol::sign_ticket(c, ticket_key_)},
                {"gateway_path", "/api/v1/gateway/" + s.id},
                {"direct_url", h.display_url},
                {"host_cert_sha256", h.cert_sha256},
                {"width", s.width},
                {"height", s.height},
                {"notice", session_notice(s, h)},
                {"reconnected", reconnected},
                {"view_only", view_only}};
}

std::optional<ApiError> Core::check_screen(std::int64_t width, std::int64_t height) const {
    auto limit = [](std::string what) { return ApiError{ApiErrorCode::limit_exceeded, std::move(what)}; };
    if (width > config_.max_screen_width)
        return limit("width " + std::to_string(width) + " is above this broker's max_screen_width " +
                     std::to_string(config_.max_screen_width));
    if (height > config_.max_screen_height)
        return limit("height " + std::to_string(height) + " is above this broker's max_screen_height " +
                     std::to_string(config_.max_screen_height));
    if (width * height > config_.max_screen_pixels)
        return limit(std::to_string(width) + "x" + std::to_string(height) + " is above this broker's max_screen_pixels " +
                     std::to_string(config_.max_screen_pixels));
    return std::nullopt;
}

void Core::launch(const Caller& caller, const std::string& resource_ref, int width, int height, double scale,
                  LaunchCallback done) {
    const auto t0 = std::chrono::steady_clock::now();
    auto fail = [&](ApiErrorCode code, std::string msg) {
        if (code == ApiErrorCode::no_host) metrics_.launches_no_host++;
        else if (code == ApiErrorCode::not_entitled || code == ApiErrorCode::not_found ||
                 code == ApiErrorCode::limit_exceeded)
            metrics_.launches_denied++;
        else metrics_.launches_failed++;
        done(Error<ApiErrorCode>{code, std::move(msg)});
    };
    std::optional<Resource> res;
    try {
        res = store_->resource(resource_ref);
        if (!res) {
            // The portal and the native client may name a resource instead of giving its id.
            for (auto& r : store_->entitled_resources(caller.name))
                if (r.name == resource_ref) res = r;
        }
        if (!res) return fail(ApiErrorCode::not_found, "no such resource: " + resource_ref);
        if (!store_->is_entitled(caller.name, res->id))
            return fail(ApiErrorCode::not_entitled, "you are not entitled to " + res->name);
        // Reconnect: the user's running session of this resource on a connected host (draining or not).
        for (const auto& s : store_->reconnectable_sessions_for(caller.name, res->id)) {
            if (auto h = hosts_.get(s.host_id)) {
                log::info("reconnecting user '", caller.name, "' to session ", s.id, " on host ", h->host_id);
                auto answer = launch_answer(s, *h, true, false);
                metrics_.launches_reconnect++;
                metrics_.observe_launch(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
                return done(std::move(answer));
            }
        }
    } catch (const StoreBusy& e) {
        log::error("launch: ", e.what());
        return fail(ApiErrorCode::busy, "the broker's database is busy; try again");
    } catch (const std::exception& e) {
        log::error("launch: ", e.what());
        return fail(ApiErrorCode::internal, "internal error");
    }
    // A new session: the per-user cap counts live sessions plus launches of this user still on
    // their way to a session row, so parallel launches cannot pass it together.
    struct LaunchSlot {
        Core* core = nullptr;
        std::string user;
        ~LaunchSlot() {
            if (!core) return;
            std::lock_guard lk(core->launch_mu_);
            if (--core->launching_[user] <= 0) core->launching_.erase(user);
        }
    } slot;
    if (config_.max_sessions_per_user > 0) {
        std::size_t live = 0;
        try {
            live = store_->live_sessions_of(caller.name).size();
        } catch (const std::exception& e) {
            log::error("launch: ", e.what());
            return fail(ApiErrorCode::busy, "the broker's database is busy; try again");
        }
        std::lock_guard lk(launch_mu_);
        auto& in_flight = launching_[caller.name];
        if (static_cast<int>(live) + in_flight >= config_.max_sessions_per_user) {
            const int pending = in_flight;  // read before the erase below frees the map node
            if (pending == 0) launching_.erase(caller.name);
            return fail(ApiErrorCode::limit_exceeded,
                        "you have " + std::to_string(live + static_cast<std::size_t>(pending)) +
                            " sessions; this broker allows at most " + std::to_string(config_.max_sessions_per_user) +
                            " per user (max_sessions_per_user). Log off one first");
        }
        ++in_flight;
        slot.core = this;
        slot.user = caller.name;
    }
    std::optional<HostInfo> host;
    std::optional<control::DesktopSpec> desktop;
    if (res->type == "desktop") {
        auto placed = desktops_->place(res->id, caller.name);
        if (!placed) return fail(placed.error().code, placed.error().message);
        host = placed.value().host;
        desktop = placed.value().spec;
    } else {
        host = hosts_.pick_and_reserve(PlacementRequest{res->id, res->name, res->host_group, "", ""});
        if (!host) return fail(ApiErrorCode::no_host, "no connected host offers " + res->name + " with free capacity");
    }

    auto p = std::make_shared<PendingLaunch>();
    p->started = t0;
    p->session = SessionRecord{crypto::random_token(18), caller.name, res->id, host->host_id, "starting", width, height,
                               unix_now(), 0, 0};
    p->done = std::move(done);
    p->timer = std::make_unique<net::steady_timer>(ioc_);
    try {
        store_->create_session(p->session);
    } catch (const std::exception& e) {
        hosts_.adjust_sessions(host->host_id, -1);
        log::error("cannot record session: ", e.what());
        metrics_.launches_failed++;
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
    msg.user = caller.name;
    if (desktop)
        msg.desktop = desktop;
    else
        msg.app = control::AppSpec{res->id, res->name, res->command};
    msg.width = p->session.width;
    msg.height = p->session.height;
    msg.scale = scale;  // only for a new session: a reconnect keeps the DPI the session started with

    const auto request_id = p->request_id;
    const auto host_id = host->host_id;
    // Armed before the launch becomes visible to other threads, so nobody cancels it concurrently.
    p->timer->expires_after(std::chrono::seconds(config_.launch_timeout_seconds));
    p->timer->async_wait([this, request_id, host_id](boost::system::error_code ec) {
        if (ec) return;
        auto timed_out = take_pending(request_id, host_id);
        if (!timed_out) return;
        log::warn("session ", timed_out->session.id, " on host ", host_id, " did not become ready in time");
        store_->set_session_state(timed_out->session.id, "ended", unix_now());
        hosts_.adjust_sessions(host_id, -1);
        metrics_.launches_failed++;
        // The host may still be starting it; tell it to stop rather than leak a session.
        if (auto h = hosts_.get(host_id)) h->link->send(control::serialize(control::EndSession{timed_out->session.id}));
        timed_out->done(Error<ApiErrorCode>{ApiErrorCode::launch_failed, "the host did not start the session in time"});
    });
    {
        std::lock_guard lk(pending_mu_);
        pending_[request_id] = p;
    }
    log::debug("starting ", res->id, " for user '", caller.name, "' as session ", p->session.id, " on host ", host_id);
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
    try {
        store_->set_session_state(p->session.id, "active", unix_now());
        p->session.state = "active";
        auto h = hosts_.get(host_id);
        if (!h) {
            metrics_.launches_failed++;
            p->done(Error<ApiErrorCode>{ApiErrorCode::launch_failed, "the host disconnected"});
            return;
        }
        auto answer = launch_answer(p->session, *h, false, false);
        metrics_.launches_ok++;
        metrics_.observe_launch(std::chrono::duration<double>(std::chrono::steady_clock::now() - p->started).count());
        log::debug("session ", p->session.id, " is ready on host ", host_id);
        p->done(std::move(answer));
    } catch (const std::exception& e) {
        log::error("session_ready: ", e.what());
        metrics_.launches_failed++;
        p->done(Error<ApiErrorCode>{ApiErrorCode::internal, "internal error"});
    }
}

void Core::session_failed(const std::string& host_id, const control::SessionFailed& m) {
    auto p = take_pending(m.request_id, host_id);
    if (!p || p->session.id != m.session_id) {
        log::warn("host ", host_id, " reported session_failed for unknown request ", m.request_id);
        return;
    }
    p->timer->cancel();
    store_->set_session_state(p->session.id, "ended", unix_now());
    hosts_.adjust_sessions(host_id, -1);
    metrics_.launches_failed++;
    log::warn("host ", host_id, " could not start session ", p->session.id, ": ", m.message);
    p->done(Error<ApiErrorCode>{ApiErrorCode::launch_failed, m.message});
}

void Core::session_ended(const std::string& host_id, const control::SessionEnded& m) {
    auto s = store_->session(m.session_id);
    if (!s || s->host_id != host_id) {
        log::warn("host ", host_id, " reported the end of a session it does not run: ", m.session_id);
        return;
    }
    live_stats_.drop(m.session_id);
    if (store_->set_session_state(m.session_id, "ended", unix_now())) {
        hosts_.adjust_sessions(host_id, -1);
        metrics_.sessions_ended++;
        log::info("session ", m.session_id, " on host ", host_id, " ended (", m.reason, ")");
    }
}

void Core::session_state(const std::string& host_id, const control::SessionState& m) {
    auto s = store_->session(m.session_id);
    if (!s || s->host_id != host_id) {
        log::warn("host ", host_id, " reported the state of a session it does not run: ", m.session_id);
        return;
    }
    if (s->state == "starting") return;  // session_ready decides when it is active
    if (s->state == "ending") return;    // asked to end: only session_ended moves it on
    if (store_->set_session_state(m.session_id, m.state, unix_now()))
        log::info("session ", m.session_id, " is now ", m.state);
}

void Core::session_stats(const std::string& host_id, const control::SessionStats& m) {
    live_stats_.update(host_id, m, unix_now());
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
        store_->set_session_state(p->session.id, "ended", unix_now());
        metrics_.launches_failed++;
        p->done(Error<ApiErrorCode>{ApiErrorCode::launch_failed, why});
    }
}

json Core::session_json(const SessionRecord& s) {
    auto r = store_->resource(s.resource);
    return session_json(s, r ? r->name : s.resource);
}

json Core::sessions_json(const std::vector<SessionRecord>& sessions) {
    std::map<std::string, std::string> names;
    for (auto& r : store_->resources()) names.emplace(r.id, std::move(r.name));
    json out = json::array();
    for (const auto& s : sessions) {
        auto it = names.find(s.resource);
        out.push_back(session_json(s, it != names.end() ? it->second : s.resource));
    }
    return out;
}

json Core::session_json(const SessionRecord& s, const std::string& resource_name) {
    json j{{"id", s.id},           {"user", s.user},       {"resource", s.resource}, {"resource_name", resource_name},
           {"host", s.host_id},    {"state", s.state},     {"created_at", s.created_at}, {"updated_at", s.updated_at},
           {"ended_at", s.ended_at}, {"width", s.width},   {"height", s.height}};
    std::optional<json> stats;
    if (s.state != "ended" && s.state != "lost") stats = live_stats_.get(s.id, s.host_id, unix_now());
    j["stats"] = stats ? std::move(*stats) : json(nullptr);
    auto h = (s.state != "ended" && s.state != "lost") ? hosts_.get(s.host_id) : std::nullopt;
    j["notice"] = h ? session_notice(s, *h) : std::string();
    return j;
}

std::optional<SessionRecord> Core::visible_session(const Caller& caller, const std::string& session_id) {
    auto s = store_->session(session_id);
    if (!s || (!caller.staff() && s->user != caller.name)) return std::nullopt;
    return s;
}

void Core::end_session_now(const SessionRecord& s, const std::string& actor, const std::string& action,
                           const std::string& from) {
    if (auto h = hosts_.get(s.host_id)) {
        // The host answers with session_ended once the app and display are gone. Until then the
        // session is "ending": a launch right after a log off starts a new session instead of
        // reconnecting to this one. (A starting session stays so: its start's answer ends it.)
        if (s.state != "starting") store_->set_session_state(s.id, "ending", unix_now());
        h->link->send(control::serialize(control::EndSession{s.id}));
    } else {
        // Nobody to ask: forget it; a returning host reports its own.
        live_stats_.drop(s.id);
        if (store_->set_session_state(s.id, "ended", unix_now())) metrics_.sessions_ended++;
    }
    if (actor != s.user) audit(actor, action, s.id, from, "user " + s.user + ", host " + s.host_id);
    log::info(actor, " ended session ", s.id, " (", action, ")");
}

std::optional<ApiError> Core::logoff_session(const Caller& caller, const std::string& session_id) {
    auto s = visible_session(caller, session_id);
    if (!s || s->state == "ended" || s->state == "lost") return ApiError{ApiErrorCode::not_found, "no such session"};
    end_session_now(*s, caller.name, "session.logoff", caller.ip);
    return std::nullopt;
}

std::optional<ApiError> Core::disconnect_session(const Caller& caller, const std::string& session_id) {
    auto s = visible_session(caller, session_id);
    if (!s || s->state == "ended" || s->state == "lost") return ApiError{ApiErrorCode::not_found, "no such session"};
    if (s->state == "starting") return ApiError{ApiErrorCode::conflict, "the session is still starting"};
    if (s->state == "ending") return ApiError{ApiErrorCode::conflict, "the session is ending"};
    auto h = hosts_.get(s->host_id);
    if (!h) return ApiError{ApiErrorCode::conflict, "the session's host is not connected"};
    h->link->send(control::serialize(control::DisconnectSession{s->id}));
    if (caller.name != s->user) audit(caller.name, "session.disconnect", s->id, caller.ip, "user " + s->user);
    return std::nullopt;
}

Result<json, ApiErrorCode> Core::shadow(const Caller& caller, const std::string& session_id) {
    if (!caller.staff()) return Error<ApiErrorCode>{ApiErrorCode::forbidden, "shadowing is for admin and helpdesk"};
    auto s = store_->session(session_id);
    if (!s || s->state == "ended" || s->state == "lost") return Error<ApiErrorCode>{ApiErrorCode::not_found, "no such session"};
    if (s->state == "starting") return Error<ApiErrorCode>{ApiErrorCode::conflict, "the session is still starting"};
    if (s->state == "ending") return Error<ApiErrorCode>{ApiErrorCode::conflict, "the session is ending"};
    auto h = hosts_.get(s->host_id);
    if (!h) return Error<ApiErrorCode>{ApiErrorCode::conflict, "the session's host is not connected"};
    audit(caller.name, "session.shadow", s->id, caller.ip, "user " + s->user + ", host " + s->host_id);
    return launch_answer(*s, *h, false, true, caller.name);
}

// ---- hosts ----

namespace {
json host_to_json(const HostRecord* rec, const HostInfo* live) {
    json j;
    const bool drain = live ? live->drain : (rec && rec->drain);
    j["id"] = live ? live->host_id : rec->id;
    j["name"] = live ? live->name : rec->name;
    j["connected"] = live != nullptr;
    j["drain"] = drain;
    j["state"] = live ? (drain ? "draining" : "up") : "down";
    j["sessions"] = live ? live->sessions : 0;
    j["max_sessions"] = live ? live->max_sessions : (rec ? rec->max_sessions : 0);
    j["cpu"] = live ? live->cpu : 0.0;
    j["mem"] = live ? live->mem : 0.0;
    j["load"] = live ? load_index(*live) : 0.0;
    if (live) {
        auto ago = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - live->last_heartbeat);
        j["last_heartbeat"] = unix_now() - ago.count();
    } else {
        j["last_heartbeat"] = rec ? rec->last_seen : 0;
    }
    j["apps"] = live ? live->apps : rec->apps;
    j["display_url"] = live ? live->display_url : rec->display_url;
    j["cert_fingerprint"] = rec ? rec->cert_fingerprint : std::string();
    j["auth"] = live ? live->auth : (rec && !rec->auth.empty() ? rec->auth : std::string("none"));
    j["vm_accel"] = live ? live->vm_accel : std::string();
    j["isolation"] = live ? live->isolation : std::string();
    return j;
}
}  // namespace

json Core::hosts_json() {
    auto rows = store_->hosts();
    auto live = hosts_.snapshot();
    std::map<std::string, const HostInfo*> by_id;
    for (auto& h : live) by_id[h.host_id] = &h;
    json out = json::array();
    for (auto& r : rows) {
        auto it = by_id.find(r.id);
        out.push_back(host_to_json(&r, it == by_id.end() ? nullptr : it->second));
        if (it != by_id.end()) by_id.erase(it);
    }
    for (auto& [id, h] : by_id) out.push_back(host_to_json(nullptr, h));  // registered since the rows were read
    return out;
}

std::optional<json> Core::host_json(const std::string& id) {
    auto rec = store_->host(id);
    auto live = hosts_.get(id);
    if (!rec && !live) return std::nullopt;
    return host_to_json(rec ? &*rec : nullptr, live ? &*live : nullptr);
}

std::optional<ApiError> Core::set_drain(const Caller& caller, const std::string& id, bool drain) {
    bool known = store_->set_host_drain(id, drain);
    known = hosts_.set_drain(id, drain) || known;
    if (!known) return ApiError{ApiErrorCode::not_found, "no such host"};
    audit(caller.name, drain ? "host.drain" : "host.undrain", id, caller.ip);
    log::info(caller.name, drain ? " drained host " : " undrained host ", id);
    return std::nullopt;
}

std::optional<ApiError> Core::remove_host(const Caller& caller, const std::string& id) {
    auto live = hosts_.get(id);
    bool known = store_->delete_host(id);
    if (!known && !live) return ApiError{ApiErrorCode::not_found, "no such host"};
    if (live && hosts_.remove(id, nullptr)) {
        fail_pending_of_host(id, "the host was removed");
        live_stats_.drop_host(id);
        auto lost = store_->lose_sessions_of_host(id, unix_now());
        metrics_.sessions_lost += lost.size();
        live->link->close();
    }
    audit(caller.name, "host.remove", id, caller.ip);
    log::info(caller.name, " removed host ", id);
    return std::nullopt;
}

json Core::create_enrollment_token(const std::string& actor, const std::string& from, const std::string& host_id,
                                   int ttl_seconds) {
    EnrollmentToken t;
    t.id = crypto::random_token(9);
    t.host_id = host_id;
    t.created_by = actor;
    t.created_at = unix_now();
    t.expires_at = t.created_at + ttl_seconds;
    std::string token = crypto::random_token(32);
    store_->create_enrollment_token(t, crypto::sha256_hex(crypto::bytes_of(token)));
    audit(actor, "enrollment_token.create", t.id, from, host_id.empty() ? "any host" : "host " + host_id);
    return json{{"id", t.id},         {"host_id", t.host_id},       {"created_at", t.created_at},
                {"expires_at", t.expires_at}, {"created_by", t.created_by}, {"token", token}};
}

Result<json, ApiErrorCode> Core::enroll(const std::string& token, const std::string& host_id, const std::string& csr_pem,
                                        const std::string& from) {
    auto refused = [](std::string why) { return Error<ApiErrorCode>{ApiErrorCode::enrollment_refused, std::move(why)}; };
    if (token.empty() || token.size() > 256) return refused("unknown enrollment token");
    auto known = store_->host(host_id);
    auto r = store_->consume_enrollment_token(crypto::sha256_hex(crypto::bytes_of(token)), host_id, unix_now(),
                                              known.has_value());
    switch (r) {
        case ConsumeResult::ok: break;
        case ConsumeResult::unknown: return refused("unknown enrollment token");
        case ConsumeResult::used: return refused("this enrollment token was already used");
        case ConsumeResult::expired: return refused("this enrollment token has expired");
        case ConsumeResult::wrong_host: return refused("this enrollment token is for another host id");
        case ConsumeResult::host_exists:
            // Otherwise any holder of an any-host token could take over an enrolled host's identity.
            audit("-", "host.enroll_refused", host_id, from, "host id exists; the token was not issued for it");
            log::warn("enrollment of existing host ", host_id, " from ", from, " refused: token not issued for it");
            return refused("host id " + host_id +
                           " is already enrolled; only a token issued for this host id may enroll it again");
    }
    auto cert = ca_->sign_csr(csr_pem, host_id);
    if (!cert) {
        log::warn("enrollment of host ", host_id, " from ", from, " refused: ", cert.error().message);
        return Error<ApiErrorCode>{ApiErrorCode::bad_request, cert.error().message};
    }
    // Remember the certificate: only this one authenticates the host from now on.
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(cert.value().data(), static_cast<int>(cert.value().size())),
                                                  BIO_free);
    std::unique_ptr<X509, decltype(&X509_free)> x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
    auto fp = x509_sha256_hex(x.get());
    auto existing = store_->host(host_id);
    HostRecord rec = existing.value_or(HostRecord{});
    rec.id = host_id;
    if (rec.name.empty()) rec.name = host_id;
    rec.state = existing ? existing->state : "down";
    rec.cert_fingerprint = fp;
    rec.auth = "mtls";
    rec.last_seen = unix_now();
    store_->upsert_host(rec);
    audit("-", "host.enroll", host_id, from, "certificate " + fp.substr(0, 16));
    log::info("host ", host_id, " enrolled from ", from);
    return json{{"cert_pem", cert.value()}, {"ca_pem", ca_->cert_pem()}};
}

Result<std::string, int> Core::authorize_host(const control::Register& reg, const PeerCert& cert,
                                              const std::string& from) {
    auto no = [](std::string why) { return Error<int>{0, std::move(why)}; };
    if (cert.verified) {
        if (cert.common_name != reg.host_id) return no("the client certificate is for host '" + cert.common_name + "'");
        auto rec = store_->host(reg.host_id);
        if (!rec || rec->cert_fingerprint != cert.sha256)
            return no("the client certificate is not (or no longer) enrolled; enroll the host again");
        return std::string("mtls");
    }
    if (config_.require_mtls) return no("this broker requires mutual TLS; enroll the host");
    // Compare digests so the comparison is constant-time regardless of the lengths.
    auto a = crypto::sha256_hex(crypto::bytes_of(reg.secret));
    auto b = crypto::sha256_hex(crypto::bytes_of(enrollment_secret_));
    if (reg.secret.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) != 0) return no("registration refused");
    // The secret is shared by every host: it must never stand in for a certificate on record.
    auto rec = store_->host(reg.host_id);
    if (rec && !rec->cert_fingerprint.empty()) {
        audit("-", "host.takeover_refused", reg.host_id, from, "shared-secret registration for a host enrolled with a certificate");
        return no("host id " + reg.host_id + " is enrolled with a certificate; it must authenticate with it");
    }
    return std::string("secret");
}

void Core::host_registered(HostInfo info) {
    auto id = info.host_id;
    auto rec = store_->host(id);
    info.drain = rec && rec->drain;
    HostRecord r = rec.value_or(HostRecord{});
    r.id = id;
    r.name = info.name;
    r.state = "up";
    r.last_seen = unix_now();
    r.display_url = info.display_url;
    r.auth = info.auth;
    r.apps = info.apps;
    r.max_sessions = info.max_sessions;
    store_->upsert_host(r);
    auto old = hosts_.add(std::move(info));
    if (old) {
        log::info("host ", id, " re-registered; closing its previous control connection");
        fail_pending_of_host(id, "the host reconnected while starting the session");
        old->close();
    }
}

void Core::host_down(const std::string& host_id, const std::string& why) {
    fail_pending_of_host(host_id, "the host disconnected");
    live_stats_.drop_host(host_id);
    auto now = unix_now();
    auto lost = store_->lose_sessions_of_host(host_id, now);
    metrics_.sessions_lost += lost.size();
    store_->set_host_state(host_id, "down", now);
    audit("-", "host.down", host_id, "", why + (lost.empty() ? "" : "; " + std::to_string(lost.size()) + " sessions lost"));
    log::warn("host ", host_id, " is down (", why, "); ", lost.size(), " sessions lost");
}

void Core::host_gone(const std::string& host_id, const ControlLink* link) {
    if (hosts_.remove(host_id, link)) host_down(host_id, "control connection closed");
}

void Core::host_heartbeat(const std::string& host_id, const ControlLink* link, const control::Heartbeat& m) {
    hosts_.heartbeat(host_id, link, m.sessions, m.cpu, m.mem);
    if (config_.idle_timeout_seconds > 0 && !m.idle.empty()) {
        std::vector<std::string> idle_too_long;
        for (const auto& [sid, secs] : m.idle)
            if (secs >= config_.idle_timeout_seconds) idle_too_long.push_back(sid);
        for (const auto& sid : idle_too_long) {
            auto s = store_->session(sid);
            if (!s || s->host_id != host_id || s->state == "ended" || s->state == "lost") continue;
            log::info("session ", sid, " idle for longer than ", config_.idle_timeout_seconds, " s; ending it");
            end_session_now(*s, "-", "session.timeout", "");
        }
    }
}

// ---- liveness ----

void Core::schedule_tick() {
    if (!tick_timer_) return;
    tick_timer_->expires_after(std::chrono::seconds(1));
    tick_timer_->async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        try {
            tick();
        } catch (const std::exception& e) {
            log::error("liveness check: ", e.what());
        }
        schedule_tick();
    });
}

void Core::tick() {
    ++ticks_;
    for (auto& h : hosts_.take_stale(std::chrono::seconds(config_.heartbeat_timeout_seconds))) {
        host_down(h.host_id, "no heartbeat for " + std::to_string(config_.heartbeat_timeout_seconds) + " s");
        if (h.link) h.link->close();
    }
    const auto now = unix_now();
    if (!grace_done_ && std::chrono::steady_clock::now() - started_at_ >= std::chrono::seconds(config_.lost_grace_seconds)) {
        grace_done_ = true;
        // Sessions of hosts that did not come back after a broker restart.
        std::map<std::string, int> lost_by_host;
        for (const auto& s : store_->live_sessions())
            if (!hosts_.get(s.host_id)) lost_by_host[s.host_id]++;
        for (const auto& [host_id, n] : lost_by_host) {
            metrics_.sessions_lost += store_->lose_sessions_of_host(host_id, now).size();
            log::warn("host ", host_id, " did not reconnect after the restart; ", n, " sessions lost");
        }
    }
    if (config_.disconnect_timeout_seconds > 0) {
        for (const auto& s : store_->sessions_in_state_since("disconnected", now - config_.disconnect_timeout_seconds)) {
            log::info("session ", s.id, " disconnected for longer than ", config_.disconnect_timeout_seconds, " s; ending it");
            // Final at once, so the next tick does not ask again; the host's session_ended is then a no-op.
            end_session_now(s, "-", "session.timeout", "");
            if (store_->set_session_state(s.id, "ended", now)) metrics_.sessions_ended++;
        }
    }
    if (ticks_ % 10 == 0) live_stats_.prune(now);
    if (ticks_ % 60 == 0) {
        store_->purge_expired_tickets(now);
        store_->purge_expired_login_sessions(now);
    }
}

// ---- metrics ----

std::string Core::metrics_text() {
    std::string out;
    auto line = [&](const std::string& s) { out += s + "\n"; };
    auto num = [](double v) {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "%.6g", v);
        return std::string(buf);
    };
    std::map<std::string, int> counts = {{"starting", 0}, {"active", 0}, {"disconnected", 0}};
    for (auto& [state, n] : store_->session_counts())
        if (counts.count(state)) counts[state] = n;
    line("# HELP portico_sessions Live display sessions by state.");
    line("# TYPE portico_sessions gauge");
    for (auto& [state, n] : counts) line("portico_sessions{state=\"" + state + "\"} " + std::to_string(n));
    line("# HELP portico_sessions_finished_total Sessions that ended or were lost since the broker started.");
    line("# TYPE portico_sessions_finished_total counter");
    line("portico_sessions_finished_total{state=\"ended\"} " + std::to_string(metrics_.sessions_ended.load()));
    line("portico_sessions_finished_total{state=\"lost\"} " + std::to_string(metrics_.sessions_lost.load()));
    line("# HELP portico_launches_total Launch requests by result.");
    line("# TYPE portico_launches_total counter");
    line("portico_launches_total{result=\"ok\"} " + std::to_string(metrics_.launches_ok.load()));
    line("portico_launches_total{result=\"reconnect\"} " + std::to_string(metrics_.launches_reconnect.load()));
    line("portico_launches_total{result=\"failed\"} " + std::to_string(metrics_.launches_failed.load()));
    line("portico_launches_total{result=\"no_host\"} " + std::to_string(metrics_.launches_no_host.load()));
    line("portico_launches_total{result=\"denied\"} " + std::to_string(metrics_.launches_denied.load()));
    line("# HELP portico_launch_latency_seconds Time from a launch request to its answer (successful launches).");
    line("# TYPE portico_launch_latency_seconds histogram");
    for (std::size_t i = 0; i < Metrics::kBuckets.size(); ++i)
        line("portico_launch_latency_seconds_bucket{le=\"" + num(Metrics::kBuckets[i]) + "\"} " +
             std::to_string(metrics_.latency_buckets[i].load()));
    line("portico_launch_latency_seconds_bucket{le=\"+Inf\"} " + std::to_string(metrics_.latency_count.load()));
    line("portico_launch_latency_seconds_sum " + num(static_cast<double>(metrics_.latency_sum_us.load()) / 1e6));
    line("portico_launch_latency_seconds_count " + std::to_string(metrics_.latency_count.load()));
    int up = 0, draining = 0;
    std::set<std::string> live_ids;
    for (auto& h : hosts_.snapshot()) {
        live_ids.insert(h.host_id);
        (h.drain ? draining : up)++;
    }
    int down = 0;
    for (auto& r : store_->hosts())
        if (!live_ids.count(r.id)) down++;
    line("# HELP portico_hosts Session hosts by state.");
    line("# TYPE portico_hosts gauge");
    line("portico_hosts{state=\"up\"} " + std::to_string(up));
    line("portico_hosts{state=\"draining\"} " + std::to_string(draining));
    line("portico_hosts{state=\"down\"} " + std::to_string(down));
    auto live = live_stats_.totals(unix_now());
    line("# HELP portico_session_viewers Viewers of live sessions, as their hosts last reported (session_stats).");
    line("# TYPE portico_session_viewers gauge");
    line("portico_session_viewers " + std::to_string(live.viewers));
    line("# HELP portico_sessions_streaming Sessions whose hosts report live stream figures.");
    line("# TYPE portico_sessions_streaming gauge");
    line("portico_sessions_streaming " + std::to_string(live.sessions));
    line("# HELP portico_logins_total Login attempts by result.");
    line("# TYPE portico_logins_total counter");
    line("portico_logins_total{result=\"ok\"} " + std::to_string(metrics_.logins_ok.load()));
    line("portico_logins_total{result=\"failed\"} " + std::to_string(metrics_.logins_failed.load()));
    line("portico_logins_total{result=\"rate_limited\"} " + std::to_string(metrics_.logins_rate_limited.load()));
    return out;
}

Result<HostInfo, ApiErrorCode> Core::gateway_target(const std::string& session_id) {
    auto s = store_->session(session_id);
    if (!s || s->state == "ended" || s->state == "lost") return Error<ApiErrorCode>{ApiErrorCode::not_found, "no such session"};
    auto h = hosts_.get(s->host_id);
    if (!h) return Error<ApiErrorCode>{ApiErrorCode::no_host, "the session's host is not connected"};
    return *h;
}

}  // namespace portico::broker

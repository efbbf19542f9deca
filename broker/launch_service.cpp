#include "broker/launch_service.hpp"

#include "broker/placement.hpp"
#include "broker/store_executor.hpp"
#include "common/log.hpp"
#include "protocol/ticket.hpp"

#include <set>

namespace portico::broker {

namespace net = boost::asio;
namespace control = protocol::control;

namespace {

Error<ApiErrorCode> no_such_session() { return {ApiErrorCode::not_found, "no such session"}; }

// Whether a live session can be watched or disconnected now (not while starting or ending).
Result<void, ApiErrorCode> check_attachable(const SessionRecord& s) {
    if (s.state == SessionState::starting)
        return Error<ApiErrorCode>{ApiErrorCode::conflict, "the session is still starting"};
    if (s.state == SessionState::ending) return Error<ApiErrorCode>{ApiErrorCode::conflict, "the session is ending"};
    return {};
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

LaunchService::LaunchService(const BrokerConfig& config, Store& store, HostRegistry& hosts, DesktopPools& desktops,
                             LiveStats& live_stats, SessionEnds& ends, Metrics& metrics, AuditLog& audit,
                             const crypto::Ed25519Key& ticket_key, net::io_context& timers)
    : config_(config),
      store_(store),
      hosts_(hosts),
      desktops_(desktops),
      live_stats_(live_stats),
      ends_(ends),
      metrics_(metrics),
      audit_(audit),
      ticket_key_(ticket_key),
      timers_(timers),
      next_request_id_(random_request_id_base()) {}

LaunchService::~LaunchService() { shutdown(); }

void LaunchService::shutdown() {
    std::lock_guard lk(pending_mu_);
    pending_.clear();
}

// ---- tickets and notices ----

// What the user should know about a session before they see it: a VM desktop on a host without
// usable KVM runs under software emulation (TCG), many times slower. Empty when nothing to say.
std::string LaunchService::session_notice(const SessionRecord& s, const HostInfo& h) {
    if (h.vm_accel != "tcg") return {};  // no query for the common case
    auto r = store_.resource(s.resource);
    if (!r || r->type != "desktop") return {};
    return "This desktop runs under software emulation (its host has no usable KVM), so it is much slower "
           "than a hardware-accelerated one.";
}

LaunchTicket LaunchService::ticket_for(const SessionRecord& s, const HostInfo& h, bool reconnected, bool view_only,
                                       const std::string& viewer) {
    IssuedTicket issued;
    auto t = make_ticket(s, h, reconnected, view_only, viewer, issued);
    store_.record_ticket(issued.id, issued.session_id, issued.user, issued.view_only, issued.issued_at,
                         issued.expires_at);
    return t;
}

LaunchTicket LaunchService::make_ticket(const SessionRecord& s, const HostInfo& h, bool reconnected, bool view_only,
                                        const std::string& viewer, IssuedTicket& issued) {
    protocol::TicketClaims c;
    c.ticket_id = crypto::random_token(16);
    c.session_id = s.id;
    c.user = s.user;
    c.host_id = h.host_id;
    c.resource = s.resource;
    c.expires_at = unix_now() + protocol::kTicketLifetimeSeconds;
    c.view_only = view_only;
    c.viewer = viewer;
    issued = IssuedTicket{c.ticket_id, s.id, s.user, view_only, unix_now(), c.expires_at};
    LaunchTicket t;
    t.session_id = s.id;
    t.ticket = protocol::sign_ticket(c, ticket_key_);
    t.gateway_path = "/api/v1/gateway/" + s.id;
    t.direct_url = h.display_url;
    t.host_cert_sha256 = h.cert_sha256;
    t.width = s.width;
    t.height = s.height;
    t.notice = session_notice(s, h);
    t.reconnected = reconnected;
    t.view_only = view_only;
    return t;
}

// ---- launch ----

Result<void, ApiErrorCode> LaunchService::check_screen(std::int64_t width, std::int64_t height) const {
    auto limit = [](std::string what) { return Error<ApiErrorCode>{ApiErrorCode::limit_exceeded, std::move(what)}; };
    if (width > config_.max_screen_width)
        return limit("width " + std::to_string(width) + " is above this broker's max_screen_width " +
                     std::to_string(config_.max_screen_width));
    if (height > config_.max_screen_height)
        return limit("height " + std::to_string(height) + " is above this broker's max_screen_height " +
                     std::to_string(config_.max_screen_height));
    if (width * height > config_.max_screen_pixels)
        return limit(std::to_string(width) + "x" + std::to_string(height) +
                     " is above this broker's max_screen_pixels " + std::to_string(config_.max_screen_pixels));
    return {};
}

void LaunchService::count_failure(ApiErrorCode code) {
    if (code == ApiErrorCode::no_host)
        metrics_.launches_no_host++;
    else if (code == ApiErrorCode::not_entitled || code == ApiErrorCode::not_found ||
             code == ApiErrorCode::limit_exceeded)
        metrics_.launches_denied++;
    else
        metrics_.launches_failed++;
}

LaunchService::LaunchRead LaunchService::read_launch(const Caller& caller, const std::string& resource_ref) {
    LaunchRead read;
    read.resource_ref = resource_ref;
    read.started = std::chrono::steady_clock::now();
    {
        std::lock_guard lk(launch_mu_);
        auto& u = users_[caller.name];
        ++u.reading;
        read.changes_before = u.changes;  // before the read: a change after it may be missing from it
    }
    read.mark = std::shared_ptr<void>(nullptr, [this, user = caller.name](void*) {
        std::lock_guard lk(launch_mu_);
        auto it = users_.find(user);
        if (it != users_.end() && --it->second.reading <= 0 && it->second.launching <= 0) users_.erase(it);
    });
    auto facts = [&] {
        // What the launch reads, in one store call (one round trip on PostgreSQL).
        auto f = store_.launch_facts(caller.name, resource_ref);
        if (!f.resource) {
            // The portal and the native client may name a resource instead of giving its id.
            std::optional<Resource> named;
            for (auto& r : store_.entitled_resources(caller.name))
                if (r.name == resource_ref) named = r;
            if (named) f = store_.launch_facts(caller.name, named->id);
        }
        return Result<LaunchFacts, ApiErrorCode>(std::move(f));
    };
    auto got = store_guarded<LaunchFacts>("launch", facts);
    if (got)
        read.facts = std::move(got.value());
    else
        read.failed = got.error();
    return read;
}

void LaunchService::launch(const Caller& caller, const std::string& resource_ref, int width, int height, double scale,
                           const std::string& session_id, LaunchCallback done) {
    auto read = read_launch(caller, resource_ref);
    read.read_on_store_thread = true;
    read.session_id = session_id;
    launch(caller, std::move(read), width, height, scale, std::move(done));
}

void LaunchService::launch(const Caller& caller, LaunchRead read, int width, int height, double scale,
                           LaunchCallback done) {
    auto fail = [&](ApiErrorCode code, std::string msg) {
        count_failure(code);
        done(Error<ApiErrorCode>{code, std::move(msg)});
    };
    if (read.failed) return fail(read.failed->code, read.failed->message);
    const auto& facts = read.facts;
    std::optional<LaunchTicket> reconnect;
    try {
        if (!facts.resource) return fail(ApiErrorCode::not_found, "no such resource: " + read.resource_ref);
        if (!facts.entitled) return fail(ApiErrorCode::not_entitled, "you are not entitled to " + facts.resource->name);
        // Reconnect: the user's running session of this resource on a connected host (draining or not).
        for (const auto& s : facts.reconnectable) {
            if (!read.session_id.empty() && s.id != read.session_id) continue;
            auto h = hosts_.get(s.host_id);
            if (!h) continue;
            if (!read.read_on_store_thread) {
                // Read on a launch reader: the host may have ended it since (its report is handled
                // on this thread), so it is looked at again here.
                auto now = store_.session(s.id);
                if (!now || (now->state != SessionState::active && now->state != SessionState::disconnected)) continue;
            }
            log::info("reconnecting user '", caller.name, "' to session ", s.id, " on host ", h->host_id);
            reconnect = ticket_for(s, *h, true, false);
            break;
        }
    } catch (const StoreBusy& e) {
        log::error("launch: ", e.what());
        return fail(ApiErrorCode::busy, "the broker's database is busy; try again");
    } catch (const std::exception& e) {
        log::error("launch: ", e.what());
        return fail(ApiErrorCode::internal, "internal error");
    }
    if (reconnect) {
        metrics_.launches_reconnect++;
        metrics_.observe_launch(seconds_since(read.started));
        return done(std::move(*reconnect));
    }
    if (!read.session_id.empty())  // asked for that session, not a new one
        return fail(ApiErrorCode::conflict, "session " + read.session_id + " cannot be reconnected to now");
    start_new(caller, read, width, height, scale, std::move(done));
}

void LaunchService::start_new(const Caller& caller, const LaunchRead& read, int width, int height, double scale,
                              LaunchCallback done) {
    const Resource& res = *read.facts.resource;
    const auto t0 = read.started;
    auto fail = [&](ApiErrorCode code, std::string msg) {
        count_failure(code);
        done(Error<ApiErrorCode>{code, std::move(msg)});
    };
    // A new session: the per-user cap counts live sessions plus launches of this user still on
    // their way to a session row, so parallel launches cannot pass it together. Admission and the
    // row both happen here, on the store thread; a read made beside it is stale when either
    // happened for this user since, and then the count is read again (nothing else admits
    // meanwhile: this thread is busy with this launch).
    struct LaunchSlot {
        LaunchService* self = nullptr;
        std::string user;
        ~LaunchSlot() {
            if (!self) return;
            std::lock_guard lk(self->launch_mu_);
            auto& u = self->users_[user];
            --u.launching;
            ++u.changes;  // its row is written (or never will be)
            if (u.launching <= 0 && u.reading <= 0) self->users_.erase(user);
        }
    } slot;
    if (config_.max_sessions_per_user > 0) {
        int live = read.facts.live_sessions;
        bool stale = false;
        {
            std::lock_guard lk(launch_mu_);
            stale = users_[caller.name].changes != read.changes_before;
        }
        if (stale) {
            try {
                live = static_cast<int>(store_.live_sessions_of(caller.name).size());
            } catch (const std::exception& e) {
                log::error("launch: ", e.what());
                return fail(ApiErrorCode::busy, "the broker's database is busy; try again");
            }
        }
        std::lock_guard lk(launch_mu_);
        auto& u = users_[caller.name];  // kept by read.mark
        if (live + u.launching >= config_.max_sessions_per_user) {
            const int pending = u.launching;
            return fail(ApiErrorCode::limit_exceeded, "you have " + std::to_string(live + pending) +
                                                          " sessions; this broker allows at most " +
                                                          std::to_string(config_.max_sessions_per_user) +
                                                          " per user (max_sessions_per_user). Log off one first");
        }
        ++u.launching;
        ++u.changes;
        slot.self = this;
        slot.user = caller.name;
    }
    std::optional<HostInfo> host;
    std::optional<control::DesktopSpec> desktop;
    if (res.type == "desktop") {
        Result<DesktopPools::Placement, ApiErrorCode> placed =
            Error<ApiErrorCode>{ApiErrorCode::internal, "internal error"};
        try {
            placed = desktops_.place(res.id, caller.name);
        } catch (const StoreBusy& e) {
            log::error("launch: ", e.what());
            return fail(ApiErrorCode::busy, "the broker's database is busy; try again");
        } catch (const std::exception& e) {
            log::error("launch: ", e.what());
            return fail(ApiErrorCode::internal, "internal error");
        }
        if (!placed) return fail(placed.error().code, placed.error().message);
        host = placed.value().host;
        desktop = placed.value().spec;
    } else {
        host = hosts_.pick_and_reserve(PlacementRequest{res.id, res.name, res.host_group, "", ""});
        if (!host) return fail(ApiErrorCode::no_host, "no connected host offers " + res.name + " with free capacity");
    }

    auto p = std::make_shared<PendingLaunch>();
    p->started = t0;
    p->from = caller.ip;
    p->session.id = crypto::random_token(18);
    p->session.user = caller.name;
    p->session.resource = res.id;
    p->session.host_id = host->host_id;
    p->session.state = SessionState::starting;
    p->session.width = width;
    p->session.height = height;
    p->session.created_at = unix_now();
    p->timer = std::make_unique<net::steady_timer>(timers_);
    try {
        store_.create_session(p->session);
    } catch (const PoolFull& e) {
        // Another broker took the pool's last desktop after place() counted: the answer of a full pool.
        hosts_.release_reservation(host->host_id);
        log::info("launch: ", e.what());
        return fail(ApiErrorCode::no_host, "all " + std::to_string(e.size) + " desktops of " + res.name +
                                               " are in use (another broker took the last one)");
    } catch (const StoreBusy& e) {
        hosts_.release_reservation(host->host_id);
        log::error("cannot record session: ", e.what());
        return fail(ApiErrorCode::busy, "the broker's database is busy; try again");
    } catch (const std::exception& e) {
        hosts_.release_reservation(host->host_id);
        log::error("cannot record session: ", e.what());
        metrics_.launches_failed++;
        done(Error<ApiErrorCode>{ApiErrorCode::internal, "internal error"});
        return;
    }
    p->done = std::move(done);

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
        msg.app = control::AppSpec{res.id, res.name, res.command};
    msg.width = p->session.width;
    msg.height = p->session.height;
    msg.scale = scale;  // only for a new session: a reconnect keeps the DPI the session started with

    const auto request_id = p->request_id;
    const auto host_id = host->host_id;
    // Armed before the launch becomes visible to other handlers, so nobody cancels it concurrently.
    p->timer->expires_after(std::chrono::seconds(config_.launch_timeout_seconds));
    p->timer->async_wait([this, request_id, host_id](boost::system::error_code ec) {
        if (!ec) launch_timed_out(request_id, host_id);
    });
    {
        std::lock_guard lk(pending_mu_);
        pending_[request_id] = p;
    }
    log::debug("starting ", res.id, " for user '", caller.name, "' as session ", p->session.id, " on host ", host_id);
    host->link->send(control::serialize(msg));
}

void LaunchService::launch_timed_out(std::uint64_t request_id, const std::string& host_id) {
    auto timed_out = take_pending(request_id, host_id);
    if (!timed_out) return;
    log::warn("session ", timed_out->session.id, " on host ", host_id, " did not become ready in time");
    metrics_.launches_failed++;
    try {
        ends_.finish(timed_out->session.id, SessionState::ended, end_reason::launch_failed, unix_now());
    } catch (const std::exception& e) {
        log::error("launch timeout: ", e.what());
    }
    hosts_.release_reservation(host_id);
    // The host may still be starting it; tell it to stop rather than leak a session.
    if (auto h = hosts_.get(host_id)) h->link->send(control::serialize(control::EndSession{timed_out->session.id}));
    timed_out->done(Error<ApiErrorCode>{ApiErrorCode::launch_failed, "the host did not start the session in time"});
}

std::shared_ptr<LaunchService::PendingLaunch> LaunchService::take_pending(std::uint64_t request_id,
                                                                          const std::string& host_id) {
    std::lock_guard lk(pending_mu_);
    auto it = pending_.find(request_id);
    if (it == pending_.end() || it->second->session.host_id != host_id) return nullptr;
    auto p = std::move(it->second);
    pending_.erase(it);
    return p;
}

// ---- what hosts report ----

// The pending launch a host's report answers, its timeout cancelled; none (logged) when the report
// names a request this host does not have or another session.
std::shared_ptr<LaunchService::PendingLaunch> LaunchService::take_reported(const std::string& host_id,
                                                                           std::uint64_t request_id,
                                                                           const std::string& session_id,
                                                                           const char* what) {
    auto p = take_pending(request_id, host_id);
    if (!p || p->session.id != session_id) {
        log::warn("host ", host_id, " reported ", what, " for unknown request ", request_id);
        return nullptr;
    }
    p->timer->cancel();
    return p;
}

void LaunchService::session_ready(const std::string& host_id, const control::SessionReady& m) {
    auto p = take_reported(host_id, m.request_id, m.session_id, "session_ready");
    if (!p) return;
    hosts_.reservation_started(host_id);
    if (answer_writer_)
        answer_writer_([this, p, host_id] { answer_ready(p, host_id); });
    else
        answer_ready(p, host_id);
}

void LaunchService::answer_ready(const std::shared_ptr<PendingLaunch>& p, const std::string& host_id) {
    std::optional<Result<LaunchTicket, ApiErrorCode>> answer;
    try {
        const auto now = unix_now();
        p->session.state = SessionState::active;
        auto h = hosts_.get(host_id);
        IssuedTicket issued;
        if (h) answer = make_ticket(p->session, *h, false, false, {}, issued);
        if (answer && answer->ok()) {
            store_.launch_answered(
                issued, now,
                AuditEvent{0, now, p->session.user, "session.launch", p->session.id, p->from,
                           "user " + p->session.user + ", resource " + p->session.resource + ", host " + host_id});
        } else {
            store_.set_session_state(p->session.id, SessionState::active, now);
            if (!h) answer = Error<ApiErrorCode>{ApiErrorCode::launch_failed, "the host disconnected"};
        }
    } catch (const std::exception& e) {
        log::error("session_ready: ", e.what());
        answer = Error<ApiErrorCode>{ApiErrorCode::internal, "internal error"};
    }
    if (answer->ok()) {
        metrics_.launches_ok++;
        metrics_.observe_launch(seconds_since(p->started));
        log::debug("session ", p->session.id, " is ready on host ", host_id);
    } else {
        metrics_.launches_failed++;
    }
    p->done(std::move(*answer));
}

void LaunchService::session_failed(const std::string& host_id, const control::SessionFailed& m) {
    auto p = take_reported(host_id, m.request_id, m.session_id, "session_failed");
    if (!p) return;
    hosts_.release_reservation(host_id);
    metrics_.launches_failed++;
    log::warn("host ", host_id, " could not start session ", p->session.id, ": ", m.message);
    try {
        ends_.finish(p->session.id, SessionState::ended, end_reason::launch_failed, unix_now());
    } catch (const std::exception& e) {
        log::error("session_failed: ", e.what());  // the client hears of the failure all the same
    }
    p->done(Error<ApiErrorCode>{ApiErrorCode::launch_failed, m.message});
}

void LaunchService::session_ended(const std::string& host_id, const control::SessionEnded& m) {
    auto s = store_.session(m.session_id);
    if (!s || s->host_id != host_id) {
        log::warn("host ", host_id, " reported the end of a session it does not run: ", m.session_id);
        return;
    }
    if (ends_.finish(m.session_id, SessionState::ended, end_reason_from_host(m.reason), unix_now())) {
        hosts_.release_reservation(host_id);
        metrics_.sessions_ended++;
        log::info("session ", m.session_id, " on host ", host_id, " ended (", m.reason, ")");
    }
}

void LaunchService::session_state(const std::string& host_id, const std::string& session_id, SessionState state) {
    auto s = store_.session(session_id);
    if (!s || s->host_id != host_id) {
        log::warn("host ", host_id, " reported the state of a session it does not run: ", session_id);
        return;
    }
    if (s->state == SessionState::starting) return;  // session_ready decides when it is active
    if (s->state == SessionState::ending) return;    // asked to end: only session_ended moves it on
    if (store_.set_session_state(session_id, state, unix_now()))
        log::info("session ", session_id, " is now ", to_string(state));
}

void LaunchService::idle_report(const std::string& host_id, const std::vector<std::pair<std::string, int>>& idle) {
    if (config_.idle_timeout_seconds <= 0 || idle.empty()) return;
    std::vector<std::string> idle_too_long;
    for (const auto& [sid, secs] : idle)
        if (secs >= config_.idle_timeout_seconds) idle_too_long.push_back(sid);
    for (const auto& sid : idle_too_long) {
        auto s = store_.session(sid);
        if (!s || s->host_id != host_id || !is_live(s->state)) continue;
        log::info("session ", sid, " idle for longer than ", config_.idle_timeout_seconds, " s; ending it");
        end_session_now(*s, "-", "session.timeout", "", end_reason::idle_timeout);
    }
}

void LaunchService::fail_pending_of_host(const std::string& host_id, const std::string& why) {
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
        metrics_.launches_failed++;
        try {
            ends_.finish(p->session.id, SessionState::ended, end_reason::launch_failed, unix_now());
        } catch (const std::exception& e) {
            log::error("failing the launches on host ", host_id, ": ", e.what());
        }
        p->done(Error<ApiErrorCode>{ApiErrorCode::launch_failed, why});
    }
}

// ---- sessions on request ----

std::optional<SessionRecord> LaunchService::visible_session(const Caller& caller, const std::string& session_id) {
    auto s = store_.session(session_id);
    if (!s || (!caller.staff() && s->user != caller.name)) return std::nullopt;
    return s;
}

void LaunchService::end_session_now(const SessionRecord& s, const std::string& actor, const std::string& action,
                                    const std::string& from, const char* reason) {
    ends_.requested(s.id, reason, actor == "-" ? std::string() : actor);
    if (auto h = hosts_.get(s.host_id)) {
        // The host answers with session_ended once the app and display are gone. Until then the
        // session is "ending": a launch right after a log off starts a new session instead of
        // reconnecting to this one. (A starting session stays so: its start's answer ends it.)
        if (s.state != SessionState::starting) store_.set_session_state(s.id, SessionState::ending, unix_now());
        h->link->send(control::serialize(control::EndSession{s.id}));
    } else {
        // Nobody to ask: forget it; a returning host reports its own.
        if (ends_.finish(s.id, SessionState::ended, reason, unix_now())) metrics_.sessions_ended++;
    }
    if (actor != s.user) audit_.record(actor, action, s.id, from, "user " + s.user + ", host " + s.host_id);
    log::info(actor, " ended session ", s.id, " (", action, ")");
}

Result<void, ApiErrorCode> LaunchService::logoff(const Caller& caller, const std::string& session_id) {
    auto s = visible_session(caller, session_id);
    if (!s || !is_live(s->state)) return no_such_session();
    end_session_now(*s, caller.name, "session.logoff", caller.ip,
                    caller.name == s->user ? end_reason::user_logoff : end_reason::admin_logoff);
    return {};
}

Result<void, ApiErrorCode> LaunchService::disconnect(const Caller& caller, const std::string& session_id) {
    auto s = visible_session(caller, session_id);
    if (!s || !is_live(s->state)) return no_such_session();
    if (auto ok = check_attachable(*s); !ok) return ok.error();
    auto h = hosts_.get(s->host_id);
    if (!h) return Error<ApiErrorCode>{ApiErrorCode::conflict, "the session's host is not connected"};
    h->link->send(control::serialize(control::DisconnectSession{s->id}));
    if (caller.name != s->user) audit_.record(caller.name, "session.disconnect", s->id, caller.ip, "user " + s->user);
    return {};
}

Result<LaunchTicket, ApiErrorCode> LaunchService::shadow(const Caller& caller, const std::string& session_id) {
    if (!caller.staff()) return Error<ApiErrorCode>{ApiErrorCode::forbidden, "shadowing is for admin and helpdesk"};
    auto s = store_.session(session_id);
    if (!s || !is_live(s->state)) return no_such_session();
    if (auto ok = check_attachable(*s); !ok) return ok.error();
    auto h = hosts_.get(s->host_id);
    if (!h) return Error<ApiErrorCode>{ApiErrorCode::conflict, "the session's host is not connected"};
    audit_.record(caller.name, "session.shadow", s->id, caller.ip, "user " + s->user + ", host " + s->host_id);
    return ticket_for(*s, *h, false, true, caller.name);
}

SessionView LaunchService::view(const SessionRecord& s) {
    auto r = store_.resource(s.resource);
    return view(s, r ? r->name : s.resource);
}

std::vector<SessionView> LaunchService::views(const std::vector<SessionRecord>& sessions) {
    std::map<std::string, std::string> names;
    for (auto& r : store_.resources()) names.emplace(r.id, std::move(r.name));
    std::vector<SessionView> out;
    out.reserve(sessions.size());
    for (const auto& s : sessions) {
        auto it = names.find(s.resource);
        out.push_back(view(s, it != names.end() ? it->second : s.resource));
    }
    return out;
}

SessionView LaunchService::view(const SessionRecord& s, const std::string& resource_name) {
    SessionView v{s, resource_name, std::nullopt, {}};
    if (is_live(s.state)) {
        v.session.usage = live_stats_.usage(s.id);  // so far; the row has it once the session ends
        v.stats = live_stats_.get(s.id, s.host_id, unix_now());
        if (auto h = hosts_.get(s.host_id)) v.notice = session_notice(s, *h);
    }
    return v;
}

// ---- timeouts ----

void LaunchService::tick(int tick_number) {
    const auto now = unix_now();
    if (!grace_done_ &&
        std::chrono::steady_clock::now() - started_at_ >= std::chrono::seconds(config_.lost_grace_seconds)) {
        grace_done_ = true;
        // Sessions of hosts that did not come back after a broker restart.
        std::map<std::string, int> lost_by_host;
        for (const auto& s : store_.live_sessions())
            if (!hosts_.get(s.host_id)) lost_by_host[s.host_id]++;
        for (const auto& [host_id, n] : lost_by_host) {
            metrics_.sessions_lost += ends_.lose_host(host_id, now).size();
            log::warn("host ", host_id, " did not reconnect after the restart; ", n, " sessions lost");
        }
    }
    if (config_.disconnect_timeout_seconds > 0) {
        for (const auto& s :
             store_.sessions_in_state_since(SessionState::disconnected, now - config_.disconnect_timeout_seconds)) {
            log::info("session ", s.id, " disconnected for longer than ", config_.disconnect_timeout_seconds,
                      " s; ending it");
            // Final at once, so the next tick does not ask again; the host's session_ended is then a no-op.
            end_session_now(s, "-", "session.timeout", "", end_reason::disconnect_timeout);
            if (ends_.finish(s.id, SessionState::ended, end_reason::disconnect_timeout, now)) metrics_.sessions_ended++;
        }
    }
    if (tick_number % 60 == 0) {
        store_.purge_expired_tickets(now);
        std::set<std::string> live;
        for (const auto& s : store_.live_sessions()) live.insert(s.id);
        live_stats_.retain_usage(live);
    }
}

}  // namespace portico::broker

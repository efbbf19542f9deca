#include "session-host/session_manager.hpp"

#include "common/log.hpp"
#include "session-host/app/app_session.hpp"
#include "session-host/privsep/helper_wire.hpp"
#include "session-host/vm/vm_desktops.hpp"
#include "session-host/vm/vm_session.hpp"

#include <boost/asio/post.hpp>

#include <pthread.h>

#include <algorithm>

namespace portico::host {

const char* control_reason(protocol::EndReason reason) {
    switch (reason) {
        case protocol::EndReason::app_exited: return "app_exited";
        case protocol::EndReason::logged_off: return "logged_off";
        case protocol::EndReason::host_shutdown: return "host_shutdown";
        case protocol::EndReason::error: return "error";
    }
    return "error";
}

SessionManager::SessionManager(Options options, EndedFn on_ended)
    : options_(std::move(options)), on_ended_(std::move(on_ended)) {}

SessionManager::~SessionManager() { shutdown(); }

bool SessionManager::valid_session_id(const std::string& id) { return privsep::valid_session_id(id); }

bool SessionManager::app_offered(const protocol::control::AppSpec& app) const {
    for (const auto& a : options_.apps)
        if (a == "*" || a == app.name || a == app.id) return true;
    return false;
}

void SessionManager::start_session(const protocol::control::StartSession& req, StartedFn done) {
    std::string refusal;
    {
        std::lock_guard lk(mu_);
        if (shutting_down_)
            refusal = "host is shutting down";
        else if (!valid_session_id(req.session_id))
            refusal = "invalid session id";
        else if (sessions_.count(req.session_id) || starting_.count(req.session_id))
            refusal = "session id already in use";
        else if (static_cast<int>(sessions_.size() + starting_.size()) >= options_.max_sessions)
            refusal = "host is full (" + std::to_string(options_.max_sessions) + " sessions)";
        else if (req.desktop && !options_.desktops)
            refusal = "this host runs no VM desktops (it was started without --images)";
        else if (req.desktop && !options_.desktops->has_image(req.desktop->image))
            refusal = "this host has no VM image '" + req.desktop->image + "'";
        else if (!req.desktop && !app_offered(req.app))
            refusal = "application '" + req.app.name + "' is not offered by this host";
        else if (!req.desktop && req.app.command.empty())
            refusal = "application has no command";
        else if (!req.desktop && !options_.launcher)
            refusal =
                "this host cannot run app sessions as their users: start it through portico-session-helper "
                "(as root), or allow --single-user-mode";
        else {
            starting_.insert(req.session_id);
            kinds_[req.session_id] = req.desktop ? Kind::vm : Kind::app;
        }
    }
    if (!refusal.empty()) {
        boost::asio::post(workers_, [done = std::move(done), refusal] { done(refusal); });
        return;
    }
    boost::asio::post(workers_, [this, req, done = std::move(done)] {
        pthread_setname_np(pthread_self(), "session-start");
        std::shared_ptr<StreamSession> s;
        std::string error;
        try {
            s = start(req);
            s->set_shadow_clipboard(options_.shadow_clipboard);
        } catch (const std::exception& e) {
            error = e.what();
            if (error.empty()) error = "session start failed";
            log::warn("session ", req.session_id, ": start failed: ", error);
        }
        bool shutting_down;
        {
            std::lock_guard lk(mu_);
            starting_.erase(req.session_id);
            if (s && !s->ending())
                sessions_[req.session_id] = s;
            else if (!s)
                kinds_.erase(req.session_id);
            shutting_down = shutting_down_;
        }
        if (s && shutting_down) s->end(protocol::EndReason::host_shutdown, "host is shutting down");
        done(error);
    });
}

std::shared_ptr<StreamSession> SessionManager::start(const protocol::control::StartSession& req) {
    auto on_ended = [this](const std::string& id, protocol::EndReason reason, const std::string&) {
        {
            std::lock_guard lk(mu_);
            sessions_.erase(id);
            kinds_.erase(id);
        }
        if (on_ended_) on_ended_(id, control_reason(reason));
    };
    StreamSession::Options stream;
    stream.counters = &counters_;
    stream.halve_for_slow_viewers = !options_.full_size_motion;
    if (req.desktop) {
        // The VM is forked by the desktops' manager thread (PDEATHSIG), not by this worker.
        auto vm = options_.desktops->acquire(req.session_id, req.user, *req.desktop);
        return VmSession::start(req.session_id, std::move(vm), on_ended, stream);
    }
    AppSession::Options o;
    o.id = req.session_id;
    o.command = package_launch::resolve(req.app.command, options_.packages);  // a package: verified now
    o.width = req.width;
    o.height = req.height;
    o.scale = req.scale;  // VM desktops ignore it: the guest decides its own DPI
    o.runtime_dir = options_.state_dir + "/sessions/" + req.session_id;
    o.user = req.user;
    o.launcher = options_.launcher;
    return AppSession::start(o, on_ended, stream);
}

void SessionManager::end_session(const std::string& id, protocol::EndReason reason) {
    if (auto s = find(id)) s->end(reason, reason == protocol::EndReason::logged_off ? "logged off" : "");
}

void SessionManager::set_pools(std::vector<protocol::control::PoolSpec> pools) {
    if (options_.desktops) options_.desktops->set_pools(std::move(pools));
}

void SessionManager::shutdown() {
    {
        std::lock_guard lk(mu_);
        if (shutting_down_ && sessions_.empty()) return;
        shutting_down_ = true;
    }
    workers_.join();  // sessions being started finish starting (and are ended below)
    std::vector<std::shared_ptr<StreamSession>> all;
    {
        std::lock_guard lk(mu_);
        for (auto& [id, s] : sessions_) all.push_back(s);
    }
    for (auto& s : all) s->end(protocol::EndReason::host_shutdown, "host is shutting down");
    for (auto& s : all) s->wait_finished();
}

std::vector<protocol::control::StreamStats> SessionManager::stream_stats() {
    std::vector<std::shared_ptr<StreamSession>> live;
    {
        std::lock_guard lk(mu_);
        for (auto& [id, session] : sessions_) live.push_back(session);
    }
    std::vector<protocol::control::StreamStats> out;
    for (auto& session : live) {
        auto st = session->stats();
        if (st.viewers == 0) continue;  // nobody watching: nothing to show in the console
        protocol::control::StreamStats e;
        e.session_id = session->id();
        e.fps = st.rolling.fps;
        e.kbps = st.rolling.kbps;
        e.rtt_ms = st.rolling.rtt_ms;
        e.encode_ms = st.rolling.encode_ms;
        e.input_to_photon_ms = st.rolling.input_to_photon_ms;
        e.skipped = st.rolling.skipped;
        e.viewers = st.viewers;
        out.push_back(std::move(e));
    }
    return out;
}

SessionManager::Census SessionManager::census(const std::set<std::string>& with_owner) {
    Census c;
    std::vector<std::pair<std::shared_ptr<StreamSession>, Kind>> live;
    {
        std::lock_guard lk(mu_);
        for (const auto& id : starting_) c.at(kinds_.count(id) ? kinds_[id] : Kind::app, State::starting)++;
        for (auto& [id, session] : sessions_) live.emplace_back(session, kinds_.count(id) ? kinds_[id] : Kind::app);
    }
    for (auto& [session, kind] : live) {
        c.at(kind, with_owner.count(session->id()) ? State::active : State::disconnected)++;
        c.viewers += static_cast<int>(session->viewer_count());
    }
    return c;
}

int SessionManager::count() {
    std::lock_guard lk(mu_);
    return static_cast<int>(sessions_.size());
}

std::vector<std::string> SessionManager::running_ids() {
    std::lock_guard lk(mu_);
    std::vector<std::string> out;
    for (const auto& [id, _] : sessions_) out.push_back(id);
    return out;
}

std::shared_ptr<StreamSession> SessionManager::find(const std::string& id) {
    std::lock_guard lk(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end() || it->second->ending()) return nullptr;
    return it->second;
}

std::shared_ptr<DisplayTarget> SessionManager::find_session(const std::string& id) { return find(id); }

void SessionManager::thumbnail(const std::string& session_id, int max_width, int max_height,
                               StreamSession::ThumbnailDone done) {
    auto s = find(session_id);
    if (!s) return done(Error<std::string>{"", "no such session on this host"});
    s->request_thumbnail(max_width, max_height, std::move(done));
}

}  // namespace portico::host

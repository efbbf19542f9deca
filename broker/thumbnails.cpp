#include "broker/thumbnails.hpp"

#include "broker/launch_service.hpp"
#include "common/crypto.hpp"
#include "common/log.hpp"

namespace portico::broker {

namespace control = protocol::control;
using Clock = std::chrono::steady_clock;

Thumbnails::Thumbnails(LaunchService& launches, HostRegistry& hosts, boost::asio::io_context& timers, Options options)
    : launches_(launches), hosts_(hosts), timers_(timers), options_(options), next_request_(random_request_id_base()) {}

void Thumbnails::get(const Caller& caller, const std::string& session_id, Done done) {
    auto s = launches_.visible_session(caller, session_id);
    if (!s || !is_live(s->state)) return done(Error<ApiErrorCode>{ApiErrorCode::not_found, "no such session"});
    // Only a running session has a screen: one being logged off must not show its last picture
    // from the cache, and one starting has none yet.
    if (s->state == SessionState::starting || s->state == SessionState::ending) {
        cache_.erase(session_id);
        return done(Error<ApiErrorCode>{ApiErrorCode::thumbnail_unavailable, s->state == SessionState::starting
                                                                                 ? "the session is still starting"
                                                                                 : "the session is ending"});
    }
    const auto now = Clock::now();
    drop_stale(now);
    if (auto c = cache_.find(session_id); c != cache_.end()) return done(c->second.jpeg);
    if (auto f = in_flight_.find(session_id); f != in_flight_.end()) {
        pending_.at(f->second).waiting.push_back(std::move(done));
        return;
    }
    auto host = hosts_.get(s->host_id);
    if (!host)
        return done(Error<ApiErrorCode>{ApiErrorCode::thumbnail_unavailable, "the session's host is not connected"});
    const auto id = next_request_++;
    Pending p{s->host_id, session_id, {}, std::make_unique<boost::asio::steady_timer>(timers_)};
    p.waiting.push_back(std::move(done));
    p.timer->expires_after(options_.timeout);
    p.timer->async_wait([this, id](const boost::system::error_code& ec) {
        if (ec) return;  // answered (or shut down) first
        log::warn("thumbnail request ", id, ": no answer from the host in time");
        finish(id, Error<ApiErrorCode>{ApiErrorCode::host_timeout, "the session's host did not send a picture within " +
                                                                       std::to_string(options_.timeout.count() / 1000) +
                                                                       " s"});
    });
    pending_.emplace(id, std::move(p));
    in_flight_[session_id] = id;
    ++sent_;
    host->link->send(
        control::serialize(control::ThumbnailRequest{id, session_id, options_.max_width, options_.max_height}));
}

void Thumbnails::answered(const std::string& host_id, const control::Thumbnail& m) {
    auto it = pending_.find(m.request_id);
    if (it == pending_.end() || it->second.host_id != host_id || it->second.session_id != m.session_id) return;
    auto bytes = crypto::base64_decode(m.jpeg_base64);
    // The host is trusted to make pictures, not to make them well: only a JPEG goes to browsers.
    if (!bytes || bytes->size() < 4 || (*bytes)[0] != 0xFF || (*bytes)[1] != 0xD8) {
        log::warn("host ", host_id, " sent a thumbnail of session ", m.session_id, " that is not a JPEG");
        return finish(m.request_id, Error<ApiErrorCode>{ApiErrorCode::thumbnail_unavailable,
                                                        "the session's host sent no usable picture"});
    }
    auto jpeg = std::make_shared<const std::string>(bytes->begin(), bytes->end());
    cache_[m.session_id] = Cached{jpeg, Clock::now()};
    finish(m.request_id, jpeg);
}

void Thumbnails::failed(const std::string& host_id, const control::ThumbnailFailed& m) {
    auto it = pending_.find(m.request_id);
    if (it == pending_.end() || it->second.host_id != host_id || it->second.session_id != m.session_id) return;
    finish(m.request_id,
           Error<ApiErrorCode>{ApiErrorCode::thumbnail_unavailable, "no picture of this session: " + m.message});
}

void Thumbnails::finish(std::uint64_t request_id, const Result<Jpeg, ApiErrorCode>& result) {
    auto it = pending_.find(request_id);
    if (it == pending_.end()) return;
    Pending p = std::move(it->second);
    pending_.erase(it);
    in_flight_.erase(p.session_id);
    p.timer->cancel();
    for (auto& done : p.waiting) {
        try {
            done(result);
        } catch (const std::exception& e) {
            log::error("thumbnail of session ", p.session_id, ": answering failed: ", e.what());
        }
    }
}

void Thumbnails::drop_stale(Clock::time_point now) {
    for (auto it = cache_.begin(); it != cache_.end();)
        it = now - it->second.at >= options_.fresh_for ? cache_.erase(it) : std::next(it);
}

void Thumbnails::shutdown() {
    std::vector<std::uint64_t> ids;
    for (const auto& [id, p] : pending_) ids.push_back(id);
    for (auto id : ids) finish(id, Error<ApiErrorCode>{ApiErrorCode::busy, "the broker is stopping"});
    cache_.clear();
}

}  // namespace portico::broker

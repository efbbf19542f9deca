#include "session-host/stream/viewer_set.hpp"

#include "common/log.hpp"

#include <algorithm>

namespace portico::host {

void ViewerSet::attach_owner(std::shared_ptr<ViewerSink> sink) {
    std::vector<std::shared_ptr<ViewerSink>> replaced;
    {
        std::lock_guard lk(mu_);
        for (auto it = viewers_.begin(); it != viewers_.end();) {
            if (it->view_only) {
                ++it;
                continue;
            }
            replaced.push_back(std::move(it->sink));
            it = viewers_.erase(it);
        }
        viewers_.push_back(Viewer{std::move(sink), {}, true, false});
    }
    for (auto& r : replaced) {
        log::info("session ", session_id_, ": viewer ", r->peer(), " replaced by a new connection");
        r->close(nullptr);
    }
}

void ViewerSet::attach_view_only(std::shared_ptr<ViewerSink> sink) {
    std::lock_guard lk(mu_);
    viewers_.push_back(Viewer{std::move(sink), {}, true, true});
}

bool ViewerSet::detach(const ViewerSink* sink) {
    bool removed = false;
    {
        std::lock_guard lk(mu_);
        auto it =
            std::remove_if(viewers_.begin(), viewers_.end(), [&](const Viewer& v) { return v.sink.get() == sink; });
        removed = it != viewers_.end();
        viewers_.erase(it, viewers_.end());
    }
    if (removed && on_viewer_lost_) on_viewer_lost_();
    return removed;
}

std::optional<ViewerSet::Clock::duration> ViewerSet::on_ack(const ViewerSink* sink, std::uint32_t frame_id,
                                                            Clock::time_point now, Clock::duration paint_time) {
    std::lock_guard lk(mu_);
    for (auto& v : viewers_)
        if (v.sink.get() == sink) return v.flow.on_ack(frame_id, now, paint_time);
    return std::nullopt;
}

void ViewerSet::broadcast(const Bytes& message, bool then_needs_keyframe, bool owner_only) {
    std::vector<std::shared_ptr<ViewerSink>> dropped;
    {
        std::lock_guard lk(mu_);
        for (auto it = viewers_.begin(); it != viewers_.end();) {
            if (owner_only && it->view_only) {
                ++it;
                continue;
            }
            if (!it->sink->send(message)) {
                dropped.push_back(it->sink);
                it = viewers_.erase(it);
                continue;
            }
            if (then_needs_keyframe) it->needs_keyframe = true;
            ++it;
        }
    }
    finish_drops(dropped, "send queue full");
}

int ViewerSet::send_frame(std::uint32_t frame_id, const Bytes& bytes, bool keyframe) {
    std::vector<std::shared_ptr<ViewerSink>> dropped;
    int receivers = 0;
    {
        std::lock_guard lk(mu_);
        const auto now = Clock::now();
        for (auto it = viewers_.begin(); it != viewers_.end();) {
            if (it->needs_keyframe && !keyframe) {
                ++it;
                continue;
            }
            if (!it->sink->send(bytes)) {
                dropped.push_back(it->sink);
                it = viewers_.erase(it);
                continue;
            }
            it->needs_keyframe = false;
            it->flow.on_sent(frame_id, now, bytes->size());
            ++receivers;
            ++it;
        }
    }
    finish_drops(dropped, "send queue full");
    return receivers;
}

ViewerSet::State ViewerSet::prune(Clock::time_point now) {
    std::vector<std::shared_ptr<ViewerSink>> dropped;
    State state;
    {
        std::lock_guard lk(mu_);
        for (auto it = viewers_.begin(); it != viewers_.end();) {
            if (it->flow.stalled(now)) {
                dropped.push_back(it->sink);
                it = viewers_.erase(it);
                continue;
            }
            state.link_blocked = state.link_blocked || it->flow.blocked();
            state.held = state.held || (it->view_only ? it->flow.blocked() : it->flow.held());
            ++it;
        }
        state.any = !viewers_.empty();
    }
    finish_drops(dropped, "acknowledged nothing for 10 s");
    return state;
}

void ViewerSet::close_all(const Bytes& last) {
    std::vector<Viewer> viewers;
    {
        std::lock_guard lk(mu_);
        viewers.swap(viewers_);
    }
    for (auto& v : viewers) v.sink->close(last);
}

std::size_t ViewerSet::size() {
    std::lock_guard lk(mu_);
    return viewers_.size();
}

std::uint16_t ViewerSet::min_version() {
    std::lock_guard lk(mu_);
    std::uint16_t v = protocol::kDisplayVersion;
    for (const auto& viewer : viewers_) v = std::min(v, viewer.sink->version());
    return v;
}

void ViewerSet::finish_drops(std::vector<std::shared_ptr<ViewerSink>>& dropped, const char* why) {
    if (dropped.empty()) return;
    for (auto& d : dropped) {
        log::warn("session ", session_id_, ": viewer ", d->peer(), " ", why, "; disconnecting it");
        d->close(nullptr);
    }
    if (on_viewer_lost_) on_viewer_lost_();
}

}  // namespace portico::host

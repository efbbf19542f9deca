#include "client/native/resize_follower.hpp"

#include <algorithm>

namespace portico::client {

int screen_dim(int v) { return std::clamp(v, kMinResizeDim, protocol::kMaxScreenDim) & ~1; }

void ResizeFollower::announced(int w, int h) { announced_ = Size{w, h}; }

std::optional<protocol::ResizeRequest> ResizeFollower::want(int w, int h) {
    if (w <= 0 || h <= 0) return std::nullopt;
    wanted_ = Size{screen_dim(w), screen_dim(h)};
    return ask_if_needed();
}

std::optional<protocol::ResizeRequest> ResizeFollower::reconnected(int w, int h) {
    asked_.reset();
    layout_news_ = !layout_.empty();
    announced(w, h);
    return ask_if_needed();
}

std::optional<protocol::ResizeRequest> ResizeFollower::ask_if_needed() {
    if (!wanted_) return std::nullopt;
    // Not what was last asked, nor (before any ask) what the host already has, unless the layout
    // is news: the host announces no layout, so only a request tells it.
    if (!layout_news_ && (asked_ ? *asked_ == *wanted_ : announced_ && *announced_ == *wanted_)) return std::nullopt;
    asked_ = wanted_;
    layout_news_ = false;
    protocol::ResizeRequest r{static_cast<std::uint16_t>(wanted_->w), static_cast<std::uint16_t>(wanted_->h), {}, 0};
    // The size was rounded (even, 64..8192): monitors reaching past it are cut to it.
    for (std::size_t i = 0; i < layout_.size(); ++i) {
        protocol::MonitorRect m = layout_[i];
        if (m.x >= wanted_->w || m.y >= wanted_->h) continue;
        m.w = static_cast<std::uint16_t>(std::min<int>(m.w, wanted_->w - m.x));
        m.h = static_cast<std::uint16_t>(std::min<int>(m.h, wanted_->h - m.y));
        if (static_cast<int>(i) == primary_) r.primary = static_cast<std::uint8_t>(r.monitors.size());
        r.monitors.push_back(m);
    }
    return r;
}

void ResizeFollower::set_layout(std::vector<protocol::MonitorRect> monitors, int primary) {
    if (monitors != layout_ || (!monitors.empty() && primary != primary_)) layout_news_ = true;
    layout_ = std::move(monitors);
    primary_ = primary;
}

}  // namespace portico::client

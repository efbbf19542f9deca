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
    announced(w, h);
    return ask_if_needed();
}

std::optional<protocol::ResizeRequest> ResizeFollower::ask_if_needed() {
    if (!wanted_) return std::nullopt;
    // Not what was last asked, nor (before any ask) what the host already has.
    if (asked_ ? *asked_ == *wanted_ : announced_ && *announced_ == *wanted_) return std::nullopt;
    asked_ = wanted_;
    return protocol::ResizeRequest{static_cast<std::uint16_t>(wanted_->w), static_cast<std::uint16_t>(wanted_->h)};
}

}  // namespace portico::client

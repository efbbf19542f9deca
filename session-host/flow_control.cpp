#include "session-host/flow_control.hpp"

namespace portico::host {

void FlowControl::on_sent(std::uint32_t frame_id, Clock::time_point now) {
    pending_.push_back({frame_id, now});
    update_blocked(now);
}

std::optional<FlowControl::Clock::duration> FlowControl::on_ack(std::uint32_t frame_id, Clock::time_point now) {
    std::optional<Clock::duration> rtt;
    while (!pending_.empty() && pending_.front().id <= frame_id) {
        rtt = now - pending_.front().at;
        pending_.pop_front();
    }
    update_blocked(now);
    return rtt;
}

bool FlowControl::stalled(Clock::time_point now) const {
    return blocked_since_ && now - *blocked_since_ > kStallLimit;
}

void FlowControl::update_blocked(Clock::time_point now) {
    if (!blocked())
        blocked_since_.reset();
    else if (!blocked_since_)
        blocked_since_ = now;
}

}  // namespace portico::host

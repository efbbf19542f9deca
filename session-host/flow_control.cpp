#include "session-host/flow_control.hpp"

namespace portico::host {

void FlowControl::on_sent(std::uint32_t frame_id, Clock::time_point now) {
    pending_.push_back(frame_id);
    update_blocked(now);
}

void FlowControl::on_ack(std::uint32_t frame_id, Clock::time_point now) {
    while (!pending_.empty() && pending_.front() <= frame_id) pending_.pop_front();
    update_blocked(now);
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

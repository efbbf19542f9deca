#include "session-host/flow_control.hpp"

#include <algorithm>

namespace portico::host {

void FlowControl::on_sent(std::uint32_t frame_id, Clock::time_point now, std::size_t bytes) {
    pending_.push_back({frame_id, now, bytes});
    in_flight_bytes_ += bytes;
    update_blocked(now);
}

std::optional<FlowControl::Clock::duration> FlowControl::on_ack(std::uint32_t frame_id, Clock::time_point now) {
    std::optional<Clock::duration> rtt;
    std::size_t released = 0;
    double best = 0;
    while (!pending_.empty() && pending_.front().id <= frame_id) {
        const Sent& s = pending_.front();
        rtt = now - s.at;
        released += s.bytes;
        // A frame alone on the link: its size over its whole trip (a lower bound of the rate).
        const double trip = std::chrono::duration<double>(now - s.at).count();
        if (s.bytes >= kMinSampleBytes && trip > 0) best = std::max(best, s.bytes / trip);
        in_flight_bytes_ -= s.bytes;
        pending_.pop_front();
    }
    // Frames queued back to back: what this ack released over the time since the previous one.
    if (last_ack_ && released >= kMinSampleBytes) {
        const double gap = std::chrono::duration<double>(now - *last_ack_).count();
        if (gap > 0) best = std::max(best, released / gap);
    }
    if (best > 0) rates_.push_back({now, best});
    while (!rates_.empty() && now - rates_.front().at > kRateWindow) rates_.pop_front();
    if (released > 0) last_ack_ = pending_.empty() ? std::nullopt : std::optional(now);
    update_blocked(now);
    return rtt;
}

double FlowControl::delivery_rate() const {
    double best = 0;
    for (const auto& r : rates_) best = std::max(best, r.bytes_per_s);
    return best;
}

bool FlowControl::blocked() const {
    if (pending_.size() >= kMaxUnacked) return true;
    const double rate = delivery_rate();
    if (pending_.empty() || rate <= 0) return false;
    const double budget = std::max<double>(kMinBudgetBytes, rate * std::chrono::duration<double>(kTargetDelay).count());
    return static_cast<double>(in_flight_bytes_) >= budget;
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

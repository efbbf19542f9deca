#include "session-host/stream/flow_control.hpp"

#include <algorithm>

namespace portico::host {

void FlowControl::on_sent(std::uint32_t frame_id, Clock::time_point now, std::size_t bytes) {
    pending_.push_back({frame_id, now, bytes});
    in_flight_bytes_ += bytes;
    update_held(now);
}

std::optional<FlowControl::Clock::duration> FlowControl::on_ack(std::uint32_t frame_id, Clock::time_point now,
                                                                Clock::duration viewer_time) {
    using namespace std::chrono_literals;
    std::optional<Clock::duration> rtt;
    std::size_t released = 0;
    double best = 0;
    while (!pending_.empty() && pending_.front().id <= frame_id) {
        const Sent& s = pending_.front();
        rtt = now - s.at;
        released += s.bytes;
        // A frame alone on the link: its size over its whole trip (a lower bound of the rate). The
        // viewer's decode and paint are not the link's: they come off the acknowledged frame's trip.
        const auto on_link = s.id == frame_id ? std::max<Clock::duration>(now - s.at - viewer_time, 1ms) : now - s.at;
        const double trip = std::chrono::duration<double>(on_link).count();
        if (s.bytes >= kMinSampleBytes) best = std::max(best, s.bytes / trip);
        in_flight_bytes_ -= s.bytes;
        pending_.pop_front();
    }
    if (rtt && viewer_time > Clock::duration::zero())
        round_trips_.push_back({now, std::max(*rtt - viewer_time, Clock::duration::zero())});
    while (!round_trips_.empty() && now - round_trips_.front().at > kRoundTripWindow) round_trips_.pop_front();
    // Frames queued back to back: what this ack released over the time since the previous one.
    if (last_ack_ && released >= kMinSampleBytes) {
        const double gap = std::chrono::duration<double>(now - *last_ack_).count();
        if (gap > 0) best = std::max(best, released / gap);
    }
    if (best > 0) rates_.push_back({now, best});
    while (!rates_.empty() && now - rates_.front().at > kRateWindow) rates_.pop_front();
    if (released > 0) last_ack_ = pending_.empty() ? std::nullopt : std::optional(now);
    update_held(now);
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
std::size_t FlowControl::frame_window() const {
    if (round_trips_.empty()) return kMaxUnacked;
    Clock::duration least = round_trips_.front().network;
    for (const auto& r : round_trips_) least = std::min(least, r.network);
    return std::min<std::size_t>(kMaxUnacked, 1 + static_cast<std::size_t>(least / kPaceInterval));
}

bool FlowControl::held() const { return blocked() || pending_.size() >= frame_window(); }

bool FlowControl::stalled(Clock::time_point now) const { return held_since_ && now - *held_since_ > kStallLimit; }

void FlowControl::update_held(Clock::time_point now) {
    if (!held())
        held_since_.reset();
    else if (!held_since_)
        held_since_ = now;
}

}  // namespace portico::host

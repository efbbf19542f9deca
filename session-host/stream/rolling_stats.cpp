#include "session-host/stream/rolling_stats.hpp"

#include <algorithm>
#include <vector>

namespace portico::host {

namespace {
double ms(RollingStats::Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
}  // namespace

void RollingStats::on_frame(Clock::time_point now, std::size_t bytes, Clock::duration encode, bool damage) {
    prune(now);
    frames_.push_back({now, static_cast<double>(bytes)});
    encode_ms_.push_back({now, ms(encode)});
    if (damage && input_waiting_) {
        auto waited = now - *input_waiting_;
        if (waited <= kPhotonLimit) photon_ms_.push_back({now, ms(waited)});
        input_waiting_.reset();
    }
}

void RollingStats::on_rtt(Clock::time_point now, Clock::duration rtt) {
    prune(now);
    rtt_ms_.push_back({now, ms(rtt)});
}

void RollingStats::on_skipped(Clock::time_point now, std::int64_t frames) {
    if (frames <= 0) return;
    prune(now);
    skipped_.push_back({now, static_cast<double>(frames)});
}

void RollingStats::on_input(Clock::time_point now) {
    if (input_waiting_ && now - *input_waiting_ > kPhotonLimit) input_waiting_.reset();
    if (!input_waiting_) input_waiting_ = now;
}

RollingStats::Snapshot RollingStats::snapshot(Clock::time_point now) {
    prune(now);
    Snapshot s;
    const double seconds = std::chrono::duration<double>(kWindow).count();
    double bytes = 0;
    for (const auto& f : frames_) bytes += f.value;
    s.fps = static_cast<double>(frames_.size()) / seconds;
    s.kbps = bytes * 8 / 1000 / seconds;
    s.encode_ms = median(encode_ms_);
    s.rtt_ms = median(rtt_ms_);
    s.input_to_photon_ms = median(photon_ms_);
    for (const auto& k : skipped_) s.skipped += static_cast<std::int64_t>(k.value);
    return s;
}

void RollingStats::prune(Clock::time_point now) {
    const auto cutoff = now - kWindow;
    for (auto* q : {&frames_, &encode_ms_, &rtt_ms_, &photon_ms_, &skipped_})
        while (!q->empty() && q->front().at <= cutoff) q->pop_front();
}

std::optional<double> RollingStats::median(const std::deque<Sample>& s) {
    if (s.empty()) return std::nullopt;
    std::vector<double> v;
    v.reserve(s.size());
    for (const auto& x : s) v.push_back(x.value);
    auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
    std::nth_element(v.begin(), mid, v.end());
    return *mid;
}

}  // namespace portico::host

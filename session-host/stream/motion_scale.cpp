#include "session-host/stream/motion_scale.hpp"

#include <algorithm>
#include <vector>

namespace portico::host {

namespace {

double median(const std::deque<double>& values) {
    std::vector<double> v(values.begin(), values.end());
    std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
    return v[v.size() / 2];
}

}  // namespace

void MotionScale::on_sent(std::uint32_t frame_id, bool half) {
    sent_.push_back({frame_id, half});
    if (sent_.size() > kSentKept) sent_.pop_front();
}

void MotionScale::on_painted(std::uint32_t frame_id, std::uint32_t paint_us) {
    if (paint_us == 0) return;
    auto it = std::find_if(sent_.begin(), sent_.end(), [&](const Sent& s) { return s.id == frame_id; });
    // Frames of the other mode (sent before the last switch) say nothing about this one.
    if (it == sent_.end() || it->half != half_) return;
    reports_.push_back(paint_us / 1000.0);
    if (reports_.size() > kWindow) reports_.pop_front();
    if (reports_.size() < kMinReports) return;
    const double typical = median(reports_);
    const bool switch_mode = half_ ? typical * 4 < kUpshiftShare * kBudgetMs : typical > kBudgetMs;
    if (!switch_mode) return;
    half_ = !half_;
    reports_.clear();
}

}  // namespace portico::host

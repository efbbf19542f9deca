#pragma once
// Prometheus text exposition format 0.0.4, the one writer of GET /metrics for the broker and the
// session host: # HELP / # TYPE lines, samples with escaped label values, histograms, and the
// lock-free Histogram both processes observe into. What a metric means and who reads it is the
// caller's business (docs/metrics.md lists every name). Pure; any thread.

#include <array>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portico::prometheus {

// A sample value: integers exactly (counters beyond 2^53 stay exact), doubles in the shortest text
// that reads back as the same double ("0.004", "+Inf", "NaN").
class Value {
public:
    template <std::integral T>
    Value(T v) : text_(std::to_string(v)) {}  // NOLINT(google-explicit-constructor): a value is a value
    Value(double v);                          // NOLINT(google-explicit-constructor)
    const std::string& text() const { return text_; }

private:
    std::string text_;
};

using Labels = std::vector<std::pair<std::string_view, std::string>>;

// A label value as the format wants it between double quotes: \ " and newline escaped. Any bytes
// may come in (a host id, a version string); none can end the line or the quoted value early.
std::string escape_label_value(std::string_view v);

// Cumulative buckets fed from any thread without a lock; observations in seconds, the sum kept in
// whole microseconds (a double cannot be added to atomically on every platform we build for).
template <std::size_t N>
class Histogram {
public:
    explicit constexpr Histogram(const std::array<double, N>& bounds) : bounds_(bounds) {}
    void observe(double seconds) {
        for (std::size_t i = 0; i < N; ++i)
            if (seconds <= bounds_[i]) buckets_[i].fetch_add(1, std::memory_order_relaxed);
        count_.fetch_add(1, std::memory_order_relaxed);
        sum_us_.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
    }
    const std::array<double, N>& bounds() const { return bounds_; }
    std::array<std::uint64_t, N> buckets() const {
        std::array<std::uint64_t, N> out{};
        for (std::size_t i = 0; i < N; ++i) out[i] = buckets_[i].load(std::memory_order_relaxed);
        return out;
    }
    std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
    double sum_seconds() const { return static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6; }

private:
    std::array<double, N> bounds_;
    std::array<std::atomic<std::uint64_t>, N> buckets_{};
    std::atomic<std::uint64_t> count_{0}, sum_us_{0};
};

class TextWriter {
public:
    // Starts a metric family: its # HELP and # TYPE lines. type: counter, gauge or histogram.
    void family(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, const Value& value) { sample(name, {}, value); }
    void sample(std::string_view name, const Labels& labels, const Value& value);
    // A whole histogram family: HELP, TYPE, each bucket (cumulative counts, bounds ascending), +Inf,
    // _sum and _count. `labels` go on every line before `le`.
    void histogram(std::string_view name, std::string_view help, std::span<const double> bounds,
                   std::span<const std::uint64_t> cumulative, std::uint64_t count, double sum,
                   const Labels& labels = {});
    template <std::size_t N>
    void histogram(std::string_view name, std::string_view help, const Histogram<N>& h) {
        const auto counts = h.buckets();
        histogram(name, help, h.bounds(), counts, h.count(), h.sum_seconds());
    }
    const std::string& text() const { return out_; }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

}  // namespace portico::prometheus

#include "broker/login_throttle.hpp"

#include <algorithm>

namespace portico::broker {

void LoginThrottle::prune(Clock::time_point now) {
    for (auto it = entries_.begin(); it != entries_.end();)
        it = now - it->second.last >= policy_.forget_after ? entries_.erase(it) : std::next(it);
}

std::chrono::milliseconds LoginThrottle::wait_after(const Policy& p, int failures, std::int64_t last_at_ms,
                                                    std::int64_t now_ms) {
    if (failures < p.free_attempts || now_ms - last_at_ms >= p.forget_after.count() * 1000)
        return std::chrono::milliseconds(0);
    const int doublings = std::min(failures - p.free_attempts, 30);
    const auto delay = std::min<std::chrono::milliseconds>(p.max_delay, p.base_delay * (std::int64_t{1} << doublings));
    const auto ready = last_at_ms + delay.count();
    return std::chrono::milliseconds(now_ms >= ready ? 0 : ready - now_ms);
}

std::chrono::milliseconds LoginThrottle::wait_time(const std::string& key, Clock::time_point now) {
    std::lock_guard lk(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::chrono::milliseconds(0);
    auto& e = it->second;
    if (now - e.last >= policy_.forget_after) {
        entries_.erase(it);
        return std::chrono::milliseconds(0);
    }
    if (e.failures < policy_.free_attempts) return std::chrono::milliseconds(0);
    // Past the free attempts and some are still being checked: their outcome decides the delay.
    if (e.in_flight > 0) return std::max(policy_.base_delay, std::chrono::milliseconds(1));
    const int doublings = std::min(e.failures - policy_.free_attempts, 30);
    auto delay =
        std::min<std::chrono::milliseconds>(policy_.max_delay, policy_.base_delay * (std::int64_t{1} << doublings));
    auto ready = e.last + delay;
    if (now >= ready) return std::chrono::milliseconds(0);
    return std::chrono::duration_cast<std::chrono::milliseconds>(ready - now) + std::chrono::milliseconds(1);
}

void LoginThrottle::count(const std::string& key, Clock::time_point now) {
    std::lock_guard lk(mu_);
    // Keep memory bounded under a spray of user names: drop keys nobody tried for a while.
    if (entries_.size() > 10000) prune(now);
    auto& e = entries_[key];
    if (e.failures > 0 && now - e.last >= policy_.forget_after) e.failures = 0;
    e.failures = std::min(e.failures + 1, 1000);
    ++e.in_flight;
    e.last = now;
}

void LoginThrottle::finished(const std::string& key, bool ok, bool clear_on_success, Clock::time_point now) {
    std::lock_guard lk(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    if (ok && clear_on_success) {
        entries_.erase(it);
        return;
    }
    if (it->second.in_flight > 0) --it->second.in_flight;
    if (!ok) {
        it->second.last = now;
    } else if (it->second.failures > 0) {
        // count() booked the attempt as a failure in advance; it was not one. Earlier failures stand
        // (a success must not clear an address's count), but successes never add up: many people
        // behind one NAT address log in all day without being throttled.
        --it->second.failures;
    }
}

LoginThrottle::Policy LoginThrottle::per_user(const BrokerConfig& c) {
    return Policy{5, std::chrono::milliseconds(c.login_delay_base_ms), std::chrono::milliseconds(c.login_delay_max_ms),
                  std::chrono::seconds(900)};
}

LoginThrottle::Policy LoginThrottle::per_address(const BrokerConfig& c) {
    auto p = per_user(c);
    p.free_attempts = 20;
    return p;
}

std::size_t LoginThrottle::keys() {
    std::lock_guard lk(mu_);
    return entries_.size();
}

}  // namespace portico::broker

#pragma once
// LoginThrottle: the per-key delays that make password guessing slow (used by Identity).

#include "broker/broker.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace portico::broker {

// Progressive delays against password guessing, per key (a user name or a client address). The
// first `free_attempts` failures cost nothing; after that each further attempt must wait
// base_delay * 2^(failures - free_attempts), at most max_delay, after the previous one finished.
// An attempt is counted when it is admitted, before any hashing, and while counted attempts are
// still being checked nothing more is admitted past the free ones, so a burst of parallel guesses
// cannot slip past the limit however slow the hashing is. There is no lockout: the most anyone can
// do to someone else's account is make its owner wait max_delay. Failures are forgotten after
// forget_after without attempts. Thread-safe; called from network threads and password workers.
class LoginThrottle {
public:
    using Clock = std::chrono::steady_clock;
    struct Policy {
        int free_attempts = 5;
        std::chrono::milliseconds base_delay{1000};
        std::chrono::milliseconds max_delay{60000};
        std::chrono::seconds forget_after{900};
    };
    static Policy per_user(const BrokerConfig& c);
    static Policy per_address(const BrokerConfig& c);  // more free attempts: many people may share a NAT address
    explicit LoginThrottle(Policy p) : policy_(p) {}
    // How long until `key` may try again (zero: now).
    std::chrono::milliseconds wait_time(const std::string& key, Clock::time_point now = Clock::now());
    // Counts an admitted attempt (as a failure unless finished() says it succeeded).
    void count(const std::string& key, Clock::time_point now = Clock::now());
    // The attempt's check is done. ok && clear_on_success: the key starts afresh; otherwise the
    // delay runs from now.
    void finished(const std::string& key, bool ok, bool clear_on_success, Clock::time_point now = Clock::now());
    std::size_t keys();  // tracked keys (tests: memory stays bounded)
    const Policy& policy() const { return policy_; }

    // The same policy on failures counted elsewhere (the store, for every broker sharing it):
    // how long after `last_at_ms` (unix milliseconds) the next attempt must wait at `now_ms`.
    static std::chrono::milliseconds wait_after(const Policy& p, int failures, std::int64_t last_at_ms,
                                                std::int64_t now_ms);

private:
    struct Entry {
        int failures = 0;   // counted attempts, including those still being checked
        int in_flight = 0;  // counted attempts whose check has not finished
        Clock::time_point last;
    };
    void prune(Clock::time_point now);
    std::mutex mu_;
    Policy policy_;
    std::map<std::string, Entry> entries_;
};

}  // namespace portico::broker

#pragma once
// Caps on the broker's open connections, in total and per client address, so one client (or a
// flood of idle TLS connections) cannot use up the broker's file descriptors and memory.
// try_open() hands out a slot that keeps the connection counted until the last copy is dropped
// (the HTTP, control or gateway session holds it), or nothing when a cap is reached; the caller
// then closes the socket at once. Thread-safe: the acceptor's strand opens slots, any network
// thread drops them. Also the accept loop's back-off and rate-limited logging of refusals.

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace portico::broker {

class ConnectionLimiter : public std::enable_shared_from_this<ConnectionLimiter> {
public:
    ConnectionLimiter(std::size_t max_total, std::size_t max_per_address)
        : max_total_(max_total), max_per_address_(max_per_address) {}

    // A slot for a connection from `address`, or nullptr when a cap is reached. The slot may
    // outlive the caller's reference to the limiter (it holds the limiter alive).
    std::shared_ptr<void> try_open(const std::string& address);

    std::size_t open() const;
    std::size_t open_from(const std::string& address) const;
    // Refusals since the last call (for one log line now and then instead of one per connection).
    std::size_t take_refused();

private:
    void close(const std::string& address);
    mutable std::mutex mu_;
    std::size_t max_total_, max_per_address_;
    std::size_t total_ = 0, refused_ = 0;
    std::map<std::string, std::size_t> per_address_;
};

// How long the accept loop waits after a failed accept (EMFILE, ENFILE, ENOBUFS...): from 100 ms,
// doubling, at most 1 s, so a process out of descriptors neither spins nor stops accepting.
// Reset after a successful accept. Used on the acceptor's strand only.
class AcceptBackoff {
public:
    std::chrono::milliseconds next() {
        delay_ = delay_.count() == 0 ? std::chrono::milliseconds(100)
                                     : std::min(delay_ * 2, std::chrono::milliseconds(1000));
        return delay_;
    }
    void reset() { delay_ = std::chrono::milliseconds(0); }

private:
    std::chrono::milliseconds delay_{0};
};

// At most one log line per `every`: says whether to log now (tests and floods alike).
class LogThrottle {
public:
    explicit LogThrottle(std::chrono::seconds every) : every_(every) {}
    bool should_log() {
        std::lock_guard lk(mu_);
        auto now = std::chrono::steady_clock::now();
        if (logged_once_ && now - last_ < every_) return false;
        logged_once_ = true;
        last_ = now;
        return true;
    }

private:
    std::mutex mu_;
    std::chrono::seconds every_;
    bool logged_once_ = false;
    std::chrono::steady_clock::time_point last_;
};

}  // namespace portico::broker

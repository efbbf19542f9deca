#pragma once
// AuditLog: who did what to what, from where — appended to the store's append-only audit table.
// Also the broker's one clock for stored times (unix_now). Store thread or password workers.

#include "broker/store.hpp"

#include <cstdint>
#include <string>

namespace portico::broker {

// Seconds since the Unix epoch: the time unit of every stored timestamp.
std::int64_t unix_now();

class AuditLog {
public:
    explicit AuditLog(Store& store) : store_(store) {}
    // Appends one event. A store failure is logged, not thrown: an action that happened must not
    // be reported as failed because its audit row could not be written.
    void record(const std::string& actor, const std::string& action, const std::string& target, const std::string& from,
                const std::string& detail = "");

private:
    Store& store_;
};

}  // namespace portico::broker

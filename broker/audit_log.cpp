#include "broker/audit_log.hpp"

#include "common/log.hpp"

#include <chrono>

namespace portico::broker {

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void AuditLog::record(const std::string& actor, const std::string& action, const std::string& target,
                      const std::string& from, const std::string& detail) {
    try {
        store_.append_audit(AuditEvent{0, unix_now(), actor, action, target, from, detail});
    } catch (const std::exception& e) {
        log::error("cannot append to the audit log: ", e.what());
    }
}

}  // namespace portico::broker

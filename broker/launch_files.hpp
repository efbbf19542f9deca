#pragma once
// LaunchFiles: the portal's "Open in the Portico app". Issues launch files (protocol/launch_file.hpp)
// for a resource the caller may launch or one of the caller's own running sessions, each carrying
// a fresh single-use token that lives kLaunchFileLifetimeSeconds; and redeems such a token, once,
// for the user it was issued to (the HTTP layer then launches as that user, through the same
// LaunchService::launch as the portal). Only the token's SHA-256 is stored (Store::launch_tokens),
// so a database copy holds nothing to redeem; the store makes the use atomic across brokers.
// Every issue, redemption and refusal is audited.
//
// Threads: the store thread (every method queries the store).

#include "broker/api_error.hpp"
#include "broker/audit_log.hpp"
#include "broker/caller.hpp"
#include "broker/store.hpp"
#include "common/result.hpp"

#include <cstdint>
#include <map>
#include <string>

namespace portico::broker {

class LaunchFiles {
public:
    LaunchFiles(Store& store, AuditLog& audit) : store_(store), audit_(audit) {}

    struct Issued {
        std::string filename;  // "<resource name>.portico"
        std::string text;      // the file (format_launch_file)
    };
    // What to launch: `resource` (an id or a name the caller is entitled to) or `session_id` (a
    // session of the caller's own that can be reconnected to), exactly one of them. broker_url and
    // broker_cert_sha256: where the client finds this broker and the certificate it serves.
    Result<Issued, ApiErrorCode> issue(const Caller& caller, const std::string& resource, const std::string& session_id,
                                       const std::string& broker_url, const std::string& broker_cert_sha256);

    struct Redeemed {
        Principal user;
        std::string resource, session_id;  // session_id: empty for a new launch
    };
    // Uses the token up. Unknown (forged, cut, another broker's), used, expired: unauthenticated,
    // with a message saying which; a session that ended meanwhile: conflict; past
    // kMaxRefusalsPerMinute refusals from `from` (the client's address): rate_limited.
    Result<Redeemed, ApiErrorCode> redeem(const std::string& token, const std::string& from);

    // Drops tokens expired for a while (the liveness tick). Until then a reused token reads "used".
    void purge(std::int64_t now);

    // Refusals one client address may have per minute; beyond, redeem answers rate_limited without
    // asking the store or writing the audit (a flood of forged tokens must not flood either).
    static constexpr int kMaxRefusalsPerMinute = 20;

private:
    struct Refusals {
        std::int64_t window_start = 0;  // unix seconds
        int count = 0;
    };

    Store& store_;
    AuditLog& audit_;
    std::map<std::string, Refusals> refusals_;  // by client address; store thread only
};

}  // namespace portico::broker

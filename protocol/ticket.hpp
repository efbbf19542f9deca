#pragma once
// Launch tickets (docs/protocol.md): the broker signs them with Ed25519, the session host
// verifies signature, expiry, binding to itself, and single use before showing a session.

#include "common/crypto.hpp"
#include "common/result.hpp"
#include "protocol/display.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace portico::protocol {

inline constexpr std::int64_t kTicketLifetimeSeconds = 60;

struct TicketClaims {
    std::string ticket_id;
    std::string session_id;
    std::string user;
    std::string host_id;
    std::string resource;
    std::int64_t expires_at = 0;  // unix seconds
    bool view_only = false;       // shadowing: the host ignores this viewer's input
    // View-only tickets: who watches (the staff member's portal name). The host shows it to the
    // session's user; `user` stays the session's owner. Empty: the host says "an administrator".
    std::string viewer;
};

std::string sign_ticket(const TicketClaims& claims, const crypto::Ed25519Key& key);

// The claims of a ticket payload (the JSON under the signature), or ticket_invalid. Parsing only:
// it accepts nothing, so TicketVerifier::verify() is the one way to trust a ticket.
Result<TicketClaims, ErrorCode> parse_ticket_claims(std::string_view payload);

// Verifies tickets for one host. Thread-safe; remembers used ticket ids until they expire.
class TicketVerifier {
public:
    TicketVerifier(crypto::Ed25519Key public_key, std::string host_id);
    Result<TicketClaims, ErrorCode> verify(std::string_view token, std::int64_t now_unix);

private:
    crypto::Ed25519Key key_;
    std::string host_id_;
    std::mutex mu_;
    std::map<std::string, std::int64_t> used_;  // ticket id -> expiry
};

}  // namespace portico::protocol

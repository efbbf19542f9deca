// libFuzzer target: launch tickets (protocol/ticket.hpp) as a session host verifies them.
// The first byte picks what the rest is:
//   0: a token as any client may present it (the attacker's path: split, base64url, signature);
//   1: a ticket payload for the claims parser that verify() runs behind the signature check (a
//      broker bug or a stolen key must not crash a host). It is parsed directly: signing every
//      input here cost more than everything else in the target (Ed25519 sign + verify ~110 µs);
//      mode 2 still runs the whole signed path, and unit tests cover verify() on signed payloads;
//   2: claims that sign_ticket() turns into a token; verify() must then accept or refuse it
//      exactly as the rules say (expiry, lifetime, host binding, single use).
// A fresh verifier per input keeps inputs independent (its replay memory would otherwise carry over).

#include "common/crypto.hpp"
#include "fuzz_check.hpp"
#include "protocol/ticket.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>

using namespace portico;
using namespace portico::protocol;

namespace {

constexpr std::int64_t kNow = 1'700'000'000;
const char* const kHost = "host-1";

const crypto::Ed25519Key& broker_key() {
    static const crypto::Ed25519Key key = crypto::Ed25519Key::generate();
    return key;
}

TicketVerifier make_verifier() {
    return TicketVerifier(*crypto::Ed25519Key::from_public_raw(broker_key().public_raw()), kHost);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    const int mode = in.ConsumeIntegralInRange<int>(0, 2);
    auto verifier = make_verifier();
    if (mode == 0) {
        auto r = verifier.verify(in.ConsumeRemainingBytesAsString(), kNow);
        FUZZ_CHECK(!r.ok(), "an unsigned token never verifies");
        FUZZ_CHECK(r.error().code == ErrorCode::ticket_invalid, "a forged token is ticket_invalid");
        return 0;
    }
    if (mode == 1) {
        auto r = parse_ticket_claims(in.ConsumeRemainingBytesAsString());
        if (!r) FUZZ_CHECK(r.error().code == ErrorCode::ticket_invalid, "a malformed payload is ticket_invalid");
        return 0;
    }
    TicketClaims c;
    c.ticket_id = in.ConsumeRandomLengthString(64);
    c.session_id = in.ConsumeRandomLengthString(64);
    c.user = in.ConsumeRandomLengthString(64);
    c.host_id = in.ConsumeBool() ? std::string(kHost) : in.ConsumeRandomLengthString(16);
    c.resource = in.ConsumeRandomLengthString(64);
    c.expires_at = kNow + in.ConsumeIntegralInRange<std::int64_t>(-5, 3 * kTicketLifetimeSeconds);
    c.view_only = in.ConsumeBool();
    std::string token;
    try {
        token = sign_ticket(c, broker_key());
    } catch (const std::exception&) {
        return 0;  // claims that are not UTF-8 cannot be written as JSON: the broker never mints them
    }
    auto r = verifier.verify(token, kNow);
    if (c.expires_at <= kNow) {
        FUZZ_CHECK(!r && r.error().code == ErrorCode::ticket_expired, "an expired ticket is refused as expired");
    } else if (c.expires_at > kNow + 2 * kTicketLifetimeSeconds || c.host_id != kHost) {
        FUZZ_CHECK(!r && r.error().code == ErrorCode::ticket_invalid, "a ticket for elsewhere or too long is invalid");
    } else {
        FUZZ_CHECK(r.ok(), "a well-formed ticket for this host verifies");
        const auto& v = r.value();
        FUZZ_CHECK(v.ticket_id == c.ticket_id && v.session_id == c.session_id && v.user == c.user &&
                       v.resource == c.resource && v.expires_at == c.expires_at && v.view_only == c.view_only,
                   "verified claims are the signed claims");
        auto replay = verifier.verify(token, kNow);
        FUZZ_CHECK(!replay && replay.error().code == ErrorCode::ticket_replayed, "a ticket is single use");
    }
    return 0;
}

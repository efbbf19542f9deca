#include "protocol/ticket.hpp"

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace portico::protocol {

std::string sign_ticket(const TicketClaims& c, const crypto::Ed25519Key& key) {
    nlohmann::json j = {{"tid", c.ticket_id}, {"sid", c.session_id}, {"usr", c.user},
                        {"hst", c.host_id},   {"res", c.resource},   {"exp", c.expires_at}};
    if (c.view_only) j["view_only"] = true;  // absent = false, so ordinary tickets are unchanged
    if (!c.viewer.empty()) j["vwr"] = c.viewer;
    std::string payload = j.dump();
    auto sig = key.sign(crypto::bytes_of(payload));
    return crypto::base64url_encode(crypto::bytes_of(payload)) + "." + crypto::base64url_encode(sig);
}

Result<TicketClaims, ErrorCode> parse_ticket_claims(std::string_view payload) {
    TicketClaims c;
    try {
        auto j = nlohmann::json::parse(payload.begin(), payload.end());
        c.ticket_id = j.at("tid").get<std::string>();
        c.session_id = j.at("sid").get<std::string>();
        c.user = j.at("usr").get<std::string>();
        c.host_id = j.at("hst").get<std::string>();
        c.resource = j.at("res").get<std::string>();
        // An integer, checked first: get<int64_t>() casts a float such as 1e41 out of range (UB).
        const auto& exp = j.at("exp");
        if (!exp.is_number_integer()) throw std::invalid_argument("exp is not an integer");
        c.expires_at = exp.get<std::int64_t>();
        if (auto it = j.find("view_only"); it != j.end()) c.view_only = it->get<bool>();
        if (auto it = j.find("vwr"); it != j.end()) c.viewer = it->get<std::string>();
    } catch (const std::exception&) {
        return Error<ErrorCode>{ErrorCode::ticket_invalid, "ticket payload is malformed"};
    }
    return c;
}

TicketVerifier::TicketVerifier(crypto::Ed25519Key public_key, std::string host_id)
    : key_(std::move(public_key)), host_id_(std::move(host_id)) {}

Result<TicketClaims, ErrorCode> TicketVerifier::verify(std::string_view token, std::int64_t now) {
    auto invalid = [](std::string why) { return Error<ErrorCode>{ErrorCode::ticket_invalid, std::move(why)}; };
    auto dot = token.find('.');
    if (token.empty() || dot == std::string_view::npos) return invalid("ticket is not payload.signature");
    auto payload = crypto::base64url_decode(token.substr(0, dot));
    auto sig = crypto::base64url_decode(token.substr(dot + 1));
    if (!payload || !sig) return invalid("ticket is not base64url");
    if (!key_.verify(*payload, *sig)) return invalid("ticket signature does not verify");

    auto parsed =
        parse_ticket_claims(std::string_view(reinterpret_cast<const char*>(payload->data()), payload->size()));
    if (!parsed) return parsed;
    TicketClaims c = std::move(parsed).value();
    if (c.expires_at <= now) return Error<ErrorCode>{ErrorCode::ticket_expired, "ticket expired"};
    // A validly signed ticket that claims to live far longer than the broker ever issues is a bug
    // or a stolen key; refuse it rather than remembering its id forever.
    if (c.expires_at > now + 2 * kTicketLifetimeSeconds) return invalid("ticket lifetime too long");
    if (c.host_id != host_id_) return invalid("ticket is for another host");

    std::lock_guard lk(mu_);
    for (auto it = used_.begin(); it != used_.end();) it = it->second <= now ? used_.erase(it) : std::next(it);
    if (!used_.emplace(c.ticket_id, c.expires_at).second)
        return Error<ErrorCode>{ErrorCode::ticket_replayed, "ticket already used"};
    return c;
}

}  // namespace portico::protocol

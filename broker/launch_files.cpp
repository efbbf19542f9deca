#include "broker/launch_files.hpp"

#include "common/crypto.hpp"
#include "common/log.hpp"
#include "protocol/launch_file.hpp"

#include <algorithm>
#include <cctype>

namespace portico::broker {

namespace {

std::string token_hash(const std::string& token) { return crypto::sha256_hex(crypto::bytes_of(token)); }

// A download name from a resource's name: what a file system and a Content-Disposition header take.
std::string file_name_for(const std::string& name) {
    std::string out;
    for (char c : name.substr(0, 64)) {
        const auto u = static_cast<unsigned char>(c);
        out += std::isalnum(u) || c == '.' || c == '_' || c == '-' ? c : '-';
    }
    if (out.empty() || out.front() == '.') out.insert(0, "portico");
    return out + protocol::kLaunchFileSuffix;
}

Error<ApiErrorCode> refused(std::string why) { return {ApiErrorCode::unauthenticated, std::move(why)}; }

}  // namespace

Result<LaunchFiles::Issued, ApiErrorCode> LaunchFiles::issue(const Caller& caller, const std::string& resource_ref,
                                                             const std::string& session_id,
                                                             const std::string& broker_url,
                                                             const std::string& broker_cert_sha256) {
    std::optional<Resource> res;
    std::string session;
    if (!session_id.empty()) {
        // Only the caller's own: the token logs its holder in as the file's user.
        auto s = store_.session(session_id);
        if (!s || s->user != caller.name) return Error<ApiErrorCode>{ApiErrorCode::not_found, "no such session"};
        if (!is_reconnectable(s->state))
            return Error<ApiErrorCode>{ApiErrorCode::conflict, "the session is " + std::string(to_string(s->state)) +
                                                                   ": only a running session can be reconnected to"};
        res = store_.resource(s->resource);
        if (!res) return Error<ApiErrorCode>{ApiErrorCode::not_found, "the session's resource was deleted"};
        session = s->id;
    } else {
        res = store_.resource(resource_ref);
        if (!res) {
            for (auto& r : store_.entitled_resources(caller.name))  // the portal may name a resource
                if (r.name == resource_ref) res = r;
        }
        if (!res) return Error<ApiErrorCode>{ApiErrorCode::not_found, "no such resource: " + resource_ref};
    }
    if (!store_.is_entitled(caller.name, res->id))
        return Error<ApiErrorCode>{ApiErrorCode::not_entitled, "you are not entitled to " + res->name};

    protocol::LaunchFile f;
    f.broker = broker_url;
    f.broker_cert_sha256 = broker_cert_sha256;
    f.resource = res->id;
    f.session = session;
    const auto now = unix_now();
    f.expires_at = now + protocol::kLaunchFileLifetimeSeconds;
    f.token = crypto::random_token(32);
    store_.create_launch_token(token_hash(f.token), LaunchToken{caller.name, res->id, session, now, f.expires_at});
    audit_.record(caller.name, "launch_file.issue", res->id, caller.ip,
                  session.empty() ? "new launch" : "reconnect to session " + session);
    return Issued{file_name_for(res->name), protocol::format_launch_file(f)};
}

Result<LaunchFiles::Redeemed, ApiErrorCode> LaunchFiles::redeem(const std::string& token, const std::string& from) {
    const auto now = unix_now();
    if (auto it = refusals_.find(from); it != refusals_.end()) {
        if (now - it->second.window_start >= 60)
            refusals_.erase(it);
        else if (it->second.count >= kMaxRefusalsPerMinute)
            return Error<ApiErrorCode>{ApiErrorCode::rate_limited,
                                       "too many refused launch files from your address; try again in " +
                                           std::to_string(60 - (now - it->second.window_start)) + " s"};
    }
    auto refuse = [&](const std::string& why) {
        auto& r = refusals_.try_emplace(from, Refusals{now, 0}).first->second;
        if (++r.count == kMaxRefusalsPerMinute)
            log::warn("launch files from ", from, ": ", kMaxRefusalsPerMinute,
                      " refused within a minute; the next are not audited");
        audit_.record("-", "launch_file.refused", "-", from, why);
        log::warn("launch file from ", from, " refused: ", why);
        return refused(why);
    };
    if (!protocol::well_formed_launch_token(token))
        return refuse("this is not a launch file's token (cut short or edited)");
    auto use = store_.consume_launch_token(token_hash(token), now);
    switch (use.result) {
        case ConsumeResult::ok: break;
        case ConsumeResult::used:
            return refuse("this launch file was used already; download a new one from the portal");
        case ConsumeResult::expired:
            return refuse("this launch file has expired (they last " +
                          std::to_string(protocol::kLaunchFileLifetimeSeconds) +
                          " s); download a new one from the portal");
        default: return refuse("this launch file is not known to this broker (forged, or issued by another one)");
    }
    const auto& t = *use.token;
    auto user = store_.user(t.user);
    if (!user) return refuse("the launch file's user no longer exists");
    if (!t.session_id.empty()) {
        auto s = store_.session(t.session_id);
        if (!s || !is_reconnectable(s->state)) {
            audit_.record(t.user, "launch_file.refused", t.resource, from, "session " + t.session_id + " has ended");
            return Error<ApiErrorCode>{ApiErrorCode::conflict,
                                       "the session of this launch file has ended; start a new one from the portal"};
        }
    }
    audit_.record(t.user, "launch_file.redeem", t.resource, from,
                  t.session_id.empty() ? "new launch" : "reconnect to session " + t.session_id);
    return Redeemed{Principal{user->name, user->role}, t.resource, t.session_id};
}

void LaunchFiles::purge(std::int64_t now) {
    // An hour after expiry: until then a second use reads "used", not "unknown".
    store_.purge_launch_tokens(now - 3600);
    std::erase_if(refusals_, [now](const auto& r) { return now - r.second.window_start >= 60; });
}

}  // namespace portico::broker

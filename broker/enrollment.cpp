#include "broker/enrollment.hpp"

#include "common/crypto.hpp"
#include "common/log.hpp"

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

namespace portico::broker {

namespace control = protocol::control;

Enrollment::Enrollment(const BrokerConfig& config, Store& store, BrokerCa& ca, AuditLog& audit,
                       std::string enrollment_secret)
    : config_(config), store_(store), ca_(ca), audit_(audit), enrollment_secret_(std::move(enrollment_secret)) {}

Enrollment::NewToken Enrollment::create_token(const std::string& actor, const std::string& from,
                                              const std::string& host_id, int ttl_seconds) {
    EnrollmentToken t;
    t.id = crypto::random_token(9);
    t.host_id = host_id;
    t.created_by = actor;
    t.created_at = unix_now();
    t.expires_at = t.created_at + ttl_seconds;
    std::string token = crypto::random_token(32);
    store_.create_enrollment_token(t, crypto::sha256_hex(crypto::bytes_of(token)));
    audit_.record(actor, "enrollment_token.create", t.id, from, host_id.empty() ? "any host" : "host " + host_id);
    return NewToken{std::move(t), std::move(token)};
}

std::vector<EnrollmentToken> Enrollment::tokens() { return store_.enrollment_tokens(unix_now()); }

Result<Enrollment::Enrolled, ApiErrorCode> Enrollment::enroll(const std::string& token, const std::string& host_id,
                                                              const std::string& csr_pem, const std::string& from) {
    auto refused = [](std::string why) {
        return Error<ApiErrorCode>{ApiErrorCode::enrollment_refused, std::move(why)};
    };
    if (token.empty() || token.size() > 256) return refused("unknown enrollment token");
    auto known = store_.host(host_id);
    auto r = store_.consume_enrollment_token(crypto::sha256_hex(crypto::bytes_of(token)), host_id, unix_now(),
                                             known.has_value());
    switch (r) {
        case ConsumeResult::ok: break;
        case ConsumeResult::unknown: return refused("unknown enrollment token");
        case ConsumeResult::used: return refused("this enrollment token was already used");
        case ConsumeResult::expired: return refused("this enrollment token has expired");
        case ConsumeResult::wrong_host: return refused("this enrollment token is for another host id");
        case ConsumeResult::host_exists:
            // Otherwise any holder of an any-host token could take over an enrolled host's identity.
            audit_.record("-", "host.enroll_refused", host_id, from, "host id exists; the token was not issued for it");
            log::warn("enrollment of existing host ", host_id, " from ", from, " refused: token not issued for it");
            return refused("host id " + host_id +
                           " is already enrolled; only a token issued for this host id may enroll it again");
    }
    auto cert = ca_.sign_csr(csr_pem, host_id);
    if (!cert) {
        log::warn("enrollment of host ", host_id, " from ", from, " refused: ", cert.error().message);
        return Error<ApiErrorCode>{ApiErrorCode::bad_request, cert.error().message};
    }
    // Remember the certificate: only this one authenticates the host from now on.
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(cert.value().data(), static_cast<int>(cert.value().size())), BIO_free);
    std::unique_ptr<X509, decltype(&X509_free)> x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
    auto fp = x509_sha256_hex(x.get());
    auto existing = store_.host(host_id);
    HostRecord rec = existing.value_or(HostRecord{});
    rec.id = host_id;
    if (rec.name.empty()) rec.name = host_id;
    rec.state = existing ? existing->state : "down";
    rec.cert_fingerprint = fp;
    rec.auth = "mtls";
    rec.last_seen = unix_now();
    store_.upsert_host(rec);
    audit_.record("-", "host.enroll", host_id, from, "certificate " + fp.substr(0, 16));
    log::info("host ", host_id, " enrolled from ", from);
    return Enrolled{cert.value(), ca_.cert_pem()};
}

Result<std::string, ApiErrorCode> Enrollment::authorize_host(const control::Register& reg, const PeerCert& cert,
                                                             const std::string& from) {
    auto no = [](std::string why) { return Error<ApiErrorCode>{ApiErrorCode::enrollment_refused, std::move(why)}; };
    if (cert.verified) {
        if (cert.common_name != reg.host_id) return no("the client certificate is for host '" + cert.common_name + "'");
        auto rec = store_.host(reg.host_id);
        if (!rec || rec->cert_fingerprint != cert.sha256)
            return no("the client certificate is not (or no longer) enrolled; enroll the host again");
        return std::string("mtls");
    }
    if (config_.require_mtls) return no("this broker requires mutual TLS; enroll the host");
    // Compare digests so the comparison is constant-time regardless of the lengths.
    auto a = crypto::sha256_hex(crypto::bytes_of(reg.secret));
    auto b = crypto::sha256_hex(crypto::bytes_of(enrollment_secret_));
    if (reg.secret.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) != 0) return no("registration refused");
    // The secret is shared by every host: it must never stand in for a certificate on record.
    auto rec = store_.host(reg.host_id);
    if (rec && !rec->cert_fingerprint.empty()) {
        audit_.record("-", "host.takeover_refused", reg.host_id, from,
                      "shared-secret registration for a host enrolled with a certificate");
        return no("host id " + reg.host_id + " is enrolled with a certificate; it must authenticate with it");
    }
    return std::string("secret");
}

}  // namespace portico::broker

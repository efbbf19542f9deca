#pragma once
// Enrollment: how a session host gets and proves its identity. One-time enrollment tokens (made
// by an admin), enrolling with one (the broker CA signs the host's CSR and the store remembers
// the certificate), and the decision at a control channel's `register`: mutual TLS with that
// certificate, or (only when the broker allows it, and never for an enrolled host id) the
// shared secret. Store thread.

#include "broker/api_error.hpp"
#include "broker/audit_log.hpp"
#include "broker/broker.hpp"
#include "broker/pki.hpp"
#include "broker/store.hpp"
#include "common/result.hpp"
#include "protocol/control.hpp"

#include <string>

namespace portico::broker {

// What a host proved about itself on the control channel's TLS connection.
struct PeerCert {
    bool verified = false;  // chained to the broker CA
    std::string common_name, sha256;
};

class Enrollment {
public:
    Enrollment(const BrokerConfig& config, Store& store, BrokerCa& ca, AuditLog& audit, std::string enrollment_secret);

    struct NewToken {
        EnrollmentToken info;
        std::string token;  // shown once; only its SHA-256 is stored
    };
    // host_id empty: for any host id not yet enrolled.
    NewToken create_token(const std::string& actor, const std::string& from, const std::string& host_id,
                          int ttl_seconds);
    std::vector<EnrollmentToken> tokens();  // unused and unexpired

    struct Enrolled {
        std::string cert_pem, ca_pem;
    };
    Result<Enrolled, ApiErrorCode> enroll(const std::string& token, const std::string& host_id,
                                          const std::string& csr_pem, const std::string& from);

    // How a registering host authenticated ("mtls" or "secret"), or why it may not register
    // (enrollment_refused). A shared-secret registration for a host id with a certificate on
    // record is refused and audited.
    Result<std::string, ApiErrorCode> authorize_host(const protocol::control::Register& reg, const PeerCert& cert,
                                                     const std::string& from = "");

private:
    const BrokerConfig& config_;
    Store& store_;
    BrokerCa& ca_;
    AuditLog& audit_;
    std::string enrollment_secret_;
};

}  // namespace portico::broker

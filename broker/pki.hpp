#pragma once
// The broker's own certificate authority for session hosts: `init` creates it, POST /enroll
// signs a host's CSR with it (client-auth certificate, CN = host id), and the HTTPS listener
// verifies client certificates against it (mutual TLS on the control channel). Loaded at
// start-up (throws); sign_csr() is thread-safe and returns errors as values.

#include "common/result.hpp"

#include <string>

struct evp_pkey_st;
struct x509_st;

namespace portico::broker {

// Why a CSR was not signed: the request itself (bad_csr) or the CA's own work (signing_failed).
enum class CaErrorCode { bad_csr, signing_failed };

class BrokerCa {
public:
    // Writes a new EC P-256 CA key (0600) and self-signed CA certificate (10 years).
    static void create(const std::string& cert_path, const std::string& key_path);

    BrokerCa(const std::string& cert_path, const std::string& key_path);
    ~BrokerCa();
    BrokerCa(const BrokerCa&) = delete;
    BrokerCa& operator=(const BrokerCa&) = delete;

    // Checks the CSR's self-signature and issues a 1-year client certificate for its public key
    // with subject CN = host_id. Returns the certificate PEM or a reason.
    Result<std::string, CaErrorCode> sign_csr(const std::string& csr_pem, const std::string& host_id,
                                              int days = 365) const;
    const std::string& cert_pem() const { return cert_pem_; }
    const std::string& cert_path() const { return cert_path_; }

private:
    std::string cert_path_, cert_pem_;
    evp_pkey_st* key_ = nullptr;
    x509_st* cert_ = nullptr;
};

// Hex SHA-256 of a certificate's DER encoding, and its subject CN ("" when absent).
std::string x509_sha256_hex(x509_st* cert);
std::string x509_common_name(x509_st* cert);

}  // namespace portico::broker

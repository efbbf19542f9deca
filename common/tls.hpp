#pragma once
// TLS set-up shared by every process: server and client contexts (TLS 1.2 minimum, 1.3 preferred),
// certificate pinning by SHA-256 fingerprint, and self-signed certificate generation.

#include <boost/asio/ssl/context.hpp>

#include <string>
#include <vector>

namespace portico::tls {

namespace ssl = boost::asio::ssl;

ssl::context make_server_context(const std::string& cert_pem, const std::string& key_pem);

// How a client decides to trust the server it connects to.
struct ClientTrust {
    std::string ca_file;        // verify the chain against this CA bundle/certificate
    std::string pinned_sha256;  // or: accept exactly the leaf certificate with this fingerprint
    bool insecure = false;      // or: accept anything (tests and --insecure only)
};
ssl::context make_client_context(const ClientTrust& trust);

// Writes a fresh EC P-256 key and a self-signed certificate (valid 825 days) with the given
// subject alternative names (e.g. "DNS:localhost", "IP:127.0.0.1"). Key file mode is 0600.
void generate_self_signed(const std::string& cert_path, const std::string& key_path, const std::string& common_name,
                          const std::vector<std::string>& subject_alt_names);

// Hex SHA-256 of the certificate's DER encoding (what ClientTrust::pinned_sha256 compares).
std::string cert_sha256_hex(const std::string& cert_pem_path);

}  // namespace portico::tls

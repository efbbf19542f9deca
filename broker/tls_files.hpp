#pragma once
// The broker's own HTTPS certificate: a PEM chain file (the server certificate, then its
// intermediate CAs) and an unencrypted PEM key file, which the admin may replace and then reload
// (SIGHUP) without a restart.
//
// How a reload spares open connections: an OpenSSL connection copies its certificate from the
// context when it is created, so the context is never changed after start. Instead a certificate
// callback on it hands each new handshake the pair loaded last; connections already open (display
// streams through the gateway, hosts' control channels) keep the pair they were made with.
//
// Loading checks what would otherwise fail only at a client's handshake: the files are readable
// PEM, the key is not encrypted and matches the certificate. Every error names the file. A reload
// that fails leaves the pair in use as it was. Thread-safe: reload() from the signal thread,
// the callback from any network thread.

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <mutex>
#include <string>

struct ssl_st;  // OpenSSL's SSL

namespace portico::broker {

class ServerCertificate {
public:
    // Reads and checks the pair. Throws std::runtime_error naming the file at fault.
    ServerCertificate(std::string cert_file, std::string key_file);
    ~ServerCertificate();
    ServerCertificate(const ServerCertificate&) = delete;
    ServerCertificate& operator=(const ServerCertificate&) = delete;

    // Serves the current pair on `ctx` and every later one from reload(). `ctx` must not outlive
    // this object.
    void install(boost::asio::ssl::context& ctx);

    // Re-reads both files. On success new handshakes get the new pair; on failure it throws
    // std::runtime_error naming the file and the pair in use stays.
    void reload();

    // What is being served: e.g. "CN=broker.example.org, sha256 ab12…, valid until 2027-03-01
    // 12:00:00 UTC (/path/broker.crt, 1 intermediate)".
    std::string describe() const;
    // Hex SHA-256 of the served leaf certificate's DER (what a client's pin compares).
    std::string sha256() const;

    // The certificate callback's work: gives the handshake of `ssl` the current pair. Any thread.
    bool apply(ssl_st* ssl) const;

    const std::string& cert_file() const { return cert_file_; }
    const std::string& key_file() const { return key_file_; }

    struct Pair;  // the parsed files (OpenSSL objects), immutable once loaded

private:
    std::shared_ptr<const Pair> current() const;

    std::string cert_file_, key_file_;
    mutable std::mutex mu_;
    std::shared_ptr<const Pair> pair_;  // guarded by mu_
};

}  // namespace portico::broker

#include "broker/tls_files.hpp"

#include "broker/pki.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <vector>

namespace portico::broker {

struct ServerCertificate::Pair {
    X509* leaf = nullptr;
    STACK_OF(X509) * chain = nullptr;  // the intermediates, in file order
    EVP_PKEY* key = nullptr;
    std::string sha256, subject, not_after;

    Pair() = default;
    Pair(const Pair&) = delete;
    Pair& operator=(const Pair&) = delete;
    ~Pair() {
        X509_free(leaf);
        sk_X509_pop_free(chain, X509_free);
        EVP_PKEY_free(key);
    }
};

namespace {

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;

// OpenSSL's last error as text (and its queue emptied, so it cannot leak into the next call).
std::string openssl_error() {
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "no PEM data";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

Bio open_file(const std::string& path, const char* what) {
    errno = 0;
    Bio bio(BIO_new_file(path.c_str(), "r"), BIO_free);
    if (!bio) {
        const int err = errno;
        ERR_clear_error();
        throw std::runtime_error("cannot read the TLS " + std::string(what) + " file " + path + ": " +
                                 (err ? std::strerror(err) : "cannot be opened"));
    }
    return bio;
}

// A PEM pass phrase callback that refuses: an encrypted key fails to load instead of prompting.
int no_passphrase(char*, int, int, void*) { return 0; }

std::string time_text(const ASN1_TIME* t) {
    struct tm tm {};
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return "?";
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

std::shared_ptr<const ServerCertificate::Pair> load_pair(const std::string& cert_file, const std::string& key_file) {
    auto pair = std::make_shared<ServerCertificate::Pair>();
    {
        Bio bio = open_file(cert_file, "certificate");
        pair->leaf = PEM_read_bio_X509_AUX(bio.get(), nullptr, no_passphrase, nullptr);
        if (!pair->leaf)
            throw std::runtime_error("the TLS certificate file " + cert_file +
                                     " holds no PEM certificate: " + openssl_error());
        pair->chain = sk_X509_new_null();
        // The rest of the file: the intermediates, as use_certificate_chain_file reads them.
        while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr)) sk_X509_push(pair->chain, ca);
        unsigned long e = ERR_peek_last_error();
        if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
            ERR_clear_error();  // the end of the file
        else if (e != 0)
            throw std::runtime_error("the TLS certificate file " + cert_file +
                                     " has a bad certificate after the first: " + openssl_error());
    }
    {
        Bio bio = open_file(key_file, "key");
        pair->key = PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr);
        if (!pair->key)
            throw std::runtime_error("the TLS key file " + key_file +
                                     " holds no unencrypted PEM private key: " + openssl_error());
    }
    if (X509_check_private_key(pair->leaf, pair->key) != 1) {
        ERR_clear_error();
        throw std::runtime_error("the TLS key file " + key_file + " does not match the certificate in " + cert_file);
    }
    pair->sha256 = x509_sha256_hex(pair->leaf);
    char subject[256] = "";
    X509_NAME_oneline(X509_get_subject_name(pair->leaf), subject, sizeof subject);
    pair->subject = subject;
    pair->not_after = time_text(X509_get0_notAfter(pair->leaf));
    return pair;
}

// OpenSSL's certificate callback: runs in each server handshake before the certificate is sent.
int use_current_pair(SSL* ssl, void* arg) {
    auto pair = static_cast<ServerCertificate*>(arg);
    return pair->apply(ssl) ? 1 : 0;
}

}  // namespace

ServerCertificate::ServerCertificate(std::string cert_file, std::string key_file)
    : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)), pair_(load_pair(cert_file_, key_file_)) {}

ServerCertificate::~ServerCertificate() = default;

std::shared_ptr<const ServerCertificate::Pair> ServerCertificate::current() const {
    std::lock_guard lk(mu_);
    return pair_;
}

void ServerCertificate::install(boost::asio::ssl::context& ctx) {
    auto pair = current();
    // The context's own pair (what a connection starts with), then the callback that replaces it
    // with the latest per handshake.
    if (SSL_CTX_use_cert_and_key(ctx.native_handle(), pair->leaf, pair->key, pair->chain, 1) != 1)
        throw std::runtime_error("OpenSSL refused the TLS certificate " + cert_file_ + ": " + openssl_error());
    SSL_CTX_set_cert_cb(ctx.native_handle(), use_current_pair, this);
}

bool ServerCertificate::apply(SSL* ssl) const {
    auto pair = current();
    // The connection holds its own references (override = 1 replaces what it copied from the context).
    return SSL_use_cert_and_key(ssl, pair->leaf, pair->key, pair->chain, 1) == 1;
}

void ServerCertificate::reload() {
    auto fresh = load_pair(cert_file_, key_file_);
    std::lock_guard lk(mu_);
    pair_ = std::move(fresh);
}

std::string ServerCertificate::sha256() const { return current()->sha256; }

std::string ServerCertificate::describe() const {
    auto pair = current();
    const int intermediates = sk_X509_num(pair->chain);
    return pair->subject + ", sha256 " + pair->sha256 + ", valid until " + pair->not_after + " (" + cert_file_ + ", " +
           std::to_string(intermediates) + (intermediates == 1 ? " intermediate)" : " intermediates)");
}

}  // namespace portico::broker

#include "common/tls.hpp"

#include "common/crypto.hpp"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <stdexcept>

namespace portico::tls {

namespace {

void harden(ssl::context& ctx) {
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression | ssl::context::single_dh_use);
}

std::string der_sha256(X509* cert) {
    int len = i2d_X509(cert, nullptr);
    if (len <= 0) return {};
    std::vector<std::uint8_t> der(static_cast<std::size_t>(len));
    unsigned char* p = der.data();
    i2d_X509(cert, &p);
    return crypto::sha256_hex(der);
}

}  // namespace

ssl::context make_server_context(const std::string& cert_pem, const std::string& key_pem) {
    ssl::context ctx(ssl::context::tls_server);
    harden(ctx);
    ctx.use_certificate_chain_file(cert_pem);
    ctx.use_private_key_file(key_pem, ssl::context::pem);
    return ctx;
}

ssl::context make_client_context(const ClientTrust& trust) {
    ssl::context ctx(ssl::context::tls_client);
    harden(ctx);
    if (trust.insecure) {
        ctx.set_verify_mode(ssl::verify_none);
    } else if (!trust.pinned_sha256.empty()) {
        ctx.set_verify_mode(ssl::verify_peer);
        std::string pin = trust.pinned_sha256;
        // A pinned certificate is trusted for exactly its fingerprint, whatever its chain says:
        // hosts use self-signed display certificates whose fingerprint the broker vouches for.
        ctx.set_verify_callback([pin](bool, ssl::verify_context& vc) {
            X509_STORE_CTX* sc = vc.native_handle();
            if (X509_STORE_CTX_get_error_depth(sc) != 0) return true;
            X509* cert = X509_STORE_CTX_get_current_cert(sc);
            return cert && der_sha256(cert) == pin;
        });
    } else {
        ctx.set_verify_mode(ssl::verify_peer);
        if (!trust.ca_file.empty())
            ctx.load_verify_file(trust.ca_file);
        else
            ctx.set_default_verify_paths();
    }
    return ctx;
}

void generate_self_signed(const std::string& cert_path, const std::string& key_path, const std::string& common_name,
                          const std::vector<std::string>& sans) {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
    if (!key) throw std::runtime_error("EC key generation failed");
    std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
    X509_set_version(cert.get(), 2);
    auto serial = crypto::random_bytes(16);
    serial[0] &= 0x7f;
    BIGNUM* bn = BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 825L * 24 * 3600);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Portico"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()),
                               -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
    auto add_ext = [&](int nid, const std::string& value) {
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
        if (!ext) throw std::runtime_error("bad certificate extension: " + value);
        X509_add_ext(cert.get(), ext, -1);
        X509_EXTENSION_free(ext);
    };
    add_ext(NID_basic_constraints, "critical,CA:FALSE");
    add_ext(NID_ext_key_usage, "serverAuth");
    if (!sans.empty()) {
        std::string list;
        for (const auto& s : sans) list += (list.empty() ? "" : ",") + s;
        add_ext(NID_subject_alt_name, list);
    }
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) throw std::runtime_error("certificate signing failed");

    mode_t old = umask(077);
    FILE* kf = std::fopen(key_path.c_str(), "w");
    umask(old);
    if (!kf) throw std::runtime_error("cannot write " + key_path);
    bool ok = PEM_write_PrivateKey(kf, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
    std::fclose(kf);
    FILE* cf = std::fopen(cert_path.c_str(), "w");
    if (!cf) throw std::runtime_error("cannot write " + cert_path);
    ok = ok && PEM_write_X509(cf, cert.get()) == 1;
    std::fclose(cf);
    if (!ok) throw std::runtime_error("writing the certificate failed");
}

std::string cert_sha256_hex(const std::string& cert_pem_path) {
    FILE* f = std::fopen(cert_pem_path.c_str(), "r");
    if (!f) throw std::runtime_error("cannot open " + cert_pem_path);
    X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    if (!cert) throw std::runtime_error("not a PEM certificate: " + cert_pem_path);
    std::string fp = der_sha256(cert);
    X509_free(cert);
    return fp;
}

}  // namespace portico::tls

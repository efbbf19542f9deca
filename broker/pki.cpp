#include "broker/pki.hpp"

#include "common/crypto.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace portico::broker {

namespace {

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    if (!ext) throw std::runtime_error("cannot build certificate extension");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

void random_serial(X509* cert) {
    auto serial = crypto::random_bytes(16);
    serial[0] &= 0x7f;  // positive
    BIGNUM* bn = BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
    BN_free(bn);
}

std::string pem_of(X509* cert) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_X509(bio.get(), cert);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

}  // namespace

std::string x509_sha256_hex(X509* cert) {
    int len = i2d_X509(cert, nullptr);
    if (len <= 0) return {};
    std::vector<std::uint8_t> der(static_cast<std::size_t>(len));
    auto* p = der.data();
    i2d_X509(cert, &p);
    return crypto::sha256_hex(der);
}

std::string x509_common_name(X509* cert) {
    char buf[256] = {0};
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof(buf));
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

void BrokerCa::create(const std::string& cert_path, const std::string& key_path) {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
    if (!key) throw std::runtime_error("CA key generation failed");
    std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
    X509_set_version(cert.get(), 2);
    random_serial(cert.get());
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Portico"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("Portico host enrollment CA"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    add_ext(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    add_ext(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) throw std::runtime_error("CA certificate signing failed");

    mode_t old = umask(077);
    FILE* kf = std::fopen(key_path.c_str(), "w");
    umask(old);
    if (!kf) throw std::runtime_error("cannot write " + key_path);
    bool ok = PEM_write_PrivateKey(kf, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
    ok = std::fclose(kf) == 0 && ok;
    FILE* cf = std::fopen(cert_path.c_str(), "w");
    if (!cf) throw std::runtime_error("cannot write " + cert_path);
    ok = PEM_write_X509(cf, cert.get()) == 1 && ok;
    ok = std::fclose(cf) == 0 && ok;
    if (!ok) throw std::runtime_error("cannot write the CA files");
}

BrokerCa::BrokerCa(const std::string& cert_path, const std::string& key_path) : cert_path_(cert_path) {
    cert_pem_ = read_file(cert_path);
    auto key_pem = read_file(key_path);
    std::unique_ptr<BIO, decltype(&BIO_free)> kb(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())),
                                                 BIO_free);
    key_ = PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr);
    std::unique_ptr<BIO, decltype(&BIO_free)> cb(BIO_new_mem_buf(cert_pem_.data(), static_cast<int>(cert_pem_.size())),
                                                 BIO_free);
    cert_ = PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr);
    if (!key_ || !cert_) {
        EVP_PKEY_free(key_);
        X509_free(cert_);
        throw std::runtime_error("cannot load the broker CA from " + cert_path + " / " + key_path);
    }
}

BrokerCa::~BrokerCa() {
    EVP_PKEY_free(key_);
    X509_free(cert_);
}

Result<std::string, CaErrorCode> BrokerCa::sign_csr(const std::string& csr_pem, const std::string& host_id,
                                                    int days) const {
    auto fail = [](std::string why) { return Error<CaErrorCode>{CaErrorCode::bad_csr, std::move(why)}; };
    auto broken = [](std::string why) { return Error<CaErrorCode>{CaErrorCode::signing_failed, std::move(why)}; };
    if (csr_pem.size() > 16384) return fail("CSR too large");
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(csr_pem.data(), static_cast<int>(csr_pem.size())),
                                                  BIO_free);
    std::unique_ptr<X509_REQ, decltype(&X509_REQ_free)> req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr),
                                                            X509_REQ_free);
    if (!req) return fail("csr_pem is not a PEM certificate request");
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pub(X509_REQ_get_pubkey(req.get()), EVP_PKEY_free);
    if (!pub || X509_REQ_verify(req.get(), pub.get()) != 1) return fail("the CSR's signature does not verify");
    int type = EVP_PKEY_get_base_id(pub.get());
    if (type != EVP_PKEY_EC && type != EVP_PKEY_ED25519 &&
        !(type == EVP_PKEY_RSA && EVP_PKEY_get_bits(pub.get()) >= 2048))
        return fail("the CSR's key must be EC, Ed25519 or RSA >= 2048 bits");

    std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
    X509_set_version(cert.get(), 2);
    random_serial(cert.get());
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 24 * 3600);
    X509_set_pubkey(cert.get(), pub.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Portico hosts"), -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(host_id.c_str()), -1,
                               -1, 0);
    X509_set_issuer_name(cert.get(), X509_get_subject_name(cert_));
    try {
        add_ext(cert.get(), cert_, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(cert.get(), cert_, NID_key_usage, "critical,digitalSignature");
        add_ext(cert.get(), cert_, NID_ext_key_usage, "clientAuth");
        add_ext(cert.get(), cert_, NID_authority_key_identifier, "keyid");
    } catch (const std::exception& e) {
        return broken(e.what());
    }
    if (X509_sign(cert.get(), key_, EVP_sha256()) == 0) return broken("signing failed");
    return pem_of(cert.get());
}

}  // namespace portico::broker

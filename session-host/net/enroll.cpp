#include "session-host/net/enroll.hpp"

#include "common/log.hpp"
#include "common/tls.hpp"
#include "session-host/net/broker_link.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace portico::host {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

ClientCertPaths ClientCertPaths::in(const std::string& state_dir) {
    return {state_dir + "/broker-client.crt", state_dir + "/broker-client.key"};
}

bool ClientCertPaths::exist() const { return std::filesystem::exists(cert) && std::filesystem::exists(key); }

namespace {

std::string make_csr(const std::string& host_id, std::string& key_pem) {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
    if (!key) throw std::runtime_error("key generation failed");
    std::unique_ptr<X509_REQ, decltype(&X509_REQ_free)> req(X509_REQ_new(), X509_REQ_free);
    X509_REQ_set_version(req.get(), 0);
    X509_NAME* name = X509_REQ_get_subject_name(req.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(host_id.c_str()), -1,
                               -1, 0);
    X509_REQ_set_pubkey(req.get(), key.get());
    if (X509_REQ_sign(req.get(), key.get(), EVP_sha256()) == 0) throw std::runtime_error("CSR signing failed");
    auto to_string = [](BIO* b) {
        char* data = nullptr;
        long n = BIO_get_mem_data(b, &data);
        return std::string(data, static_cast<std::size_t>(n));
    };
    std::unique_ptr<BIO, decltype(&BIO_free)> kb(BIO_new(BIO_s_mem()), BIO_free), rb(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    PEM_write_bio_X509_REQ(rb.get(), req.get());
    key_pem = to_string(kb.get());
    return to_string(rb.get());
}

void write_file(const std::string& path, const std::string& content, bool secret) {
    mode_t old = umask(secret ? 077 : 022);
    std::ofstream f(path + ".tmp", std::ios::trunc);
    umask(old);
    f << content;
    if (!f.flush()) throw std::runtime_error("cannot write " + path);
    f.close();
    std::filesystem::rename(path + ".tmp", path);
}

}  // namespace

void enroll_host(const std::string& broker_url, const std::string& ca_file, const std::string& host_id,
                 const std::string& token, const ClientCertPaths& out) {
    auto url = parse_broker_url(broker_url);
    std::string key_pem;
    auto csr = make_csr(host_id, key_pem);

    net::io_context ioc;
    auto ctx = tls::make_client_context(tls::ClientTrust{ca_file, {}, false});
    beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
    if (!SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str())) throw std::runtime_error("cannot set SNI");
    stream.set_verify_callback(ssl::host_name_verification(url.host));
    tcp::resolver resolver(ioc);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(15));
    beast::get_lowest_layer(stream).connect(resolver.resolve(url.host, url.port));
    stream.handshake(ssl::stream_base::client);
    http::request<http::string_body> req{http::verb::post, "/api/v1/enroll", 11};
    req.set(http::field::host, url.host_port());
    req.set(http::field::content_type, "application/json");
    req.body() = nlohmann::json{{"token", token}, {"host_id", host_id}, {"csr_pem", csr}}.dump();
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(stream, buf, res);
    beast::error_code ec;
    stream.shutdown(ec);
    auto j = nlohmann::json::parse(res.body(), nullptr, false);
    if (res.result() != http::status::ok) {
        std::string why =
            j.is_object() && j.contains("error") ? j["error"].value("message", std::string("?")) : res.body();
        throw std::runtime_error("the broker refused the enrollment (HTTP " + std::to_string(res.result_int()) +
                                 "): " + why);
    }
    if (!j.is_object() || !j.contains("cert_pem") || !j["cert_pem"].is_string())
        throw std::runtime_error("the broker's enrollment answer has no certificate");
    write_file(out.key, key_pem, true);
    write_file(out.cert, j["cert_pem"].get<std::string>(), false);
    log::info("enrolled with the broker as ", host_id, "; client certificate in ", out.cert);
}

}  // namespace portico::host

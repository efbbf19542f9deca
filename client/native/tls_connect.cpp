#include "client/native/tls_connect.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <openssl/ssl.h>

namespace portico::client {

bool run_until(net::io_context& ioc, Clock::time_point deadline, const std::function<bool()>& done) {
    while (!done()) {
        if (ioc.stopped()) ioc.restart();
        // 0 means the deadline passed or nothing is left that could ever make done() true.
        if (ioc.run_one_until(deadline) == 0) return done();
    }
    return true;
}

Status connect_tls(net::io_context& ioc, WssStream& stream, const std::string& host, const std::string& port,
                   bool verify_host_name, Clock::time_point deadline) {
    net::ip::tcp::resolver resolver(ioc);
    bool resolved = false;
    beast::error_code ec;
    net::ip::tcp::resolver::results_type endpoints;
    resolver.async_resolve(host, port, [&](beast::error_code e, net::ip::tcp::resolver::results_type r) {
        ec = e;
        endpoints = std::move(r);
        resolved = true;
    });
    if (!run_until(ioc, deadline, [&] { return resolved; })) {
        resolver.cancel();
        run_until(ioc, Clock::now() + std::chrono::seconds(1), [&] { return resolved; });
        return fail(ClientError::network, "resolving " + host + ": timed out");
    }
    if (ec) return fail(ClientError::network, "resolving " + host + ": " + ec.message());

    auto& tcp = stream.tcp();
    tcp.expires_at(deadline);
    bool connected = false;
    stream.async_connect(endpoints, [&](beast::error_code e, const net::ip::tcp::endpoint&) {
        ec = e;
        connected = true;
    });
    run_until(ioc, Clock::time_point::max(), [&] { return connected; });  // bounded by expires_at
    if (ec) return fail(ClientError::network, "connecting to " + host + ":" + port + ": " + ec.message());
    tcp.socket().set_option(net::ip::tcp::no_delay(true), ec);  // input goes out at once, not behind Nagle

    // SNI carries names only, never addresses (RFC 6066).
    beast::error_code addr_ec;
    net::ip::make_address(host, addr_ec);
    if (addr_ec && !SSL_set_tlsext_host_name(stream.tls().native_handle(), host.c_str()))
        return fail(ClientError::network, "cannot set TLS server name " + host);
    if (verify_host_name) stream.tls().set_verify_callback(net::ssl::host_name_verification(host));

    bool shaken = false;
    tcp.expires_at(deadline);
    stream.async_tls_handshake(net::ssl::stream_base::client, [&](beast::error_code e) {
        ec = e;
        shaken = true;
    });
    run_until(ioc, Clock::time_point::max(), [&] { return shaken; });
    tcp.expires_never();
    if (ec) {
        std::string msg = ec.message();
        long verify = SSL_get_verify_result(stream.tls().native_handle());
        // host_name_verification rejects without setting a specific reason.
        if (verify == X509_V_ERR_UNSPECIFIED && verify_host_name)
            msg += " (the certificate does not name " + host + ")";
        else if (verify != X509_V_OK)
            msg += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
        return fail(ClientError::network, "TLS handshake with " + host + ":" + port + ": " + msg);
    }
    return ok();
}

}  // namespace portico::client

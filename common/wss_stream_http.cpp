// WssStream's TCP, TLS and HTTP operations (the WebSocket ones are in wss_stream.cpp).
#include "common/wss_stream_impl.hpp"

namespace portico {

namespace beast = boost::beast;
namespace http = beast::http;

void WssStream::async_connect(const boost::asio::ip::tcp::resolver::results_type& endpoints, Connected done) {
    tcp().async_connect(endpoints, std::move(done));
}

void WssStream::async_tls_handshake(boost::asio::ssl::stream_base::handshake_type role, Done done) {
    tls().async_handshake(role, std::move(done));
}

void WssStream::async_tls_shutdown(Done done) { tls().async_shutdown(std::move(done)); }

void WssStream::async_read_some(boost::asio::mutable_buffer into, Transferred done) {
    tls().async_read_some(into, std::move(done));
}

void WssStream::async_read_request(beast::flat_buffer& buffer, RequestParser& parser, Transferred done) {
    http::async_read(tls(), buffer, parser, std::move(done));
}

void WssStream::async_write_response(std::shared_ptr<Response> response, Transferred done) {
    auto& r = *response;
    http::async_write(tls(), r,
                      [response = std::move(response), done = std::move(done)](boost::system::error_code ec,
                                                                               std::size_t n) { done(ec, n); });
}

void WssStream::async_connect(const boost::asio::ip::tcp::endpoint& endpoint, Done done) {
    tcp().async_connect(endpoint, std::move(done));
}

void WssStream::async_write_request(Request& request, Transferred done) {
    http::async_write(tls(), request, std::move(done));
}

void WssStream::async_read_response(beast::flat_buffer& buffer, Response& response, Transferred done) {
    http::async_read(tls(), buffer, response, std::move(done));
}

void WssStream::async_read_response(beast::flat_buffer& buffer, ResponseParser& parser, Transferred done) {
    http::async_read(tls(), buffer, parser, std::move(done));
}

}  // namespace portico

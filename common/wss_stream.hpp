#pragma once
// WssStream: a WebSocket over TLS over TCP, the one stream type of every Portico channel (the
// display stream, the broker's gateway and control channel, the host's link to the broker, the
// native client), with Beast's asynchronous operations compiled once, in wss_stream.cpp.
//
// Why a wrapper: each Beast operation is a template on its completion handler, so every file that
// called ws.async_read(..., bind_front_handler(...)) instantiated (and optimised) the WebSocket,
// TLS and HTTP state machines again, for its own handler types: most of a cold build's time. Here
// each operation takes a std::function, so each machine exists once in the whole program (split
// over two files, WebSocket and TCP/TLS/HTTP, which a two-core build compiles side by side).
//
// Behaves as websocket::stream<beast::ssl_stream<beast::tcp_stream>> does: one read and one write
// may be in flight at a time, handlers run on the stream's executor (give it a strand), errors are
// Beast's (websocket::error::closed for a clean close). tcp() and tls() reach the lower layers for
// settings (timeouts, socket options, the SSL handle); their operations go through the
// async_* calls below, never directly, or the templates come back.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace portico {

class WssStream {
public:
    using Tls = boost::beast::ssl_stream<boost::beast::tcp_stream>;
    using Request = boost::beast::http::request<boost::beast::http::string_body>;
    using Response = boost::beast::http::response<boost::beast::http::string_body>;
    using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;
    using ResponseParser = boost::beast::http::response_parser<boost::beast::http::string_body>;
    using Done = std::function<void(boost::system::error_code)>;
    using Transferred = std::function<void(boost::system::error_code, std::size_t)>;
    using Connected = std::function<void(boost::system::error_code, const boost::asio::ip::tcp::endpoint&)>;

    // Server side, for a socket just accepted (TLS handshake still to do).
    WssStream(boost::asio::ip::tcp::socket&& socket, boost::asio::ssl::context& ctx);
    // Server side, for a TLS stream that has already read the upgrade request.
    explicit WssStream(Tls&& tls);
    // Client side, unconnected: async_connect, async_tls_handshake, async_handshake.
    WssStream(const boost::asio::any_io_executor& executor, boost::asio::ssl::context& ctx);
    ~WssStream();
    WssStream(WssStream&&) noexcept;
    WssStream& operator=(WssStream&&) noexcept;

    boost::asio::any_io_executor get_executor();
    boost::beast::tcp_stream& tcp();
    Tls& tls();

    // --- TCP and TLS (wss_stream_http.cpp) ---
    void async_connect(const boost::asio::ip::tcp::resolver::results_type& endpoints, Connected done);
    void async_connect(const boost::asio::ip::tcp::endpoint& endpoint, Done done);
    void async_tls_handshake(boost::asio::ssl::stream_base::handshake_type role, Done done);
    void async_tls_shutdown(Done done);
    // Raw bytes from the TLS layer (e.g. the rest of a refused request's body, read and dropped).
    void async_read_some(boost::asio::mutable_buffer into, Transferred done);

    // --- HTTP before (or instead of) the upgrade (wss_stream_http.cpp) ---
    // Server side: a request in; an answer out (kept alive until `done`).
    void async_read_request(boost::beast::flat_buffer& buffer, RequestParser& parser, Transferred done);
    void async_write_response(std::shared_ptr<Response> response, Transferred done);
    // Client side: the caller keeps `request` and `response` alive until `done`.
    void async_write_request(Request& request, Transferred done);
    void async_read_response(boost::beast::flat_buffer& buffer, Response& response, Transferred done);
    void async_read_response(boost::beast::flat_buffer& buffer, ResponseParser& parser, Transferred done);

    // --- WebSocket (wss_stream.cpp) ---
    // Beast's suggested timeouts for the role; a client may also ping an idle peer after `idle`
    // (zero: the suggestion's own).
    void set_timeouts(boost::beast::role_type role, std::chrono::seconds idle = std::chrono::seconds(0),
                      bool keep_alive_pings = false);
    // The Server header of the upgrade answer (with HSTS when `hsts` is not empty) or the client's
    // User-Agent.
    void set_server_header(std::string server, std::string hsts = {});
    void set_user_agent(std::string agent);
    void read_message_max(std::size_t bytes);
    void binary(bool on);
    void text(bool on);
    bool got_binary() const;
    bool got_text() const;
    const boost::beast::websocket::close_reason& reason() const;

    void async_accept(const Request& upgrade, Done done);
    void async_handshake(const std::string& host, const std::string& target, Done done);
    // Client side: the server's answer too, for its status when it refused the upgrade.
    void async_handshake(Response& answer, const std::string& host, const std::string& target, Done done);
    void async_read(boost::beast::flat_buffer& buffer, Transferred done);
    void async_write(boost::asio::const_buffer message, Transferred done);
    void async_close(const boost::beast::websocket::close_reason& reason, Done done);

private:
    struct Impl;  // the Beast stream (wss_stream_impl.hpp, for the two .cpp files only)
    std::unique_ptr<Impl> impl_;
};

}  // namespace portico

#pragma once
// Beast/Asio aliases and the entry points of the broker's connection types (internal). Each
// connection lives on its own strand of the broker's io_context.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>

#include "common/wss_stream.hpp"

#include <memory>
#include <string>

namespace portico::broker {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

class Core;
struct HostInfo;

inline constexpr std::size_t kMaxHttpBody = 64 * 1024;
inline constexpr std::size_t kMaxControlMessage = 64 * 1024;
inline constexpr std::size_t kMaxClientDisplayMessage = 64 * 1024;
inline constexpr std::size_t kMaxHostDisplayMessage = 16 * 1024 * 1024;

// Keeps one accepted connection counted against the broker's connection caps while it is held
// (ConnectionLimiter); each connection type keeps it until the connection ends.
using ConnectionSlot = std::shared_ptr<void>;

// Every HTTPS response (and WebSocket upgrade answer): browsers keep to https for a year.
inline constexpr const char* kHstsValue = "max-age=31536000";

// A fresh TCP connection: TLS handshake, then HTTP requests (which may upgrade to WebSocket).
// client: the client's address when a trusted load balancer told it (PROXY protocol); empty:
// the connection's own.
void start_http_session(tcp::socket socket, Core& core, ConnectionSlot slot, std::string client = {});
// Called by the HTTP session for an upgrade request on /api/v1/control.
void start_control_session(WssStream stream, Request req, Core& core, std::string peer, ConnectionSlot slot);
// Called for an upgrade on /api/v1/gateway/<sid> once the session's host is known to be connected.
void start_gateway_session(WssStream stream, Request req, Core& core, HostInfo host, std::string session_id,
                           ConnectionSlot slot);

// Adds the security headers every response carries (CSP, HSTS, nosniff, ...).
void add_security_headers(Response& res);

}  // namespace portico::broker

#pragma once
// DisplayConnection: the client end of the display channel (docs/protocol.md): a WebSocket over
// TLS carrying one binary protocol message per WebSocket message. One read is kept outstanding;
// receive() waits for its result up to a deadline, so the caller can interleave typing and stop
// on time. Everything runs on the caller's thread (the client's one thread).

#include "client/native/client_error.hpp"
#include "client/native/tls_connect.hpp"
#include "common/url.hpp"
#include "common/wss_stream.hpp"
#include "protocol/display.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <cstdint>
#include <optional>
#include <vector>

namespace portico::client {

class DisplayConnection {
public:
    // Throws std::runtime_error if the trust settings cannot be loaded.
    explicit DisplayConnection(const tls::ClientTrust& trust);
    ~DisplayConnection();
    DisplayConnection(const DisplayConnection&) = delete;
    DisplayConnection& operator=(const DisplayConnection&) = delete;

    // TCP, TLS and the WebSocket upgrade to url.target, all within timeout.
    Status connect(const Url& url, std::chrono::seconds timeout = kConnectTimeout);

    // Sends one message; fails (and drops the connection) if it cannot be written in kIoTimeout.
    Status send(const protocol::Message& m);

    // The next message, or nullopt if none arrived by the deadline (the read stays pending).
    // Errors: network (closed, reset; ClientError::network with "closed" in the message for a
    // clean WebSocket close), protocol (a text message, or one that does not decode).
    ClientResult<std::optional<protocol::Message>> receive(Clock::time_point deadline);

    // Makes a receive() waiting on another thread return nullopt now. The one call that may come
    // from another thread (the windowed client's window thread, when it has input to send).
    void wake();

    // Sends a WebSocket close and waits briefly for the peer's; then drops the socket.
    void close();

    bool is_open() const { return ws_.has_value() && open_; }
    std::uint64_t bytes_received() const { return bytes_; }

private:
    using Ws = WssStream;

    void start_read();
    void drop();

    net::io_context ioc_;
    net::ssl::context ctx_;
    tls::ClientTrust trust_;
    std::optional<Ws> ws_;
    bool open_ = false;
    beast::flat_buffer buf_;
    bool reading_ = false;
    bool woken_ = false;  // set by wake()'s handler, on the thread running ioc_
    bool read_done_ = false;
    beast::error_code read_ec_;
    std::vector<std::uint8_t> out_;
    bool writing_ = false;
    beast::error_code write_ec_;
    std::uint64_t bytes_ = 0;
};

}  // namespace portico::client

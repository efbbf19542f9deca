#include "client/native/display_connection.hpp"

#include <boost/asio/post.hpp>
#include <boost/beast/websocket/error.hpp>

namespace portico::client {

namespace websocket = beast::websocket;

DisplayConnection::DisplayConnection(const tls::ClientTrust& trust)
    : ctx_(tls::make_client_context(trust)), trust_(trust) {}

DisplayConnection::~DisplayConnection() { drop(); }

Status DisplayConnection::connect(const Url& url, std::chrono::seconds timeout) {
    drop();
    const auto deadline = Clock::now() + timeout;
    ws_.emplace(ioc_.get_executor(), ctx_);
    if (auto st = connect_tls(ioc_, *ws_, url.host, url.port, wants_host_name_check(trust_), deadline); !st) {
        ws_.reset();
        return st;
    }
    ws_->read_message_max(protocol::kMaxMessageBytes);
    ws_->set_user_agent("portico-client");
    auto& tcp = ws_->tcp();
    tcp.expires_at(deadline);
    beast::error_code ec;
    bool done = false;
    WssStream::Response res;
    ws_->async_handshake(res, url.host_port(), url.target, [&](beast::error_code e) {
        ec = e;
        done = true;
    });
    run_until(ioc_, Clock::time_point::max(), [&] { return done; });  // bounded by expires_at
    if (ec) {
        std::string msg = "WebSocket upgrade at " + url.target + ": " + ec.message();
        if (res.result_int() != 0 && res.result_int() != 101) msg += " (HTTP " + std::to_string(res.result_int()) + ")";
        ws_.reset();
        // A broker that answers the upgrade with 4xx refused us (e.g. unknown session).
        bool refused = res.result_int() >= 400 && res.result_int() < 500;
        return fail(refused ? ClientError::refused : ClientError::network, msg);
    }
    tcp.expires_never();
    ws_->set_timeouts(beast::role_type::client);
    ws_->binary(true);
    open_ = true;
    start_read();
    return ok();
}

void DisplayConnection::start_read() {
    if (!open_ || reading_) return;
    reading_ = true;
    read_done_ = false;
    buf_.clear();
    ws_->async_read(buf_, [this](beast::error_code e, std::size_t) {
        read_ec_ = e;
        reading_ = false;
        read_done_ = true;
    });
}

Status DisplayConnection::send(const protocol::Message& m) {
    if (!is_open()) return fail(ClientError::network, "display connection is closed");
    // Buffer and completion state are members: if the write has to be abandoned, its handler
    // may still run later (during drop()) and must find them alive.
    out_ = encode(m);
    writing_ = true;
    write_ec_ = {};
    ws_->async_write(net::buffer(out_), [this](beast::error_code e, std::size_t) {
        write_ec_ = e;
        writing_ = false;
    });
    if (!run_until(ioc_, Clock::now() + kIoTimeout, [&] { return !writing_; })) {
        drop();
        return fail(ClientError::network, "sending to the host timed out");
    }
    if (write_ec_) {
        open_ = false;
        return fail(ClientError::network, "sending to the host: " + write_ec_.message());
    }
    return ok();
}

ClientResult<std::optional<protocol::Message>> DisplayConnection::receive(Clock::time_point deadline) {
    if (!ws_) return fail(ClientError::network, "display connection is closed");
    if (!read_done_ && !reading_) start_read();
    woken_ = false;
    if (!run_until(ioc_, deadline, [&] { return read_done_ || woken_; }) || !read_done_)
        return std::optional<protocol::Message>{};
    read_done_ = false;
    if (read_ec_) {
        open_ = false;
        if (read_ec_ == websocket::error::closed) {
            auto reason = ws_->reason();
            return fail(ClientError::network, "closed by the host (code " + std::to_string(reason.code) +
                                                  (reason.reason.empty() ? "" : ", " + std::string(reason.reason)) +
                                                  ")");
        }
        return fail(ClientError::network, "display connection lost: " + read_ec_.message());
    }
    bytes_ += buf_.size();
    if (!ws_->got_binary()) {
        return fail(ClientError::protocol, "the host sent a text message");
    }
    auto data = buf_.cdata();
    auto msg = protocol::decode({static_cast<const std::uint8_t*>(data.data()), data.size()});
    start_read();  // decode copied what it needs; the buffer can be reused now
    if (!msg)
        return fail(ClientError::protocol, std::string("malformed message from the host: ") + msg.error().message);
    return std::optional<protocol::Message>(std::move(msg).value());
}

void DisplayConnection::wake() {
    net::post(ioc_, [this] { woken_ = true; });
}

void DisplayConnection::close() {
    if (!ws_) return;
    if (open_) {
        bool done = false;
        ws_->tcp().expires_after(std::chrono::seconds(2));
        ws_->async_close(websocket::close_code::normal, [&](beast::error_code) { done = true; });
        // The pending read completes when the peer's close arrives (or on the timeout).
        run_until(ioc_, Clock::time_point::max(), [&] { return done; });
        open_ = false;
    }
    drop();
}

void DisplayConnection::drop() {
    if (!ws_) return;
    open_ = false;
    beast::error_code ignored;
    ws_->tcp().socket().close(ignored);
    // Let every pending handler run (with operation_aborted) before the stream goes away.
    run_until(ioc_, Clock::now() + std::chrono::seconds(2), [&] { return !reading_ && !writing_; });
    ws_.reset();
    reading_ = false;
    read_done_ = false;
}

}  // namespace portico::client

#include "common/wss_stream_impl.hpp"

namespace portico {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

WssStream::WssStream(boost::asio::ip::tcp::socket&& socket, boost::asio::ssl::context& ctx)
    : impl_(std::make_unique<Impl>(std::move(socket), ctx)) {}
WssStream::WssStream(Tls&& tls) : impl_(std::make_unique<Impl>(std::move(tls))) {}
WssStream::WssStream(const boost::asio::any_io_executor& executor, boost::asio::ssl::context& ctx)
    : impl_(std::make_unique<Impl>(executor, ctx)) {}
WssStream::~WssStream() = default;
WssStream::WssStream(WssStream&&) noexcept = default;
WssStream& WssStream::operator=(WssStream&&) noexcept = default;

boost::asio::any_io_executor WssStream::get_executor() { return impl_->ws.get_executor(); }
beast::tcp_stream& WssStream::tcp() { return beast::get_lowest_layer(impl_->ws); }
WssStream::Tls& WssStream::tls() { return impl_->ws.next_layer(); }

void WssStream::set_timeouts(beast::role_type role, std::chrono::seconds idle, bool keep_alive_pings) {
    auto t = websocket::stream_base::timeout::suggested(role);
    if (idle.count() > 0) t.idle_timeout = idle;
    if (keep_alive_pings) t.keep_alive_pings = true;
    impl_->ws.set_option(t);
}

void WssStream::set_server_header(std::string server, std::string hsts) {
    impl_->ws.set_option(websocket::stream_base::decorator(
        [server = std::move(server), hsts = std::move(hsts)](websocket::response_type& res) {
            res.set(http::field::server, server);
            if (!hsts.empty()) res.set(http::field::strict_transport_security, hsts);
        }));
}

void WssStream::set_user_agent(std::string agent) {
    impl_->ws.set_option(websocket::stream_base::decorator(
        [agent = std::move(agent)](websocket::request_type& req) { req.set(http::field::user_agent, agent); }));
}

void WssStream::read_message_max(std::size_t bytes) { impl_->ws.read_message_max(bytes); }
void WssStream::binary(bool on) { impl_->ws.binary(on); }
void WssStream::text(bool on) { impl_->ws.text(on); }
bool WssStream::got_binary() const { return impl_->ws.got_binary(); }
bool WssStream::got_text() const { return impl_->ws.got_text(); }
const websocket::close_reason& WssStream::reason() const { return impl_->ws.reason(); }

void WssStream::async_accept(const Request& upgrade, Done done) { impl_->ws.async_accept(upgrade, std::move(done)); }

void WssStream::async_handshake(const std::string& host, const std::string& target, Done done) {
    impl_->ws.async_handshake(host, target, std::move(done));
}

void WssStream::async_handshake(Response& answer, const std::string& host, const std::string& target, Done done) {
    impl_->ws.async_handshake(answer, host, target, std::move(done));
}

void WssStream::async_read(beast::flat_buffer& buffer, Transferred done) {
    impl_->ws.async_read(buffer, std::move(done));
}

void WssStream::async_write(boost::asio::const_buffer message, Transferred done) {
    impl_->ws.async_write(message, std::move(done));
}

void WssStream::async_close(const websocket::close_reason& reason, Done done) {
    impl_->ws.async_close(reason, std::move(done));
}

}  // namespace portico

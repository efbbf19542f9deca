#include "broker/broker.hpp"

#include "broker/core.hpp"
#include "broker/net.hpp"
#include "common/log.hpp"

#include <boost/asio/strand.hpp>

#include <mutex>
#include <thread>
#include <vector>

namespace portico::broker {

struct Broker::Impl {
    explicit Impl(BrokerConfig c) : config(std::move(c)) {
        ioc.emplace(std::max(1, config.network_threads));
        core = std::make_unique<Core>(config, *ioc);
    }

    void do_accept() {
        acceptor->async_accept(net::make_strand(*ioc), [this](beast::error_code ec, tcp::socket socket) {
            if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
            if (!ec) {
                // Frames and input are relayed as they come: no Nagle delay behind an unacknowledged segment.
                beast::error_code ignored;
                socket.set_option(tcp::no_delay(true), ignored);
                start_http_session(std::move(socket), *core);
            }
            else log::warn("accept failed: ", ec.message());
            do_accept();
        });
    }

    BrokerConfig config;
    std::optional<net::io_context> ioc;
    std::unique_ptr<Core> core;
    std::unique_ptr<tcp::acceptor> acceptor;
    std::vector<std::thread> threads;
    std::once_flag stopped;
    std::mutex join_mu;
};

Broker::Broker(BrokerConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

Broker::~Broker() {
    stop();
    wait();
    // Order matters: pending launches and the worker pool reference the io_context, and the
    // connections still queued in the io_context reference the core (TLS context, registry).
    impl_->core->shutdown();
    impl_->acceptor.reset();
    impl_->ioc.reset();
    impl_->core.reset();
}

std::uint16_t Broker::start() {
    auto& im = *impl_;
    auto address = net::ip::make_address(im.config.listen_address);
    tcp::endpoint ep{address, im.config.port};
    im.acceptor = std::make_unique<tcp::acceptor>(net::make_strand(*im.ioc));
    im.acceptor->open(ep.protocol());
    im.acceptor->set_option(net::socket_base::reuse_address(true));
    im.acceptor->bind(ep);
    im.acceptor->listen(net::socket_base::max_listen_connections);
    auto port = im.acceptor->local_endpoint().port();
    im.do_accept();
    im.core->start();
    for (int i = 0; i < std::max(1, im.config.network_threads); ++i)
        im.threads.emplace_back([&im] {
            try {
                im.ioc->run();
            } catch (const std::exception& e) {
                log::error("network thread stopped by an exception: ", e.what());
            }
        });
    std::string host = im.config.listen_address == "0.0.0.0" ? "127.0.0.1" : im.config.listen_address;
    if (address.is_v6()) host = "[" + host + "]";
    log::info("portico-broker listening on https://", host, ":", port, "/");
    return port;
}

void Broker::stop() {
    std::call_once(impl_->stopped, [this] {
        log::info("portico-broker shutting down");
        impl_->ioc->stop();
    });
}

void Broker::wait() {
    std::lock_guard lk(impl_->join_mu);
    for (auto& t : impl_->threads)
        if (t.joinable()) t.join();
    impl_->threads.clear();
}

}  // namespace portico::broker

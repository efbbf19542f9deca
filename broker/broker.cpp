#include "broker/broker.hpp"

#include "broker/connection_limits.hpp"
#include "broker/core.hpp"
#include "broker/net.hpp"
#include "broker/proxy_protocol.hpp"
#include "common/log.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <array>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace portico::broker {

struct Broker::Impl {
    explicit Impl(BrokerConfig c)
        : config(std::move(c)),
          limiter(std::make_shared<ConnectionLimiter>(config.max_connections, config.max_connections_per_address)) {
        ioc.emplace(std::max(1, config.network_threads));
        for (const auto& a : config.trusted_proxies) trusted.insert(net::ip::make_address(a));
        core = std::make_unique<Core>(config);
    }

    void do_accept() {
        acceptor->async_accept(net::make_strand(*ioc), [this](beast::error_code ec, tcp::socket socket) {
            if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
            if (ec) {
                // EMFILE/ENFILE and the like persist until descriptors are freed: wait (100 ms up
                // to 1 s) instead of spinning on a failing accept.
                auto delay = backoff.next();
                if (accept_log.should_log())
                    log::warn("accept failed: ", ec.message(), "; retrying in ", delay.count(), " ms");
                accept_timer->expires_after(delay);
                accept_timer->async_wait([this](beast::error_code wait_ec) {
                    if (!wait_ec && acceptor->is_open()) do_accept();
                });
                return;
            }
            backoff.reset();
            beast::error_code ep_ec;
            auto ep = socket.remote_endpoint(ep_ec);
            if (!ep_ec && trusted.count(ep.address())) {
                // The balancer's connection: the client's address comes first, then TLS.
                read_proxy_header(std::move(socket));
                return do_accept();
            }
            admit(std::move(socket), ep_ec ? std::string() : ep.address().to_string(), {});
            do_accept();
        });
    }

    // Counts the connection against the caps for `address` and starts it, or closes it at once.
    // client: the address a trusted balancer gave (empty: the connection's own).
    void admit(tcp::socket socket, const std::string& address, std::string client) {
        auto slot = address.empty() ? nullptr : limiter->try_open(address);
        beast::error_code ignored;
        if (!slot) {
            // Over a cap: closed at once, before TLS costs anything.
            socket.close(ignored);
            if (refused_log.should_log())
                log::warn("connection caps reached (", config.max_connections, " total, ",
                          config.max_connections_per_address, " per address): refused ", limiter->take_refused(),
                          " connections recently, the last from ", address);
            return;
        }
        // Frames and input are relayed as they come: no Nagle delay behind an unacknowledged segment.
        socket.set_option(tcp::no_delay(true), ignored);
        try {
            start_http_session(std::move(socket), *core, std::move(slot), std::move(client));
        } catch (const std::exception& e) {
            log::error("cannot start a connection: ", e.what());
        }
    }

    // PROXY protocol v2 from a trusted balancer: its fixed part, then the address block, within
    // 5 s; the connection is then admitted under the client's address (a LOCAL header, the
    // balancer's own health check, under the balancer's). Anything else closes it.
    struct ProxiedConnection {
        explicit ProxiedConnection(tcp::socket s) : socket(std::move(s)), timer(socket.get_executor()) {}
        tcp::socket socket;
        net::steady_timer timer;
        std::array<std::uint8_t, proxy_protocol::kFixedSize> fixed{};
        std::vector<std::uint8_t> block;
    };

    void read_proxy_header(tcp::socket socket) {
        auto c = std::make_shared<ProxiedConnection>(std::move(socket));
        c->timer.expires_after(std::chrono::seconds(5));
        c->timer.async_wait([c](beast::error_code ec) {
            if (ec) return;
            beast::error_code ignored;
            c->socket.close(ignored);
        });
        auto refuse = [c](const std::string& why) {
            log::warn("connection from a trusted proxy refused: ", why);
            beast::error_code ignored;
            c->socket.close(ignored);
            c->timer.cancel();
        };
        net::async_read(c->socket, net::buffer(c->fixed), [this, c, refuse](beast::error_code ec, std::size_t) {
            if (ec) return refuse("no PROXY protocol header: " + ec.message());
            auto size = proxy_protocol::address_block_size(c->fixed);
            if (!size) return refuse(size.error().message);
            c->block.resize(size.value());
            net::async_read(c->socket, net::buffer(c->block), [this, c, refuse](beast::error_code ec, std::size_t) {
                if (ec) return refuse("PROXY protocol header cut short: " + ec.message());
                auto client = proxy_protocol::client_address(c->fixed, c->block);
                if (!client) return refuse(client.error().message);
                c->timer.cancel();
                beast::error_code ep_ec;
                auto balancer = c->socket.remote_endpoint(ep_ec);
                if (ep_ec) return refuse(ep_ec.message());
                const auto& given = client.value();
                admit(std::move(c->socket), given ? *given : balancer.address().to_string(), given.value_or(""));
            });
        });
    }

    BrokerConfig config;
    std::set<net::ip::address> trusted;  // config.trusted_proxies
    std::optional<net::io_context> ioc;
    std::unique_ptr<Core> core;
    std::unique_ptr<tcp::acceptor> acceptor;
    std::unique_ptr<net::steady_timer> accept_timer;  // on the acceptor's strand
    std::shared_ptr<ConnectionLimiter> limiter;
    AcceptBackoff backoff;
    LogThrottle accept_log{std::chrono::seconds(10)}, refused_log{std::chrono::seconds(10)};
    std::vector<std::thread> threads;
    std::once_flag stopped;
    std::mutex join_mu;
};

Broker::Broker(BrokerConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

Broker::~Broker() {
    stop();
    wait();
    // Order matters: the store thread, the password workers and pending launches hold connections
    // (which need the io_context), and the connections still queued in the io_context reference
    // the core (TLS context, registry).
    impl_->core->shutdown();
    impl_->accept_timer.reset();
    impl_->acceptor.reset();
    impl_->ioc.reset();
    impl_->core.reset();
}

std::uint16_t Broker::start() {
    auto& im = *impl_;
    auto address = net::ip::make_address(im.config.listen_address);
    tcp::endpoint ep{address, im.config.port};
    im.acceptor = std::make_unique<tcp::acceptor>(net::make_strand(*im.ioc));
    im.accept_timer = std::make_unique<net::steady_timer>(im.acceptor->get_executor());
    im.acceptor->open(ep.protocol());
    im.acceptor->set_option(net::socket_base::reuse_address(true));
    im.acceptor->bind(ep);
    im.acceptor->listen(net::socket_base::max_listen_connections);
    auto port = im.acceptor->local_endpoint().port();
    im.do_accept();
    im.core->start();
    for (int i = 0; i < std::max(1, im.config.network_threads); ++i)
        im.threads.emplace_back([&im] {
            // Last line of defence: each connection contains its own failures, but a handler that
            // still throws must not take a network thread with it. run() continues where it was.
            for (;;) {
                try {
                    im.ioc->run();
                    return;  // stopped
                } catch (const std::exception& e) {
                    log::error("a network handler threw (", e.what(), "); the network thread carries on");
                } catch (...) {
                    log::error("a network handler threw a non-standard exception; the network thread carries on");
                }
            }
        });
    // The address as bound: "0.0.0.0" (or "::") is every interface, not only this machine's loopback.
    const std::string bound = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
    if (address.is_unspecified())
        log::info("portico-broker listening on ", bound, ":", port, " (every address of this machine)");
    else
        log::info("portico-broker listening on https://", bound, ":", port, "/");
    return port;
}

void Broker::stop() {
    std::call_once(impl_->stopped, [this] {
        log::info("portico-broker shutting down");
        impl_->ioc->stop();
    });
}

void Broker::reload_tls() { impl_->core->reload_tls(); }

void Broker::wait() {
    std::lock_guard lk(impl_->join_mu);
    for (auto& t : impl_->threads)
        if (t.joinable()) t.join();
    impl_->threads.clear();
}

}  // namespace portico::broker

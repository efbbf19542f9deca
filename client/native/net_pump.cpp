#include "client/native/net_pump.hpp"

namespace portico::client {

namespace {
// How long one receive waits when nothing arrives and nothing is sent; stop() and send() wake it.
constexpr std::chrono::seconds kIdleWait{1};
}  // namespace

NetPump::NetPump(std::unique_ptr<DisplayConnection> conn, std::function<void()> notify)
    : conn_(std::move(conn)), notify_(std::move(notify)) {
    thread_ = std::thread([this] { run(); });
}

NetPump::~NetPump() {
    stop_ = true;
    conn_->wake();
    thread_.join();
    conn_->close();
}

void NetPump::send(protocol::Message m) {
    {
        std::lock_guard lock(mu_);
        outbox_.push_back(std::move(m));
    }
    conn_->wake();
}

std::vector<Arrival> NetPump::take() {
    std::lock_guard lock(mu_);
    std::vector<Arrival> out;
    out.swap(inbox_);
    return out;
}

std::optional<Error<ClientError>> NetPump::failed() const {
    std::lock_guard lock(mu_);
    return failed_;
}

void NetPump::run() {
    auto lost = [this](Error<ClientError> e) {
        {
            std::lock_guard lock(mu_);
            failed_ = std::move(e);
        }
        notify_();
    };
    while (!stop_) {
        for (;;) {
            std::optional<protocol::Message> next;
            {
                std::lock_guard lock(mu_);
                if (outbox_.empty()) break;
                next = std::move(outbox_.front());
                outbox_.pop_front();
            }
            if (auto s = conn_->send(*next); !s) return lost(s.error());
        }
        if (stop_) return;
        auto r = conn_->receive(Clock::now() + kIdleWait);
        bytes_ = conn_->bytes_received();
        if (!r) return lost(r.error());
        if (!r.value()) continue;  // woken to send, or idle
        bool first = false;
        {
            std::lock_guard lock(mu_);
            first = inbox_.empty();
            inbox_.push_back({std::move(*r.value()), Clock::now()});
        }
        if (first) notify_();
    }
}

}  // namespace portico::client

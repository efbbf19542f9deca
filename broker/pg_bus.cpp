// The message bus on PostgreSQL (message_bus.hpp): LISTEN on this broker's channel, pg_notify to
// another's. One thread owns one connection for both: it waits (poll) on the connection's socket
// and on an eventfd that publish() signals, sends what is queued in batches, and hands each
// notification to the handler. Nothing here blocks the store thread or a network thread.

#include "broker/message_bus.hpp"
#include "broker/store.hpp"
#include "common/crypto.hpp"
#include "common/log.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace portico::broker {

namespace {

constexpr std::size_t kMaxQueued = 10000;  // while the database is unreachable; the oldest go first
constexpr std::size_t kBatch = 32;         // notifications per statement

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

class PgBus final : public MessageBus {
public:
    PgBus(std::string url, std::string broker_id)
        : url_(std::move(url)), channel_(bus_channel(broker_id)), wake_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
        if (wake_ < 0) throw std::runtime_error("eventfd failed");
    }
    ~PgBus() override {
        stop();
        ::close(wake_);
    }

    void start(Handler handler) override {
        handler_ = std::move(handler);
        thread_ = std::thread([this] { run(); });
    }

    void publish(const std::string& to, std::string payload) override {
        {
            std::lock_guard lk(mu_);
            if (queue_.size() >= kMaxQueued) {
                queue_.pop_front();
                ++dropped_;
            }
            queue_.emplace_back(bus_channel(to), std::move(payload));
        }
        wake();
    }

    void stop() override {
        if (stopping_.exchange(true)) return;
        wake();
        if (thread_.joinable()) thread_.join();
        PQfinish(conn_);
        conn_ = nullptr;
    }

private:
    void wake() {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(wake_, &one, sizeof one);
    }

    void run() {
        auto backoff = std::chrono::milliseconds(100);
        while (!stopping_) {
            if (!conn_ && !connect()) {
                wait(backoff);
                backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
                continue;
            }
            backoff = std::chrono::milliseconds(100);
            if (!send_queued() || !wait(std::chrono::milliseconds(1000)) || !deliver()) drop_connection();
        }
    }

    bool connect() {
        const char* keys[] = {"application_name", "connect_timeout", "dbname", nullptr};
        const char* values[] = {"portico-broker-bus", "5", url_.c_str(), nullptr};
        PGconn* c = PQconnectdbParams(keys, values, 1);
        std::string why;
        if (!c || PQstatus(c) != CONNECTION_OK) {
            why = c ? trimmed(PQerrorMessage(c)) : "out of memory";
        } else {
            PGresult* r = PQexec(c, ("LISTEN " + channel_).c_str());
            if (PQresultStatus(r) != PGRES_COMMAND_OK) why = trimmed(PQerrorMessage(c));
            PQclear(r);
        }
        if (!why.empty()) {
            PQfinish(c);
            if (!failing_) log::error("message bus: cannot listen on ", redacted_location(url_), ": ", why);
            failing_ = true;
            return false;
        }
        if (failing_ || reconnected_) log::info("message bus: listening again");
        failing_ = false;
        reconnected_ = true;
        conn_ = c;
        return true;
    }

    void drop_connection() {
        if (!stopping_) log::warn("message bus: the connection to the database was lost; reconnecting");
        PQfinish(conn_);
        conn_ = nullptr;
    }

    // Waits for a notification, a publish or the timeout. False: the connection failed.
    bool wait(std::chrono::milliseconds timeout) {
        pollfd fds[2] = {{wake_, POLLIN, 0}, {conn_ ? PQsocket(conn_) : -1, POLLIN, 0}};
        ::poll(fds, conn_ ? 2 : 1, static_cast<int>(timeout.count()));
        if (fds[0].revents & POLLIN) {
            std::uint64_t n;
            [[maybe_unused]] auto r = ::read(wake_, &n, sizeof n);
        }
        return !conn_ || PQconsumeInput(conn_) == 1;
    }

    bool deliver() {
        while (PGnotify* n = PQnotifies(conn_)) {
            std::string payload = n->extra ? n->extra : "";
            PQfreemem(n);
            try {
                handler_(std::move(payload));
            } catch (const std::exception& e) {
                log::error("message bus: handling a message: ", e.what());
            }
        }
        return true;
    }

    // Sends what is queued, kBatch notifications per statement. False: the connection failed
    // (what was being sent is put back, to go out on the next connection).
    bool send_queued() {
        if (std::size_t d = dropped_.exchange(0)) log::warn("message bus: dropped ", d, " unsent message(s)");
        for (;;) {
            std::vector<std::pair<std::string, std::string>> batch;
            {
                std::lock_guard lk(mu_);
                while (!queue_.empty() && batch.size() < kBatch) {
                    batch.push_back(std::move(queue_.front()));
                    queue_.pop_front();
                }
            }
            if (batch.empty()) return true;
            // Each message carries its sender's sequence number (cluster.cpp), so PostgreSQL's
            // folding of identical notifications within one transaction never applies.
            std::string sql = "SELECT";
            std::vector<const char*> values;
            for (std::size_t i = 0; i < batch.size(); ++i) {
                sql += (i ? ", pg_notify($" : " pg_notify($") + std::to_string(2 * i + 1) + ", $" +
                       std::to_string(2 * i + 2) + ")";
                values.push_back(batch[i].first.c_str());
                values.push_back(batch[i].second.c_str());
            }
            PGresult* r = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                                       nullptr, nullptr, 0);
            const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
            PQclear(r);
            if (!ok) {
                log::error("message bus: sending failed: ", trimmed(PQerrorMessage(conn_)));
                if (PQstatus(conn_) == CONNECTION_OK) continue;  // a bad message: dropped, the rest go on
                std::lock_guard lk(mu_);
                for (auto it = batch.rbegin(); it != batch.rend(); ++it) queue_.push_front(std::move(*it));
                return false;
            }
            if (!deliver()) return false;  // notifications that arrived with the answer
        }
    }

    const std::string url_, channel_;
    const int wake_;
    Handler handler_;
    std::thread thread_;
    std::atomic<bool> stopping_{false};
    std::mutex mu_;
    std::deque<std::pair<std::string, std::string>> queue_;  // (channel, payload)
    std::atomic<std::size_t> dropped_{0};
    PGconn* conn_ = nullptr;  // the bus thread's only
    bool failing_ = false, reconnected_ = false;
};

}  // namespace

std::string bus_channel(const std::string& broker_id) {
    auto digest = crypto::sha256_hex(
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(broker_id.data()), broker_id.size()));
    return "portico_broker_" + digest.substr(0, 32);
}

std::unique_ptr<MessageBus> open_pg_bus(const std::string& url, const std::string& broker_id) {
    return std::make_unique<PgBus>(url, broker_id);
}

}  // namespace portico::broker

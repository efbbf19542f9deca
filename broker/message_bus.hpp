#pragma once
// MessageBus: how brokers that share one store reach each other (cluster.hpp). Each broker
// listens on a channel named after its broker id and sends short text messages to another's.
// The one implementation is PostgreSQL's LISTEN/NOTIFY on the database the brokers already share
// (pg_bus.cpp): no broker-to-broker network path, address list or membership protocol to run,
// and a notification is delivered only once its sender's statement has committed. Delivery is
// at most once and in order per sender; a broker whose listening connection drops misses what
// was sent meanwhile (its senders' requests then time out, as a lost host's would).

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace portico::broker {

class MessageBus {
public:
    // A notification's payload must stay under PostgreSQL's 8000 bytes; larger messages travel
    // through the store (Store::put_bus_message) with a short reference here.
    static constexpr std::size_t kMaxPayload = 7000;
    using Handler = std::function<void(std::string payload)>;

    virtual ~MessageBus() = default;
    // Listens from now on; `handler` runs on the bus's own thread, one message at a time.
    virtual void start(Handler handler) = 0;
    // Queues `payload` (≤ kMaxPayload bytes) for broker `to`; never blocks on the network.
    virtual void publish(const std::string& to, std::string payload) = 0;
    // Stops listening and sending; idempotent, and done by the destructor too.
    virtual void stop() = 0;
};

// The bus on a PostgreSQL database (the store's own URL), listening as `broker_id`. Its
// connection is opened by start(), on the bus thread, and reopened when it drops.
std::unique_ptr<MessageBus> open_pg_bus(const std::string& url, const std::string& broker_id);

// The channel a broker listens on: an SQL identifier derived from its id (any text).
std::string bus_channel(const std::string& broker_id);

}  // namespace portico::broker

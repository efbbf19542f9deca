#include "common/ws_write_queue.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/error.hpp>

#include <deque>
#include <functional>
#include <string>
#include <vector>

namespace {

// A stream that holds each write until the test completes it: one class under test, no sockets.
struct HeldWrites {
    std::deque<std::function<void(boost::system::error_code, std::size_t)>> pending;
    std::vector<std::string> written;
    std::string in_flight;

    template <class Handler>
    void async_write(boost::asio::const_buffer b, Handler&& h) {
        REQUIRE(pending.empty());  // the queue must never start a second write
        in_flight.assign(static_cast<const char*>(b.data()), b.size());
        pending.emplace_back(std::forward<Handler>(h));
    }
    void complete(boost::system::error_code ec = {}) {
        REQUIRE(pending.size() == 1);
        auto h = std::move(pending.front());
        pending.pop_front();
        if (!ec) written.push_back(in_flight);
        h(ec, in_flight.size());
    }
};

using Queue = portico::WsWriteQueue<HeldWrites, std::string>;

}  // namespace

TEST_CASE("WsWriteQueue: one write at a time, in order, the owner kept alive while one runs") {
    HeldWrites ws;
    std::vector<boost::system::error_code> calls;
    Queue q(ws, 3, [&](boost::system::error_code ec) { calls.push_back(ec); });
    auto owner = std::make_shared<int>(7);
    std::weak_ptr<int> watch = owner;
    CHECK(q.idle());
    CHECK(q.push("a", owner));
    CHECK(q.push("b", owner));
    owner.reset();
    CHECK_FALSE(watch.expired());  // held by the write in flight
    CHECK_FALSE(q.idle());
    CHECK(q.size() == 2);
    ws.complete();
    CHECK(calls.size() == 1);
    ws.complete();
    CHECK(ws.written == std::vector<std::string>{"a", "b"});
    CHECK(q.idle());
    CHECK(watch.expired());  // nothing in flight holds it any more
}

TEST_CASE("WsWriteQueue: the limit refuses, extra room lets replies pass") {
    HeldWrites ws;
    Queue q(ws, 2, [](boost::system::error_code) {});
    auto owner = std::make_shared<int>();
    CHECK(q.push("1", owner));
    CHECK(q.push("2", owner));
    CHECK_FALSE(q.push("3", owner));
    CHECK(q.size() == 2);
    CHECK(q.push("error", owner, 1));
    CHECK_FALSE(q.push("more", owner, 1));
    for (int i = 0; i < 3; ++i) ws.complete();
    CHECK(ws.written == std::vector<std::string>{"1", "2", "error"});
}

TEST_CASE("WsWriteQueue: the callback may push, and after a failure nothing more is written and what waited stays") {
    HeldWrites ws;
    Queue* self = nullptr;
    auto owner = std::make_shared<int>();
    int pushes_from_callback = 0;
    std::vector<std::string> kept;
    Queue q(ws, 8, [&](boost::system::error_code ec) {
        if (ec) {
            kept.assign(self->waiting().begin(), self->waiting().end());
            self->clear();
            return;
        }
        if (pushes_from_callback++ == 0) self->push("from-callback", owner);
    });
    self = &q;
    q.push("first", owner);
    q.push("second", owner);
    ws.complete();                                 // "first"; the callback queues one more
    ws.complete(boost::asio::error::broken_pipe);  // "second" fails
    CHECK(ws.written == std::vector<std::string>{"first"});
    CHECK(kept == std::vector<std::string>{"second", "from-callback"});
    CHECK(ws.pending.empty());
    CHECK(q.failed());
    CHECK_FALSE(q.push("after", owner));
    CHECK(q.idle());
}

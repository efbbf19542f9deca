// StoreExecutor (broker/store_executor.hpp): store work off the calling thread, its failures as
// typed errors delivered on the caller's executor, and a thread that survives them.

#include "broker/store_executor.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

using portico::Result;
using portico::broker::ApiErrorCode;
using portico::broker::StoreBusy;
using portico::broker::StoreExecutor;

namespace {

// Runs `ioc` on this thread until `done` or 5 s pass.
void run_until(boost::asio::io_context& ioc, const std::atomic<bool>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done && std::chrono::steady_clock::now() < deadline) {
        ioc.run_for(std::chrono::milliseconds(10));
        ioc.restart();
    }
}

}  // namespace

TEST_CASE("store executor: work runs off the calling thread, the answer on the caller's executor",
          "[broker][store_executor][unit]") {
    StoreExecutor exec;
    boost::asio::io_context back;
    const auto caller = std::this_thread::get_id();
    std::thread::id worked_on, answered_on;
    bool on_store_thread = false;
    int value = 0;
    std::atomic<bool> done{false};
    exec.run<int>(
        "test", back.get_executor(),
        [&]() -> Result<int, ApiErrorCode> {
            worked_on = std::this_thread::get_id();
            on_store_thread = exec.on_store_thread();
            return 42;
        },
        [&](Result<int, ApiErrorCode> r) {
            answered_on = std::this_thread::get_id();
            REQUIRE(r.ok());
            value = r.value();
            done = true;
        });
    run_until(back, done);
    REQUIRE(done);
    CHECK(worked_on != caller);
    CHECK(on_store_thread);
    CHECK_FALSE(exec.on_store_thread());
    CHECK(answered_on == caller);  // delivered through `back`, which only this thread runs
    CHECK(value == 42);
}

TEST_CASE("store executor: a busy store is `busy`, another exception `internal`, and the thread goes on",
          "[broker][store_executor][unit]") {
    StoreExecutor exec;
    boost::asio::io_context back;
    std::atomic<int> answers{0};
    std::optional<ApiErrorCode> first, second;
    std::optional<int> third;
    exec.run<int>(
        "test", back.get_executor(), []() -> Result<int, ApiErrorCode> { throw StoreBusy("database is locked"); },
        [&](Result<int, ApiErrorCode> r) {
            if (!r) first = r.error().code;
            ++answers;
        });
    exec.run<int>(
        "test", back.get_executor(), []() -> Result<int, ApiErrorCode> { throw std::runtime_error("disk I/O error"); },
        [&](Result<int, ApiErrorCode> r) {
            if (!r) second = r.error().code;
            ++answers;
        });
    // A fire-and-forget job that throws is logged, not fatal.
    exec.post("test", [] { throw std::runtime_error("lost"); });
    exec.run<int>(
        "test", back.get_executor(), []() -> Result<int, ApiErrorCode> { return 7; },
        [&](Result<int, ApiErrorCode> r) {
            if (r) third = r.value();
            ++answers;
        });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (answers < 3 && std::chrono::steady_clock::now() < deadline) {
        back.run_for(std::chrono::milliseconds(10));
        back.restart();
    }
    REQUIRE(answers == 3);
    CHECK(first == ApiErrorCode::busy);
    CHECK(second == ApiErrorCode::internal);
    CHECK(third == 7);  // after both failures the same thread still runs jobs
}

TEST_CASE("store executor: jobs run in order, timers on its context run on its thread, stop drops later jobs",
          "[broker][store_executor][unit]") {
    StoreExecutor exec;
    std::vector<int> order;
    std::atomic<bool> timer_fired{false};
    std::atomic<bool> timer_on_store{false};
    boost::asio::steady_timer timer(exec.context());
    timer.expires_after(std::chrono::milliseconds(1));
    timer.async_wait([&](boost::system::error_code ec) {
        timer_on_store = !ec && exec.on_store_thread();
        timer_fired = true;
    });
    for (int i = 0; i < 100; ++i) exec.post("test", [&order, i] { order.push_back(i); });
    std::atomic<bool> flushed{false};
    exec.post("test", [&] { flushed = true; });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while ((!flushed || !timer_fired) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    REQUIRE(flushed);
    REQUIRE(order.size() == 100);
    for (int i = 0; i < 100; ++i) CHECK(order[static_cast<std::size_t>(i)] == i);
    CHECK(timer_on_store);
    exec.stop();
    bool ran = false;
    exec.post("test", [&] { ran = true; });  // dropped, not queued for a thread that is gone
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK_FALSE(ran);
    // The timer must go before the context does.
}

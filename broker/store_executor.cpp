#include "broker/store_executor.hpp"

namespace portico::broker {

StoreExecutor::StoreExecutor() : ctx_(std::make_unique<boost::asio::io_context>(1)) {
    work_.emplace(ctx_->get_executor());
    thread_ = std::thread([ctx = ctx_.get()] {
        // Jobs contain their own failures (post/run); a timer handler that still throws must not
        // end the thread: run() carries on where it was.
        for (;;) {
            try {
                ctx->run();
                return;
            } catch (const std::exception& e) {
                log::error("a store job threw (", e.what(), "); the store thread carries on");
            } catch (...) {
                log::error("a store job threw a non-standard exception; the store thread carries on");
            }
        }
    });
    thread_id_ = thread_.get_id();
}

StoreExecutor::~StoreExecutor() {
    stop();
    close();
}

void StoreExecutor::stop() {
    {
        std::lock_guard lk(mu_);
        if (stopped_) return;
        stopped_ = true;
        work_.reset();
        ctx_->stop();
    }
    if (thread_.joinable() && std::this_thread::get_id() != thread_id_) thread_.join();
}

void StoreExecutor::close() {
    stop();
    if (thread_.joinable() && std::this_thread::get_id() != thread_id_) thread_.join();
    std::unique_ptr<boost::asio::io_context> ctx;
    {
        std::lock_guard lk(mu_);
        ctx = std::move(ctx_);
    }
    // Destroyed outside the lock: a queued job's captures (a connection) may post while they go,
    // and those posts are dropped.
    ctx.reset();
}

}  // namespace portico::broker

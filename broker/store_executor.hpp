#pragma once
// StoreExecutor: the one thread on which the broker's services run their store work, so that no
// network thread ever waits on SQLite (disk, locks, the busy timeout). Connections hand it a job
// and get the answer back on their own strand; the services' timers (host liveness, launch
// timeouts, the pool check) run on it too, through context().
//
// Why one dedicated thread and not a pool: SQLite serialises writers anyway and the SQLite store
// keeps one connection behind one mutex, so a second store thread would only wait on that mutex.
// One thread also keeps each host's control events in the order they arrived (no strand per host
// needed) and lets the liveness timer and a launch's session_ready never interleave. Work that is
// slow without being store work (Argon2) does not belong here: it runs on the password workers
// (identity.hpp), which may then call the store themselves. On PostgreSQL (a pool of connections,
// whose calls wait on round trips rather than on a lock), a launch's reads and its answer's
// write run on the launch readers beside this thread (core.hpp, launch_service.hpp); what must
// stay in order — admission, the session row, the hosts' events — stays here.
//
// The boundary: an exception escaping a job never reaches the thread. run() turns StoreBusy into
// ApiErrorCode::busy (503 + Retry-After) and anything else into internal (500); post() logs it.
// After stop() jobs are dropped (their captures destroyed on the caller's thread).

#include "broker/api_error.hpp"
#include "broker/store.hpp"
#include "common/log.hpp"
#include "common/result.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace portico::broker {

// Calls work() and returns its Result, or the error that an exception from it stands for:
// StoreBusy -> busy, anything else -> internal (logged with `what`). For any thread that runs
// store work (the store thread, the password workers).
template <class T, class Work>
Result<T, ApiErrorCode> store_guarded(const char* what, Work& work) {
    try {
        return work();
    } catch (const StoreBusy& e) {
        log::error(what, ": the store is busy: ", e.what());
        return Error<ApiErrorCode>{ApiErrorCode::busy, "the broker's database is busy; try again"};
    } catch (const std::exception& e) {
        log::error(what, ": ", e.what());
        return Error<ApiErrorCode>{ApiErrorCode::internal, "internal error"};
    }
}

// Runs `work` (-> Result<T, ApiErrorCode>) through `where` (an executor off the network threads)
// and `done(result)` on `back`. Exceptions from `work` become busy / internal (store_guarded).
template <class T, class Where, class Back, class Work, class Done>
void run_guarded_on(Where where, const char* what, Back back, Work work, Done done) {
    boost::asio::post(where, [what, back, work = std::move(work), done = std::move(done)]() mutable {
        auto result = store_guarded<T>(what, work);
        boost::asio::post(back,
                          [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
    });
}

class StoreExecutor {
public:
    StoreExecutor();
    ~StoreExecutor();
    StoreExecutor(const StoreExecutor&) = delete;
    StoreExecutor& operator=(const StoreExecutor&) = delete;

    // For timers whose handlers do store work: they run on the store thread. Valid until close();
    // such timers must be destroyed before close().
    boost::asio::io_context& context() { return *ctx_; }

    // Runs `job` on the store thread; an exception escaping it is logged, not propagated.
    template <class Job>
    void post(const char* what, Job job) {
        std::lock_guard lk(mu_);
        if (!ctx_ || stopped_) return;
        boost::asio::post(*ctx_, [what, job = std::move(job)]() mutable {
            try {
                job();
            } catch (const std::exception& e) {
                log::error(what, ": ", e.what());
            }
        });
    }

    // Runs `work` (-> Result<T, ApiErrorCode>) on the store thread, then `done(result)` on `back`
    // (a connection's strand). Exceptions from `work` become busy / internal (store_guarded).
    template <class T, class Executor, class Work, class Done>
    void run(const char* what, Executor back, Work work, Done done) {
        post(what, [what, back, work = std::move(work), done = std::move(done)]() mutable {
            auto result = store_guarded<T>(what, work);
            boost::asio::post(
                back, [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
        });
    }

    bool on_store_thread() const { return std::this_thread::get_id() == thread_id_; }

    // Stops the thread after the job it is running; later posts are dropped. Idempotent.
    void stop();
    // After stop() and once no timer uses context() any more: destroys the queued jobs (and what
    // they captured, e.g. connections, whose own io_context must still exist). Idempotent.
    void close();

private:
    std::mutex mu_;  // guards ctx_ and stopped_ against posts racing shutdown()
    std::unique_ptr<boost::asio::io_context> ctx_;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
    bool stopped_ = false;
    std::thread thread_;
    std::thread::id thread_id_;
};

}  // namespace portico::broker

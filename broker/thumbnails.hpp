#pragma once
// Thumbnails: live pictures of sessions for the portal (GET /sessions/{id}/thumbnail). Asks the
// session's host over the control channel (thumbnail_request, answered by thumbnail or
// thumbnail_failed with the same request_id), waits at most `timeout`, and keeps each answer for
// `fresh_for`: requests for a session within that time, or while its request is out, share one
// round trip, so a portal open in several tabs costs the host one picture per period.
//
// Threads: every method runs on the store thread, and so do the timeouts (the `timers` context);
// callbacks are called from there, once each.

#include "broker/api_error.hpp"
#include "broker/caller.hpp"
#include "broker/host_registry.hpp"
#include "common/result.hpp"
#include "protocol/control.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace portico::broker {

class LaunchService;

class Thumbnails {
public:
    struct Options {
        std::chrono::milliseconds timeout{3000};    // then 504 host_timeout
        std::chrono::milliseconds fresh_for{2000};  // an answer serves later requests this long
        int max_width = 320, max_height = 200;      // the box the host fits the screen into
    };
    using Jpeg = std::shared_ptr<const std::string>;
    using Done = std::function<void(Result<Jpeg, ApiErrorCode>)>;

    Thumbnails(LaunchService& launches, HostRegistry& hosts, boost::asio::io_context& timers, Options options);
    Thumbnails(const Thumbnails&) = delete;
    Thumbnails& operator=(const Thumbnails&) = delete;

    // The session's picture for a caller who may see it (owner or staff; anyone else, or a session
    // that is not live, hears not_found). `done` is called once: now (cached, or refused) or when
    // the host answers or the timeout passes.
    void get(const Caller& caller, const std::string& session_id, Done done);
    // A host's answers. An answer nobody waits for (late, after the timeout) or from another host
    // than the one asked is dropped.
    void answered(const std::string& host_id, const protocol::control::Thumbnail& m);
    void failed(const std::string& host_id, const protocol::control::ThumbnailFailed& m);
    // Fails what is waiting (the broker stops).
    void shutdown();

    // How many requests went to hosts (for tests and metrics).
    std::uint64_t requests_sent() const { return sent_; }

private:
    struct Pending {
        std::string host_id, session_id;
        std::vector<Done> waiting;
        std::unique_ptr<boost::asio::steady_timer> timer;
    };
    struct Cached {
        Jpeg jpeg;
        std::chrono::steady_clock::time_point at;
    };
    void finish(std::uint64_t request_id, const Result<Jpeg, ApiErrorCode>& result);
    void drop_stale(std::chrono::steady_clock::time_point now);

    LaunchService& launches_;
    HostRegistry& hosts_;
    boost::asio::io_context& timers_;
    const Options options_;
    std::uint64_t next_request_, sent_ = 0;  // ids: a random start, as launches (cluster.hpp)
    std::map<std::uint64_t, Pending> pending_;
    std::map<std::string, std::uint64_t> in_flight_;  // session id -> its request out to the host
    std::map<std::string, Cached> cache_;             // session id -> its last picture
};

}  // namespace portico::broker

#pragma once
// Desktop pools, broker side: a desktop resource (a DesktopPool in the Store) is a pool of VM
// desktops on the session hosts that have its golden image. DesktopPools chooses the host for a
// desktop launch (pooled: the least-loaded host with the image; dedicated: the host holding the
// user's disk) and keeps every host told the pool list (`pools`): after it registers, when the
// admin API changes a pool, and on a 2 s check that notices changes made by the CLI.
// Thread-safe; called from network threads.

#include "broker/api_error.hpp"
#include "broker/host_registry.hpp"
#include "broker/store.hpp"
#include "common/result.hpp"
#include "protocol/control.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <mutex>
#include <string>

namespace portico::broker {

// Empty when the pool's settings are acceptable, else what is wrong (for the CLI and the API).
std::string validate_desktop_pool(const DesktopPool& p);

class DesktopPools {
public:
    DesktopPools(Store& store, boost::asio::io_context& ioc, HostRegistry& hosts);
    ~DesktopPools();
    DesktopPools(const DesktopPools&) = delete;
    DesktopPools& operator=(const DesktopPools&) = delete;

    // The `pools` message as it stands (sent to a host right after `registered`).
    std::string pools_message();
    void start();
    void stop();
    // A pool was created, changed or deleted: tell the hosts now rather than at the next check.
    void changed();

    struct Placement {
        HostInfo host;  // one session slot reserved on it
        protocol::control::DesktopSpec spec;
    };
    // Chooses the host for a new desktop session of `user` in pool `pool_id`.
    Result<Placement, ApiErrorCode> place(const std::string& pool_id, const std::string& user);

private:
    void schedule();
    void check_for_changes(bool reschedule);

    Store& store_;
    boost::asio::io_context& ioc_;
    HostRegistry& hosts_;
    std::mutex mu_;
    std::string last_sent_;
    std::unique_ptr<boost::asio::steady_timer> timer_;
    bool stopped_ = true;
};

// `portico-broker publish-desktop ...` and `delete-desktop ...` (argv as main() got it).
int cmd_publish_desktop(int argc, char** argv);
int cmd_delete_desktop(int argc, char** argv);

}  // namespace portico::broker

#pragma once
// Desktop pools: a desktop resource (resources.type 'desktop') is a pool of VM desktops on the
// session hosts that have its golden image. DesktopPools keeps them in the broker's database
// (tables from the store's migration list, reached through a connection of its own), chooses the
// host for a desktop launch (pooled: any host with the image; dedicated: the host holding the
// user's machine) and tells every host the pool list (`pools`) after it registers and whenever
// the list changes (a timer notices changes made by any writer: the CLI, the admin API).
// Thread-safe; every call is one short SQLite statement, fine on network threads.

#include "broker/api_error.hpp"
#include "broker/host_registry.hpp"
#include "common/result.hpp"
#include "protocol/control.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace portico::broker {

struct DesktopPool {
    std::string id, name, image;
    std::string mode = "pooled";  // pooled | dedicated
    int size = 1;                 // at most this many sessions at once
    int spares = 0;               // booted VMs kept ready per host (pooled only)
    int memory_mib = 512, cpus = 1;
};

// Empty when the pool is acceptable, else what is wrong (for the CLI and the admin API).
std::string validate_desktop_pool(const DesktopPool& p);

class DesktopPoolStore {
public:
    // Opens the broker database at `path` (it must exist and be migrated). Throws on failure.
    explicit DesktopPoolStore(const std::string& path);
    ~DesktopPoolStore();
    DesktopPoolStore(const DesktopPoolStore&) = delete;
    DesktopPoolStore& operator=(const DesktopPoolStore&) = delete;

    // Creates or replaces the pool and its resource row, in one transaction.
    void put(const DesktopPool& p);
    // Removes the pool (its dedicated assignments go with it) and its resource unless sessions
    // refer to it. False if there was no such pool.
    bool remove(const std::string& id);
    std::optional<DesktopPool> get(const std::string& id);
    std::vector<DesktopPool> all();
    int live_sessions(const std::string& pool);
    // The host holding the user's dedicated desktop of this pool, once one was chosen.
    std::optional<std::string> dedicated_host(const std::string& pool, const std::string& user);
    void set_dedicated_host(const std::string& pool, const std::string& user, const std::string& host_id);

private:
    std::mutex mu_;
    sqlite3* db_ = nullptr;
};

class DesktopPools {
public:
    DesktopPools(const std::string& db_path, boost::asio::io_context& ioc, HostRegistry& hosts);
    ~DesktopPools();

    DesktopPoolStore& store() { return store_; }
    // The `pools` message as it stands (sent to a host right after `registered`).
    std::string pools_message();
    // Starts/stops watching the pool list for changes (then broadcast to every host).
    void start();
    void stop();

    struct Placement {
        HostInfo host;  // one session slot reserved on it
        protocol::control::DesktopSpec spec;
    };
    // Chooses the host for a new desktop session of `user` in pool `resource_id`.
    Result<Placement, ApiErrorCode> place(const std::string& resource_id, const std::string& user);

private:
    void schedule();
    void check_for_changes();

    DesktopPoolStore store_;
    boost::asio::io_context& ioc_;
    HostRegistry& hosts_;
    std::mutex mu_;
    std::string last_sent_;
    std::unique_ptr<boost::asio::steady_timer> timer_;
    bool stopped_ = false;
};

// `portico-broker publish-desktop ...` and `delete-desktop ...` (argv as main() got it).
int cmd_publish_desktop(int argc, char** argv);
int cmd_delete_desktop(int argc, char** argv);

}  // namespace portico::broker

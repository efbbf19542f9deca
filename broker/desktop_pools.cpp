#include "broker/desktop_pools.hpp"

#include "broker/placement.hpp"
#include "broker/state_dir.hpp"
#include "common/log.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <stdexcept>

namespace portico::broker {

namespace control = protocol::control;

namespace {

bool safe_name(const std::string& s) {
    if (s.empty() || s.size() > 64 || s == "." || s == "..") return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
               c == '.';
    });
}

}  // namespace

std::string validate_desktop_pool(const DesktopPool& p) {
    // Pool ids and image names become directory names on the hosts.
    if (!safe_name(p.id)) return "the pool id may contain only letters, digits, '-', '_' and '.' (at most 64)";
    if (!safe_name(p.image)) return "the image name may contain only letters, digits, '-', '_' and '.' (at most 64)";
    if (p.name.empty() || p.name.size() > 200) return "the name must be 1 to 200 characters";
    if (p.mode != "pooled" && p.mode != "dedicated") return "the mode must be pooled or dedicated";
    if (p.size < 1 || p.size > 10000) return "the size must be 1 to 10000";
    if (p.spares < 0 || p.spares > 64) return "spares must be 0 to 64";
    if (p.mode == "dedicated" && p.spares != 0) return "dedicated pools keep no spares (each user has their own disk)";
    if (p.memory_mib < 64 || p.memory_mib > (1 << 20)) return "memory must be 64 to 1048576 MiB";
    if (p.cpus < 1 || p.cpus > 64) return "cpus must be 1 to 64";
    return {};
}

// ---- DesktopPools ----

DesktopPools::DesktopPools(Store& store, boost::asio::io_context& ioc, HostRegistry& hosts)
    : store_(store), ioc_(ioc), hosts_(hosts) {}

DesktopPools::~DesktopPools() { stop(); }

std::string DesktopPools::pools_message() {
    control::Pools m;
    for (const auto& p : store_.desktop_pools())
        m.pools.push_back(
            control::PoolSpec{p.id, p.image, p.mode, p.mode == "pooled" ? p.spares : 0, p.memory_mib, p.cpus});
    return control::serialize(m);
}

void DesktopPools::start() {
    std::lock_guard lk(mu_);
    last_sent_ = pools_message();
    timer_ = std::make_unique<boost::asio::steady_timer>(ioc_);
    stopped_ = false;
    schedule();
}

void DesktopPools::stop() {
    std::lock_guard lk(mu_);
    stopped_ = true;
    timer_.reset();  // cancels the wait; the timer must go while the io_context still exists
}

void DesktopPools::changed() { check_for_changes(false); }

void DesktopPools::schedule() {
    // The list is tiny; reading it every 2 s notices changes from any writer without coupling them.
    timer_->expires_after(std::chrono::seconds(2));
    timer_->async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        check_for_changes(true);
    });
}

void DesktopPools::check_for_changes(bool reschedule) {
    std::lock_guard lk(mu_);
    if (stopped_) return;
    try {
        auto now = pools_message();
        if (now != last_sent_) {
            last_sent_ = now;
            // Every broker reads the pools itself, so each tells only the hosts connected to it.
            auto hosts = hosts_.local_snapshot();
            log::info("desktop pools changed; telling ", hosts.size(), " host(s)");
            for (auto& h : hosts)
                if (h.link) h.link->send(now);
        }
    } catch (const std::exception& e) {
        log::error("desktop pools: ", e.what());
    }
    if (reschedule) schedule();
}

Result<DesktopPools::Placement, ApiErrorCode> DesktopPools::place(const std::string& pool_id, const std::string& user) {
    auto pool = store_.desktop_pool(pool_id);
    if (!pool) return Error<ApiErrorCode>{ApiErrorCode::not_found, "the desktop pool " + pool_id + " no longer exists"};
    if (store_.live_session_count(pool->id) >= pool->size)
        return Error<ApiErrorCode>{ApiErrorCode::no_host,
                                   "all " + std::to_string(pool->size) + " desktops of " + pool->name + " are in use"};
    std::string only_host;
    if (pool->mode == "dedicated") {
        if (auto h = store_.dedicated_host(pool->id, user)) only_host = *h;
    }
    PlacementRequest request;
    request.resource_id = pool->id;
    request.resource_name = pool->name;
    request.image = pool->image;
    request.only_host = only_host;
    auto host = hosts_.pick_and_reserve(request);
    if (!host) {
        if (!only_host.empty())
            return Error<ApiErrorCode>{ApiErrorCode::no_host, "the host holding your " + pool->name + " desktop (" +
                                                                  only_host +
                                                                  ") is not connected, is draining or is full"};
        return Error<ApiErrorCode>{ApiErrorCode::no_host, "no connected host has the image '" + pool->image + "' for " +
                                                              pool->name + " with free capacity"};
    }
    if (pool->mode == "dedicated" && only_host.empty()) store_.set_dedicated_host(pool->id, user, host->host_id);
    return Placement{*host, control::DesktopSpec{pool->id, pool->image, pool->mode, pool->memory_mib, pool->cpus}};
}

// ---- CLI ----

namespace {

int desktop_usage() {
    std::cerr
        << "usage:\n"
           "  portico-broker publish-desktop --state DIR|--database URL --id ID --name NAME --image IMAGE --mode pooled|dedicated\n"
           "                 [--size N] [--spares N] [--memory MIB] [--cpus N] [--icon URL] [--group G]... [--user U]...\n"
           "      (publishes a desktop pool, or replaces the one with the same id; IMAGE names a golden image\n"
           "       that session hosts offer with --images; entitles the given groups/users, or the group `users`)\n"
           "  portico-broker delete-desktop --state DIR|--database URL --id ID\n";
    return 2;
}

bool parse_int(const std::string& s, int& out) {
    try {
        std::size_t pos = 0;
        long v = std::stol(s, &pos);
        if (pos != s.size() || v < INT32_MIN || v > INT32_MAX) return false;
        out = static_cast<int>(v);
        return true;
    } catch (...) {
        return false;
    }
}

std::unique_ptr<Store> open_existing_store(const std::string& state, const std::string& database) {
    auto location = store_location(state, database);
    if (database.empty() && !std::filesystem::exists(location)) {
        log::error("no database in ", state, "; run `portico-broker init` first");
        return nullptr;
    }
    return open_store(location);
}

}  // namespace

int cmd_publish_desktop(int argc, char** argv) {
    std::string state, database;
    DesktopPool p;
    std::vector<Entitlement> ents;
    bool have_mode = false;
    for (int i = 2; i < argc; ++i) {
        std::string k = argv[i];
        if (i + 1 >= argc) return desktop_usage();
        std::string v = argv[++i];
        bool ok = true;
        if (k == "--state")
            state = v;
        else if (k == "--database")
            database = v;
        else if (k == "--id")
            p.id = v;
        else if (k == "--name")
            p.name = v;
        else if (k == "--icon")
            p.icon = v;
        else if (k == "--image")
            p.image = v;
        else if (k == "--mode") {
            p.mode = v;
            have_mode = true;
        } else if (k == "--size")
            ok = parse_int(v, p.size);
        else if (k == "--spares")
            ok = parse_int(v, p.spares);
        else if (k == "--memory")
            ok = parse_int(v, p.memory_mib);
        else if (k == "--cpus")
            ok = parse_int(v, p.cpus);
        else if (k == "--group")
            ents.push_back({"group", v});
        else if (k == "--user")
            ents.push_back({"user", v});
        else
            return desktop_usage();
        if (!ok) {
            std::cerr << "publish-desktop: " << k << " needs a number, got '" << v << "'\n";
            return 2;
        }
    }
    if ((state.empty() && database.empty()) || p.id.empty() || p.name.empty() || p.image.empty() || !have_mode)
        return desktop_usage();
    if (auto why = validate_desktop_pool(p); !why.empty()) {
        std::cerr << "publish-desktop: " << why << "\n";
        return 2;
    }
    auto store = open_existing_store(state, database);
    if (!store) return 1;
    store->put_desktop_pool(p);
    if (ents.empty() && store->group("users")) ents.push_back({"group", "users"});
    if (!store->set_entitlements(p.id, ents)) {
        log::error("an entitled user or group does not exist; ", p.name, " is published but nobody may launch it");
        return 1;
    }
    std::cout << "published desktop " << p.name << " (" << p.id << "): image " << p.image << ", " << p.mode << ", size "
              << p.size << ", spares " << p.spares << ", " << p.memory_mib << " MiB, " << p.cpus << " CPU\n";
    return 0;
}

int cmd_delete_desktop(int argc, char** argv) {
    std::string state, database, id;
    for (int i = 2; i < argc; ++i) {
        std::string k = argv[i];
        if (i + 1 >= argc) return desktop_usage();
        if (k == "--state")
            state = argv[++i];
        else if (k == "--database")
            database = argv[++i];
        else if (k == "--id")
            id = argv[++i];
        else
            return desktop_usage();
    }
    if ((state.empty() && database.empty()) || id.empty()) return desktop_usage();
    auto store = open_existing_store(state, database);
    if (!store) return 1;
    if (!store->desktop_pool(id) || !store->delete_resource(id)) {
        std::cerr << "delete-desktop: no desktop pool '" << id << "'\n";
        return 1;
    }
    std::cout << "deleted desktop pool " << id << " (hosts remove its disks)\n";
    return 0;
}

}  // namespace portico::broker

#include "broker/desktop_pools.hpp"

#include "broker/state_dir.hpp"
#include "common/log.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <stdexcept>

namespace portico::broker {

namespace control = protocol::control;

namespace {

class Stmt {
public:
    Stmt(sqlite3* db, const char* sql) : db_(db) {
        if (sqlite3_prepare_v2(db, sql, -1, &st_, nullptr) != SQLITE_OK)
            throw std::runtime_error(std::string("sqlite prepare: ") + sqlite3_errmsg(db));
    }
    ~Stmt() { sqlite3_finalize(st_); }
    Stmt& bind(int i, const std::string& v) {
        sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    Stmt& bind(int i, std::int64_t v) {
        sqlite3_bind_int64(st_, i, v);
        return *this;
    }
    bool step() {
        int rc = sqlite3_step(st_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        throw std::runtime_error(std::string("sqlite step: ") + sqlite3_errmsg(db_));
    }
    std::string text(int col) {
        auto p = sqlite3_column_text(st_, col);
        return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(st_, col)))
                 : std::string();
    }
    std::int64_t integer(int col) { return sqlite3_column_int64(st_, col); }

private:
    sqlite3* db_;
    sqlite3_stmt* st_ = nullptr;
};

void exec(sqlite3* db, const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : "unknown error";
        sqlite3_free(err);
        throw std::runtime_error("sqlite: " + msg);
    }
}

constexpr const char* kPoolCols =
    "p.id, r.name, p.image, p.mode, p.size, p.spares, p.memory_mib, p.cpus FROM desktop_pools p JOIN resources r ON r.id = p.id";

DesktopPool read_pool(Stmt& s) {
    DesktopPool p;
    p.id = s.text(0);
    p.name = s.text(1);
    p.image = s.text(2);
    p.mode = s.text(3);
    p.size = static_cast<int>(s.integer(4));
    p.spares = static_cast<int>(s.integer(5));
    p.memory_mib = static_cast<int>(s.integer(6));
    p.cpus = static_cast<int>(s.integer(7));
    return p;
}

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

// ---- DesktopPoolStore ----

DesktopPoolStore::DesktopPoolStore(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK) {
        std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        db_ = nullptr;
        throw std::runtime_error("cannot open database " + path + ": " + msg);
    }
    sqlite3_busy_timeout(db_, 2000);
    exec(db_, "PRAGMA foreign_keys = ON;");
}

DesktopPoolStore::~DesktopPoolStore() { sqlite3_close(db_); }

void DesktopPoolStore::put(const DesktopPool& p) {
    std::lock_guard lk(mu_);
    exec(db_, "BEGIN IMMEDIATE;");
    try {
        Stmt kind(db_, "SELECT type FROM resources WHERE id = ?");
        kind.bind(1, p.id);
        if (kind.step() && kind.text(0) != "desktop")
            throw std::runtime_error("resource '" + p.id + "' exists and is not a desktop");
        Stmt r(db_,
               "INSERT INTO resources (id, name, type, command) VALUES (?, ?, 'desktop', '[]') "
               "ON CONFLICT(id) DO UPDATE SET name = excluded.name");
        r.bind(1, p.id).bind(2, p.name).step();
        Stmt d(db_,
               "INSERT INTO desktop_pools (id, image, mode, size, spares, memory_mib, cpus) VALUES (?, ?, ?, ?, ?, ?, ?) "
               "ON CONFLICT(id) DO UPDATE SET image = excluded.image, mode = excluded.mode, size = excluded.size, "
               "spares = excluded.spares, memory_mib = excluded.memory_mib, cpus = excluded.cpus");
        d.bind(1, p.id).bind(2, p.image).bind(3, p.mode).bind(4, std::int64_t{p.size}).bind(5, std::int64_t{p.spares});
        d.bind(6, std::int64_t{p.memory_mib}).bind(7, std::int64_t{p.cpus}).step();
        exec(db_, "COMMIT;");
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK;", nullptr, nullptr, nullptr);
        throw;
    }
}

bool DesktopPoolStore::remove(const std::string& id) {
    std::lock_guard lk(mu_);
    Stmt d(db_, "DELETE FROM desktop_pools WHERE id = ?");
    d.bind(1, id).step();
    bool removed = sqlite3_changes(db_) > 0;
    // The resource row goes too unless past sessions refer to it (they keep their history).
    Stmt r(db_, "DELETE FROM resources WHERE id = ? AND type = 'desktop' AND NOT EXISTS (SELECT 1 FROM sessions WHERE resource = ?)");
    r.bind(1, id).bind(2, id).step();
    return removed;
}

std::optional<DesktopPool> DesktopPoolStore::get(const std::string& id) {
    std::lock_guard lk(mu_);
    Stmt s(db_, (std::string("SELECT ") + kPoolCols + " WHERE p.id = ?").c_str());
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_pool(s);
}

std::vector<DesktopPool> DesktopPoolStore::all() {
    std::lock_guard lk(mu_);
    Stmt s(db_, (std::string("SELECT ") + kPoolCols + " ORDER BY p.id").c_str());
    std::vector<DesktopPool> out;
    while (s.step()) out.push_back(read_pool(s));
    return out;
}

int DesktopPoolStore::live_sessions(const std::string& pool) {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT COUNT(*) FROM sessions WHERE resource = ? AND state NOT IN ('ended', 'lost')");
    s.bind(1, pool);
    return s.step() ? static_cast<int>(s.integer(0)) : 0;
}

std::optional<std::string> DesktopPoolStore::dedicated_host(const std::string& pool, const std::string& user) {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT host_id FROM desktop_assignments WHERE pool = ? AND user = ?");
    s.bind(1, pool).bind(2, user);
    if (!s.step()) return std::nullopt;
    return s.text(0);
}

void DesktopPoolStore::set_dedicated_host(const std::string& pool, const std::string& user, const std::string& host_id) {
    std::lock_guard lk(mu_);
    Stmt s(db_,
           "INSERT INTO desktop_assignments (pool, user, host_id) VALUES (?, ?, ?) "
           "ON CONFLICT(pool, user) DO UPDATE SET host_id = excluded.host_id");
    s.bind(1, pool).bind(2, user).bind(3, host_id).step();
}

// ---- DesktopPools ----

DesktopPools::DesktopPools(const std::string& db_path, boost::asio::io_context& ioc, HostRegistry& hosts)
    : store_(db_path), ioc_(ioc), hosts_(hosts) {}

DesktopPools::~DesktopPools() { stop(); }

std::string DesktopPools::pools_message() {
    control::Pools m;
    for (const auto& p : store_.all())
        m.pools.push_back(control::PoolSpec{p.id, p.image, p.mode, p.mode == "pooled" ? p.spares : 0, p.memory_mib, p.cpus});
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
    if (timer_) timer_->cancel();
}

void DesktopPools::schedule() {
    // The list is tiny; reading it every 2 s notices changes from any writer without coupling them.
    timer_->expires_after(std::chrono::seconds(2));
    timer_->async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        check_for_changes();
    });
}

void DesktopPools::check_for_changes() {
    std::lock_guard lk(mu_);
    if (stopped_) return;
    try {
        auto now = pools_message();
        if (now != last_sent_) {
            last_sent_ = now;
            auto links = hosts_.links();
            log::info("desktop pools changed; telling ", links.size(), " host(s)");
            for (auto& l : links) l->send(now);
        }
    } catch (const std::exception& e) {
        log::error("desktop pools: ", e.what());
    }
    schedule();
}

Result<DesktopPools::Placement, ApiErrorCode> DesktopPools::place(const std::string& resource_id, const std::string& user) {
    auto pool = store_.get(resource_id);
    if (!pool) return Error<ApiErrorCode>{ApiErrorCode::not_found, "the desktop pool " + resource_id + " no longer exists"};
    if (store_.live_sessions(pool->id) >= pool->size)
        return Error<ApiErrorCode>{ApiErrorCode::no_host, "all " + std::to_string(pool->size) + " desktops of " + pool->name +
                                                              " are in use"};
    std::string only_host;
    if (pool->mode == "dedicated") {
        if (auto h = store_.dedicated_host(pool->id, user)) only_host = *h;
    }
    auto host = hosts_.pick_and_reserve_image(pool->image, only_host);
    if (!host) {
        if (!only_host.empty())
            return Error<ApiErrorCode>{ApiErrorCode::no_host, "the host holding your " + pool->name + " desktop (" + only_host +
                                                                  ") is not connected or is full"};
        return Error<ApiErrorCode>{ApiErrorCode::no_host, "no connected host has the image '" + pool->image + "' for " +
                                                              pool->name + " with free capacity"};
    }
    if (pool->mode == "dedicated" && only_host.empty()) store_.set_dedicated_host(pool->id, user, host->host_id);
    return Placement{*host, control::DesktopSpec{pool->id, pool->image, pool->mode, pool->memory_mib, pool->cpus}};
}

// ---- CLI ----

namespace {

int desktop_usage() {
    std::cerr << "usage:\n"
                 "  portico-broker publish-desktop --state DIR --id ID --name NAME --image IMAGE --mode pooled|dedicated\n"
                 "                 [--size N] [--spares N] [--memory MIB] [--cpus N]\n"
                 "      (publishes a desktop pool, or replaces the one with the same id; IMAGE names a golden image\n"
                 "       that session hosts offer with --images)\n"
                 "  portico-broker delete-desktop --state DIR --id ID\n";
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

std::optional<std::string> database_of(const std::string& state) {
    auto paths = StatePaths::in(state);
    if (!std::filesystem::exists(paths.database)) {
        log::error("no database in ", state, "; run `portico-broker init` first");
        return std::nullopt;
    }
    return paths.database;
}

}  // namespace

int cmd_publish_desktop(int argc, char** argv) {
    std::string state;
    DesktopPool p;
    bool have_mode = false;
    for (int i = 2; i < argc; ++i) {
        std::string k = argv[i];
        if (i + 1 >= argc) return desktop_usage();
        std::string v = argv[++i];
        bool ok = true;
        if (k == "--state") state = v;
        else if (k == "--id") p.id = v;
        else if (k == "--name") p.name = v;
        else if (k == "--image") p.image = v;
        else if (k == "--mode") { p.mode = v; have_mode = true; }
        else if (k == "--size") ok = parse_int(v, p.size);
        else if (k == "--spares") ok = parse_int(v, p.spares);
        else if (k == "--memory") ok = parse_int(v, p.memory_mib);
        else if (k == "--cpus") ok = parse_int(v, p.cpus);
        else return desktop_usage();
        if (!ok) {
            std::cerr << "publish-desktop: " << k << " needs a number, got '" << v << "'\n";
            return 2;
        }
    }
    if (state.empty() || p.id.empty() || p.name.empty() || p.image.empty() || !have_mode) return desktop_usage();
    if (auto why = validate_desktop_pool(p); !why.empty()) {
        std::cerr << "publish-desktop: " << why << "\n";
        return 2;
    }
    auto db = database_of(state);
    if (!db) return 1;
    DesktopPoolStore store(*db);
    store.put(p);
    std::cout << "published desktop " << p.name << " (" << p.id << "): image " << p.image << ", " << p.mode << ", size "
              << p.size << ", spares " << p.spares << ", " << p.memory_mib << " MiB, " << p.cpus << " CPU\n";
    return 0;
}

int cmd_delete_desktop(int argc, char** argv) {
    std::string state, id;
    for (int i = 2; i < argc; ++i) {
        std::string k = argv[i];
        if (i + 1 >= argc) return desktop_usage();
        if (k == "--state") state = argv[++i];
        else if (k == "--id") id = argv[++i];
        else return desktop_usage();
    }
    if (state.empty() || id.empty()) return desktop_usage();
    auto db = database_of(state);
    if (!db) return 1;
    DesktopPoolStore store(*db);
    if (!store.remove(id)) {
        std::cerr << "delete-desktop: no desktop pool '" << id << "'\n";
        return 1;
    }
    std::cout << "deleted desktop pool " << id << " (hosts remove its disks)\n";
    return 0;
}

}  // namespace portico::broker

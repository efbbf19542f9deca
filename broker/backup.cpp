#include "broker/backup.hpp"

#include "broker/state_dir.hpp"
#include "broker/store.hpp"
#include "common/crypto.hpp"

#include <nlohmann/json.hpp>
#include <sqlite3.h>
#include <sys/stat.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#ifndef PORTICO_VERSION
#define PORTICO_VERSION "unknown"
#endif

namespace portico::broker {

namespace fs = std::filesystem;

namespace {

constexpr const char* kManifest = "manifest.json";
constexpr const char* kDatabase = "portico.db";

// The state directory's files a backup carries, by their names in it (StatePaths::in).
std::vector<std::string> key_files() {
    return {"ticket-key.pem", "enrollment-secret", "ca/ca.crt", "ca/ca.key", "tls/broker.crt", "tls/broker.key"};
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + path);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

BackupFile describe(const fs::path& dir, const std::string& rel) {
    const std::string content = read_file((dir / rel).string());
    struct stat st {};
    if (::stat((dir / rel).c_str(), &st) != 0) throw std::runtime_error("cannot stat " + (dir / rel).string());
    return BackupFile{rel, content.size(), crypto::sha256_hex(crypto::bytes_of(content)), st.st_mode & 0777};
}

// A folder that is absent or empty, made (with its parents) and given mode 0700; anything else
// is refused, so a backup or a restore never mixes with older files.
void make_private_dir(const fs::path& dir, const char* what) {
    if (fs::exists(dir) && (!fs::is_directory(dir) || !fs::is_empty(dir)))
        throw std::runtime_error(std::string(what) + " " + dir.string() +
                                 " is not empty; give a new or empty directory");
    fs::create_directories(dir);
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
}

void copy_private(const fs::path& from, const fs::path& to, unsigned mode) {
    fs::create_directories(to.parent_path());
    fs::permissions(to.parent_path(), fs::perms::owner_all, fs::perm_options::replace);
    fs::copy_file(from, to, fs::copy_options::none);
    fs::permissions(to, static_cast<fs::perms>(mode & 0777), fs::perm_options::replace);
}

// SQLite's online backup: page by page from a read snapshot, so the running broker (WAL) goes on
// writing meanwhile and the copy is that one moment. The copy is left in rollback-journal mode:
// one self-contained file (the broker switches it back to WAL when it opens it).
void sqlite_online_backup(const std::string& from, const std::string& to) {
    sqlite3* src = nullptr;
    sqlite3* dst = nullptr;
    auto close_both = [&] {
        sqlite3_close(src);
        sqlite3_close(dst);
    };
    if (sqlite3_open_v2(from.c_str(), &src, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK ||
        sqlite3_open_v2(to.c_str(), &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
        std::string why = src ? sqlite3_errmsg(src) : "out of memory";
        close_both();
        throw std::runtime_error("cannot open " + from + " for a backup: " + why);
    }
    sqlite3_busy_timeout(src, 5000);
    sqlite3_backup* b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b) {
        std::string why = sqlite3_errmsg(dst);
        close_both();
        throw std::runtime_error("cannot back up " + from + ": " + why);
    }
    int rc = SQLITE_OK;
    for (int tries = 0; tries < 100; ++tries) {
        rc = sqlite3_backup_step(b, -1);  // every page in one step: one snapshot
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        std::string why = sqlite3_errstr(rc);
        close_both();
        throw std::runtime_error("the backup of " + from + " failed: " + why);
    }
    char* err = nullptr;
    if (sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", nullptr, nullptr, &err) != SQLITE_OK) {
        std::string why = err ? err : "?";
        sqlite3_free(err);
        close_both();
        throw std::runtime_error("cannot finish the copy " + to + ": " + why);
    }
    close_both();
}

std::string utc_now() {
    std::time_t t = std::time(nullptr);
    struct tm tm {};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

nlohmann::json to_json(const BackupManifest& m) {
    nlohmann::json files = nlohmann::json::array();
    for (const auto& f : m.files) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", f.mode);
        files.push_back({{"path", f.path}, {"size", f.size}, {"sha256", f.sha256}, {"mode", mode}});
    }
    return {{"format", m.format},
            {"portico_version", m.portico_version},
            {"schema_version", m.schema_version},
            {"created_at", m.created_at},
            {"store", m.store},
            {"files", files}};
}

BackupManifest read_manifest(const fs::path& dir) {
    const auto path = (dir / kManifest).string();
    if (!fs::exists(path))
        throw std::runtime_error(path + " is missing: not a portico-broker backup (or an unfinished one)");
    BackupManifest m;
    try {
        auto j = nlohmann::json::parse(read_file(path));
        m.format = j.at("format").get<int>();
        if (m.format != 1) throw std::runtime_error("format " + std::to_string(m.format) + " is not known");
        m.portico_version = j.at("portico_version").get<std::string>();
        m.schema_version = j.at("schema_version").get<int>();
        m.created_at = j.at("created_at").get<std::string>();
        m.store = j.at("store").get<std::string>();
        for (const auto& f : j.at("files")) {
            BackupFile b;
            b.path = f.at("path").get<std::string>();
            b.size = f.at("size").get<std::uint64_t>();
            b.sha256 = f.at("sha256").get<std::string>();
            b.mode = static_cast<unsigned>(std::stoul(f.at("mode").get<std::string>(), nullptr, 8)) & 0777;
            m.files.push_back(b);
        }
    } catch (const std::exception& e) {
        throw std::runtime_error(path + " cannot be read: " + e.what());
    }
    return m;
}

}  // namespace

BackupManifest backup_state(const std::string& state_dir, const std::string& database, const std::string& to_dir) {
    const fs::path state(state_dir), to(to_dir);
    const std::string location = store_location(state_dir, database);
    for (const auto& rel : key_files())
        if (!fs::exists(state / rel))
            throw std::runtime_error((state / rel).string() + " is missing: is " + state_dir +
                                     " a broker's state directory (portico-broker init)?");
    if (!is_postgres_location(location) && !fs::exists(location))
        throw std::runtime_error("no database " + location + " to back up");
    make_private_dir(to, "the backup directory");

    BackupManifest m;
    m.portico_version = PORTICO_VERSION;
    m.created_at = utc_now();
    m.schema_version = open_store(location)->schema_version();  // also: the store is reachable
    m.store = is_postgres_location(location) ? "postgresql" : "sqlite";
    if (m.store == "sqlite") {
        sqlite_online_backup(location, (to / kDatabase).string());
        fs::permissions(to / kDatabase, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
        m.files.push_back(describe(to, kDatabase));
    }
    for (const auto& rel : key_files()) {
        auto mode = describe(state, rel).mode;
        copy_private(state / rel, to / rel, mode);
        m.files.push_back(describe(to, rel));
    }
    // Last: a folder without its manifest is an unfinished backup, which restore refuses.
    const auto manifest = (to / kManifest).string();
    {
        std::ofstream f(manifest + ".tmp", std::ios::trunc);
        f << to_json(m).dump(2) << "\n";
        if (!f.flush()) throw std::runtime_error("cannot write " + manifest);
    }
    fs::rename(manifest + ".tmp", manifest);
    fs::permissions(manifest, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
    return m;
}

BackupManifest restore_state(const std::string& from_dir, const std::string& state_dir) {
    const fs::path from(from_dir), state(state_dir);
    BackupManifest m = read_manifest(from);
    // Only the names a backup writes: a manifest cannot place a file anywhere else.
    const auto keys = key_files();
    std::set<std::string> allowed(keys.begin(), keys.end());
    allowed.insert(kDatabase);
    std::set<std::string> seen;
    for (const auto& f : m.files) {
        if (!allowed.count(f.path) || !seen.insert(f.path).second)
            throw std::runtime_error((from / kManifest).string() + " names an unexpected file '" + f.path + "'");
        const auto path = (from / f.path).string();
        if (!fs::exists(path)) throw std::runtime_error("backup file " + path + " is missing");
        auto now = describe(from, f.path);
        if (now.size != f.size)
            throw std::runtime_error("backup file " + path + " has " + std::to_string(now.size) +
                                     " bytes, the manifest says " + std::to_string(f.size) + " (truncated or edited)");
        if (now.sha256 != f.sha256)
            throw std::runtime_error("backup file " + path + " does not match its SHA-256 in the manifest (edited)");
    }
    for (const auto& rel : key_files())
        if (!seen.count(rel)) throw std::runtime_error("the backup " + from_dir + " lacks " + rel);
    if (m.store == "sqlite" && !seen.count(kDatabase))
        throw std::runtime_error("the backup " + from_dir + " lacks its database " + kDatabase);

    make_private_dir(state, "the state directory");
    for (const auto& f : m.files) copy_private(from / f.path, state / f.path, f.mode);
    // Opening the store migrates a backup of an older schema now, not at the broker's first start.
    if (m.store == "sqlite") open_store((state / kDatabase).string());
    return m;
}

}  // namespace portico::broker

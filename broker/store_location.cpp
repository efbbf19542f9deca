// Which backend a store location names, how it may be logged, and copy-store: the one place that
// knows both backends exist (each backend knows only itself and store_rows.hpp).

#include "broker/store.hpp"
#include "broker/store_rows.hpp"

#include <filesystem>
#include <stdexcept>

namespace portico::broker {

bool is_postgres_location(const std::string& location) {
    return location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0;
}

std::string redacted_location(const std::string& location) {
    if (!is_postgres_location(location)) return location;
    std::string out = location;
    // postgresql://user:PASSWORD@host...: the userinfo ends at the first '@' before the path.
    auto scheme_end = out.find("://") + 3;
    auto path_start = out.find_first_of("/?", scheme_end);
    auto at = out.rfind('@', path_start == std::string::npos ? std::string::npos : path_start);
    if (at != std::string::npos && at >= scheme_end) {
        auto colon = out.find(':', scheme_end);
        if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
    // ...?password=PASSWORD&...
    for (std::size_t pos = out.find("password=", 0); pos != std::string::npos; pos = out.find("password=", pos + 1)) {
        if (pos == 0 || (out[pos - 1] != '?' && out[pos - 1] != '&')) continue;  // e.g. passfile= is not it
        auto value = pos + 9;
        auto end = out.find('&', value);
        out.replace(value, (end == std::string::npos ? out.size() : end) - value, "***");
    }
    return out;
}

std::unique_ptr<Store> open_store(const std::string& location) {
    return is_postgres_location(location) ? open_postgres_store(location) : open_sqlite_store(location);
}

std::vector<CopiedTable> copy_store(const std::string& sqlite_path, const std::string& postgres_url) {
    if (is_postgres_location(sqlite_path)) throw std::runtime_error("--from must be an SQLite file, not a URL");
    if (!is_postgres_location(postgres_url))
        throw std::runtime_error("--to must be a postgresql:// (or postgres://) URL");
    if (!std::filesystem::is_regular_file(sqlite_path))
        throw std::runtime_error("no SQLite database at " + sqlite_path);
    return write_postgres_tables(postgres_url, read_sqlite_tables(sqlite_path));
}

}  // namespace portico::broker

#pragma once
// What the two Store backends (sqlite_store.cpp, pg_store.cpp) share, so a row means the same
// thing in either: the column lists they select, the mapping of a selected row to the store's
// values (through any row type with text(i), integer(i) and real(i)), the JSON columns, the state
// and role texts, and the tables in the order copy_store fills them. Included by the backends
// only; nothing here knows a database library.
//
// "user" is quoted everywhere: a plain `user` is PostgreSQL's CURRENT_USER (a SELECT of it
// answers the database role's name, silently), while SQLite takes the quoted name as the column.

#include "broker/store.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace portico::broker::store_rows {

// The schema version both migration lists end at (each backend keeps its own list, same numbers).
inline constexpr int kSchemaVersion = 7;

inline constexpr const char* kSessionCols =
    "id, \"user\", resource, host_id, state, width, height, created_at, ended_at, updated_at, end_reason, ended_by, "
    "bytes_sent, avg_fps, avg_rtt_ms";
inline constexpr const char* kResourceCols = "id, name, type, command, icon, host_group";
inline constexpr const char* kHostCols =
    "id, name, state, drain, last_seen, cert_fingerprint, display_url, auth, apps, max_sessions, broker_id, live";
inline constexpr const char* kPoolCols =
    "p.id, r.name, r.icon, p.image, p.mode, p.size, p.spares, p.memory_mib, p.cpus "
    "FROM desktop_pools p JOIN resources r ON r.id = p.id";

// Every table of the schema (not schema_version), parents before the tables that refer to them:
// the order copy_store inserts in, so foreign keys hold after each row.
inline const std::vector<std::string>& tables_in_copy_order() {
    static const std::vector<std::string> t = {"users",
                                               "groups",
                                               "group_members",
                                               "resources",
                                               "user_entitlements",
                                               "group_entitlements",
                                               "desktop_pools",
                                               "desktop_assignments",
                                               "hosts",
                                               "sessions",
                                               "tickets",
                                               "enrollment_tokens",
                                               "audit",
                                               "login_sessions",
                                               "cluster_settings"};
    // Not bus_messages (they live seconds, between brokers running now), login_failures
    // (minutes of throttling) nor launch_tokens (a minute each).
    return t;
}

// One table's rows as text (nullopt = NULL), for copying between backends.
struct TableData {
    std::string name;
    std::vector<std::string> columns;
    std::vector<std::vector<std::optional<std::string>>> rows;
};

// The text forms in the columns are the ones states.hpp writes; the schemas' CHECKs allow no
// other, so a value that does not parse means a damaged database.
inline SessionState session_state_of(const std::string& text) {
    auto st = parse_session_state(text);
    if (!st) throw std::runtime_error("store: unknown session state '" + text + "'");
    return *st;
}

inline Role role_of(const std::string& text) {
    auto r = parse_role(text);
    if (!r) throw std::runtime_error("store: unknown role '" + text + "'");
    return *r;
}

// A JSON array of strings column (a resource's command, a host's apps); anything else reads as empty.
inline std::vector<std::string> json_strings(const std::string& text) {
    std::vector<std::string> out;
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_array())
        for (auto& a : j)
            if (a.is_string()) out.push_back(a.get<std::string>());
    return out;
}

inline std::string json_text(const std::vector<std::string>& words) { return nlohmann::json(words).dump(); }

// Rows selected with kSessionCols.
template <class Row>
SessionRecord read_session(Row& s) {
    SessionRecord r;
    r.id = s.text(0);
    r.user = s.text(1);
    r.resource = s.text(2);
    r.host_id = s.text(3);
    r.state = session_state_of(s.text(4));
    r.width = static_cast<int>(s.integer(5));
    r.height = static_cast<int>(s.integer(6));
    r.created_at = s.integer(7);
    r.ended_at = s.integer(8);
    r.updated_at = s.integer(9);
    r.end_reason = s.text(10);
    r.ended_by = s.text(11);
    r.usage.bytes_sent = s.integer(12);
    r.usage.avg_fps = s.real(13);
    r.usage.avg_rtt_ms = s.real(14);
    return r;
}

// Rows selected with kResourceCols.
template <class Row>
Resource read_resource(Row& s) {
    Resource r;
    r.id = s.text(0);
    r.name = s.text(1);
    r.type = s.text(2);
    r.command = json_strings(s.text(3));
    r.icon = s.text(4);
    r.host_group = s.text(5);
    return r;
}

// Rows selected with kHostCols.
template <class Row>
HostRecord read_host(Row& s) {
    HostRecord h;
    h.id = s.text(0);
    h.name = s.text(1);
    h.state = s.text(2);
    h.drain = s.integer(3) != 0;
    h.last_seen = s.integer(4);
    h.cert_fingerprint = s.text(5);
    h.display_url = s.text(6);
    h.auth = s.text(7);
    h.apps = json_strings(s.text(8));
    h.max_sessions = static_cast<int>(s.integer(9));
    h.broker_id = s.text(10);
    h.live = s.text(11);
    return h;
}

// Rows selected with kPoolCols.
template <class Row>
DesktopPool read_pool(Row& s) {
    DesktopPool p;
    p.id = s.text(0);
    p.name = s.text(1);
    p.icon = s.text(2);
    p.image = s.text(3);
    p.mode = s.text(4);
    p.size = static_cast<int>(s.integer(5));
    p.spares = static_cast<int>(s.integer(6));
    p.memory_mib = static_cast<int>(s.integer(7));
    p.cpus = static_cast<int>(s.integer(8));
    return p;
}

// Rows of `SELECT id, at, actor, action, target, source, detail FROM audit`.
template <class Row>
AuditEvent read_audit(Row& s) {
    return AuditEvent{s.integer(0), s.integer(1), s.text(2), s.text(3), s.text(4), s.text(5), s.text(6)};
}

}  // namespace portico::broker::store_rows

namespace portico::broker {

// The backends' entry points for copy_store (store_location.cpp), beside open_*_store (store.hpp).
// Every table of tables_in_copy_order(), from one read transaction of the (migrated) SQLite file.
std::vector<store_rows::TableData> read_sqlite_tables(const std::string& path);
// Inserts `tables` into the (migrated, empty) PostgreSQL database in one transaction; throws,
// copying nothing, if any table already holds a row. Returns the rows inserted per table.
std::vector<CopiedTable> write_postgres_tables(const std::string& url,
                                               const std::vector<store_rows::TableData>& tables);

}  // namespace portico::broker

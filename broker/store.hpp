#pragma once
// The broker's persistent state behind one interface (Store), with two backends: SQLite
// (sqlite_store.cpp, one file, the embedded default) and PostgreSQL (pg_store.cpp, libpq: one
// database shared by several brokers, issue 14). The services never see which one: the types here
// are plain values and enums (states.hpp), no SQL, sqlite or libpq type appears outside the two
// backends, and what they share (column lists, row mapping) is in store_rows.hpp. open_store()
// picks the backend from the location's form.
// Implementations are thread-safe; every call is one short statement or transaction and may
// block (disk, locks), so the broker calls the store only off its network threads: on the store
// executor (store_executor.hpp) or, next to an Argon2 hash (a login, a new password), on a
// password worker. A call that cannot get the
// database in time throws StoreBusy; any other failure throws std::runtime_error. Callers turn
// both into busy / internal errors at the executor boundary.

#include "broker/states.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace portico::broker {

// Thrown by a store call when the database stays locked (SQLITE_BUSY / SQLITE_LOCKED) past the
// store's busy timeout, or (PostgreSQL) cannot be reached after one reconnect, waited on a lock
// past lock_timeout, or kept failing a transaction on serialization conflicts: a passing
// condition, answered with 503 + Retry-After, never a crash.
struct StoreBusy : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// create_session of a desktop pool's session when the pool already has `size` live sessions:
// another broker took the last desktop between this broker's placement and its insert. The
// launch answers it as a full pool (no_host), not as a store failure.
struct PoolFull : std::runtime_error {
    PoolFull(const std::string& pool, std::int64_t size)
        : std::runtime_error("desktop pool " + pool + " is full (" + std::to_string(size) +
                             " live sessions; another broker took the last desktop)"),
          size(size) {}
    std::int64_t size;
};

struct Resource {
    std::string id, name, type;        // type: "app" or "desktop" (a DesktopPool)
    std::vector<std::string> command;  // argv for app sessions
    std::string icon, host_group;
};

// A desktop resource is a pool of VM desktops on the session hosts that have its golden image.
struct DesktopPool {
    std::string id, name, icon, image;
    std::string mode = "pooled";  // pooled: a fresh clone per session; dedicated: each user keeps a disk
    int size = 1;                 // at most this many live sessions at once
    int spares = 0;               // booted VMs each host keeps ready (pooled only)
    int memory_mib = 512, cpus = 1;
};

// What a session's stream used, accumulated by the broker from its host's figures (LiveStats)
// and kept with the session once it ends. Averages are over the time the session had viewers;
// empty when the host never reported the figure.
struct SessionUsage {
    std::int64_t bytes_sent = 0;
    std::optional<double> avg_fps, avg_rtt_ms;
};

struct SessionRecord {
    std::string id, user, resource, host_id;
    SessionState state = SessionState::starting;
    int width = 0, height = 0;
    std::int64_t created_at = 0, ended_at = 0, updated_at = 0;
    // Why it ended (end_reasons.hpp; empty while live or before this was recorded) and who ended
    // it (a user name; empty for the host, a timeout or the broker itself).
    std::string end_reason, ended_by;
    SessionUsage usage;  // written when it ends
};

struct UserRecord {
    std::string name;
    Role role = Role::user;
    std::int64_t created_at = 0;
    std::vector<std::string> groups;
};

struct GroupRecord {
    std::string name;
    std::vector<std::string> members;
};

struct Entitlement {
    std::string kind;  // "user" or "group"
    std::string name;
    bool operator==(const Entitlement&) const = default;
};

struct HostRecord {
    std::string id, name, state;  // state: up, down
    bool drain = false;
    std::int64_t last_seen = 0;  // unix seconds of the last heartbeat / state change / registration
    std::string cert_fingerprint, display_url, auth;
    std::vector<std::string> apps;
    int max_sessions = 0;
    // Several brokers (cluster.hpp): the broker holding the host's control connection (empty
    // while down) and the host as that broker last saw it (a JSON object: what placement and the
    // gateway need, and the load of the last heartbeat), so any broker can place on it.
    std::string broker_id;
    std::string live = "{}";
};

struct AuditEvent {
    std::int64_t id = 0, at = 0;
    std::string actor, action, target, from, detail;
};

struct AuditFilter {
    int limit = 100;
    std::int64_t before = 0;  // 0 = no bound
    std::string actor, action;
};

// Ended and lost sessions, most recently ended first. The cursor (before_ended_at, before_id) is
// the last row of the previous page: only rows after it in that order.
struct HistoryFilter {
    std::string user;                  // empty = anyone
    std::int64_t before_ended_at = 0;  // 0 = from the newest
    std::string before_id;
    int limit = 200;
};

struct SessionFilter {
    std::string user, host;             // empty = any
    std::optional<SessionState> state;  // nothing = every live state (is_live)
    int limit = 200;
};

struct EnrollmentToken {
    std::string id, host_id, created_by;
    std::int64_t created_at = 0, expires_at = 0;
};

// host_exists: the token was issued for any host, but the host id is already enrolled (only a
// token issued for that host id may re-enroll it).
enum class ConsumeResult { ok, unknown, used, expired, wrong_host, host_exists };

// A launch file's single-use token (launch_files.hpp) as stored: only its SHA-256 is kept.
struct LaunchToken {
    std::string user, resource;
    std::string session_id;  // a reconnect's session; empty for a new launch
    std::int64_t created_at = 0, expires_at = 0;
};

// consume_launch_token: the token (its user, resource, session) when this call used it up, else why not.
struct LaunchTokenUse {
    ConsumeResult result = ConsumeResult::unknown;  // ok, unknown, used or expired
    std::optional<LaunchToken> token;               // with ok
};

struct Principal {
    std::string name;
    Role role = Role::user;
};

// A display ticket as the store records it (its id, for audit and tracing a replay; the signed
// ticket itself is never stored).
struct IssuedTicket {
    std::string id, session_id, user;
    bool view_only = false;
    std::int64_t issued_at = 0, expires_at = 0;
};

// What a launch reads before it decides (launch_service.cpp): the resource, whether the user may
// launch it, the sessions of it the user could reconnect to (newest first), and how many live
// sessions the user has (for the per-user cap).
struct LaunchFacts {
    std::optional<Resource> resource;  // none: no resource has this id
    bool entitled = false;
    std::vector<SessionRecord> reconnectable;
    int live_sessions = 0;
};

class Store {
public:
    virtual ~Store() = default;

    virtual int schema_version() = 0;
    // How many calls may usefully run at once, on different threads: 1 for SQLite (one connection
    // behind a mutex: a second thread would only wait on it), the size of the connection pool for
    // PostgreSQL (calls wait on the server side by side). The broker reads a launch's facts on
    // launch readers of their own when this is above 1 (core.hpp).
    virtual int concurrent_calls() const = 0;

    // ---- users (create_user throws if the name exists) ----
    virtual void create_user(const std::string& name, const std::string& password_hash, std::int64_t now,
                             Role role = Role::user) = 0;
    virtual std::optional<std::string> password_hash(const std::string& name) = 0;
    // Replaces a user's password hash and signs the user out everywhere. False if no such user.
    virtual bool set_password_hash(const std::string& name, const std::string& password_hash) = 0;
    virtual bool set_role(const std::string& name, Role role) = 0;
    virtual std::optional<UserRecord> user(const std::string& name) = 0;
    virtual std::vector<UserRecord> users() = 0;
    virtual bool delete_user(const std::string& name) = 0;
    virtual int count_admins() = 0;

    // ---- login sessions, keyed by sha256_hex(token) ----
    virtual void create_login_session(const std::string& token_hash, const std::string& user, std::int64_t now,
                                      std::int64_t expires_at) = 0;
    virtual std::optional<std::string> login_session_user(const std::string& token_hash, std::int64_t now) = 0;
    // The user and role of a valid login session (one query: this runs on every API request).
    virtual std::optional<Principal> authenticate(const std::string& token_hash, std::int64_t now) = 0;
    virtual void delete_login_session(const std::string& token_hash) = 0;
    virtual int purge_expired_login_sessions(std::int64_t now) = 0;

    // ---- groups ----
    virtual bool create_group(const std::string& name, const std::vector<std::string>& members, std::int64_t now) = 0;
    virtual bool delete_group(const std::string& name) = 0;
    virtual std::vector<GroupRecord> groups() = 0;
    virtual std::optional<GroupRecord> group(const std::string& name) = 0;
    virtual bool add_member(const std::string& group, const std::string& user) = 0;     // false: no such group/user
    virtual bool remove_member(const std::string& group, const std::string& user) = 0;  // false: not a member

    // ---- resources and entitlements ----
    virtual void put_resource(const Resource& r) = 0;  // insert or replace (publish CLI, init)
    virtual bool create_resource(const Resource& r, const std::vector<Entitlement>& ents) = 0;  // false: id exists
    virtual bool update_resource(const Resource& r) = 0;                                        // false: no such id
    virtual bool delete_resource(const std::string& id) = 0;
    virtual std::vector<Resource> resources() = 0;
    virtual std::optional<Resource> resource(const std::string& id) = 0;
    virtual std::vector<Entitlement> entitlements(const std::string& resource) = 0;
    // Replaces all entitlements of a resource (one transaction). False if a principal is unknown.
    virtual bool set_entitlements(const std::string& resource, const std::vector<Entitlement>& ents) = 0;
    virtual bool is_entitled(const std::string& user, const std::string& resource) = 0;
    virtual std::vector<Resource> entitled_resources(const std::string& user) = 0;

    // ---- desktop pools (their resource row has type "desktop"; delete_resource removes a pool) ----
    // Creates or replaces the pool and its resource row in one transaction (the CLI). Throws if
    // the id belongs to an app.
    virtual void put_desktop_pool(const DesktopPool& p) = 0;
    virtual bool create_desktop_pool(const DesktopPool& p,
                                     const std::vector<Entitlement>& ents) = 0;  // false: id exists
    virtual bool update_desktop_pool(const DesktopPool& p) = 0;                  // false: no such pool
    virtual std::optional<DesktopPool> desktop_pool(const std::string& id) = 0;
    virtual std::vector<DesktopPool> desktop_pools() = 0;
    virtual int live_session_count(const std::string& resource) = 0;
    // The host that holds the user's dedicated desktop of a pool, once one was chosen.
    virtual std::optional<std::string> dedicated_host(const std::string& pool, const std::string& user) = 0;
    virtual void set_dedicated_host(const std::string& pool, const std::string& user, const std::string& host_id) = 0;

    // ---- display sessions ----
    // A desktop pool's session is checked against the pool's size and inserted in one
    // transaction (both backends; on PostgreSQL under the pool's row lock, so brokers sharing the
    // database cannot both take the last desktop): throws PoolFull when it has no room.
    virtual void create_session(const SessionRecord& s) = 0;
    virtual std::optional<SessionRecord> session(const std::string& id) = 0;
    // False if the session does not exist, is already in `state`, is final (ended/lost), or is
    // ending and `state` is not final.
    virtual bool set_session_state(const std::string& id, SessionState state, std::int64_t now) = 0;
    // A launch's answer, the broker's busiest write, in one transaction (one commit; one round
    // trip on PostgreSQL): the ticket's session becomes active if it is still starting (any other
    // state came later: a report or an end that this write must not undo, whichever thread wrote
    // first), the ticket is recorded (as record_ticket) and `event` is appended to the audit log,
    // even when the state does not change. False when the state did not change.
    virtual bool launch_answered(const IssuedTicket& ticket, std::int64_t now, const AuditEvent& event) = 0;
    virtual std::vector<SessionRecord> live_sessions_of(const std::string& user) = 0;
    // resource(), is_entitled(), reconnectable_sessions_for() and the count of live_sessions_of()
    // for one launch, by resource id. Not one snapshot (each read is its own, as when called one
    // by one); the point is the cost: PostgreSQL sends the four reads in one round trip (libpq
    // pipeline), SQLite (a local file, no round trips) calls them one after another.
    virtual LaunchFacts launch_facts(const std::string& user, const std::string& resource_id) = 0;
    // Sessions of a user for a resource one can reconnect to (active or disconnected), newest first.
    virtual std::vector<SessionRecord> reconnectable_sessions_for(const std::string& user,
                                                                  const std::string& resource) = 0;
    virtual std::vector<SessionRecord> sessions(const SessionFilter& f) = 0;
    virtual std::vector<SessionRecord> session_history(const HistoryFilter& f) = 0;
    // Records why a live session ends and who ended it, unless a reason is recorded already: the
    // first cause wins (an admin's log off, not the host's later "logged_off" report).
    virtual void set_end_reason(const std::string& id, const std::string& reason, const std::string& by) = 0;
    virtual void set_session_usage(const std::string& id, const SessionUsage& usage) = 0;
    // Marks every live session of the host lost (end reason host_lost unless one was recorded);
    // returns their ids.
    virtual std::vector<std::string> lose_sessions_of_host(const std::string& host_id, std::int64_t now) = 0;
    // A lost session of host_id that its host still runs (it came back): disconnected again, its
    // end forgotten. False if it is not a lost session of that host.
    virtual bool revive_session(const std::string& id, const std::string& host_id, std::int64_t now) = 0;
    // Live sessions in `state` whose last state change is at or before `before`.
    virtual std::vector<SessionRecord> sessions_in_state_since(SessionState state, std::int64_t before) = 0;
    // Live sessions whose host is not in `hosts` (after a broker restart).
    virtual std::vector<SessionRecord> live_sessions() = 0;
    virtual std::vector<std::pair<SessionState, int>> session_counts() = 0;  // state -> count

    // ---- launch tickets (issued ids, for audit and so a replay can be traced) ----
    virtual void record_ticket(const std::string& ticket_id, const std::string& session_id, const std::string& user,
                               bool view_only, std::int64_t now, std::int64_t expires_at) = 0;
    virtual int purge_expired_tickets(std::int64_t now) = 0;

    // ---- hosts ----
    // Keeps the drain flag of an existing row. A registration names its broker (h.broker_id),
    // taking the host over from whichever broker held it before.
    virtual void upsert_host(const HostRecord& h) = 0;
    virtual std::optional<HostRecord> host(const std::string& id) = 0;
    virtual std::vector<HostRecord> hosts() = 0;
    virtual bool set_host_drain(const std::string& id, bool drain) = 0;
    virtual bool delete_host(const std::string& id) = 0;
    virtual void mark_all_hosts_down(std::int64_t now) = 0;
    // Heartbeats through broker_id, many hosts at once (one round trip on PostgreSQL): each host's
    // live figures and last_seen, written only while that broker still holds it. One answer per
    // beat, in order; false: another broker has taken it over, or it was removed.
    struct HostBeat {
        std::string id, live;
    };
    virtual std::vector<bool> host_heartbeats(const std::vector<HostBeat>& beats, const std::string& broker_id,
                                              std::int64_t now) = 0;
    // The host is down, if broker_id still held it (false: another broker holds it now, or no row).
    virtual bool release_host(const std::string& id, const std::string& broker_id, std::int64_t now) = 0;
    // Hosts up whose broker wrote no heartbeat since `silent_since` (that broker died): marked
    // down, and returned, to exactly one caller however many brokers ask at once.
    virtual std::vector<std::string> take_silent_hosts(std::int64_t silent_since, std::int64_t now) = 0;

    // ---- failed logins, counted for every broker (identity.hpp) ----
    struct LoginFailures {
        int failures = 0;
        std::int64_t last_at = 0;  // unix seconds of the last one
    };
    virtual LoginFailures login_failures(const std::string& key) = 0;
    // One more failure of `key` (failures older than forget_before are forgotten first).
    virtual void add_login_failure(const std::string& key, std::int64_t now, std::int64_t forget_before) = 0;
    virtual void clear_login_failures(const std::string& key) = 0;
    virtual int purge_login_failures(std::int64_t before) = 0;

    // ---- between brokers (cluster.hpp) ----
    // A message too large for a notification, kept until its receiver takes it.
    virtual std::int64_t put_bus_message(const std::string& body, std::int64_t now) = 0;
    virtual std::optional<std::string> take_bus_message(std::int64_t id) = 0;
    virtual int purge_bus_messages(std::int64_t before) = 0;  // ones nobody took (their receiver died)
    // What every broker of one store must share (the ticket key, the host CA): records `value`
    // under `name` unless a value is recorded already, and returns the recorded one.
    virtual std::string agree_setting(const std::string& name, const std::string& value) = 0;

    // ---- enrollment tokens (only their SHA-256 is stored) ----
    virtual void create_enrollment_token(const EnrollmentToken& t, const std::string& token_hash) = 0;
    virtual std::vector<EnrollmentToken> enrollment_tokens(std::int64_t now) = 0;  // unused, unexpired
    // host_known: host_id already has a record; then only a token issued for host_id is accepted.
    virtual ConsumeResult consume_enrollment_token(const std::string& token_hash, const std::string& host_id,
                                                   std::int64_t now, bool host_known = false) = 0;

    // ---- launch-file tokens (only their SHA-256 is stored) ----
    virtual void create_launch_token(const std::string& token_hash, const LaunchToken& t) = 0;
    // Uses the token up: ok exactly once, for exactly one caller however many brokers ask at once;
    // a token used before reads `used`, one past expires_at `expired` (and is used up by the try).
    virtual LaunchTokenUse consume_launch_token(const std::string& token_hash, std::int64_t now) = 0;
    virtual int purge_launch_tokens(std::int64_t expired_before) = 0;

    // ---- audit (append-only) ----
    virtual void append_audit(const AuditEvent& e) = 0;
    virtual std::vector<AuditEvent> audit(const AuditFilter& f) = 0;
};

// True for a libpq connection URI (postgresql://... or postgres://...): a PostgreSQL store.
bool is_postgres_location(const std::string& location);
// The location as it may be logged: a URI's password (user:PASSWORD@, password=...) replaced by ***.
std::string redacted_location(const std::string& location);

// Opens the store at `location`: a PostgreSQL connection URI (is_postgres_location) or else the
// path of an SQLite file (created if needed). Either is migrated to the current schema version
// (the same numbers and schema on both). Throws on failure (StoreBusy: the database is unreachable).
std::unique_ptr<Store> open_store(const std::string& location);
std::unique_ptr<Store> open_sqlite_store(const std::string& path);   // WAL, foreign keys
std::unique_ptr<Store> open_postgres_store(const std::string& url);  // libpq URI

// copy-store: every table of the SQLite estate at `sqlite_path` (migrated first if older) into the
// PostgreSQL database at `postgres_url`, which must hold no rows yet, in one transaction. Returns
// the rows copied per table, in copy order. Throws (nothing copied) on a non-empty target or any error.
struct CopiedTable {
    std::string table;
    std::int64_t rows = 0;
};
std::vector<CopiedTable> copy_store(const std::string& sqlite_path, const std::string& postgres_url);

}  // namespace portico::broker

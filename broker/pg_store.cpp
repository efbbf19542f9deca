// The PostgreSQL Store (libpq): one database shared by several brokers (issue 14). A call costs
// the thread that makes it a wait on the server per round trip, so: a pool of connections (Lease,
// up to kConnections), one per call in progress, so that the store thread, the launch readers and
// the password workers wait side by side (core.hpp); statements of one call that do not need each
// other's results go in one libpq pipeline (exec_pipeline: one round trip); statements are
// prepared once per connection. Several threads of one broker are several connections, as several
// brokers are, and what keeps them correct together is in the database, not here:
//
//   - launch tickets: the ticket id is the primary key, so a second record of the same ticket
//     fails (unique_violation) whichever broker tries it: a ticket is single-use by construction.
//   - enrollment tokens: one `UPDATE ... SET used_at WHERE used_at IS NULL AND expires_at > now
//     RETURNING`: PostgreSQL row-locks the token, a concurrent consumer waits and then re-checks
//     `used_at IS NULL` on the new row version, finds it used and updates nothing: one winner.
//   - launch-file tokens: the same single `UPDATE ... WHERE used_at IS NULL RETURNING` as
//     enrollment tokens: one broker wins a token, every other one reads it used.
//   - session state: each change is one conditional UPDATE (the allowed-from states in its WHERE),
//     atomic for the same reason, so a late or racing report never revives a final state;
//     launch_answered puts the change, the ticket and its audit row in one transaction.
//   - pool capacity: create_session of a desktop pool's session locks the pool's row
//     (SELECT ... FOR UPDATE), counts its live sessions and inserts in one transaction, so two
//     brokers cannot both take the last desktop (live_session_count alone, read by one broker
//     before another's insert commits, could not promise that); the loser's create_session throws
//     PoolFull, which the launch answers as a full pool.
//   - everything else is a single statement (atomic on its own: upserts are INSERT ... ON
//     CONFLICT, create-if-absent is ON CONFLICT DO NOTHING counted by its row count) or a short
//     READ COMMITTED transaction whose invariants foreign keys and CHECKs hold.
// Nothing here needs SERIALIZABLE; a transaction that still loses a serialization or deadlock
// conflict (40001, 40P01: possible between row locks and foreign-key locks) is retried inside
// the store up to kConflictRetries times, then reported as StoreBusy (503 + Retry-After).
// A lost connection is reconnected once per call; the call is repeated when it cannot have taken
// effect (a read, or a transaction before its COMMIT), otherwise, and when the reconnect fails,
// the call throws StoreBusy (a pipelined transaction sends its COMMIT with the rest: never repeated).
// Values always travel as $n parameters (prepared statements), never in SQL text.

#include "broker/store.hpp"
#include "broker/store_rows.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace portico::broker {

namespace {

using store_rows::json_text;
using store_rows::kHostCols;
using store_rows::kPoolCols;
using store_rows::kResourceCols;
using store_rows::kSessionCols;
using store_rows::role_of;
using store_rows::session_state_of;

// Each entry moves the schema from version i to i+1, with the same numbers and the same resulting
// tables, columns and nullability as sqlite_store.cpp's list (unit test "schemas are the same").
// SQLite's INTEGER is BIGINT here, REAL is DOUBLE PRECISION, and where SQLite had to rebuild a
// table to change a constraint (2, 4), PostgreSQL alters it in place. Append, never edit.
const char* const kMigrations[] = {
    R"sql(
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE login_sessions (
        token_hash TEXT PRIMARY KEY,
        "user" TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
    );
    CREATE TABLE resources (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        type TEXT NOT NULL CHECK (type IN ('app', 'desktop')),
        command TEXT NOT NULL
    );
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        "user" TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        resource TEXT NOT NULL REFERENCES resources(id),
        host_id TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('starting', 'active', 'ended')),
        width BIGINT NOT NULL,
        height BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        ended_at BIGINT
    );
    CREATE INDEX sessions_by_user ON sessions("user", state);
    )sql",
    // 2: roles, groups, entitlements, hosts, richer session states, tickets, enrollment, audit.
    // Sessions lose their foreign key to resources (history outlives an unpublished app).
    R"sql(
    ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'helpdesk', 'user'));
    ALTER TABLE resources ADD COLUMN icon TEXT NOT NULL DEFAULT '';
    ALTER TABLE resources ADD COLUMN host_group TEXT NOT NULL DEFAULT '';
    CREATE TABLE groups (
        name TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE group_members (
        grp TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
        "user" TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        PRIMARY KEY (grp, "user")
    );
    CREATE INDEX group_members_by_user ON group_members("user");
    CREATE TABLE user_entitlements (
        resource TEXT NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
        "user" TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        PRIMARY KEY (resource, "user")
    );
    CREATE TABLE group_entitlements (
        resource TEXT NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
        grp TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
        PRIMARY KEY (resource, grp)
    );
    CREATE TABLE hosts (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('up', 'down')),
        drain BIGINT NOT NULL DEFAULT 0,
        last_seen BIGINT NOT NULL,
        cert_fingerprint TEXT NOT NULL DEFAULT '',
        display_url TEXT NOT NULL DEFAULT '',
        auth TEXT NOT NULL DEFAULT '',
        apps TEXT NOT NULL DEFAULT '[]',
        max_sessions BIGINT NOT NULL DEFAULT 0
    );
    ALTER TABLE sessions DROP CONSTRAINT sessions_resource_fkey;
    ALTER TABLE sessions DROP CONSTRAINT sessions_state_check;
    ALTER TABLE sessions ADD CONSTRAINT sessions_state_check
        CHECK (state IN ('starting', 'active', 'disconnected', 'ended', 'lost'));
    ALTER TABLE sessions ADD COLUMN updated_at BIGINT;
    UPDATE sessions SET updated_at = COALESCE(ended_at, created_at);
    ALTER TABLE sessions ALTER COLUMN updated_at SET NOT NULL;
    DROP INDEX sessions_by_user;
    CREATE INDEX sessions_by_user ON sessions("user", resource, state);
    CREATE INDEX sessions_by_host ON sessions(host_id, state);
    CREATE INDEX sessions_by_state ON sessions(state, updated_at);
    CREATE TABLE tickets (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        "user" TEXT NOT NULL,
        view_only BIGINT NOT NULL,
        issued_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
    );
    CREATE TABLE enrollment_tokens (
        id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        host_id TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT
    );
    CREATE TABLE audit (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        source TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    -- Append-only: the database itself refuses to change or delete audit events.
    CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'audit is append-only'; END $$;
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();
    CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
    )sql",
    // 3: desktop pools (VM desktops) and the host that holds each dedicated user's disk.
    R"sql(
    CREATE TABLE desktop_pools (
        id TEXT PRIMARY KEY REFERENCES resources(id) ON DELETE CASCADE,
        image TEXT NOT NULL,
        mode TEXT NOT NULL CHECK (mode IN ('pooled', 'dedicated')),
        size BIGINT NOT NULL CHECK (size >= 1),
        spares BIGINT NOT NULL CHECK (spares >= 0),
        memory_mib BIGINT NOT NULL,
        cpus BIGINT NOT NULL
    );
    CREATE TABLE desktop_assignments (
        pool TEXT NOT NULL REFERENCES desktop_pools(id) ON DELETE CASCADE,
        "user" TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        host_id TEXT NOT NULL,
        PRIMARY KEY (pool, "user")
    );
    CREATE INDEX sessions_by_resource ON sessions(resource, state);
    )sql",
    // 4: the "ending" state (a log off was sent, the host has not confirmed).
    R"sql(
    ALTER TABLE sessions DROP CONSTRAINT sessions_state_check;
    ALTER TABLE sessions ADD CONSTRAINT sessions_state_check
        CHECK (state IN ('starting', 'active', 'disconnected', 'ending', 'ended', 'lost'));
    )sql",
    // 5: session history: why a session ended, who ended it, and what its stream used.
    R"sql(
    ALTER TABLE sessions ADD COLUMN end_reason TEXT NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN ended_by TEXT NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN bytes_sent BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN avg_fps DOUBLE PRECISION;
    ALTER TABLE sessions ADD COLUMN avg_rtt_ms DOUBLE PRECISION;
    CREATE INDEX sessions_by_end ON sessions(ended_at, id);
    )sql",
    // 6: several brokers on one database: which broker holds each host and the host as it last
    // saw it, messages too large for a notification, the settings every broker must share, and
    // failed logins counted across brokers.
    R"sql(
    ALTER TABLE hosts ADD COLUMN broker_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE hosts ADD COLUMN live TEXT NOT NULL DEFAULT '{}';
    CREATE TABLE bus_messages (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        body TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE cluster_settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE login_failures (
        key TEXT PRIMARY KEY,
        failures BIGINT NOT NULL,
        last_at BIGINT NOT NULL
    );
    )sql",
    // 7: launch files' single-use tokens (the portal's "Open in the Portico app").
    R"sql(
    CREATE TABLE launch_tokens (
        token_hash TEXT PRIMARY KEY,
        "user" TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        resource TEXT NOT NULL,
        session_id TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT
    );
    CREATE INDEX launch_tokens_by_expiry ON launch_tokens(expires_at);
    )sql",
};
static_assert(std::size(kMigrations) == static_cast<std::size_t>(store_rows::kSchemaVersion));

// The advisory lock key that serialises migrations and copy-store ("portico" in ASCII): two
// brokers starting at once against an empty database queue on it, and the second finds the
// schema already at the current version.
constexpr std::int64_t kSchemaLock = 0x706f727469636f;
// The connections one store opens at most: calls on different threads (the store thread, the
// launch readers, the password workers: store_executor.hpp) then wait on the server side by side
// instead of one after another.
constexpr std::size_t kConnections = 6;
// How often a transaction is tried again after a serialization failure or a deadlock.
constexpr int kConflictRetries = 5;

// A failed statement whose SQLSTATE says the transaction lost a conflict and may simply be run again.
struct ConflictFailure : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// The connection went away under a statement.
struct ConnectionLost : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// Any other failed statement, with its SQLSTATE (e.g. 23505 unique_violation, 23503 foreign key).
struct PgError : std::runtime_error {
    PgError(const std::string& what, std::string state) : std::runtime_error(what), sqlstate(std::move(state)) {}
    std::string sqlstate;
};

// One positional parameter ($n) as text, or NULL.
struct Param {
    std::optional<std::string> text;
    Param(const std::string& s) : text(s) {}
    Param(const char* s) : text(std::string(s)) {}
    Param(std::int64_t v) : text(std::to_string(v)) {}
    Param(int v) : text(std::to_string(v)) {}
    Param(const std::optional<std::string>& s) : text(s) {}
    Param(const std::optional<double>& v) {
        if (v) {
            char buf[40];
            std::snprintf(buf, sizeof buf, "%.17g", *v);
            text = buf;
        }
    }
};

// One statement with its parameters, as a pipeline takes them.
struct Statement {
    std::string sql;
    std::vector<Param> params;
};

// A result in text format; rows read through row(i), which store_rows' readers take.
class PgResult {
public:
    explicit PgResult(PGresult* r) : r_(r) {}
    PgResult(PgResult&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
    PgResult(const PgResult&) = delete;
    PgResult& operator=(const PgResult&) = delete;
    ~PgResult() { PQclear(r_); }

    struct Row {
        const PGresult* r;
        int i;
        bool is_null(int c) const { return PQgetisnull(r, i, c) != 0; }
        std::string text(int c) const {
            return is_null(c) ? std::string()
                              : std::string(PQgetvalue(r, i, c), static_cast<std::size_t>(PQgetlength(r, i, c)));
        }
        // NULL reads as 0, as sqlite3_column_int64 does (an ended_at not yet set).
        std::int64_t integer(int c) const { return is_null(c) ? 0 : std::strtoll(PQgetvalue(r, i, c), nullptr, 10); }
        std::optional<double> real(int c) const {
            if (is_null(c)) return std::nullopt;
            return std::strtod(PQgetvalue(r, i, c), nullptr);
        }
        bool boolean(int c) const { return !is_null(c) && PQgetvalue(r, i, c)[0] == 't'; }
    };
    int rows() const { return PQntuples(r_); }
    ExecStatusType status() const { return r_ ? PQresultStatus(r_) : PGRES_FATAL_ERROR; }
    PGresult* release() {
        PGresult* r = r_;
        r_ = nullptr;
        return r;
    }
    Row row(int i) const { return Row{r_, i}; }
    // Rows an INSERT, UPDATE or DELETE touched.
    int affected() const {
        const char* n = PQcmdTuples(r_);
        return n && *n ? std::atoi(n) : 0;
    }

private:
    PGresult* r_;
};

// Each selected row mapped by `read`.
template <class Read>
auto all_rows(const PgResult& r, Read read) {
    std::vector<decltype(read(std::declval<PgResult::Row&>()))> out;
    for (int i = 0; i < r.rows(); ++i) {
        auto row = r.row(i);
        out.push_back(read(row));
    }
    return out;
}

// The first selected row mapped by `read`; none when nothing was selected.
template <class Read>
auto first_row(const PgResult& r, Read read) -> std::optional<decltype(read(std::declval<PgResult::Row&>()))> {
    if (r.rows() == 0) return std::nullopt;
    auto row = r.row(0);
    return read(row);
}

class PgStore final : public Store {
public:
    explicit PgStore(const std::string& url);
    int concurrent_calls() const override { return kConnections; }

    std::vector<CopiedTable> copy_in(const std::vector<store_rows::TableData>& tables);

    int schema_version() override;
    void create_user(const std::string& name, const std::string& hash, std::int64_t now, Role role) override;
    std::optional<std::string> password_hash(const std::string& name) override;
    bool set_password_hash(const std::string& name, const std::string& hash) override;
    bool set_role(const std::string& name, Role role) override;
    std::optional<UserRecord> user(const std::string& name) override;
    std::vector<UserRecord> users() override;
    bool delete_user(const std::string& name) override;
    int count_admins() override;
    void create_login_session(const std::string& token_hash, const std::string& user, std::int64_t now,
                              std::int64_t expires_at) override;
    std::optional<std::string> login_session_user(const std::string& token_hash, std::int64_t now) override;
    std::optional<Principal> authenticate(const std::string& token_hash, std::int64_t now) override;
    void delete_login_session(const std::string& token_hash) override;
    int purge_expired_login_sessions(std::int64_t now) override;
    bool create_group(const std::string& name, const std::vector<std::string>& members, std::int64_t now) override;
    bool delete_group(const std::string& name) override;
    std::vector<GroupRecord> groups() override;
    std::optional<GroupRecord> group(const std::string& name) override;
    bool add_member(const std::string& group, const std::string& user) override;
    bool remove_member(const std::string& group, const std::string& user) override;
    void put_resource(const Resource& r) override;
    bool create_resource(const Resource& r, const std::vector<Entitlement>& ents) override;
    bool update_resource(const Resource& r) override;
    bool delete_resource(const std::string& id) override;
    std::vector<Resource> resources() override;
    std::optional<Resource> resource(const std::string& id) override;
    std::vector<Entitlement> entitlements(const std::string& resource) override;
    bool set_entitlements(const std::string& resource, const std::vector<Entitlement>& ents) override;
    bool is_entitled(const std::string& user, const std::string& resource) override;
    std::vector<Resource> entitled_resources(const std::string& user) override;
    void put_desktop_pool(const DesktopPool& p) override;
    bool create_desktop_pool(const DesktopPool& p, const std::vector<Entitlement>& ents) override;
    bool update_desktop_pool(const DesktopPool& p) override;
    std::optional<DesktopPool> desktop_pool(const std::string& id) override;
    std::vector<DesktopPool> desktop_pools() override;
    int live_session_count(const std::string& resource) override;
    std::optional<std::string> dedicated_host(const std::string& pool, const std::string& user) override;
    void set_dedicated_host(const std::string& pool, const std::string& user, const std::string& host_id) override;
    void create_session(const SessionRecord& s) override;
    std::optional<SessionRecord> session(const std::string& id) override;
    bool set_session_state(const std::string& id, SessionState state, std::int64_t now) override;
    bool launch_answered(const IssuedTicket& ticket, std::int64_t now, const AuditEvent& event) override;
    std::vector<SessionRecord> live_sessions_of(const std::string& user) override;
    std::vector<SessionRecord> reconnectable_sessions_for(const std::string& user,
                                                          const std::string& resource) override;
    LaunchFacts launch_facts(const std::string& user, const std::string& resource_id) override;
    std::vector<SessionRecord> sessions(const SessionFilter& f) override;
    std::vector<SessionRecord> session_history(const HistoryFilter& f) override;
    void set_end_reason(const std::string& id, const std::string& reason, const std::string& by) override;
    void set_session_usage(const std::string& id, const SessionUsage& usage) override;
    std::vector<std::string> lose_sessions_of_host(const std::string& host_id, std::int64_t now) override;
    bool revive_session(const std::string& id, const std::string& host_id, std::int64_t now) override;
    std::vector<SessionRecord> sessions_in_state_since(SessionState state, std::int64_t before) override;
    std::vector<SessionRecord> live_sessions() override;
    std::vector<std::pair<SessionState, int>> session_counts() override;
    void record_ticket(const std::string& ticket_id, const std::string& session_id, const std::string& user,
                       bool view_only, std::int64_t now, std::int64_t expires_at) override;
    int purge_expired_tickets(std::int64_t now) override;
    void upsert_host(const HostRecord& h) override;
    std::optional<HostRecord> host(const std::string& id) override;
    std::vector<HostRecord> hosts() override;
    bool set_host_drain(const std::string& id, bool drain) override;
    bool delete_host(const std::string& id) override;
    void mark_all_hosts_down(std::int64_t now) override;
    std::vector<bool> host_heartbeats(const std::vector<HostBeat>& beats, const std::string& broker_id,
                                      std::int64_t now) override;
    bool release_host(const std::string& id, const std::string& broker_id, std::int64_t now) override;
    std::vector<std::string> take_silent_hosts(std::int64_t silent_since, std::int64_t now) override;
    LoginFailures login_failures(const std::string& key) override;
    void add_login_failure(const std::string& key, std::int64_t now, std::int64_t forget_before) override;
    void clear_login_failures(const std::string& key) override;
    int purge_login_failures(std::int64_t before) override;
    std::int64_t put_bus_message(const std::string& body, std::int64_t now) override;
    std::optional<std::string> take_bus_message(std::int64_t id) override;
    int purge_bus_messages(std::int64_t before) override;
    std::string agree_setting(const std::string& name, const std::string& value) override;
    void create_enrollment_token(const EnrollmentToken& t, const std::string& token_hash) override;
    std::vector<EnrollmentToken> enrollment_tokens(std::int64_t now) override;
    void create_launch_token(const std::string& token_hash, const LaunchToken& t) override;
    LaunchTokenUse consume_launch_token(const std::string& token_hash, std::int64_t now) override;
    int purge_launch_tokens(std::int64_t expired_before) override;
    ConsumeResult consume_enrollment_token(const std::string& token_hash, const std::string& host_id, std::int64_t now,
                                           bool host_known) override;
    void append_audit(const AuditEvent& e) override;
    std::vector<AuditEvent> audit(const AuditFilter& f) override;

private:
    // What a call is, for what may be repeated after a reconnect: a read always; a transaction
    // before its COMMIT was sent; a single write statement never (it may have committed).
    enum class Unit { read, write, transaction };

    void connect();
    void configure_session();
    std::string without_password(std::string text) const;  // a libpq message, the URL's password blanked
    void migrate();
    // Runs one statement (PQexecParams); throws ConflictFailure, ConnectionLost, StoreBusy or PgError.
    // A statement with parameters runs as a prepared statement of this connection (prepared on its
    // first use, kept until the connection goes): the server parses and plans it once, not on
    // every call, CPU it shares with the brokers on a small machine.
    PgResult exec(const std::string& sql, const std::vector<Param>& params = {});
    // The name of `sql` prepared on this connection, preparing it first if need be.
    const std::string& prepared(const std::string& sql, int params);
    PgResult exec(const Statement& s) { return exec(s.sql, s.params); }
    // Sends every statement at once and then reads their results, in order (libpq pipeline mode,
    // one Sync): one round trip to the server instead of one per statement, which is what a call
    // costs on the store thread (the server's work per statement is a fraction of the wait). The
    // statements must not depend on each other's results. A failed statement makes the server skip
    // the rest up to the Sync; its error is thrown as exec() would throw it. As a transaction
    // (`BEGIN` ... `COMMIT` around them): all or nothing, rolled back when one fails; its COMMIT
    // is sent with the rest, so a link lost during it leaves the outcome unknown: call it as
    // write(), never repeated.
    std::vector<PgResult> exec_pipeline(const std::vector<Statement>& statements, bool as_transaction = false);
    PgResult exec_script(const char* sql);  // several statements, no parameters (migrations)
    PgResult checked(PGresult* r, const char* what);
    void rollback_quietly();

    // The retry and reconnect policy around `f` (under the mutex). For Unit::transaction `f`
    // returns bool: true commits, false rolls back; run() returns it.
    template <class F>
    auto run(Unit kind, F&& f);
    template <class F>
    auto read(F&& f) {
        return run(Unit::read, std::forward<F>(f));
    }
    template <class F>
    auto write(F&& f) {
        return run(Unit::write, std::forward<F>(f));
    }
    template <class F>
    bool transaction(F&& f) {
        return run(Unit::transaction, std::forward<F>(f));
    }

    std::vector<std::string> groups_of(const std::string& user);
    std::vector<std::string> members_of(const std::string& group);
    void insert_entitlements(const std::string& resource, const std::vector<Entitlement>& ents);
    void upsert_pool_row(const DesktopPool& p);
    static Statement session_state_change(const std::string& id, SessionState state, std::int64_t now);
    static Statement audit_insert(const AuditEvent& e);
    static Statement ticket_insert(const IssuedTicket& t);
    static Statement live_sessions_of_query(const std::string& user);
    static Statement reconnectable_query(const std::string& user, const std::string& resource);
    static Statement resource_query(const std::string& id);
    static Statement entitled_query(const std::string& user, const std::string& resource);
    std::vector<SessionRecord> query_sessions(const std::string& where, const std::vector<Param>& params);

    // One connection of the pool and what belongs to it.
    struct Link {
        PGconn* conn = nullptr;                       // connected on its first use
        std::map<std::string, std::string> prepared;  // SQL text -> its prepared statement on conn
        bool committing = false;  // the statement in flight is a COMMIT (its outcome unknown if the link drops)
        Link() = default;
        Link(const Link&) = delete;
        Link& operator=(const Link&) = delete;
        ~Link() { PQfinish(conn); }
    };
    // A connection of the pool for the length of one call: waits for an idle one (or opens one
    // more, up to kConnections) and gives it back after. Every call holds one; what the calls
    // below use is the leased connection of their thread (link()).
    class Lease {
    public:
        explicit Lease(PgStore& store);
        ~Lease();
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;

    private:
        PgStore& store_;
        Link* previous_;
    };
    Link& link() const { return *leased_; }

    std::string url_;
    std::mutex pool_mu_;
    std::condition_variable pool_cv_;
    std::vector<std::unique_ptr<Link>> links_;  // all the connections opened (under pool_mu_)
    std::vector<Link*> idle_;                   // those no call holds (under pool_mu_)
    static thread_local Link* leased_;          // the connection the current call of this thread holds
};

thread_local PgStore::Link* PgStore::leased_ = nullptr;

PgStore::Lease::Lease(PgStore& store) : store_(store), previous_(leased_) {
    std::unique_lock lk(store.pool_mu_);
    store.pool_cv_.wait(lk, [&] { return !store.idle_.empty() || store.links_.size() < kConnections; });
    if (store.idle_.empty()) {
        store.links_.push_back(std::make_unique<Link>());
        leased_ = store.links_.back().get();
    } else {
        leased_ = store.idle_.back();  // the most recently used: its plans and caches are warm
        store.idle_.pop_back();
    }
}

PgStore::Lease::~Lease() {
    {
        std::lock_guard lk(store_.pool_mu_);
        store_.idle_.push_back(leased_);
    }
    leased_ = previous_;
    store_.pool_cv_.notify_one();
}

PgStore::PgStore(const std::string& url) : url_(url) {
    Lease lease(*this);
    connect();
    migrate();
}

void PgStore::connect() {
    // The URL's own parameters come last and win; ours are defaults.
    const char* keys[] = {"application_name", "connect_timeout", "dbname", nullptr};
    const char* values[] = {"portico-broker", "5", url_.c_str(), nullptr};
    PGconn* c = PQconnectdbParams(keys, values, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        std::string why = c ? PQerrorMessage(c) : "out of memory";
        while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
        PQfinish(c);
        throw StoreBusy("cannot connect to PostgreSQL at " + redacted_location(url_) + ": " + without_password(why));
    }
    PQfinish(link().conn);
    link().conn = c;
    link().prepared.clear();  // they belonged to the old connection
    // Server notices (e.g. "relation already exists, skipping") are not errors; libpq would print
    // them on stderr.
    PQsetNoticeProcessor(
        link().conn, [](void*, const char*) {}, nullptr);
    configure_session();
}

std::string PgStore::without_password(std::string text) const {
    // libpq's complaints about a malformed URI quote it, or the part it could not decode.
    const std::string shown = redacted_location(url_);
    auto replace_all = [&](const std::string& what, const std::string& with) {
        if (what.empty()) return;
        for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + with.size()))
            text.replace(pos, what.size(), with);
    };
    replace_all(url_, shown);
    if (shown != url_) {  // the URL holds a password: what differs between the two texts
        std::size_t head = 0, tail = 0;
        while (head < shown.size() && url_[head] == shown[head]) ++head;
        while (tail + head < shown.size() && tail + head < url_.size() &&
               url_[url_.size() - 1 - tail] == shown[shown.size() - 1 - tail])
            ++tail;
        replace_all(url_.substr(head, url_.size() - head - tail), "***");
    }
    return text;
}

void PgStore::configure_session() {
    // A row lock held by another broker is waited on as long as SQLite's busy timeout, then the
    // call is StoreBusy (503) rather than a request hanging on the store thread.
    checked(PQexec(link().conn, "SET lock_timeout = '2s'"), "postgresql: set lock_timeout");
    // Statements are prepared once per connection (exec()) to save parsing, but planned on every
    // call as before: a generic plan cached while a table was still small (a new database filling
    // up) can stay far worse than a custom one (measured: 300 µs against 9 µs for a user's sessions).
    checked(PQexec(link().conn, "SET plan_cache_mode = force_custom_plan"), "postgresql: set plan_cache_mode");
}

PgResult PgStore::checked(PGresult* r, const char* what) {
    auto status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return PgResult(r);
    PgResult owned(r);  // cleared on the way out
    std::string msg = std::string(what) + ": " + (r ? PQresultErrorMessage(r) : PQerrorMessage(link().conn));
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    if (PQstatus(link().conn) == CONNECTION_BAD) throw ConnectionLost(msg);
    const char* code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    std::string state = code ? code : "";
    if (state == "40001" || state == "40P01") throw ConflictFailure(msg);
    if (state.rfind("08", 0) == 0) throw ConnectionLost(msg);
    // lock_not_available (lock_timeout), query_canceled, too_many_connections, the server
    // shutting down or starting: passing conditions.
    if (state == "55P03" || state == "57014" || state == "53300" || state == "57P01" || state == "57P03")
        throw StoreBusy(msg);
    throw PgError(msg, state);
}

const std::string& PgStore::prepared(const std::string& sql, int params) {
    auto it = link().prepared.find(sql);
    if (it != link().prepared.end()) return it->second;
    std::string name = "portico_" + std::to_string(link().prepared.size());
    checked(PQprepare(link().conn, name.c_str(), sql.c_str(), params, nullptr), "postgresql: prepare");
    return link().prepared.emplace(sql, std::move(name)).first->second;
}

PgResult PgStore::exec(const std::string& sql, const std::vector<Param>& params) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p.text ? p.text->c_str() : nullptr);
    const int n = static_cast<int>(values.size());
    if (n == 0)
        return checked(PQexecParams(link().conn, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0), "postgresql");
    return checked(PQexecPrepared(link().conn, prepared(sql, n).c_str(), n, values.data(), nullptr, nullptr, 0),
                   "postgresql");
}

std::vector<PgResult> PgStore::exec_pipeline(const std::vector<Statement>& statements, bool as_transaction) {
    // The protocol went wrong (a send failed, a result is missing): the connection cannot be
    // trusted to be in step any more, so it goes, and run() reconnects on the next call.
    auto out_of_step = [&](const char* what) {
        std::string msg = std::string("postgresql pipeline: ") + what + ": " + PQerrorMessage(link().conn);
        while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
        PQfinish(link().conn);
        link().conn = nullptr;
        link().prepared.clear();
        return ConnectionLost(msg);
    };
    std::vector<const Statement*> sent;
    static const Statement kBegin{"BEGIN", {}}, kCommit{"COMMIT", {}};
    if (as_transaction) sent.push_back(&kBegin);
    for (const auto& st : statements) sent.push_back(&st);
    if (as_transaction) sent.push_back(&kCommit);

    // Prepared first (a round trip each, once per connection), outside the pipeline.
    for (const auto* st : sent)
        if (!st->params.empty()) prepared(st->sql, static_cast<int>(st->params.size()));
    if (PQenterPipelineMode(link().conn) != 1) throw out_of_step("cannot enter pipeline mode");
    for (const auto* st : sent) {
        std::vector<const char*> values;
        values.reserve(st->params.size());
        for (const auto& p : st->params) values.push_back(p.text ? p.text->c_str() : nullptr);
        const int n = static_cast<int>(values.size());
        const int queued =
            n == 0
                ? PQsendQueryParams(link().conn, st->sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0)
                : PQsendQueryPrepared(link().conn, prepared(st->sql, n).c_str(), n, values.data(), nullptr, nullptr, 0);
        if (queued != 1) throw out_of_step("cannot send a statement");
    }
    if (PQpipelineSync(link().conn) != 1) throw out_of_step("cannot send the sync");
    // Each statement's result is followed by a NULL; a statement skipped after an error answers
    // PGRES_PIPELINE_ABORTED; the Sync answers PGRES_PIPELINE_SYNC last.
    std::vector<PgResult> raw;
    raw.reserve(sent.size());
    for (std::size_t i = 0; i < sent.size(); ++i) {
        PGresult* r = PQgetResult(link().conn);
        if (!r) throw out_of_step("a result is missing");
        raw.emplace_back(r);
        while (PGresult* extra = PQgetResult(link().conn)) PQclear(extra);
    }
    PgResult sync(PQgetResult(link().conn));
    if (sync.status() != PGRES_PIPELINE_SYNC || PQexitPipelineMode(link().conn) != 1)
        throw out_of_step("the pipeline did not end in step");

    std::vector<PgResult> out;
    out.reserve(statements.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
        // The first failure is the one that counts (the rest were skipped because of it); a
        // transaction that failed is left aborted by the Sync and rolled back here.
        if (raw[i].status() != PGRES_COMMAND_OK && raw[i].status() != PGRES_TUPLES_OK && as_transaction &&
            PQstatus(link().conn) == CONNECTION_OK) {
            PGresult* failed = raw[i].release();
            rollback_quietly();
            checked(failed, "postgresql");  // throws
        }
        auto ok = checked(raw[i].release(), "postgresql");
        const bool framing = as_transaction && (i == 0 || i + 1 == raw.size());
        if (!framing) out.push_back(std::move(ok));
    }
    return out;
}

PgResult PgStore::exec_script(const char* sql) { return checked(PQexec(link().conn, sql), "postgresql migration"); }

void PgStore::rollback_quietly() {
    if (link().conn && PQstatus(link().conn) == CONNECTION_OK) PQclear(PQexec(link().conn, "ROLLBACK"));
}

template <class F>
auto PgStore::run(Unit kind, F&& f) {
    bool reconnected = false;
    // A connection that broke while idle (a server restart) is noticed here or by the first statement.
    if (PQstatus(link().conn) != CONNECTION_OK) {
        connect();  // throws StoreBusy if the server is still unreachable
        reconnected = true;
    }
    for (int conflicts = 0;;) {
        link().committing = false;
        try {
            if constexpr (std::is_same_v<std::decay_t<decltype(f())>, bool>) {
                if (kind == Unit::transaction) {
                    exec("BEGIN");
                    if (!f()) {
                        exec("ROLLBACK");
                        return false;
                    }
                    link().committing = true;
                    exec("COMMIT");
                    link().committing = false;
                    return true;
                }
            }
            return f();
        } catch (const ConflictFailure& e) {
            rollback_quietly();
            if (++conflicts < kConflictRetries) continue;
            throw StoreBusy(std::string("postgresql: still conflicting after retries: ") + e.what());
        } catch (const ConnectionLost& e) {
            bool may_repeat = kind == Unit::read || (kind == Unit::transaction && !link().committing);
            if (!reconnected) {
                reconnected = true;
                connect();  // throws StoreBusy if it fails
                if (may_repeat) continue;
            }
            throw StoreBusy(std::string("postgresql: connection lost: ") + e.what());
        } catch (...) {
            if (kind == Unit::transaction) rollback_quietly();
            throw;
        }
    }
}

void PgStore::migrate() {
    const auto count = static_cast<std::int64_t>(std::size(kMigrations));
    // One transaction per version, each under the schema lock: a broker that waited on it re-reads
    // the version and applies only what is still missing (usually nothing).
    for (bool done = false; !done;) {
        transaction([&] {
            exec("SET LOCAL lock_timeout = 0");  // waiting for another broker's migration is fine
            exec("SELECT pg_advisory_xact_lock($1)", {kSchemaLock});
            exec("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)");
            auto r = exec("SELECT COALESCE(MAX(version), 0) FROM schema_version");
            auto current = r.row(0).integer(0);
            if (current > count) throw std::runtime_error("database schema is newer than this broker");
            if (current == count) {
                done = true;
                return true;
            }
            exec_script(kMigrations[current]);
            exec("INSERT INTO schema_version(version) VALUES ($1)", {current + 1});
            return true;
        });
    }
}

int PgStore::schema_version() {
    Lease lease(*this);
    return read([&] {
        return static_cast<int>(exec("SELECT COALESCE(MAX(version), 0) FROM schema_version").row(0).integer(0));
    });
}

// ---- users ----

void PgStore::create_user(const std::string& name, const std::string& hash, std::int64_t now, Role role) {
    Lease lease(*this);
    write([&] {
        exec("INSERT INTO users(name, password_hash, created_at, role) VALUES ($1, $2, $3, $4)",
             {name, hash, now, to_string(role)});
        return true;
    });
}

std::optional<std::string> PgStore::password_hash(const std::string& name) {
    Lease lease(*this);
    return read([&] {
        return first_row(exec("SELECT password_hash FROM users WHERE name = $1", {name}),
                         [](auto& row) { return row.text(0); });
    });
}

bool PgStore::set_password_hash(const std::string& name, const std::string& hash) {
    Lease lease(*this);
    return transaction([&] {
        if (exec("UPDATE users SET password_hash = $1 WHERE name = $2", {hash, name}).affected() == 0) return false;
        exec("DELETE FROM login_sessions WHERE \"user\" = $1", {name});
        return true;
    });
}

bool PgStore::set_role(const std::string& name, Role role) {
    Lease lease(*this);
    return write([&] {
        return exec("UPDATE users SET role = $1 WHERE name = $2", {to_string(role), name}).affected() > 0;
    });
}

std::vector<std::string> PgStore::groups_of(const std::string& user) {
    return all_rows(exec("SELECT grp FROM group_members WHERE \"user\" = $1 ORDER BY grp", {user}),
                    [](auto& row) { return row.text(0); });
}

std::vector<std::string> PgStore::members_of(const std::string& group) {
    return all_rows(exec("SELECT \"user\" FROM group_members WHERE grp = $1 ORDER BY \"user\"", {group}),
                    [](auto& row) { return row.text(0); });
}

std::optional<UserRecord> PgStore::user(const std::string& name) {
    Lease lease(*this);
    return read([&] {
        auto u = first_row(exec("SELECT name, role, created_at FROM users WHERE name = $1", {name}), [](auto& row) {
            return UserRecord{row.text(0), role_of(row.text(1)), row.integer(2), {}};
        });
        if (u) u->groups = groups_of(u->name);
        return u;
    });
}

std::vector<UserRecord> PgStore::users() {
    Lease lease(*this);
    return read([&] {
        auto out = all_rows(exec("SELECT name, role, created_at FROM users ORDER BY name"), [](auto& row) {
            return UserRecord{row.text(0), role_of(row.text(1)), row.integer(2), {}};
        });
        // One query for every membership rather than one per user.
        auto m = exec("SELECT \"user\", grp FROM group_members ORDER BY \"user\", grp");
        for (int i = 0; i < m.rows(); ++i) {
            auto row = m.row(i);
            auto it = std::find_if(out.begin(), out.end(), [&](const UserRecord& u) { return u.name == row.text(0); });
            if (it != out.end()) it->groups.push_back(row.text(1));
        }
        return out;
    });
}

bool PgStore::delete_user(const std::string& name) {
    Lease lease(*this);
    return write([&] { return exec("DELETE FROM users WHERE name = $1", {name}).affected() > 0; });
}

int PgStore::count_admins() {
    Lease lease(*this);
    return read(
        [&] { return static_cast<int>(exec("SELECT COUNT(*) FROM users WHERE role = 'admin'").row(0).integer(0)); });
}

// ---- login sessions ----

void PgStore::create_login_session(const std::string& token_hash, const std::string& user, std::int64_t now,
                                   std::int64_t expires_at) {
    Lease lease(*this);
    write([&] {
        exec("INSERT INTO login_sessions(token_hash, \"user\", created_at, expires_at) VALUES ($1, $2, $3, $4)",
             {token_hash, user, now, expires_at});
        return true;
    });
}

std::optional<std::string> PgStore::login_session_user(const std::string& token_hash, std::int64_t now) {
    Lease lease(*this);
    return read([&] {
        return first_row(
            exec("SELECT \"user\" FROM login_sessions WHERE token_hash = $1 AND expires_at > $2", {token_hash, now}),
            [](auto& row) { return row.text(0); });
    });
}

std::optional<Principal> PgStore::authenticate(const std::string& token_hash, std::int64_t now) {
    Lease lease(*this);
    return read([&] {
        return first_row(exec("SELECT u.name, u.role FROM login_sessions l JOIN users u ON u.name = l.\"user\" "
                              "WHERE l.token_hash = $1 AND l.expires_at > $2",
                              {token_hash, now}),
                         [](auto& row) {
                             return Principal{row.text(0), role_of(row.text(1))};
                         });
    });
}

void PgStore::delete_login_session(const std::string& token_hash) {
    Lease lease(*this);
    write([&] {
        exec("DELETE FROM login_sessions WHERE token_hash = $1", {token_hash});
        return true;
    });
}

int PgStore::purge_expired_login_sessions(std::int64_t now) {
    Lease lease(*this);
    return write([&] { return exec("DELETE FROM login_sessions WHERE expires_at <= $1", {now}).affected(); });
}

// ---- groups ----

bool PgStore::create_group(const std::string& name, const std::vector<std::string>& members, std::int64_t now) {
    Lease lease(*this);
    return transaction([&] {
        if (exec("INSERT INTO groups(name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", {name, now})
                .affected() == 0)
            return false;
        for (const auto& m : members)
            exec("INSERT INTO group_members(grp, \"user\") VALUES ($1, $2) ON CONFLICT DO NOTHING", {name, m});
        return true;
    });
}

bool PgStore::delete_group(const std::string& name) {
    Lease lease(*this);
    return write([&] { return exec("DELETE FROM groups WHERE name = $1", {name}).affected() > 0; });
}

std::vector<GroupRecord> PgStore::groups() {
    Lease lease(*this);
    return read([&] {
        auto out = all_rows(exec("SELECT name FROM groups ORDER BY name"), [](auto& row) {
            return GroupRecord{row.text(0), {}};
        });
        for (auto& g : out) g.members = members_of(g.name);
        return out;
    });
}

std::optional<GroupRecord> PgStore::group(const std::string& name) {
    Lease lease(*this);
    return read([&]() -> std::optional<GroupRecord> {
        if (exec("SELECT 1 FROM groups WHERE name = $1", {name}).rows() == 0) return std::nullopt;
        return GroupRecord{name, members_of(name)};
    });
}

bool PgStore::add_member(const std::string& group, const std::string& user) {
    Lease lease(*this);
    return write([&] {
        try {
            exec("INSERT INTO group_members(grp, \"user\") VALUES ($1, $2) ON CONFLICT DO NOTHING", {group, user});
            return true;
        } catch (const PgError& e) {
            if (e.sqlstate == "23503") return false;  // no such group or user (foreign key)
            throw;
        }
    });
}

bool PgStore::remove_member(const std::string& group, const std::string& user) {
    Lease lease(*this);
    return write([&] {
        return exec("DELETE FROM group_members WHERE grp = $1 AND \"user\" = $2", {group, user}).affected() > 0;
    });
}

// ---- resources and entitlements ----

void PgStore::put_resource(const Resource& r) {
    Lease lease(*this);
    // An upsert, not delete + insert: that would cascade away the resource's entitlements.
    write([&] {
        exec(
            "INSERT INTO resources(id, name, type, command, icon, host_group) VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, type = excluded.type, command = excluded.command, "
            "icon = excluded.icon, host_group = excluded.host_group",
            {r.id, r.name, r.type, json_text(r.command), r.icon, r.host_group});
        return true;
    });
}

void PgStore::insert_entitlements(const std::string& resource, const std::vector<Entitlement>& ents) {
    for (const auto& e : ents)
        exec(e.kind == "user"
                 ? "INSERT INTO user_entitlements(resource, \"user\") VALUES ($1, $2) ON CONFLICT DO NOTHING"
                 : "INSERT INTO group_entitlements(resource, grp) VALUES ($1, $2) ON CONFLICT DO NOTHING",
             {resource, e.name});
}

bool PgStore::create_resource(const Resource& r, const std::vector<Entitlement>& ents) {
    Lease lease(*this);
    return transaction([&] {
        if (exec("INSERT INTO resources(id, name, type, command, icon, host_group) VALUES ($1, $2, $3, $4, $5, $6) "
                 "ON CONFLICT (id) DO NOTHING",
                 {r.id, r.name, r.type, json_text(r.command), r.icon, r.host_group})
                .affected() == 0)
            return false;
        insert_entitlements(r.id, ents);
        return true;
    });
}

bool PgStore::update_resource(const Resource& r) {
    Lease lease(*this);
    return write([&] {
        return exec("UPDATE resources SET name = $1, command = $2, icon = $3, host_group = $4 WHERE id = $5",
                    {r.name, json_text(r.command), r.icon, r.host_group, r.id})
                   .affected() > 0;
    });
}

bool PgStore::delete_resource(const std::string& id) {
    Lease lease(*this);
    return write([&] { return exec("DELETE FROM resources WHERE id = $1", {id}).affected() > 0; });
}

std::vector<Resource> PgStore::resources() {
    Lease lease(*this);
    return read([&] {
        return all_rows(exec(std::string("SELECT ") + kResourceCols + " FROM resources ORDER BY name"),
                        [](auto& row) { return store_rows::read_resource(row); });
    });
}

Statement PgStore::resource_query(const std::string& id) {
    return {std::string("SELECT ") + kResourceCols + " FROM resources WHERE id = $1", {id}};
}

std::optional<Resource> PgStore::resource(const std::string& id) {
    Lease lease(*this);
    return read(
        [&] { return first_row(exec(resource_query(id)), [](auto& row) { return store_rows::read_resource(row); }); });
}

std::vector<Entitlement> PgStore::entitlements(const std::string& resource) {
    Lease lease(*this);
    return read([&] {
        return all_rows(exec("SELECT 'group'::text, grp FROM group_entitlements WHERE resource = $1 "
                             "UNION ALL SELECT 'user'::text, \"user\" FROM user_entitlements WHERE resource = $1 "
                             "ORDER BY 1, 2",
                             {resource}),
                        [](auto& row) {
                            return Entitlement{row.text(0), row.text(1)};
                        });
    });
}

bool PgStore::set_entitlements(const std::string& resource, const std::vector<Entitlement>& ents) {
    Lease lease(*this);
    // All or nothing: an unknown principal is a foreign-key violation that rolls the whole
    // replacement back (also when another broker deletes the principal meanwhile).
    try {
        return transaction([&] {
            exec("DELETE FROM user_entitlements WHERE resource = $1", {resource});
            exec("DELETE FROM group_entitlements WHERE resource = $1", {resource});
            insert_entitlements(resource, ents);
            return true;
        });
    } catch (const PgError& e) {
        if (e.sqlstate == "23503") return false;
        throw;
    }
}

Statement PgStore::entitled_query(const std::string& user, const std::string& resource) {
    return {
        "SELECT EXISTS(SELECT 1 FROM user_entitlements WHERE resource = $1 AND \"user\" = $2) OR "
        "EXISTS(SELECT 1 FROM group_entitlements e JOIN group_members m ON m.grp = e.grp "
        "WHERE e.resource = $1 AND m.\"user\" = $2)",
        {resource, user}};
}

bool PgStore::is_entitled(const std::string& user, const std::string& resource) {
    Lease lease(*this);
    return read([&] { return exec(entitled_query(user, resource)).row(0).boolean(0); });
}

std::vector<Resource> PgStore::entitled_resources(const std::string& user) {
    Lease lease(*this);
    return read([&] {
        return all_rows(exec(std::string("SELECT ") + kResourceCols +
                                 " FROM resources WHERE id IN ("
                                 "SELECT resource FROM user_entitlements WHERE \"user\" = $1 UNION "
                                 "SELECT e.resource FROM group_entitlements e JOIN group_members m ON m.grp = e.grp "
                                 "WHERE m.\"user\" = $1) ORDER BY name",
                             {user}),
                        [](auto& row) { return store_rows::read_resource(row); });
    });
}

// ---- desktop pools ----

void PgStore::upsert_pool_row(const DesktopPool& p) {
    exec(
        "INSERT INTO desktop_pools(id, image, mode, size, spares, memory_mib, cpus) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (id) DO UPDATE SET image = excluded.image, mode = excluded.mode, size = excluded.size, "
        "spares = excluded.spares, memory_mib = excluded.memory_mib, cpus = excluded.cpus",
        {p.id, p.image, p.mode, p.size, p.spares, p.memory_mib, p.cpus});
}

void PgStore::put_desktop_pool(const DesktopPool& p) {
    Lease lease(*this);
    transaction([&] {
        // The update half applies only to a desktop: an app with this id is left alone and refused.
        if (exec("INSERT INTO resources(id, name, type, command, icon, host_group) "
                 "VALUES ($1, $2, 'desktop', '[]', $3, '') "
                 "ON CONFLICT (id) DO UPDATE SET name = excluded.name, icon = excluded.icon "
                 "WHERE resources.type = 'desktop'",
                 {p.id, p.name, p.icon})
                .affected() == 0)
            throw std::runtime_error("resource '" + p.id + "' exists and is not a desktop");
        upsert_pool_row(p);
        return true;
    });
}

bool PgStore::create_desktop_pool(const DesktopPool& p, const std::vector<Entitlement>& ents) {
    Lease lease(*this);
    return transaction([&] {
        if (exec("INSERT INTO resources(id, name, type, command, icon, host_group) "
                 "VALUES ($1, $2, 'desktop', '[]', $3, '') ON CONFLICT (id) DO NOTHING",
                 {p.id, p.name, p.icon})
                .affected() == 0)
            return false;
        upsert_pool_row(p);
        insert_entitlements(p.id, ents);
        return true;
    });
}

bool PgStore::update_desktop_pool(const DesktopPool& p) {
    Lease lease(*this);
    return transaction([&] {
        if (exec("UPDATE resources SET name = $1, icon = $2 WHERE id = $3 AND type = 'desktop'", {p.name, p.icon, p.id})
                .affected() == 0)
            return false;
        upsert_pool_row(p);
        return true;
    });
}

std::optional<DesktopPool> PgStore::desktop_pool(const std::string& id) {
    Lease lease(*this);
    return read([&] {
        return first_row(exec(std::string("SELECT ") + kPoolCols + " WHERE p.id = $1", {id}),
                         [](auto& row) { return store_rows::read_pool(row); });
    });
}

std::vector<DesktopPool> PgStore::desktop_pools() {
    Lease lease(*this);
    return read([&] {
        return all_rows(exec(std::string("SELECT ") + kPoolCols + " ORDER BY p.id"),
                        [](auto& row) { return store_rows::read_pool(row); });
    });
}

int PgStore::live_session_count(const std::string& resource) {
    Lease lease(*this);
    return read([&] {
        return static_cast<int>(
            exec(
                "SELECT COUNT(*) FROM sessions WHERE resource = $1 AND state IN ('starting', 'active', 'disconnected')",
                {resource})
                .row(0)
                .integer(0));
    });
}

std::optional<std::string> PgStore::dedicated_host(const std::string& pool, const std::string& user) {
    Lease lease(*this);
    return read([&] {
        return first_row(
            exec("SELECT host_id FROM desktop_assignments WHERE pool = $1 AND \"user\" = $2", {pool, user}),
            [](auto& row) { return row.text(0); });
    });
}

void PgStore::set_dedicated_host(const std::string& pool, const std::string& user, const std::string& host_id) {
    Lease lease(*this);
    write([&] {
        exec(
            "INSERT INTO desktop_assignments(pool, \"user\", host_id) VALUES ($1, $2, $3) "
            "ON CONFLICT (pool, \"user\") DO UPDATE SET host_id = excluded.host_id",
            {pool, user, host_id});
        return true;
    });
}

// ---- sessions ----

void PgStore::create_session(const SessionRecord& s) {
    Lease lease(*this);
    // A desktop pool's session: the pool's row lock makes check-and-insert one step across
    // brokers. One pipelined transaction (one round trip, a launch's hot path): the lock is taken
    // by the first statement, and the INSERT, a statement of its own under READ COMMITTED, counts
    // the live sessions in a snapshot taken after the lock was granted, so it sees the session of
    // a broker that held the lock before. The INSERT adds no row when the pool is full; an app
    // (no pool row) is not limited.
    std::vector<PgResult> r = write([&] {
        return exec_pipeline(
            {{"SELECT size FROM desktop_pools WHERE id = $1 FOR UPDATE", {s.resource}},
             {"INSERT INTO sessions(id, \"user\", resource, host_id, state, width, height, created_at, updated_at) "
              "SELECT $1, $2, $3, $4, $5, $6, $7, $8, $8 "
              "WHERE NOT EXISTS (SELECT 1 FROM desktop_pools WHERE id = $3) "
              "OR (SELECT COUNT(*) FROM sessions WHERE resource = $3 "
              "AND state IN ('starting', 'active', 'disconnected')) < (SELECT size FROM desktop_pools WHERE id = $3)",
              {s.id, s.user, s.resource, s.host_id, to_string(s.state), s.width, s.height, s.created_at}}},
            true);
    });
    if (r[1].affected() == 0) {
        const std::int64_t size = r[0].rows() > 0 ? r[0].row(0).integer(0) : 0;
        throw PoolFull(s.resource, size);
    }
}

std::optional<SessionRecord> PgStore::session(const std::string& id) {
    Lease lease(*this);
    return read([&] {
        return first_row(exec(std::string("SELECT ") + kSessionCols + " FROM sessions WHERE id = $1", {id}),
                         [](auto& row) { return store_rows::read_session(row); });
    });
}

// The change of a session's state: one conditional UPDATE that touches no row when it may not happen.
Statement PgStore::session_state_change(const std::string& id, SessionState new_state, std::int64_t now) {
    const std::string state = to_string(new_state);
    if (!is_live(new_state))
        return {
            "UPDATE sessions SET state = $1, ended_at = $2, updated_at = $2 WHERE id = $3 "
            "AND state NOT IN ('ended', 'lost')",
            {state, now, id}};
    // Once "ending", only a final state follows (a late report of activity must not revive it).
    return {
        "UPDATE sessions SET state = $1, updated_at = $2 WHERE id = $3 "
        "AND state NOT IN ('ended', 'lost', 'ending') AND state != $1",
        {state, now, id}};
}

bool PgStore::set_session_state(const std::string& id, SessionState state, std::int64_t now) {
    Lease lease(*this);
    return write([&] { return exec(session_state_change(id, state, now)).affected() > 0; });
}

bool PgStore::launch_answered(const IssuedTicket& t, std::int64_t now, const AuditEvent& event) {
    Lease lease(*this);
    // One pipelined transaction: a launch's answer costs one round trip, not six.
    return write([&] {
        return exec_pipeline(
                   {{"UPDATE sessions SET state = 'active', updated_at = $1 WHERE id = $2 AND state = 'starting'",
                     {now, t.session_id}},
                    ticket_insert(t),
                    audit_insert(event)},
                   true)[0]
                   .affected() > 0;
    });
}

std::vector<SessionRecord> PgStore::query_sessions(const std::string& where, const std::vector<Param>& params) {
    return read([&] {
        return all_rows(exec(std::string("SELECT ") + kSessionCols + " FROM sessions WHERE " + where, params),
                        [](auto& row) { return store_rows::read_session(row); });
    });
}

Statement PgStore::live_sessions_of_query(const std::string& user) {
    return {std::string("SELECT ") + kSessionCols +
                " FROM sessions WHERE \"user\" = $1 AND state NOT IN ('ended', 'lost') ORDER BY created_at",
            {user}};
}

Statement PgStore::reconnectable_query(const std::string& user, const std::string& resource) {
    return {std::string("SELECT ") + kSessionCols +
                " FROM sessions WHERE \"user\" = $1 AND resource = $2 AND state IN ('active', 'disconnected') "
                "ORDER BY created_at DESC",
            {user, resource}};
}

std::vector<SessionRecord> PgStore::live_sessions_of(const std::string& user) {
    Lease lease(*this);
    return read([&] {
        return all_rows(exec(live_sessions_of_query(user)), [](auto& row) { return store_rows::read_session(row); });
    });
}

std::vector<SessionRecord> PgStore::reconnectable_sessions_for(const std::string& user, const std::string& resource) {
    Lease lease(*this);
    return read([&] {
        return all_rows(exec(reconnectable_query(user, resource)),
                        [](auto& row) { return store_rows::read_session(row); });
    });
}

LaunchFacts PgStore::launch_facts(const std::string& user, const std::string& resource_id) {
    Lease lease(*this);
    return read([&] {
        auto r = exec_pipeline(
            {resource_query(resource_id),
             entitled_query(user, resource_id),
             reconnectable_query(user, resource_id),
             {"SELECT COUNT(*) FROM sessions WHERE \"user\" = $1 AND state NOT IN ('ended', 'lost')", {user}}});
        LaunchFacts f;
        f.resource = first_row(r[0], [](auto& row) { return store_rows::read_resource(row); });
        if (!f.resource) return f;
        f.entitled = r[1].row(0).boolean(0);
        f.reconnectable = all_rows(r[2], [](auto& row) { return store_rows::read_session(row); });
        f.live_sessions = static_cast<int>(r[3].row(0).integer(0));
        return f;
    });
}

std::vector<SessionRecord> PgStore::sessions(const SessionFilter& f) {
    Lease lease(*this);
    std::vector<Param> params;
    auto next = [&](Param p) {
        params.push_back(std::move(p));
        return "$" + std::to_string(params.size());
    };
    std::string where =
        f.state ? "state = " + next(std::string(to_string(*f.state))) : "state NOT IN ('ended', 'lost')";
    if (!f.user.empty()) where += " AND \"user\" = " + next(f.user);
    if (!f.host.empty()) where += " AND host_id = " + next(f.host);
    where += " ORDER BY created_at DESC, id LIMIT " + next(std::max(1, f.limit));
    return query_sessions(where, params);
}

std::vector<SessionRecord> PgStore::session_history(const HistoryFilter& f) {
    Lease lease(*this);
    std::vector<Param> params;
    auto next = [&](Param p) {
        params.push_back(std::move(p));
        return "$" + std::to_string(params.size());
    };
    std::string where = "state IN ('ended', 'lost')";
    if (!f.user.empty()) where += " AND \"user\" = " + next(f.user);
    if (f.before_ended_at > 0) {
        auto at = next(f.before_ended_at);
        where += " AND (ended_at < " + at + " OR (ended_at = " + at + " AND id < " + next(f.before_id) + "))";
    }
    where += " ORDER BY ended_at DESC, id DESC LIMIT " + next(std::max(1, f.limit));
    return query_sessions(where, params);
}

void PgStore::set_end_reason(const std::string& id, const std::string& reason, const std::string& by) {
    Lease lease(*this);
    write([&] {
        exec("UPDATE sessions SET end_reason = $1, ended_by = $2 WHERE id = $3 AND end_reason = ''", {reason, by, id});
        return true;
    });
}

void PgStore::set_session_usage(const std::string& id, const SessionUsage& u) {
    Lease lease(*this);
    write([&] {
        exec("UPDATE sessions SET bytes_sent = $1, avg_fps = $2, avg_rtt_ms = $3 WHERE id = $4",
             {u.bytes_sent, u.avg_fps, u.avg_rtt_ms, id});
        return true;
    });
}

bool PgStore::revive_session(const std::string& id, const std::string& host_id, std::int64_t now) {
    Lease lease(*this);
    return write([&] {
        return exec(
                   "UPDATE sessions SET state = 'disconnected', ended_at = NULL, end_reason = '', ended_by = '', "
                   "updated_at = $1 WHERE id = $2 AND host_id = $3 AND state = 'lost'",
                   {now, id, host_id})
                   .affected() > 0;
    });
}

std::vector<std::string> PgStore::lose_sessions_of_host(const std::string& host_id, std::int64_t now) {
    Lease lease(*this);
    // One statement: the ids returned are exactly the rows this call changed, even if another
    // broker ends some of them meanwhile.
    return write([&] {
        return all_rows(exec("UPDATE sessions SET state = 'lost', ended_at = $1, updated_at = $1, "
                             "end_reason = CASE end_reason WHEN '' THEN 'host_lost' ELSE end_reason END "
                             "WHERE host_id = $2 AND state NOT IN ('ended', 'lost') RETURNING id",
                             {now, host_id}),
                        [](auto& row) { return row.text(0); });
    });
}

std::vector<SessionRecord> PgStore::sessions_in_state_since(SessionState state, std::int64_t before) {
    Lease lease(*this);
    return query_sessions("state = $1 AND updated_at <= $2", {std::string(to_string(state)), before});
}

std::vector<SessionRecord> PgStore::live_sessions() {
    Lease lease(*this);
    return query_sessions("state NOT IN ('ended', 'lost')", {});
}

std::vector<std::pair<SessionState, int>> PgStore::session_counts() {
    Lease lease(*this);
    return read([&] {
        return all_rows(exec("SELECT state, COUNT(*) FROM sessions GROUP BY state"), [](auto& row) {
            return std::make_pair(session_state_of(row.text(0)), static_cast<int>(row.integer(1)));
        });
    });
}

// ---- tickets ----

// The primary key makes the second record of a ticket id fail, from whichever broker.
Statement PgStore::ticket_insert(const IssuedTicket& t) {
    return {
        "INSERT INTO tickets(id, session_id, \"user\", view_only, issued_at, expires_at) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        {t.id, t.session_id, t.user, t.view_only ? 1 : 0, t.issued_at, t.expires_at}};
}

void PgStore::record_ticket(const std::string& ticket_id, const std::string& session_id, const std::string& user,
                            bool view_only, std::int64_t now, std::int64_t expires_at) {
    Lease lease(*this);
    write([&] {
        exec(ticket_insert(IssuedTicket{ticket_id, session_id, user, view_only, now, expires_at}));
        return true;
    });
}

int PgStore::purge_expired_tickets(std::int64_t now) {
    Lease lease(*this);
    return write([&] { return exec("DELETE FROM tickets WHERE expires_at <= $1", {now}).affected(); });
}

// ---- hosts ----

void PgStore::upsert_host(const HostRecord& h) {
    Lease lease(*this);
    write([&] {
        exec(
            "INSERT INTO hosts(id, name, state, drain, last_seen, cert_fingerprint, display_url, auth, apps, "
            "max_sessions, broker_id, live) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, state = excluded.state, "
            "last_seen = excluded.last_seen, "
            "cert_fingerprint = CASE WHEN excluded.cert_fingerprint != '' THEN excluded.cert_fingerprint "
            "ELSE hosts.cert_fingerprint END, display_url = excluded.display_url, auth = excluded.auth, "
            "apps = excluded.apps, max_sessions = excluded.max_sessions, broker_id = excluded.broker_id, "
            "live = excluded.live",
            {h.id, h.name, h.state, h.drain ? 1 : 0, h.last_seen, h.cert_fingerprint, h.display_url, h.auth,
             json_text(h.apps), h.max_sessions, h.broker_id, h.live});
        return true;
    });
}

std::optional<HostRecord> PgStore::host(const std::string& id) {
    Lease lease(*this);
    return read([&] {
        return first_row(exec(std::string("SELECT ") + kHostCols + " FROM hosts WHERE id = $1", {id}),
                         [](auto& row) { return store_rows::read_host(row); });
    });
}

std::vector<HostRecord> PgStore::hosts() {
    Lease lease(*this);
    return read([&] {
        return all_rows(exec(std::string("SELECT ") + kHostCols + " FROM hosts ORDER BY id"),
                        [](auto& row) { return store_rows::read_host(row); });
    });
}

bool PgStore::set_host_drain(const std::string& id, bool drain) {
    Lease lease(*this);
    return write([&] { return exec("UPDATE hosts SET drain = $1 WHERE id = $2", {drain ? 1 : 0, id}).affected() > 0; });
}

bool PgStore::delete_host(const std::string& id) {
    Lease lease(*this);
    return write([&] { return exec("DELETE FROM hosts WHERE id = $1", {id}).affected() > 0; });
}

void PgStore::mark_all_hosts_down(std::int64_t now) {
    Lease lease(*this);
    write([&] {
        exec("UPDATE hosts SET state = 'down', broker_id = '', last_seen = $1 WHERE state != 'down'", {now});
        return true;
    });
}

std::vector<bool> PgStore::host_heartbeats(const std::vector<HostBeat>& beats, const std::string& broker_id,
                                           std::int64_t now) {
    if (beats.empty()) return {};
    Lease lease(*this);
    std::vector<Statement> updates;
    updates.reserve(beats.size());
    for (const auto& b : beats)
        updates.push_back(
            {"UPDATE hosts SET live = $1, last_seen = $2 WHERE id = $3 AND broker_id = $4 AND state = 'up'",
             {b.live, now, b.id, broker_id}});
    // One pipeline: a second's heartbeats of every host cost one round trip.
    return write([&] {
        std::vector<bool> written;
        for (const auto& r : exec_pipeline(updates, true)) written.push_back(r.affected() > 0);
        return written;
    });
}

bool PgStore::release_host(const std::string& id, const std::string& broker_id, std::int64_t now) {
    Lease lease(*this);
    return write([&] {
        return exec("UPDATE hosts SET state = 'down', broker_id = '', last_seen = $1 WHERE id = $2 AND broker_id = $3",
                    {now, id, broker_id})
                   .affected() > 0;
    });
}

std::vector<std::string> PgStore::take_silent_hosts(std::int64_t silent_since, std::int64_t now) {
    Lease lease(*this);
    // One UPDATE: a row is locked by whichever broker's sweep reaches it first, and the other's
    // re-checked WHERE then finds it down, so each silent host is returned once.
    return write([&] {
        return all_rows(exec("UPDATE hosts SET state = 'down', broker_id = '', last_seen = $1 "
                             "WHERE state = 'up' AND last_seen < $2 RETURNING id",
                             {now, silent_since}),
                        [](auto& row) { return row.text(0); });
    });
}

// ---- failed logins ----

Store::LoginFailures PgStore::login_failures(const std::string& key) {
    Lease lease(*this);
    return read([&] {
        return first_row(exec("SELECT failures, last_at FROM login_failures WHERE key = $1", {key}),
                         [](auto& row) {
                             return LoginFailures{static_cast<int>(row.integer(0)), row.integer(1)};
                         })
            .value_or(LoginFailures{});
    });
}

void PgStore::add_login_failure(const std::string& key, std::int64_t now, std::int64_t forget_before) {
    Lease lease(*this);
    // One statement: failures counted at once by several brokers all add up (the row lock).
    write([&] {
        exec(
            "INSERT INTO login_failures(key, failures, last_at) VALUES ($1, 1, $2) ON CONFLICT (key) DO UPDATE SET "
            "failures = CASE WHEN login_failures.last_at < $3 THEN 1 "
            "ELSE LEAST(login_failures.failures + 1, 1000) END, last_at = excluded.last_at",
            {key, now, forget_before});
        return true;
    });
}

void PgStore::clear_login_failures(const std::string& key) {
    Lease lease(*this);
    write([&] {
        exec("DELETE FROM login_failures WHERE key = $1", {key});
        return true;
    });
}

int PgStore::purge_login_failures(std::int64_t before) {
    Lease lease(*this);
    return write([&] { return exec("DELETE FROM login_failures WHERE last_at < $1", {before}).affected(); });
}

// ---- between brokers ----

std::int64_t PgStore::put_bus_message(const std::string& body, std::int64_t now) {
    Lease lease(*this);
    return write([&] {
        return exec("INSERT INTO bus_messages(body, created_at) VALUES ($1, $2) RETURNING id", {body, now})
            .row(0)
            .integer(0);
    });
}

std::optional<std::string> PgStore::take_bus_message(std::int64_t id) {
    Lease lease(*this);
    return write([&] {
        return first_row(exec("DELETE FROM bus_messages WHERE id = $1 RETURNING body", {id}),
                         [](auto& row) { return row.text(0); });
    });
}

int PgStore::purge_bus_messages(std::int64_t before) {
    Lease lease(*this);
    return write([&] { return exec("DELETE FROM bus_messages WHERE created_at < $1", {before}).affected(); });
}

std::string PgStore::agree_setting(const std::string& name, const std::string& value) {
    Lease lease(*this);
    return write([&] {
        exec("INSERT INTO cluster_settings(name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", {name, value});
        return exec("SELECT value FROM cluster_settings WHERE name = $1", {name}).row(0).text(0);
    });
}

// ---- enrollment ----

void PgStore::create_enrollment_token(const EnrollmentToken& t, const std::string& token_hash) {
    Lease lease(*this);
    write([&] {
        exec(
            "INSERT INTO enrollment_tokens(id, token_hash, host_id, created_by, created_at, expires_at) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            {t.id, token_hash, t.host_id, t.created_by, t.created_at, t.expires_at});
        return true;
    });
}

std::vector<EnrollmentToken> PgStore::enrollment_tokens(std::int64_t now) {
    Lease lease(*this);
    return read([&] {
        return all_rows(
            exec("SELECT id, host_id, created_by, created_at, expires_at FROM enrollment_tokens "
                 "WHERE used_at IS NULL AND expires_at > $1 ORDER BY created_at DESC, id",
                 {now}),
            [](auto& row) {
                return EnrollmentToken{row.text(0), row.text(1), row.text(2), row.integer(3), row.integer(4)};
            });
    });
}

ConsumeResult PgStore::consume_enrollment_token(const std::string& token_hash, const std::string& host_id,
                                                std::int64_t now, bool host_known) {
    Lease lease(*this);
    ConsumeResult result = ConsumeResult::unknown;
    transaction([&] {
        // The one winner among brokers racing on this token: the others' UPDATE finds used_at set.
        // One attempt per token whatever its outcome, as in the SQLite store: a token for another
        // host is spent by the wrong host's try.
        auto won = exec(
            "UPDATE enrollment_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL "
            "AND expires_at > $1 RETURNING host_id",
            {now, token_hash});
        if (won.rows() > 0) {
            auto issued_for = won.row(0).text(0);
            if (!issued_for.empty() && issued_for != host_id)
                result = ConsumeResult::wrong_host;
            else if (issued_for.empty() && host_known)
                result = ConsumeResult::host_exists;
            else
                result = ConsumeResult::ok;
            return true;
        }
        auto r = exec("SELECT used_at IS NOT NULL FROM enrollment_tokens WHERE token_hash = $1", {token_hash});
        if (r.rows() == 0)
            result = ConsumeResult::unknown;
        else
            result = r.row(0).boolean(0) ? ConsumeResult::used : ConsumeResult::expired;
        return true;
    });
    return result;
}

// ---- launch-file tokens ----

void PgStore::create_launch_token(const std::string& token_hash, const LaunchToken& t) {
    Lease lease(*this);
    write([&] {
        exec(
            "INSERT INTO launch_tokens(token_hash, \"user\", resource, session_id, created_at, expires_at) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            {token_hash, t.user, t.resource, t.session_id, t.created_at, t.expires_at});
        return true;
    });
}

LaunchTokenUse PgStore::consume_launch_token(const std::string& token_hash, std::int64_t now) {
    Lease lease(*this);
    LaunchTokenUse use;
    transaction([&] {
        use = LaunchTokenUse{};  // a retried transaction starts over
        // The one winner among brokers racing on this token: the others' UPDATE finds used_at set.
        // An expired token is used up by the try as well.
        auto won = exec(
            "UPDATE launch_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL "
            "RETURNING \"user\", resource, session_id, created_at, expires_at",
            {now, token_hash});
        if (won.rows() > 0) {
            auto row = won.row(0);
            if (row.integer(4) <= now) {
                use.result = ConsumeResult::expired;
            } else {
                use.result = ConsumeResult::ok;
                use.token = LaunchToken{row.text(0), row.text(1), row.text(2), row.integer(3), row.integer(4)};
            }
            return true;
        }
        auto r = exec("SELECT 1 FROM launch_tokens WHERE token_hash = $1", {token_hash});
        use.result = r.rows() == 0 ? ConsumeResult::unknown : ConsumeResult::used;
        return true;
    });
    return use;
}

int PgStore::purge_launch_tokens(std::int64_t expired_before) {
    Lease lease(*this);
    return write([&] { return exec("DELETE FROM launch_tokens WHERE expires_at < $1", {expired_before}).affected(); });
}

// ---- audit ----

Statement PgStore::audit_insert(const AuditEvent& e) {
    return {"INSERT INTO audit(at, actor, action, target, source, detail) VALUES ($1, $2, $3, $4, $5, $6)",
            {e.at, e.actor, e.action, e.target, e.from, e.detail}};
}

void PgStore::append_audit(const AuditEvent& e) {
    Lease lease(*this);
    write([&] {
        exec(audit_insert(e));
        return true;
    });
}

std::vector<AuditEvent> PgStore::audit(const AuditFilter& f) {
    Lease lease(*this);
    std::vector<Param> params;
    auto next = [&](Param p) {
        params.push_back(std::move(p));
        return "$" + std::to_string(params.size());
    };
    std::string sql = "SELECT id, at, actor, action, target, source, detail FROM audit WHERE id < " +
                      next(f.before > 0 ? f.before : std::int64_t{INT64_MAX});
    if (!f.actor.empty()) sql += " AND actor = " + next(f.actor);
    if (!f.action.empty()) sql += " AND action = " + next(f.action);
    sql += " ORDER BY id DESC LIMIT " + next(std::max(1, f.limit));
    return read([&] { return all_rows(exec(sql, params), [](auto& row) { return store_rows::read_audit(row); }); });
}

// ---- copy-store ----

std::vector<CopiedTable> PgStore::copy_in(const std::vector<store_rows::TableData>& tables) {
    Lease lease(*this);
    std::vector<CopiedTable> out;
    transaction([&] {
        out.clear();
        exec("SELECT pg_advisory_xact_lock($1)", {kSchemaLock});
        for (const auto& table : store_rows::tables_in_copy_order()) {
            auto n = exec("SELECT COUNT(*) FROM " + table).row(0).integer(0);  // names from the fixed list
            if (n > 0)
                throw std::runtime_error("the target database is not empty: table " + table + " has " +
                                         std::to_string(n) + " row(s); copy-store only fills an empty database");
        }
        for (const auto& t : tables) {
            std::string columns, placeholders;
            for (std::size_t c = 0; c < t.columns.size(); ++c) {
                if (t.columns[c].find('"') != std::string::npos)
                    throw std::runtime_error("bad column name in table " + t.name);
                columns += (c ? ", \"" : "\"") + t.columns[c] + "\"";
                placeholders += (c ? ", $" : "$") + std::to_string(c + 1);
            }
            const std::string sql = "INSERT INTO " + t.name + " (" + columns + ") VALUES (" + placeholders + ")";
            for (const auto& row : t.rows) exec(sql, std::vector<Param>(row.begin(), row.end()));
            out.push_back(CopiedTable{t.name, static_cast<std::int64_t>(t.rows.size())});
        }
        // The audit ids were copied as they were: new events continue after the last one.
        exec("SELECT setval(pg_get_serial_sequence('audit', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM audit");
        return true;
    });
    return out;
}

}  // namespace

std::unique_ptr<Store> open_postgres_store(const std::string& url) { return std::make_unique<PgStore>(url); }

std::vector<CopiedTable> write_postgres_tables(const std::string& url,
                                               const std::vector<store_rows::TableData>& tables) {
    PgStore target(url);  // connects and migrates an empty database to the current schema
    return target.copy_in(tables);
}

}  // namespace portico::broker

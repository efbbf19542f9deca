// Desktop pools: persistence in the store, validation, and host placement (pooled: the least
// loaded host with the image; dedicated: the user's host, remembered; the pool's size caps it,
// also when another broker on the same database takes the last desktop).

#include "broker/desktop_pools.hpp"
#include "broker/store.hpp"
#include "common/crypto.hpp"
#include "pg_server.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <thread>

using namespace portico::broker;

namespace {

class NullLink : public ControlLink {
public:
    void send(std::string text) override { sent.push_back(std::move(text)); }
    void close() override {}
    std::vector<std::string> sent;
};

HostInfo host(const std::string& id, std::vector<std::string> images, int sessions = 0) {
    HostInfo h;
    h.host_id = id;
    h.images = std::move(images);
    h.apps = {"*"};
    h.max_sessions = 4;
    h.sessions = h.reported_sessions = sessions;
    h.link = std::make_shared<NullLink>();
    return h;
}

DesktopPool pool(std::string id, std::string name, std::string image, std::string mode, int size, int spares,
                 int memory, int cpus) {
    return DesktopPool{std::move(id), std::move(name), "",  std::move(image), std::move(mode), size,
                       spares,        memory,          cpus};
}

}  // namespace

TEST_CASE("desktop pools: stored with their resource, replaced, removed", "[broker][desktops]") {
    test::TempDir dir;
    auto db = (dir.path / "p.db").string();
    auto store = open_store(db);
    store->create_user("alice", portico::crypto::hash_password("pw"), 1);
    store->put_desktop_pool(pool("win", "Windows", "win11", "dedicated", 5, 0, 4096, 2));
    store->put_desktop_pool(pool("lab", "Lab", "console", "pooled", 3, 1, 256, 1));
    auto all = store->desktop_pools();
    REQUIRE(all.size() == 2);
    CHECK(all[0].id == "lab");
    CHECK(all[1].memory_mib == 4096);
    auto r = store->resource("win");
    REQUIRE(r);
    CHECK(r->type == "desktop");
    CHECK(r->name == "Windows");

    store->put_desktop_pool(pool("lab", "Lab 2", "console", "pooled", 3, 2, 512, 1));
    CHECK(store->desktop_pool("lab")->spares == 2);
    CHECK(store->desktop_pool("lab")->name == "Lab 2");
    // create refuses an existing id; update refuses an unknown one.
    CHECK_FALSE(store->create_desktop_pool(pool("lab", "X", "console", "pooled", 1, 0, 256, 1), {}));
    CHECK_FALSE(store->update_desktop_pool(pool("nope", "X", "console", "pooled", 1, 0, 256, 1)));
    CHECK(store->create_desktop_pool(pool("new", "New", "console", "pooled", 1, 0, 256, 1), {{"user", "alice"}}));
    CHECK(store->is_entitled("alice", "new"));
    // An app's id cannot become a desktop, nor an app be updated as a pool.
    store->put_resource(Resource{"term", "Terminal", "app", {"xterm"}, "", ""});
    CHECK_THROWS(store->put_desktop_pool(pool("term", "T", "console", "pooled", 1, 0, 256, 1)));
    CHECK_FALSE(store->update_desktop_pool(pool("term", "T", "console", "pooled", 1, 0, 256, 1)));
    CHECK(store->resource("term")->type == "app");
    CHECK_FALSE(store->desktop_pool("term").has_value());

    store->set_dedicated_host("win", "alice", "host-a");
    CHECK(store->dedicated_host("win", "alice") == std::optional<std::string>("host-a"));
    CHECK_FALSE(store->dedicated_host("win", "bob").has_value());

    CHECK(store->delete_resource("win"));
    CHECK_FALSE(store->delete_resource("win"));
    CHECK_FALSE(store->desktop_pool("win").has_value());
    CHECK_FALSE(store->resource("win").has_value());
    CHECK_FALSE(store->dedicated_host("win", "alice").has_value());  // assignments go with the pool
}

TEST_CASE("desktop pools: validation says what is wrong", "[broker][desktops][bad-input]") {
    DesktopPool ok = pool("lab", "Lab", "console", "pooled", 3, 1, 256, 1);
    CHECK(validate_desktop_pool(ok).empty());
    auto bad = [&](auto change) {
        DesktopPool p = ok;
        change(p);
        return validate_desktop_pool(p);
    };
    CHECK(bad([](DesktopPool& p) { p.id = "../etc"; }).find("pool id") != std::string::npos);
    CHECK(bad([](DesktopPool& p) { p.image = "a b"; }).find("image") != std::string::npos);
    CHECK(bad([](DesktopPool& p) { p.mode = "shared"; }).find("mode") != std::string::npos);
    CHECK(bad([](DesktopPool& p) { p.size = 0; }).find("size") != std::string::npos);
    CHECK(bad([](DesktopPool& p) { p.spares = -1; }).find("spares") != std::string::npos);
    CHECK(bad([](DesktopPool& p) { p.mode = "dedicated"; }).find("spares") != std::string::npos);
    CHECK(bad([](DesktopPool& p) { p.memory_mib = 16; }).find("memory") != std::string::npos);
    CHECK(bad([](DesktopPool& p) { p.cpus = 0; }).find("cpus") != std::string::npos);
}

TEST_CASE("desktop pools: placement by image, dedicated desktops return to their host", "[broker][desktops]") {
    test::TempDir dir;
    auto db = (dir.path / "p.db").string();
    auto store = open_store(db);
    store->create_user("alice", portico::crypto::hash_password("pw"), 1);
    store->create_user("bob", portico::crypto::hash_password("pw"), 1);
    boost::asio::io_context ioc;
    HostRegistry hosts;
    DesktopPools desktops(*store, ioc, hosts);
    store->put_desktop_pool(pool("lab", "Lab", "console", "pooled", 2, 1, 256, 1));
    store->put_desktop_pool(pool("mine", "Mine", "console", "dedicated", 5, 0, 512, 2));

    auto none = desktops.place("lab", "alice");
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().code == ApiErrorCode::no_host);
    CHECK(none.error().message.find("console") != std::string::npos);

    hosts.add(host("apps-only", {}));
    hosts.add(host("vm-a", {"console"}, 1));
    hosts.add(host("vm-b", {"console", "win11"}, 2));
    auto p = desktops.place("lab", "alice");
    REQUIRE(p.ok());
    CHECK(p.value().host.host_id == "vm-a");  // the least loaded host with the image
    CHECK(p.value().spec.pool == "lab");
    CHECK(p.value().spec.image == "console");
    CHECK(p.value().spec.mode == "pooled");
    CHECK(p.value().spec.memory_mib == 256);

    // Dedicated: the first placement is remembered, later ones go to the same host.
    auto d1 = desktops.place("mine", "bob");
    REQUIRE(d1.ok());
    const auto bobs_host = d1.value().host.host_id;
    CHECK(d1.value().spec.cpus == 2);
    CHECK(store->dedicated_host("mine", "bob") == std::optional<std::string>(bobs_host));
    const auto other = bobs_host == "vm-a" ? "vm-b" : "vm-a";
    hosts.heartbeat(other, hosts.get(other)->link.get(), 0, 0, 0);  // the other host is now idler
    auto d2 = desktops.place("mine", "bob");
    REQUIRE(d2.ok());
    CHECK(d2.value().host.host_id == bobs_host);
    // ... and when that host is gone, the user's desktop is not silently made elsewhere.
    hosts.remove(bobs_host, hosts.get(bobs_host)->link.get());
    auto d3 = desktops.place("mine", "bob");
    REQUIRE_FALSE(d3.ok());
    CHECK(d3.error().message.find(bobs_host) != std::string::npos);

    // The pools message lists every pool (dedicated ones without spares).
    auto msg = nlohmann::json::parse(desktops.pools_message());
    CHECK(msg["type"] == "pools");
    REQUIRE(msg["pools"].size() == 2);
    CHECK(msg["pools"][0]["pool"] == "lab");
    CHECK(msg["pools"][0]["spares"] == 1);
    CHECK(msg["pools"][1]["mode"] == "dedicated");

    CHECK_FALSE(desktops.place("nope", "alice").ok());
}

TEST_CASE("desktop pools: a full pool and draining hosts take no new desktops", "[broker][desktops]") {
    test::TempDir dir;
    auto store = open_store((dir.path / "p.db").string());
    store->create_user("alice", portico::crypto::hash_password("pw"), 1);
    boost::asio::io_context ioc;
    HostRegistry hosts;
    DesktopPools desktops(*store, ioc, hosts);
    store->put_desktop_pool(pool("lab", "Lab", "console", "pooled", 1, 0, 256, 1));
    hosts.add(host("vm-a", {"console"}));
    hosts.set_drain("vm-a", true);
    auto drained = desktops.place("lab", "alice");
    REQUIRE_FALSE(drained.ok());
    CHECK(drained.error().code == ApiErrorCode::no_host);
    hosts.set_drain("vm-a", false);
    REQUIRE(desktops.place("lab", "alice").ok());
    // The pool's one desktop is in use: the next launch is refused with the reason.
    store->create_session(
        SessionRecord{"s1", "alice", "lab", "vm-a", portico::broker::SessionState::active, 800, 600, 1, 0, 1});
    auto full = desktops.place("lab", "alice");
    REQUIRE_FALSE(full.ok());
    CHECK(full.error().message.find("in use") != std::string::npos);
    store->set_session_state("s1", portico::broker::SessionState::ended, 2);
    CHECK(desktops.place("lab", "alice").ok());
}

namespace {

// Another broker's write to the broker's database: a transaction that records a live session of
// the pool and stays open (holding what the launch's create_session must wait for) until
// commit() is called. SQLite: the file's write lock (BEGIN IMMEDIATE); PostgreSQL: the pool's row
// lock, as PgStore::create_session takes it.
class OtherBroker {
public:
    OtherBroker(std::string backend, std::string location) : backend_(std::move(backend)), location_(location) {
        const std::string insert =
            "INSERT INTO sessions(id, \"user\", resource, host_id, state, width, height, created_at, updated_at) "
            "VALUES ('other', 'demo', 'desk', 'host-1', 'starting', 800, 600, 1, 1)";
        if (backend_ == "sqlite") {
            REQUIRE(sqlite3_open(location.c_str(), &db_) == SQLITE_OK);
            REQUIRE(sqlite3_exec(db_, ("BEGIN IMMEDIATE; " + insert).c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
        } else {
            pg_ = PQconnectdb(location.c_str());
            REQUIRE(PQstatus(pg_) == CONNECTION_OK);
            for (const std::string sql :
                 {std::string("BEGIN"), std::string("SELECT size FROM desktop_pools WHERE id = 'desk' FOR UPDATE"),
                  insert}) {
                PGresult* r = PQexec(pg_, sql.c_str());
                const auto st = PQresultStatus(r);
                PQclear(r);
                REQUIRE((st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK));
            }
        }
    }
    ~OtherBroker() {
        if (db_) sqlite3_close(db_);
        if (pg_) PQfinish(pg_);
    }
    // Commits once the launch waits for this transaction: on PostgreSQL when a backend is seen
    // waiting for a lock; SQLite shows no waiter, so after 1 s (the launch reaches its insert
    // within that, and its busy timeout, 2 s, outlasts it).
    void commit_when_waited_for() {
        if (backend_ == "sqlite") {
            std::this_thread::sleep_for(std::chrono::milliseconds(1000));
            sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
            return;
        }
        waited = test::eventually([&] {
            return test::pg_query(location_,
                                  "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")[0][0] != "0";
        });
        PQclear(PQexec(pg_, "COMMIT"));
    }
    bool waited = true;

private:
    std::string backend_, location_;
    sqlite3* db_ = nullptr;
    PGconn* pg_ = nullptr;
};

}  // namespace

TEST_CASE("desktop pools: a launch that loses the pool's last desktop to another broker is answered as a full pool",
          "[broker][desktops][postgres]") {
    const std::string backend = GENERATE(as<std::string>{}, "sqlite", "postgres");
    INFO(backend);
    const std::string database = backend == "sqlite" ? "" : test::PgServer::shared().new_database();
    test::BrokerFixture b(20, {}, database);
    const std::string location = database.empty() ? b.state + "/portico.db" : database;
    {
        auto store = open_store(location);
        store->put_desktop_pool(pool("desk", "Desk", "debian", "pooled", 1, 0, 256, 1));
        REQUIRE(store->set_entitlements("desk", {Entitlement{"group", "users"}}));
    }
    test::FakeHost host(b, "host-1", test::kDisplay, test::kPin, test::FakeHost::Mode::ready, "", "", "", 4,
                        std::nullopt, {"debian"});
    auto demo = test::login(b);
    // This broker's placement counts no live desktop (the other broker's row is not committed);
    // its insert then waits for the other broker and finds the pool full.
    OtherBroker other(backend, location);
    std::thread committer([&] { other.commit_when_waited_for(); });
    auto r = test::post(b, "/api/v1/launch", {{"resource", "desk"}}, demo);
    committer.join();
    CHECK(other.waited);
    REQUIRE(r.status == 503);
    CHECK(r.json()["error"]["code"] == "no_host");
    CHECK(r.json()["error"]["message"] == "all 1 desktops of Desk are in use (another broker took the last one)");
    CHECK(host.starts == 0);
    CHECK(open_store(location)->live_session_count("desk") == 1);
    // The same full pool seen by the placement itself: the same answer, without the race.
    auto again = test::post(b, "/api/v1/launch", {{"resource", "desk"}}, demo);
    REQUIRE(again.status == 503);
    CHECK(again.json()["error"]["code"] == "no_host");
    CHECK(again.json()["error"]["message"] == "all 1 desktops of Desk are in use");
}

// Control channel and display gateway: fake hosts over real TLS WebSockets against a real broker.

#include "broker/live_stats.hpp"
#include "common/crypto.hpp"
#include "protocol/ticket.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <chrono>

using json = nlohmann::json;
using test::http::verb;

namespace {

std::int64_t now_unix() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

portico::protocol::TicketVerifier verifier_for(const json& registered, const std::string& host_id) {
    auto raw = portico::crypto::base64_decode(registered.at("ticket_key").get<std::string>());
    REQUIRE(raw);
    REQUIRE(raw->size() == 32);
    auto key = portico::crypto::Ed25519Key::from_public_raw(*raw);
    REQUIRE(key);
    return portico::protocol::TicketVerifier(std::move(*key), host_id);
}

}  // namespace

TEST_CASE("control: a wrong enrollment secret is refused", "[broker][control]") {
    test::BrokerFixture b;
    test::net::io_context ioc;
    auto ws = test::ws_connect(ioc, b.port, b.broker_cert_sha256, "/api/v1/control");
    json reg = {{"type", "register"},
                {"version", 1},
                {"host_id", "h1"},
                {"name", "h1"},
                {"secret", "wrong"},
                {"display_url", "wss://127.0.0.1:1/display"},
                {"cert_sha256", std::string(64, 'a')},
                {"apps", {"*"}},
                {"max_sessions", 2}};
    ws->text(true);
    ws->write(test::net::buffer(reg.dump()));
    test::beast::flat_buffer buf;
    ws->read(buf);
    auto reply = json::parse(test::beast::buffers_to_string(buf.data()));
    CHECK(reply["type"] == "error");
    // Then the broker closes the connection.
    buf.consume(buf.size());
    test::beast::error_code ec;
    ws->read(buf, ec);
    CHECK(ec);
    // And the host is not usable for launches.
    auto cookie = test::login(b);
    auto r = test::request(b, verb::post, "/api/v1/launch", json{{"resource", "terminal"}}.dump(), cookie);
    CHECK(r.status == 503);
}

TEST_CASE("control: malformed or out-of-order messages get error and close", "[broker][control]") {
    test::BrokerFixture b;
    for (const std::string msg : {"not json", "{\"type\":\"heartbeat\",\"sessions\":1}", "{\"type\":\"register\"}"}) {
        INFO(msg);
        test::net::io_context ioc;
        auto ws = test::ws_connect(ioc, b.port, b.broker_cert_sha256, "/api/v1/control");
        ws->text(true);
        ws->write(test::net::buffer(msg));
        test::beast::flat_buffer buf;
        ws->read(buf);
        CHECK(json::parse(test::beast::buffers_to_string(buf.data()))["type"] == "error");
        buf.consume(buf.size());
        test::beast::error_code ec;
        ws->read(buf, ec);
        CHECK(ec);
    }
}

TEST_CASE("control: a registered host that sends garbage is dropped", "[broker][control]") {
    test::BrokerFixture b;
    auto cookie = test::login(b);
    test::FakeHost host(b, "h1", "wss://127.0.0.1:1/display", std::string(64, 'a'));
    REQUIRE(host.registered["type"] == "registered");
    host.send(json{{"type", "session_ready"}});  // missing fields
    // Give the broker a moment to process and drop the registration.
    int status = 0;
    for (int i = 0; i < 50 && status != 503; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        status =
            test::request(b, verb::post, "/api/v1/launch", json{{"resource", "nope"}}.dump(), cookie).status == 404
                ? test::request(b, verb::post, "/api/v1/launch", json{{"resource", "terminal"}}.dump(), cookie).status
                : 0;
    }
    CHECK(status == 503);
}

TEST_CASE("control: launch through a fake host yields a ticket the host accepts", "[broker][control]") {
    test::BrokerFixture b;
    auto cookie = test::login(b);
    test::FakeHost host(b, "host-1", "wss://127.0.0.1:9443/display", std::string(64, 'b'));
    REQUIRE(host.registered["type"] == "registered");
    auto verifier = verifier_for(host.registered, "host-1");

    auto r = test::request(b, verb::post, "/api/v1/launch", json{{"resource", "terminal"}}.dump(), cookie);
    REQUIRE(r.status == 200);
    auto j = r.json();
    CHECK(host.starts == 1);
    auto sid = j.at("session_id").get<std::string>();
    CHECK(j.at("gateway_path") == "/api/v1/gateway/" + sid);
    CHECK(j.at("direct_url") == "wss://127.0.0.1:9443/display");
    CHECK(j.at("host_cert_sha256") == std::string(64, 'b'));
    CHECK(j.at("width") == 1280);
    CHECK(j.at("height") == 800);
    auto claims = verifier.verify(j.at("ticket").get<std::string>(), now_unix());
    REQUIRE(claims.ok());
    CHECK(claims->session_id == sid);
    CHECK(claims->host_id == "host-1");
    CHECK(claims->user == "demo");
    CHECK(claims->resource == "terminal");
    CHECK(claims->expires_at <= now_unix() + 60);
    // Another host would not accept it.
    auto other = verifier_for(host.registered, "host-2");
    CHECK_FALSE(other.verify(j.at("ticket").get<std::string>(), now_unix()).ok());

    auto list = test::request(b, verb::get, "/api/v1/sessions", "", cookie).json();
    REQUIRE(list.size() == 1);
    CHECK(list[0]["id"] == sid);
    CHECK(list[0]["state"] == "active");
    CHECK(list[0]["host"] == "host-1");
    CHECK(list[0]["resource"] == "terminal");
    CHECK(list[0]["resource_name"] == "Terminal");

    // Launching again reconnects: same session, fresh ticket, no new start_session.
    auto again = test::request(b, verb::post, "/api/v1/launch", json{{"resource", "terminal"}}.dump(), cookie);
    REQUIRE(again.status == 200);
    CHECK(again.json()["session_id"] == sid);
    CHECK(again.json()["ticket"] != j["ticket"]);
    CHECK(host.starts == 1);

    // Ending it asks the host; the host's session_ended marks it ended.
    CHECK(test::request(b, verb::delete_, "/api/v1/sessions/" + sid, "", cookie).status == 204);
    bool gone = false;
    for (int i = 0; i < 100 && !gone; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        gone = test::request(b, verb::get, "/api/v1/sessions", "", cookie).json().empty();
    }
    CHECK(gone);
    CHECK(host.end_requests() == std::vector<std::string>{sid});
}

TEST_CASE("control: session_failed and timeouts are 502 launch_failed", "[broker][control]") {
    test::BrokerFixture b(1);
    auto cookie = test::login(b);
    SECTION("failed") {
        test::FakeHost host(b, "h1", "wss://127.0.0.1:1/display", std::string(64, 'c'), test::FakeHost::Mode::fail);
        auto r = test::request(b, verb::post, "/api/v1/launch", json{{"resource", "terminal"}}.dump(), cookie);
        CHECK(r.status == 502);
        CHECK(r.json()["error"]["code"] == "launch_failed");
        CHECK(r.json()["error"]["message"] == "xterm: not found");
    }
    SECTION("timeout") {
        test::FakeHost host(b, "h1", "wss://127.0.0.1:1/display", std::string(64, 'c'), test::FakeHost::Mode::ignore);
        auto t0 = std::chrono::steady_clock::now();
        auto r = test::request(b, verb::post, "/api/v1/launch", json{{"resource", "terminal"}}.dump(), cookie);
        CHECK(r.status == 502);
        CHECK(r.json()["error"]["code"] == "launch_failed");
        CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(900));
    }
    CHECK(test::request(b, verb::get, "/api/v1/sessions", "", cookie).json().empty());
}

TEST_CASE("gateway: relays binary messages both ways to the pinned host", "[broker][gateway]") {
    test::BrokerFixture b;
    test::FakeDisplay display(b.dir.path);
    auto cookie = test::login(b);
    test::FakeHost host(b, "host-1", display.url(), display.cert_sha256);
    auto launch = test::request(b, verb::post, "/api/v1/launch", json{{"resource", "terminal"}}.dump(), cookie);
    REQUIRE(launch.status == 200);
    auto path = launch.json()["gateway_path"].get<std::string>();

    test::net::io_context ioc;
    auto ws = test::ws_connect(ioc, b.port, b.broker_cert_sha256, path);
    ws->binary(true);
    std::string hello = "\x01\x01\x00ticket-bytes";
    ws->write(test::net::buffer(hello));
    test::beast::flat_buffer buf;
    ws->read(buf);
    CHECK(ws->got_binary());
    CHECK(test::beast::buffers_to_string(buf.data()) == std::string(hello.rbegin(), hello.rend()));

    // A large host->client message (a 3 MiB keyframe) passes unchanged.
    ws->write(test::net::buffer(std::string("big")));
    buf.consume(buf.size());
    ws->read(buf);
    CHECK(test::beast::buffers_to_string(buf.data()) == test::FakeDisplay::big_payload());
    // Client->host may be up to 64 KiB.
    std::string mid(60 * 1024, 'm');
    mid[0] = 'x';
    ws->write(test::net::buffer(mid));
    buf.consume(buf.size());
    ws->read(buf);
    CHECK(test::beast::buffers_to_string(buf.data()) == std::string(mid.rbegin(), mid.rend()));
    CHECK(display.connections == 1);

    // The client closing closes the host side too.
    ws->close(test::websocket::close_code::normal);
    for (int i = 0; i < 100 && display.closed == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK(display.closed == 1);

    // The host closing closes the client side.
    auto ws2 = test::ws_connect(ioc, b.port, b.broker_cert_sha256, path);
    ws2->binary(true);
    ws2->write(test::net::buffer(std::string("bye")));
    test::beast::error_code ec;
    buf.consume(buf.size());
    ws2->read(buf, ec);
    CHECK(ec);
    CHECK(display.connections == 2);

    // A client message over 64 KiB is refused by the gateway (and does not reach the host).
    auto ws3 = test::ws_connect(ioc, b.port, b.broker_cert_sha256, path);
    ws3->binary(true);
    ws3->write(test::net::buffer(std::string(65 * 1024 + 1, 'z')));
    buf.consume(buf.size());
    ws3->read(buf, ec);
    CHECK(ec);
}

TEST_CASE("gateway: refuses unknown sessions and wrong host fingerprints", "[broker][gateway]") {
    test::BrokerFixture b;
    test::FakeDisplay display(b.dir.path);
    auto cookie = test::login(b);
    CHECK(test::upgrade_status(b, "/api/v1/gateway/nope") == 404);
    CHECK(test::upgrade_status(b, "/api/v1/elsewhere") == 404);
    // The host registers a fingerprint that is not its display certificate's.
    std::string wrong = display.cert_sha256;
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    test::FakeHost host(b, "host-1", display.url(), wrong);
    auto launch = test::request(b, verb::post, "/api/v1/launch", json{{"resource", "terminal"}}.dump(), cookie);
    REQUIRE(launch.status == 200);
    auto path = launch.json()["gateway_path"].get<std::string>();
    CHECK(test::upgrade_status(b, path) == 502);
    test::net::io_context ioc;
    CHECK_THROWS(test::ws_connect(ioc, b.port, b.broker_cert_sha256, path));
}

TEST_CASE("live stats: kept per session in memory, fresh only, from the session's own host", "[broker][stats]") {
    namespace control = portico::protocol::control;
    portico::broker::LiveStats live(10);
    control::SessionStats m;
    control::StreamStats st;
    st.session_id = "s1";
    st.fps = 25;
    st.rtt_ms = 2.5;
    st.viewers = 2;
    m.stats = {st};
    live.update("host-a", m, 1000);
    auto j = live.get("s1", "host-a", 1005);
    REQUIRE(j);
    CHECK(j->stats.fps == 25.0);
    CHECK(j->stats.rtt_ms == 2.5);
    CHECK_FALSE(j->stats.kbps);  // unknown: null in the session JSON (the next test)
    CHECK(j->stats.viewers == 2);
    CHECK(j->updated_at == 1000);
    CHECK_FALSE(live.get("s1", "host-b", 1005));  // another host's session of that id: not these figures
    CHECK_FALSE(live.get("s1", "host-a", 1011));  // stale
    CHECK(live.totals(1005).viewers == 2);
    // Another host cannot overwrite fresh figures of a session it does not run.
    st.fps = 1;
    m.stats = {st};
    live.update("host-b", m, 1006);
    CHECK(live.get("s1", "host-a", 1006)->stats.fps == 25.0);
    live.drop("s1");
    CHECK_FALSE(live.get("s1", "host-a", 1006));
    live.update("host-a", m, 1007);
    live.drop_host("host-a");
    CHECK(live.totals(1007).sessions == 0);
    live.update("host-a", m, 1007);
    live.prune(1100);
    CHECK(live.totals(1007).sessions == 0);
}

TEST_CASE("live stats: a host's session_stats show in the session JSON and go when it ends", "[broker][stats]") {
    test::BrokerFixture b;
    auto cookie = test::login(b);
    auto admin = test::login_as(b, "admin");
    test::FakeHost host(b, "host-1", "wss://127.0.0.1:9443/display", std::string(64, 'b'));
    auto r = test::request(b, verb::post, "/api/v1/launch", json{{"resource", "terminal"}}.dump(), cookie);
    REQUIRE(r.status == 200);
    auto sid = r.json().at("session_id").get<std::string>();
    auto session = [&] { return test::request(b, verb::get, "/api/v1/sessions/" + sid, "", admin).json(); };
    CHECK(session()["stats"].is_null());

    host.send({{"type", "session_stats"},
               {"stats", json::array({{{"session_id", sid},
                                       {"fps", 24.5},
                                       {"kbps", 812.0},
                                       {"rtt_ms", 3.1},
                                       {"encode_ms", 4.2},
                                       {"skipped", 0},
                                       {"input_to_photon_ms", nullptr},
                                       {"viewers", 1}}})}});
    json stats;
    for (int i = 0; i < 100 && stats.is_null(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        stats = session()["stats"];
    }
    REQUIRE(stats.is_object());
    CHECK(stats["fps"] == 24.5);
    CHECK(stats["rtt_ms"] == 3.1);
    CHECK(stats["input_to_photon_ms"].is_null());
    CHECK(stats["viewers"] == 1);
    CHECK(std::abs(stats["updated_at"].get<std::int64_t>() - now_unix()) <= 2);
    // Also in the list, and counted in /metrics.
    auto list = test::request(b, verb::get, "/api/v1/sessions?scope=all", "", admin).json();
    REQUIRE(list.size() == 1);
    CHECK(list[0]["stats"]["fps"] == 24.5);
    auto metrics = test::request(b, verb::get, "/metrics", "", admin).body;
    CHECK(metrics.find("portico_session_viewers 1\n") != std::string::npos);
    CHECK(metrics.find("portico_sessions_streaming 1\n") != std::string::npos);

    // The session ends (host reports it): the figures are gone.
    host.send({{"type", "session_ended"}, {"session_id", sid}, {"reason", "app_exited"}});
    bool ended = false;
    for (int i = 0; i < 100 && !ended; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        ended = session()["state"] == "ended";
    }
    REQUIRE(ended);
    CHECK(session()["stats"].is_null());
    CHECK(test::request(b, verb::get, "/metrics", "", admin).body.find("portico_session_viewers 0\n") !=
          std::string::npos);
}

// Control channel: typed messages round trip as JSON; malformed ones are refused with a reason.
#include "protocol/control.hpp"

#include <catch2/catch.hpp>

using namespace portico::protocol::control;

TEST_CASE("control messages round trip", "[control]") {
    Register reg{1, "host-a", "Host A", "s3cret", "wss://127.0.0.1:9000/display", "ab12", {"*"}, 20};
    auto r = parse(serialize(reg));
    REQUIRE(r.ok());
    auto& back = std::get<Register>(r.value());
    CHECK(back.host_id == "host-a");
    CHECK(back.apps == std::vector<std::string>{"*"});
    CHECK(back.max_sessions == 20);

    StartSession s{42, "sid", "demo", {"terminal", "Terminal", {"xterm", "-fa", "Mono"}}, 1280, 800};
    auto s2 = parse(serialize(s));
    REQUIRE(s2.ok());
    auto& sb = std::get<StartSession>(s2.value());
    CHECK(sb.request_id == 42);
    CHECK(sb.app.command.size() == 3);
    CHECK(sb.width == 1280);

    CHECK(std::get<SessionEnded>(parse(serialize(SessionEnded{"sid", "app_exited"})).value()).reason == "app_exited");
}

TEST_CASE("malformed control messages are refused with a reason", "[control][bad-input]") {
    auto refused = [](const std::string& text) {
        auto r = parse(text);
        REQUIRE_FALSE(r.ok());
        return r.error().message;
    };
    CHECK(refused("not json").find("JSON") != std::string::npos);
    CHECK(refused("[1,2]").find("object") != std::string::npos);
    CHECK(refused(R"({"type":"launch_missiles"})").find("unknown") != std::string::npos);
    CHECK(refused(R"({"type":"heartbeat","sessions":"3"})").find("sessions") != std::string::npos);
    CHECK(refused(R"({"type":"start_session","request_id":1,"session_id":"s","user":"u","app":{"id":"a","name":"A","command":[]},"width":1280,"height":800})")
              .find("command") != std::string::npos);
    CHECK(refused(R"({"type":"start_session","request_id":1,"session_id":"s","user":"u","app":{"id":"a","name":"A","command":["x"]},"width":99999,"height":800})")
              .find("width") != std::string::npos);
    CHECK(refused(std::string(70000, ' ')).find("too large") != std::string::npos);
}

TEST_CASE("load and liveness messages (heartbeat load, session_state, disconnect_session)", "[control]") {
    Heartbeat hb{3, 0.25, 0.5, {{"s1", 12}}};
    auto h = parse(serialize(hb));
    REQUIRE(h.ok());
    auto& hb2 = std::get<Heartbeat>(h.value());
    CHECK(hb2.sessions == 3);
    CHECK(hb2.cpu == Approx(0.25));
    CHECK(hb2.mem == Approx(0.5));
    REQUIRE(hb2.idle.size() == 1);
    CHECK(hb2.idle[0] == std::pair<std::string, int>{"s1", 12});
    // Older hosts send only `sessions`; unknown fields are ignored.
    auto old = parse(R"({"type":"heartbeat","sessions":2,"future":true})");
    REQUIRE(old.ok());
    CHECK(std::get<Heartbeat>(old.value()).cpu == 0);
    CHECK_FALSE(parse(R"({"type":"heartbeat","sessions":2,"cpu":1.5})").ok());
    CHECK_FALSE(parse(R"({"type":"heartbeat","sessions":2,"mem":"x"})").ok());
    CHECK_FALSE(parse(R"({"type":"heartbeat","sessions":2,"idle":{"s":-1}})").ok());

    auto st = parse(serialize(SessionState{"s1", "disconnected"}));
    REQUIRE(st.ok());
    CHECK(std::get<SessionState>(st.value()).state == "disconnected");
    CHECK_FALSE(parse(R"({"type":"session_state","session_id":"s1","state":"sleeping"})").ok());
    CHECK(std::get<DisconnectSession>(parse(serialize(DisconnectSession{"s9"})).value()).session_id == "s9");
}

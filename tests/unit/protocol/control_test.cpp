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

TEST_CASE("desktop fields: register images, start_session desktop, pools", "[control]") {
    Register reg{
        1, "host-a", "Host A", "s3cret", "wss://127.0.0.1:9000/display", "ab12", {"*"}, 20, {"console", "desktop"}, ""};
    CHECK(std::get<Register>(parse(serialize(reg)).value()).images == std::vector<std::string>{"console", "desktop"});
    // Absent images (an older host) = none.
    reg.images.clear();
    CHECK(serialize(reg).find("images") == std::string::npos);
    CHECK(std::get<Register>(parse(serialize(reg)).value()).images.empty());
    // The host's VM accelerator: kvm or tcg, nothing else.
    reg.images = {"console"};
    reg.vm_accel = "tcg";
    CHECK(std::get<Register>(parse(serialize(reg)).value()).vm_accel == "tcg");
    auto bad_accel = serialize(reg);
    bad_accel.replace(bad_accel.find("\"tcg\""), 5, "\"xen\"");
    REQUIRE_FALSE(parse(bad_accel).ok());
    CHECK(parse(bad_accel).error().message.find("vm_accel") != std::string::npos);

    StartSession s;
    s.request_id = 7;
    s.session_id = "sid";
    s.user = "demo";
    s.width = 1024;
    s.height = 768;
    s.desktop = DesktopSpec{"win", "console", "dedicated", 384, 2};
    const auto text = serialize(s);
    CHECK(text.find("\"app\"") == std::string::npos);
    auto back = std::get<StartSession>(parse(text).value());
    REQUIRE(back.desktop.has_value());
    CHECK(back.desktop->pool == "win");
    CHECK(back.desktop->image == "console");
    CHECK(back.desktop->mode == "dedicated");
    CHECK(back.desktop->memory_mib == 384);
    CHECK(back.desktop->cpus == 2);
    CHECK(back.app.command.empty());

    Pools p{{PoolSpec{"a", "console", "pooled", 2, 256, 1}, PoolSpec{"b", "desktop", "dedicated", 0, 1024, 2}}};
    auto pb = std::get<Pools>(parse(serialize(p)).value());
    REQUIRE(pb.pools.size() == 2);
    CHECK(pb.pools[0].spares == 2);
    CHECK(pb.pools[1].mode == "dedicated");
    CHECK(pb.pools[1].memory_mib == 1024);
    CHECK(std::get<Pools>(parse(R"({"type":"pools","pools":[]})").value()).pools.empty());
    // Unknown fields are ignored (either side may land first).
    CHECK(parse(R"({"type":"pools","pools":[],"later":1})").ok());
}

TEST_CASE("malformed desktop fields are refused", "[control][bad-input]") {
    auto refused = [](const std::string& text) {
        auto r = parse(text);
        REQUIRE_FALSE(r.ok());
        return r.error().message;
    };
    const std::string head =
        R"({"type":"start_session","request_id":1,"session_id":"s","user":"u","width":1280,"height":800,)";
    CHECK(refused(head + R"("desktop":{"pool":"p","image":"i","mode":"shared","memory_mib":512,"cpus":1}})")
              .find("mode") != std::string::npos);
    CHECK(refused(head + R"("desktop":{"pool":"p","image":"","mode":"pooled","memory_mib":512,"cpus":1}})")
              .find("image") != std::string::npos);
    CHECK(refused(head + R"("desktop":{"pool":"p","image":"i","mode":"pooled","memory_mib":1,"cpus":1}})")
              .find("memory_mib") != std::string::npos);
    CHECK(refused(head + R"("desktop":"console"})").find("desktop") != std::string::npos);
    CHECK(refused(R"({"type":"pools","pools":{}})").find("pools") != std::string::npos);
    CHECK(
        refused(
            R"({"type":"pools","pools":[{"pool":"p","image":"i","mode":"pooled","spares":-1,"memory_mib":512,"cpus":1}]})")
            .find("spares") != std::string::npos);
    CHECK(
        refused(
            R"({"type":"register","version":1,"host_id":"h","name":"","secret":"","display_url":"wss://x","cert_sha256":"ab","apps":["*"],"max_sessions":2,"images":[3]})")
            .find("images") != std::string::npos);
}

TEST_CASE("start_session scale: optional, 1..4, a number", "[control][hidpi]") {
    StartSession s;
    s.session_id = "sid";
    s.user = "demo";
    s.app = {"terminal", "Terminal", {"xterm"}};
    s.width = 2800;
    s.height = 1600;
    // Absent = 1, and a scale of 1 is not written (hosts from before the field read the same).
    CHECK(serialize(s).find("scale") == std::string::npos);
    CHECK(std::get<StartSession>(parse(serialize(s)).value()).scale == 1);
    for (double v : {1.0, 1.25, 2.0, 2.625, 4.0}) {
        s.scale = v;
        auto back = parse(serialize(s));
        REQUIRE(back.ok());
        CHECK(std::get<StartSession>(back.value()).scale == v);
    }
    // An integer on the wire is a number too.
    const std::string head =
        R"({"type":"start_session","request_id":1,"session_id":"s","user":"u","width":1280,"height":800,"app":{"id":"a","name":"A","command":["xterm"]},)";
    CHECK(std::get<StartSession>(parse(head + R"("scale":3})").value()).scale == 3);
    for (const char* bad :
         {R"("scale":0.99})", R"("scale":0})", R"("scale":-2})", R"("scale":4.01})", R"("scale":1e308})",
          R"("scale":"2"})", R"("scale":null})", R"("scale":true})", R"("scale":[2]})"}) {
        INFO(bad);
        auto r = parse(head + bad);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message.find("scale") != std::string::npos);
    }
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
    CHECK(
        refused(
            R"({"type":"start_session","request_id":1,"session_id":"s","user":"u","app":{"id":"a","name":"A","command":[]},"width":1280,"height":800})")
            .find("command") != std::string::npos);
    CHECK(
        refused(
            R"({"type":"start_session","request_id":1,"session_id":"s","user":"u","app":{"id":"a","name":"A","command":["x"]},"width":99999,"height":800})")
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

TEST_CASE("session_stats carries per-session figures, null when unknown", "[control]") {
    SessionStats ss;
    ss.stats.push_back({"s1", 24.5, 812.0, 3.1, 4.2, 12.0, 2, 1});
    ss.stats.push_back({"s2", 0.0, 0.0, std::nullopt, std::nullopt, std::nullopt, 0, 0});
    auto text = serialize(ss);
    CHECK(text.find(R"("type":"session_stats")") != std::string::npos);
    CHECK(text.find(R"("rtt_ms":null)") != std::string::npos);
    auto r = parse(text);
    REQUIRE(r.ok());
    auto& back = std::get<SessionStats>(r.value());
    REQUIRE(back.stats.size() == 2);
    CHECK(back.stats[0].session_id == "s1");
    CHECK(*back.stats[0].fps == Approx(24.5));
    CHECK(*back.stats[0].kbps == Approx(812.0));
    CHECK(*back.stats[0].rtt_ms == Approx(3.1));
    CHECK(*back.stats[0].encode_ms == Approx(4.2));
    CHECK(*back.stats[0].skipped == 2);
    CHECK(*back.stats[0].input_to_photon_ms == Approx(12.0));
    CHECK(*back.stats[0].viewers == 1);
    CHECK_FALSE(back.stats[1].rtt_ms.has_value());
    CHECK_FALSE(back.stats[1].input_to_photon_ms.has_value());
    CHECK(*back.stats[1].fps == 0);

    // The contract's example parses; absent figures are unknown.
    auto ex = parse(
        R"({"type":"session_stats","stats":[{"session_id":"a","fps":24.5,"kbps":812.0,"rtt_ms":3.1,"encode_ms":4.2,"skipped":0,"input_to_photon_ms":12.0,"viewers":1}]})");
    REQUIRE(ex.ok());
    CHECK(*std::get<SessionStats>(ex.value()).stats.at(0).viewers == 1);
    auto sparse = parse(R"({"type":"session_stats","stats":[{"session_id":"a"}]})");
    REQUIRE(sparse.ok());
    CHECK_FALSE(std::get<SessionStats>(sparse.value()).stats.at(0).fps.has_value());
    CHECK_FALSE(std::get<SessionStats>(sparse.value()).stats.at(0).viewers.has_value());
    CHECK(parse(R"({"type":"session_stats","stats":[]})").ok());

    CHECK_FALSE(parse(R"({"type":"session_stats"})").ok());
    CHECK_FALSE(parse(R"({"type":"session_stats","stats":[{"fps":1}]})").ok());
    CHECK_FALSE(parse(R"({"type":"session_stats","stats":[{"session_id":"a","fps":"fast"}]})").ok());
    CHECK_FALSE(parse(R"({"type":"session_stats","stats":[{"session_id":"a","kbps":-1}]})").ok());
    CHECK_FALSE(parse(R"({"type":"session_stats","stats":[{"session_id":"a","skipped":1.5}]})").ok());
    CHECK_FALSE(parse(R"({"type":"session_stats","stats":[3]})").ok());
}

TEST_CASE("thumbnail request and answers round trip, sizes and lengths are bounded", "[control]") {
    auto req = parse(serialize(ThumbnailRequest{7, "sid", 320, 200}));
    REQUIRE(req.ok());
    auto& r = std::get<ThumbnailRequest>(req.value());
    CHECK(r.request_id == 7);
    CHECK(r.session_id == "sid");
    CHECK(r.max_width == 320);
    CHECK(r.max_height == 200);

    // A base64 answer longer than ordinary fields (4096) passes up to its own bound.
    std::string b64(20000, 'A');
    auto ans = parse(serialize(Thumbnail{7, "sid", b64}));
    REQUIRE(ans.ok());
    CHECK(std::get<Thumbnail>(ans.value()).jpeg_base64 == b64);
    CHECK(std::get<Thumbnail>(ans.value()).request_id == 7);

    auto failed = parse(serialize(ThumbnailFailed{8, "sid", "no picture yet"}));
    REQUIRE(failed.ok());
    CHECK(std::get<ThumbnailFailed>(failed.value()).message == "no picture yet");
    CHECK(std::get<ThumbnailFailed>(failed.value()).request_id == 8);

    // Absurd sizes, a missing session, an empty or oversized picture: refused with the field's name.
    auto err = [](const std::string& text) {
        auto m = parse(text);
        REQUIRE_FALSE(m.ok());
        return m.error().message;
    };
    CHECK(err(R"({"type":"thumbnail_request","request_id":1,"session_id":"s","max_width":100000,"max_height":200})")
              .find("max_width") != std::string::npos);
    CHECK(err(R"({"type":"thumbnail_request","request_id":1,"session_id":"s","max_width":320,"max_height":0})")
              .find("max_height") != std::string::npos);
    CHECK(err(R"({"type":"thumbnail_request","request_id":1,"session_id":"","max_width":320,"max_height":200})")
              .find("session_id") != std::string::npos);
    CHECK(err(R"({"type":"thumbnail","request_id":1,"session_id":"s","jpeg_base64":""})").find("jpeg_base64") !=
          std::string::npos);
    CHECK(err(serialize(Thumbnail{1, "s", std::string(kMaxThumbnailBase64 + 1, 'A')})).find("too long") !=
          std::string::npos);
    CHECK(err(R"({"type":"thumbnail","request_id":1,"session_id":"s","jpeg_base64":7})").find("jpeg_base64") !=
          std::string::npos);
}

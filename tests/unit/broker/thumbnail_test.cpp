// GET /sessions/{id}/thumbnail against a real broker and a fake host over TLS: the JPEG answer and
// its headers, who may see it, the host's refusal, the timeout, and one host round trip shared by
// requests close together.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <thread>

using json = nlohmann::json;
using test::check_error;
using test::kDisplay;
using test::kPin;
using verb = boost::beast::http::verb;

namespace {

test::HttpReply get(const test::BrokerFixture& b, const std::string& path, const std::string& cookie) {
    return test::request(b, verb::get, path, "", cookie);
}

std::string launch(const test::BrokerFixture& b, const std::string& cookie) {
    auto l = test::post(b, "/api/v1/launch", {{"resource", "terminal"}}, cookie);
    REQUIRE(l.status == 200);
    return l.json()["session_id"];
}

}  // namespace

TEST_CASE("thumbnail: the owner and staff get the host's JPEG, shared for 2 s, others hear 404",
          "[broker][thumbnail]") {
    test::BrokerFixture b;
    auto admin = test::login_as(b, "admin");
    auto demo = test::login(b);
    test::FakeHost h(b, "h1", kDisplay, kPin);
    auto sid = launch(b, demo);
    const auto path = "/api/v1/sessions/" + sid + "/thumbnail";

    auto r = get(b, path, demo);
    REQUIRE(r.status == 200);
    CHECK(r.headers["content-type"] == "image/jpeg");
    CHECK(r.headers["cache-control"] == "no-store");
    REQUIRE(r.body.size() == 7);
    CHECK(static_cast<unsigned char>(r.body[0]) == 0xFF);
    CHECK(static_cast<unsigned char>(r.body[1]) == 0xD8);
    CHECK(r.body[4] == 1);  // the host's first picture
    auto asked = h.thumbnail_request_msgs();
    REQUIRE(asked.size() == 1);
    CHECK(asked[0]["session_id"] == sid);
    CHECK(asked[0]["max_width"] == 320);
    CHECK(asked[0]["max_height"] == 200);

    // Within 2 s the same picture, without asking the host again (several portal tabs).
    auto again = get(b, path, demo);
    REQUIRE(again.status == 200);
    CHECK(again.body == r.body);
    CHECK(h.thumbnail_requests == 1);

    // Staff may look; another user may not know the session exists; nobody logged in hears 401.
    REQUIRE(test::post(b, "/api/v1/users", {{"name", "eve"}, {"password", "eve-password"}}, admin).status == 201);
    auto eve = test::login_as(b, "eve", "eve-password");
    check_error(get(b, path, eve), 404, "not_found");
    CHECK(get(b, path, admin).status == 200);
    check_error(get(b, path, ""), 401, "unauthenticated");
    check_error(get(b, "/api/v1/sessions/no-such-session/thumbnail", demo), 404, "not_found");
    check_error(test::post(b, path, json::object(), demo), 405, "method_not_allowed");

    // After 2 s the next request asks the host for a new picture. (Counted from here: on a loaded
    // machine the logins above, Argon2 each, can outlast the first picture's 2 s, and the admin's
    // look then asked the host already.)
    const int asked_before = h.thumbnail_requests;
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    auto fresh = get(b, path, demo);
    REQUIRE(fresh.status == 200);
    CHECK(h.thumbnail_requests == asked_before + 1);
    CHECK(fresh.body[4] == asked_before + 1);

    // A session being logged off (the host has not yet said it ended) shows no picture, not even
    // the cached one; once it ended there is none: 404. The host is not asked either time.
    h.answer_ends = false;
    REQUIRE(test::post(b, "/api/v1/sessions/" + sid + "/logoff", json::object(), demo).status == 204);
    REQUIRE(test::eventually([&] { return h.end_requests().size() == 1; }));
    check_error(get(b, path, demo), 503, "thumbnail_unavailable");
    h.send({{"type", "session_ended"}, {"session_id", sid}, {"reason", "logged_off"}});
    REQUIRE(test::eventually([&] { return get(b, path, demo).status == 404; }));
    check_error(get(b, path, demo), 404, "not_found");
    CHECK(h.thumbnail_requests == asked_before + 1);
}

TEST_CASE("thumbnail: a host without a picture is 503, a silent one 504 after the timeout", "[broker][thumbnail]") {
    test::BrokerFixture b(20, [](portico::broker::BrokerConfig& c) { c.thumbnail_timeout_ms = 2000; });
    auto demo = test::login(b);
    test::FakeHost h(b, "h1", kDisplay, kPin);
    auto sid = launch(b, demo);
    const auto path = "/api/v1/sessions/" + sid + "/thumbnail";

    h.thumbnails = test::FakeHost::Thumbnails::fail;
    auto failed = get(b, path, demo);
    check_error(failed, 503, "thumbnail_unavailable");
    CHECK(failed.json()["error"]["message"].get<std::string>().find("no picture yet") != std::string::npos);

    // Two requests while the host stays silent share one round trip and both time out. The second
    // is sent once the host has the first one's request, so it certainly finds it out.
    h.thumbnails = test::FakeHost::Thumbnails::ignore;
    const int before = h.thumbnail_requests;
    const auto start = std::chrono::steady_clock::now();
    auto first = std::async(std::launch::async, [&] { return get(b, path, demo); });
    while (h.thumbnail_requests == before && std::chrono::steady_clock::now() - start < std::chrono::seconds(10))
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    REQUIRE(h.thumbnail_requests == before + 1);
    auto second = get(b, path, demo);
    auto first_reply = first.get();
    const auto waited = std::chrono::steady_clock::now() - start;
    check_error(first_reply, 504, "host_timeout");
    check_error(second, 504, "host_timeout");
    CHECK(h.thumbnail_requests == before + 1);
    CHECK(waited >= std::chrono::milliseconds(1900));

    // A late answer to the timed-out request is dropped; the next request asks again and works.
    h.thumbnails = test::FakeHost::Thumbnails::answer;
    auto late = h.thumbnail_request_msgs().back();
    h.send(
        {{"type", "thumbnail"}, {"request_id", late["request_id"]}, {"session_id", sid}, {"jpeg_base64", "/9j/4A=="}});
    auto ok = get(b, path, demo);
    REQUIRE(ok.status == 200);
    CHECK(h.thumbnail_requests == before + 2);
}

#include "common/url.hpp"

#include <catch2/catch.hpp>

using portico::parse_url;
using portico::UrlError;

TEST_CASE("URLs: the scheme asked for, ports and IPv6 brackets handled") {
    auto u = parse_url("https://127.0.0.1:8443", "https");
    REQUIRE(u);
    CHECK(u->scheme == "https");
    CHECK(u->host == "127.0.0.1");
    CHECK(u->port == "8443");
    CHECK(u->target == "/");
    u = parse_url("WSS://[::1]:9000/display?x=1", "wss");
    REQUIRE(u);
    CHECK(u->scheme == "wss");
    CHECK(u->host == "::1");
    CHECK(u->port == "9000");
    CHECK(u->target == "/display?x=1");
    CHECK(u->host_port() == "[::1]:9000");
    u = parse_url("wss://broker.example", "wss");
    REQUIRE(u);
    CHECK(u->port == "443");
    CHECK(u->target == "/");
    u = parse_url("wss://[fe80::1]/api/v1/control", "wss");
    REQUIRE(u);
    CHECK(u->host == "fe80::1");
    CHECK(u->port == "443");
    CHECK(u->host_port() == "[fe80::1]:443");
}

TEST_CASE("URLs: a query right after the authority, and a fragment, are handled") {
    auto u = parse_url("https://h:8443?next=/x#top", "https");
    REQUIRE(u);
    CHECK(u->host == "h");
    CHECK(u->port == "8443");
    CHECK(u->target == "/?next=/x");
    u = parse_url("https://h/#frag", "https");
    REQUIRE(u);
    CHECK(u->target == "/");
}

TEST_CASE("URLs: refusals say why") {
    auto code = [](const char* text, const char* scheme) {
        auto u = parse_url(text, scheme);
        REQUIRE_FALSE(u);
        CHECK(u.error().message.find(text) != std::string::npos);
        return u.error().code;
    };
    CHECK(code("http://127.0.0.1:80", "https") == UrlError::scheme);
    CHECK(code("ws://127.0.0.1/display", "wss") == UrlError::scheme);
    CHECK(code("https://x/", "wss") == UrlError::scheme);  // a valid URL of the other scheme
    CHECK(code("127.0.0.1:8443", "https") == UrlError::scheme);
    CHECK(code("https://:443/", "https") == UrlError::authority);
    CHECK(code("https://user:pw@h/", "https") == UrlError::authority);
    CHECK(code("wss://[::1/x", "wss") == UrlError::authority);
    CHECK(code("wss://[::1]x/", "wss") == UrlError::authority);
    CHECK(code("https://h:99999/", "https") == UrlError::port);
    CHECK(code("https://h:8a/", "https") == UrlError::port);
    CHECK(code("wss://x:0/", "wss") == UrlError::port);
    CHECK(code("wss://x:/", "wss") == UrlError::port);
    CHECK(code("wss://[::1]:/", "wss") == UrlError::port);
    CHECK(code("https://h/a b", "https") == UrlError::character);
    CHECK(code("https://h/\r\nX-Injected: 1", "https") == UrlError::character);
    CHECK(code("https://h\xc3\xa9/", "https") == UrlError::character);
}

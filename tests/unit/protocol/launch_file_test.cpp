// Launch files: what the broker writes reads back the same; a file cut short anywhere, edited, of
// another version or not a launch file at all is refused with a message saying so.
#include "protocol/launch_file.hpp"

#include <catch2/catch.hpp>

using namespace portico;
using namespace portico::protocol;

namespace {

LaunchFile sample(std::string session = {}) {
    LaunchFile f;
    f.broker = "https://broker.example.org:8443";
    f.broker_cert_sha256 = std::string(64, 'a');
    f.resource = "terminal";
    f.session = std::move(session);
    f.expires_at = 1'800'000'060;
    f.token = std::string(kLaunchTokenLength, 'x');
    return f;
}

std::string message_of(std::string_view text) {
    auto r = parse_launch_file(text);
    REQUIRE_FALSE(r.ok());
    return r.error().message;
}

}  // namespace

TEST_CASE("a launch file reads back as written", "[launch_file]") {
    for (const auto& session : {std::string(), std::string("s-42")}) {
        auto text = format_launch_file(sample(session));
        auto r = parse_launch_file(text);
        REQUIRE(r.ok());
        CHECK(r->broker == "https://broker.example.org:8443");
        CHECK(r->broker_cert_sha256 == std::string(64, 'a'));
        CHECK(r->resource == "terminal");
        CHECK(r->session == session);
        CHECK(r->expires_at == 1'800'000'060);
        CHECK(r->token == std::string(kLaunchTokenLength, 'x'));
    }
}

TEST_CASE("CRLF line ends, a BOM and comments are read", "[launch_file]") {
    std::string text = "\xEF\xBB\xBF# saved by a browser\r\n";
    for (char c : format_launch_file(sample())) {
        if (c == '\n') text += '\r';
        text += c;
    }
    REQUIRE(parse_launch_file(text).ok());
}

TEST_CASE("a launch file cut short anywhere is refused", "[launch_file]") {
    const auto text = format_launch_file(sample("s-42"));
    for (std::size_t n = 0; n < text.size(); ++n) {
        INFO("cut after " << n << " bytes");
        auto r = parse_launch_file(std::string_view(text).substr(0, n));
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == LaunchFileError::damaged);
    }
}

TEST_CASE("an edited launch file is refused with what is wrong", "[launch_file]") {
    auto f = sample();
    auto text = format_launch_file(f);
    auto replace = [&](const std::string& from, const std::string& to) {
        auto s = text;
        s.replace(s.find(from), from.size(), to);
        return s;
    };
    CHECK_THAT(message_of(replace("token=" + f.token, "token=" + f.token.substr(1))),
               Catch::Contains("token is not 43 base64url characters"));
    CHECK_THAT(message_of(replace("token=" + f.token, "token=" + std::string(42, 'x') + "!")),
               Catch::Contains("token"));
    CHECK_THAT(message_of(replace("https://", "http://")), Catch::Contains("https://"));
    CHECK_THAT(message_of(replace(std::string(64, 'a'), std::string(63, 'a'))), Catch::Contains("broker_cert_sha256"));
    CHECK_THAT(message_of(replace(std::string(64, 'a'), std::string(64, 'A'))), Catch::Contains("lower-case hex"));
    CHECK_THAT(message_of(replace("resource=terminal\n", "resource=terminal\nresource=other\n")),
               Catch::Contains("'resource' is given twice"));
    CHECK_THAT(message_of(replace("resource=terminal\n", "resource=terminal\nuser=alice\n")),
               Catch::Contains("unknown key 'user'"));
    CHECK_THAT(message_of(replace("expires_at=1800000060", "expires_at=soon")), Catch::Contains("expires_at"));
    CHECK_THAT(message_of(replace("resource=terminal\n", "")), Catch::Contains("lacks"));
    CHECK_THAT(message_of("GIF89a..."), Catch::Contains("cut short"));
    CHECK_THAT(message_of("<html>\n"), Catch::Contains("not a launch file"));
    CHECK_THAT(message_of(""), Catch::Contains("empty"));
    CHECK_THAT(message_of(std::string(kMaxLaunchFileBytes + 1, '\n')), Catch::Contains("larger than"));
}

TEST_CASE("a launch file of another version says so", "[launch_file]") {
    auto f = sample();
    f.version = 2;
    auto r = parse_launch_file(format_launch_file(f));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == LaunchFileError::unsupported_version);
    CHECK_THAT(r.error().message, Catch::Contains("version 2"));
}

TEST_CASE("launch tokens have one form", "[launch_file]") {
    CHECK(well_formed_launch_token(std::string(42, 'A') + "_"));
    CHECK_FALSE(well_formed_launch_token(std::string(42, 'A')));
    CHECK_FALSE(well_formed_launch_token(std::string(44, 'A')));
    CHECK_FALSE(well_formed_launch_token(std::string(42, 'A') + "="));
}

TEST_CASE("a launch link carries the file's fields and reads back as written", "[launch_file]") {
    for (const auto& session : {std::string(), std::string("s-42")}) {
        auto url = format_launch_url(sample(session));
        CHECK(url.rfind("portico://broker.example.org:8443/launch?version=1&broker_cert_sha256=", 0) == 0);
        CHECK(url.ends_with("&token=" + std::string(kLaunchTokenLength, 'x')));
        auto r = parse_launch_url(url);
        REQUIRE(r.ok());
        CHECK(r->broker == "https://broker.example.org:8443");
        CHECK(r->broker_cert_sha256 == std::string(64, 'a'));
        CHECK(r->resource == "terminal");
        CHECK(r->session == session);
        CHECK(r->expires_at == 1'800'000'060);
        CHECK(r->token == std::string(kLaunchTokenLength, 'x'));
    }
    // No port: the broker's is 443, as for any https URL.
    auto r = parse_launch_url("PORTICO://[::1]/launch?version=1&broker_cert_sha256=" + std::string(64, 'b') +
                              "&resource=r&expires_at=5&token=" + std::string(kLaunchTokenLength, 'y'));
    REQUIRE(r.ok());
    CHECK(r->broker == "https://[::1]:443");
}

TEST_CASE("a malformed launch link is refused with what is wrong", "[launch_file]") {
    const std::string good = format_launch_url(sample());
    auto message = [](const std::string& url) {
        auto r = parse_launch_url(url);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == LaunchFileError::damaged);
        return r.error().message;
    };
    CHECK(message("https://broker.example.org:8443/launch?version=1").find("portico://") != std::string::npos);
    CHECK(message("portico://user@broker:8443/launch?version=1").find("user name") != std::string::npos);
    CHECK(message("portico://broker:8443/open?version=1").find("/launch?") != std::string::npos);
    CHECK(message("portico://broker:99999/launch?version=1").find("port") != std::string::npos);
    CHECK(message("portico://a]b:c:8443/launch?version=1").find("no host name") != std::string::npos);
    CHECK(message("portico://b_x:8443/launch?version=1").find("no host name") != std::string::npos);
    CHECK(message(good.substr(0, good.size() - 1)).find("token") != std::string::npos);  // cut short
    CHECK(message(good.substr(0, good.find("&token"))).find("no token") != std::string::npos);
    CHECK(message(good + "&broker=https://evil:1").find("broker") != std::string::npos);
    CHECK(message(good + "&resource=other").find("twice") != std::string::npos);
    CHECK(message(good + "&password=hunter2").find("unknown key 'password'") != std::string::npos);
    CHECK(message(good + "&x%0Ay=1").find("escaped") != std::string::npos);
    CHECK(message(good + "&flag").find("without '='") != std::string::npos);
    CHECK(
        parse_launch_url("portico://b:1/launch?version=2&token=" + std::string(kLaunchTokenLength, 'x')).error().code ==
        LaunchFileError::unsupported_version);
    CHECK(message(std::string(5000, 'p')).find("longer") != std::string::npos);
}

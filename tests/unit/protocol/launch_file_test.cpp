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

// common/log: the text format as it always was, and the JSON format (PORTICO_LOG_FORMAT=json):
// every line one JSON object that any parser reads back, whatever bytes the message held.

#include "common/log_format.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <regex>
#include <string>

using namespace portico;

namespace {

// 2026-12-04T00:55:01.123Z
const std::chrono::system_clock::time_point kLogTestTime =
    std::chrono::system_clock::time_point(std::chrono::seconds(1796345701)) + std::chrono::milliseconds(123);

std::string parsed_msg(std::string_view msg) {
    auto line = log::format_line(log::Format::json, kLogTestTime, log::Level::warn, "broker", msg);
    INFO(line);
    REQUIRE(line.find('\n') == std::string::npos);
    auto j = nlohmann::json::parse(line);  // throws (fails the test) on anything that is not JSON
    return j.at("msg").get<std::string>();
}

}  // namespace

TEST_CASE("log json: a line is one object with ts (RFC 3339, ms, UTC), level, component and msg", "[log][unit]") {
    auto line = log::format_line(log::Format::json, kLogTestTime, log::Level::info, "host", "listening on 1.2.3.4:5");
    auto j = nlohmann::json::parse(line);
    CHECK(j.size() == 4);
    CHECK(j.at("ts") == "2026-12-04T00:55:01.123Z");
    CHECK(std::regex_match(j.at("ts").get<std::string>(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
    CHECK(j.at("level") == "info");
    CHECK(j.at("component") == "portico-host");
    CHECK(j.at("msg") == "listening on 1.2.3.4:5");
    // The packager's tag is already the program's name.
    auto pack = nlohmann::json::parse(
        log::format_line(log::Format::json, kLogTestTime, log::Level::error, "portico-pack", "x"));
    CHECK(pack.at("component") == "portico-pack");
    CHECK(pack.at("level") == "error");
}

TEST_CASE("log json: quotes, backslashes and every control character are escaped", "[log][unit]") {
    CHECK(log::json_string("a\"b\\c") == R"("a\"b\\c")");
    CHECK(log::json_string("l1\nl2\r\t\b\f") == R"("l1\nl2\r\t\b\f")");
    CHECK(log::json_string(std::string("nul\0x", 5)) == R"("nul\u0000x")");
    CHECK(log::json_string("\x1b[31mred\x7f") == R"("\u001b[31mred\u007f")");
    // C1 controls (U+0080..U+009F), which some terminals obey, are escaped like C0.
    CHECK(log::json_string(std::string("csi\xc2\x9b") + "2J") == R"("csi\u009b2J")");
    // Every byte value from 0 to 0x7f parses back as itself.
    std::string all;
    for (int c = 0; c < 0x80; ++c) all += static_cast<char>(c);
    CHECK(parsed_msg(all) == all);
    // A forged second line stays inside the first.
    CHECK(parsed_msg("ok\n{\"level\":\"error\"}") == "ok\n{\"level\":\"error\"}");
}

TEST_CASE("log json: invalid UTF-8 becomes U+FFFD, valid UTF-8 is kept", "[log][unit]") {
    const std::string fffd = "\xef\xbf\xbd";
    CHECK(log::json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") ==
          "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    CHECK(parsed_msg("\xff") == fffd);                                   // never a UTF-8 byte
    CHECK(parsed_msg("a\x80z") == "a" + fffd + "z");                     // a stray continuation byte
    CHECK(parsed_msg("\xc3") == fffd);                                   // cut at the end
    CHECK(parsed_msg("\xc3(") == fffd + "(");                            // lead byte without its continuation
    CHECK(parsed_msg("\xc0\xaf") == fffd + fffd);                        // overlong '/'
    CHECK(parsed_msg("\xe0\x80\xaf") == fffd + fffd + fffd);             // overlong, three bytes
    CHECK(parsed_msg("\xed\xa0\x80") == fffd + fffd + fffd);             // a UTF-16 surrogate
    CHECK(parsed_msg("\xf4\x90\x80\x80") == fffd + fffd + fffd + fffd);  // above U+10FFFF
    CHECK(parsed_msg("\xf0\x9f\x98") == fffd + fffd + fffd);             // truncated 4-byte sequence
    CHECK(parsed_msg("\xf4\x8f\xbf\xbf") == "\xf4\x8f\xbf\xbf");         // U+10FFFF itself is fine
}

TEST_CASE("log text: the format people read is unchanged and still escapes controls", "[log][unit]") {
    auto line = log::format_line(log::Format::text, kLogTestTime, log::Level::warn, "broker", "bad\nuser\x1b");
    CHECK(line == "00:55:01.123 WARN  [broker] bad\\nuser\\e");
}

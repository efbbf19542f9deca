// Golden test vectors of the display protocol (protocol/vectors/display.json): bytes and what they
// mean, read by this test and by the web client's (tests/browser/protocol.test.mjs), so the C++
// codec (protocol/display.cpp) and the JavaScript one (client/web/protocol.js) cannot drift apart.
//
// A vector's "message" names fields as docs/protocol.md does; binary fields are hex. The coded
// size of a video frame is the picture's size (the screen's when the frame is not reduced).
// `unit_protocol "[.write-vectors]"` rewrites the file from sample_messages() below: only for a
// deliberate protocol change, whose diff then shows every byte that moved.

#include "protocol/display.hpp"
#include "tests/support/hex.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

using json = nlohmann::json;
namespace proto = portico::protocol;

namespace {

const std::string kVectors = std::string(PORTICO_SOURCE_DIR) + "/protocol/vectors/display.json";

using portico::test::from_hex;
using portico::test::to_hex;

json rect(const proto::ScreenRect& r) { return {{"x", r.x}, {"y", r.y}, {"w", r.w}, {"h", r.h}}; }

// What a message means, in the vectors' terms.
json meaning(const proto::Message& m) {
    return std::visit(
        [](const auto& x) -> json {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, proto::Hello>) {
                return {{"type", "hello"}, {"version", x.version}, {"ticket", x.ticket}};
            } else if constexpr (std::is_same_v<T, proto::Key>) {
                return {{"type", "key"}, {"down", x.down}, {"code", x.code}};
            } else if constexpr (std::is_same_v<T, proto::Pointer>) {
                return {{"type", "pointer"}, {"x", x.x}, {"y", x.y}, {"buttons", x.buttons}};
            } else if constexpr (std::is_same_v<T, proto::Wheel>) {
                return {{"type", "wheel"}, {"dx", x.dx}, {"dy", x.dy}};
            } else if constexpr (std::is_same_v<T, proto::FrameAck>) {
                json j = {{"type", "frame_ack"}, {"frame_id", x.frame_id}};
                if (x.paint_us) j["paint_us"] = x.paint_us;  // optional on the wire
                return j;
            } else if constexpr (std::is_same_v<T, proto::KeyframeRequest>) {
                return {{"type", "keyframe_request"}};
            } else if constexpr (std::is_same_v<T, proto::Logoff>) {
                return {{"type", "logoff"}};
            } else if constexpr (std::is_same_v<T, proto::ResizeRequest>) {
                return {{"type", "resize_request"}, {"width", x.width}, {"height", x.height}};
            } else if constexpr (std::is_same_v<T, proto::Clipboard>) {
                if (x.png)
                    return {{"type", "clipboard"},
                            {"more", x.more},
                            {"png", to_hex(std::vector<std::uint8_t>(x.text.begin(), x.text.end()))}};
                return {{"type", "clipboard"}, {"more", x.more}, {"text", x.text}};
            } else if constexpr (std::is_same_v<T, proto::Ping>) {
                return {{"type", "ping"}, {"id", x.id}, {"client_time", x.client_time}};
            } else if constexpr (std::is_same_v<T, proto::KeyChar>) {
                return {{"type", "key_char"}, {"down", x.down}, {"codepoint", x.codepoint}, {"code", x.code}};
            } else if constexpr (std::is_same_v<T, proto::ServerHello>) {
                return {{"type", "server_hello"},
                        {"version", x.version},
                        {"width", x.width},
                        {"height", x.height},
                        {"session_id", x.session_id}};
            } else if constexpr (std::is_same_v<T, proto::VideoFrame>) {
                json dirty = json::array();
                for (const auto& r : x.dirty) dirty.push_back(rect(r));
                return {{"type", "video_frame"},
                        {"frame_id", x.frame_id},
                        {"keyframe", x.keyframe},
                        {"width", x.width},
                        {"height", x.height},
                        {"coded_width", x.coded_width ? x.coded_width : x.width},
                        {"coded_height", x.coded_height ? x.coded_height : x.height},
                        {"capture_time_us", x.capture_time_us},
                        {"dirty", dirty},
                        {"data", to_hex(x.data)}};
            } else if constexpr (std::is_same_v<T, proto::TileFrame>) {
                json copies = json::array(), tiles = json::array();
                for (const auto& c : x.copies)
                    copies.push_back({{"x", c.x}, {"y", c.y}, {"w", c.w}, {"h", c.h}, {"dx", c.dx}, {"dy", c.dy}});
                for (const auto& t : x.tiles)
                    tiles.push_back({{"x", t.x},
                                     {"y", t.y},
                                     {"w", t.w},
                                     {"h", t.h},
                                     {"encoding", static_cast<int>(t.encoding)},
                                     {"data", to_hex(t.data)}});
                return {{"type", "tile_frame"}, {"frame_id", x.frame_id}, {"width", x.width},
                        {"height", x.height},   {"copies", copies},       {"tiles", tiles}};
            } else if constexpr (std::is_same_v<T, proto::Resize>) {
                return {{"type", "resize"}, {"width", x.width}, {"height", x.height}};
            } else if constexpr (std::is_same_v<T, proto::SessionEnded>) {
                return {{"type", "session_ended"}, {"reason", static_cast<int>(x.reason)}, {"message", x.message}};
            } else if constexpr (std::is_same_v<T, proto::ErrorMsg>) {
                return {{"type", "error"}, {"code", static_cast<int>(x.code)}, {"message", x.message}};
            } else if constexpr (std::is_same_v<T, proto::ClipboardData>) {
                if (x.png)
                    return {{"type", "clipboard_data"},
                            {"more", x.more},
                            {"png", to_hex(std::vector<std::uint8_t>(x.text.begin(), x.text.end()))}};
                return {{"type", "clipboard_data"}, {"more", x.more}, {"text", x.text}};
            } else if constexpr (std::is_same_v<T, proto::CursorShape>) {
                return {{"type", "cursor_shape"}, {"id", x.id},         {"hot_x", x.hot_x},      {"hot_y", x.hot_y},
                        {"width", x.width},       {"height", x.height}, {"rgba", to_hex(x.rgba)}};
            } else if constexpr (std::is_same_v<T, proto::Pong>) {
                return {{"type", "pong"}, {"id", x.id}, {"client_time", x.client_time}};
            } else if constexpr (std::is_same_v<T, proto::RelativePointer>) {
                return {{"type", "relative_pointer"}, {"dx", x.dx}, {"dy", x.dy}, {"buttons", x.buttons}};
            } else if constexpr (std::is_same_v<T, proto::PointerMode>) {
                return {{"type", "pointer_mode"}, {"relative", x.relative}};
            } else {
                static_assert(std::is_same_v<T, proto::ShadowNotice>, "every message has a meaning");
                return {{"type", "shadow_notice"}, {"count", x.count}, {"names", x.names}};
            }
        },
        m);
}

// One or more samples of every message, the edges included (optional fields absent and present,
// signed values, non-ASCII text, 64-bit times above 2^32, reduced video, copies without tiles).
std::vector<std::pair<std::string, proto::Message>> sample_messages() {
    proto::VideoFrame key;
    key.frame_id = 1;
    key.keyframe = true;
    key.width = 1280;
    key.height = 800;
    key.capture_time_us = 1764720000123456ULL;
    key.data = {0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f};
    proto::VideoFrame reduced = key;
    reduced.frame_id = 2;
    reduced.keyframe = false;
    reduced.coded_width = 640;
    reduced.coded_height = 400;
    reduced.dirty = {{0, 0, 640, 400}, {10, 20, 30, 40}};
    reduced.data = {0, 0, 0, 1, 0x41, 0x9a};
    proto::TileFrame tiles;
    tiles.frame_id = 70000;
    tiles.width = 1920;
    tiles.height = 1080;
    tiles.tiles = {{0, 0, 64, 64, proto::TileEncoding::jpeg, {0xff, 0xd8, 0xff, 0xd9}},
                   {64, 0, 16, 16, proto::TileEncoding::png, {0x89, 0x50, 0x4e, 0x47}}};
    proto::TileFrame scrolled;
    scrolled.frame_id = 3;
    scrolled.width = 800;
    scrolled.height = 600;
    scrolled.copies = {{0, 16, 800, 584, 0, 0}};
    proto::TileFrame scrolled_and_painted = scrolled;
    scrolled_and_painted.tiles = {{0, 584, 800, 16, proto::TileEncoding::palette, {0, 0x23, 0x1e, 0x1e}}};
    proto::CursorShape arrow{7, 1, 0, 2, 1, {255, 0, 0, 255, 0, 0, 0, 0}};
    return {
        {"hello", proto::Hello{3, "eyJ0aWNrZXQiOjF9.c2ln"}},
        {"key down", proto::Key{true, 38}},
        {"key up, highest code", proto::Key{false, proto::kMaxKeyCode}},
        {"pointer with buttons", proto::Pointer{1919, 1079, 5}},
        {"wheel, signed", proto::Wheel{-120, 240}},
        {"relative pointer, signed, a button held", proto::RelativePointer{-5, 32767, 1}},
        {"frame ack", proto::FrameAck{123456, 0}},
        {"frame ack with paint time", proto::FrameAck{123457, 16500}},
        {"keyframe request", proto::KeyframeRequest{}},
        {"logoff", proto::Logoff{}},
        {"resize request", proto::ResizeRequest{1366, 768}},
        {"clipboard, non-ASCII, more to come", proto::Clipboard{"gr\xc3\xbc\xc3\x9f dich \xe2\x82\xac", true}},
        {"clipboard image, one piece", proto::Clipboard{std::string("\x89PNG\r\n\x1a\n\x00\xff", 10), false, true}},
        {"ping, time above 2^32", proto::Ping{9, 1764720000123ULL}},
        {"key char without a key", proto::KeyChar{true, 0x20ac, 0}},
        {"key char with its key", proto::KeyChar{false, 0x61, 30}},
        {"server hello", proto::ServerHello{3, 1920, 1080, "s-7f3a"}},
        {"video keyframe", key},
        {"video, reduced, with dirty rectangles", reduced},
        {"tiles, jpeg and png", tiles},
        {"copy only (a scroll)", scrolled},
        {"copy then a tile", scrolled_and_painted},
        {"resize", proto::Resize{2560, 1440}},
        {"session ended", proto::SessionEnded{proto::EndReason::logged_off, "Logged off"}},
        {"error", proto::ErrorMsg{proto::ErrorCode::ticket_expired, "the ticket has expired"}},
        {"clipboard data, last chunk", proto::ClipboardData{"line 1\nline 2", false}},
        {"clipboard data, an image's first piece",
         proto::ClipboardData{std::string("\x89PNG\r\n\x1a\n", 8), true, true}},
        {"cursor shape", arrow},
        {"cursor hidden", proto::CursorShape{8, 0, 0, 0, 0, {}}},
        {"pong", proto::Pong{9, 1764720000123ULL}},
        {"shadow notice", proto::ShadowNotice{2, {"helpdesk-ana", "J\xc3\xb6rg"}}},
        {"shadow notice, nobody any more", proto::ShadowNotice{0, {}}},
        {"pointer mode relative", proto::PointerMode{true}},
        {"pointer mode absolute", proto::PointerMode{false}},
    };
}

}  // namespace

TEST_CASE("display protocol: the golden vectors decode to their meaning and encode to their bytes", "[vectors]") {
    std::ifstream in(kVectors);
    REQUIRE(in);
    json doc = json::parse(in);
    REQUIRE(doc["vectors"].size() >= 25);
    std::set<std::string> types;
    for (const auto& v : doc["vectors"]) {
        INFO(v["name"].get<std::string>());
        auto bytes = from_hex(v["hex"].get<std::string>());
        auto decoded = proto::decode(bytes);
        REQUIRE(decoded.ok());
        CHECK(meaning(*decoded) == v["message"]);
        CHECK(to_hex(proto::encode(*decoded)) == v["hex"].get<std::string>());
        types.insert(v["message"]["type"].get<std::string>());
    }
    CHECK(types.size() == std::variant_size_v<proto::Message>);  // every message has a vector
}

TEST_CASE("display protocol: the golden vectors are the ones sample_messages() makes", "[vectors]") {
    std::ifstream in(kVectors);
    REQUIRE(in);
    json doc = json::parse(in);
    auto samples = sample_messages();
    REQUIRE(doc["vectors"].size() == samples.size());
    for (std::size_t i = 0; i < samples.size(); ++i) {
        INFO(samples[i].first);
        CHECK(doc["vectors"][i]["name"] == samples[i].first);
        CHECK(doc["vectors"][i]["hex"] == to_hex(proto::encode(samples[i].second)));
        CHECK(doc["vectors"][i]["message"] == meaning(samples[i].second));
    }
}

TEST_CASE("write the golden vectors", "[.write-vectors]") {
    json vectors = json::array();
    for (const auto& [name, m] : sample_messages())
        vectors.push_back({{"name", name}, {"hex", to_hex(proto::encode(m))}, {"message", meaning(m)}});
    json doc = {{"about",
                 "Display protocol test vectors (docs/protocol.md): bytes and meaning. Read by "
                 "tests/unit/protocol/vectors_test.cpp and tests/browser/protocol.test.mjs; written by "
                 "unit_protocol \"[.write-vectors]\"."},
                {"vectors", vectors}};
    std::ofstream(kVectors) << doc.dump(1) << "\n";
}

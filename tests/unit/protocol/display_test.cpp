// Display protocol: every message survives a round trip, and malformed input is refused with an
// error code instead of crashing.
#include "protocol/display.hpp"

#include <catch2/catch.hpp>

using namespace portico::protocol;

namespace {

template <class T>
T round_trip(const T& in) {
    auto bytes = encode(Message{in});
    auto out = decode(bytes);
    REQUIRE(out.ok());
    REQUIRE(std::holds_alternative<T>(out.value()));
    return std::get<T>(out.value());
}

ErrorCode refusal(std::vector<std::uint8_t> bytes) {
    auto r = decode(bytes);
    REQUIRE_FALSE(r.ok());
    return r.error().code;
}

}  // namespace

TEST_CASE("client messages round trip", "[protocol]") {
    CHECK(round_trip(Hello{1, "abc.def"}).ticket == "abc.def");
    auto k = round_trip(Key{true, 30});
    CHECK(k.down);
    CHECK(k.code == 30);
    auto p = round_trip(Pointer{640, 399, 5});
    CHECK(p.x == 640);
    CHECK(p.y == 399);
    CHECK(p.buttons == 5);
    auto w = round_trip(Wheel{-1, 3});
    CHECK(w.dx == -1);
    CHECK(w.dy == 3);
    CHECK(round_trip(FrameAck{0xdeadbeef}).frame_id == 0xdeadbeef);
    round_trip(KeyframeRequest{});
    round_trip(Logoff{});
}

TEST_CASE("host messages round trip", "[protocol]") {
    auto sh = round_trip(ServerHello{1, 1280, 800, "sess-1"});
    CHECK(sh.width == 1280);
    CHECK(sh.session_id == "sess-1");

    VideoFrame v{7, true, 1920, 1080, 123456789012ULL, {}, {0, 0, 0, 1, 0x65, 0x88}};
    auto v2 = round_trip(v);
    CHECK(v2.frame_id == 7);
    CHECK(v2.keyframe);
    CHECK(v2.capture_time_us == 123456789012ULL);
    CHECK(v2.dirty.empty());
    CHECK(v2.data == v.data);

    VideoFrame delta{8, false, 1920, 1080, 5, {{0, 0, 16, 16}, {1904, 1064, 16, 16}}, {0, 0, 0, 1, 0x41}};
    auto d2 = round_trip(delta);
    REQUIRE(d2.dirty.size() == 2);
    CHECK(d2.dirty[1].x == 1904);
    CHECK(d2.dirty[1].h == 16);
    CHECK(d2.data == delta.data);

    TileFrame t{9, 1280, 800, {}, {}};
    t.tiles.push_back({0, 0, 64, 64, TileEncoding::jpeg, {1, 2, 3}});
    t.tiles.push_back({1216, 736, 64, 64, TileEncoding::png, {4, 5}});
    t.tiles.push_back({8, 16, 4, 4, TileEncoding::palette, {0, 1, 2, 3}});
    t.tiles.push_back({12, 16, 4, 4, TileEncoding::palette_compact, {0, 1, 0x80}});
    auto t2 = round_trip(t);
    REQUIRE(t2.tiles.size() == 4);
    CHECK(t2.tiles[2].encoding == TileEncoding::palette);
    CHECK(t2.tiles[3].encoding == TileEncoding::palette_compact);
    CHECK(t2.tiles[3].data == std::vector<std::uint8_t>{0, 1, 0x80});
    CHECK(t2.tiles[1].x == 1216);
    CHECK(t2.tiles[1].encoding == TileEncoding::png);
    CHECK(t2.tiles[1].data == std::vector<std::uint8_t>{4, 5});

    // A scroll: copies only, or copies and the newly exposed strip.
    TileFrame scroll{10, 1280, 800, {{0, 16, 1280, 784, 0, 0}}, {}};
    auto s2 = round_trip(scroll);
    REQUIRE(s2.copies.size() == 1);
    CHECK(s2.copies[0].y == 16);
    CHECK(s2.copies[0].h == 784);
    CHECK(s2.copies[0].dy == 0);
    CHECK(s2.tiles.empty());

    CHECK(round_trip(SessionEnded{EndReason::logged_off, "bye"}).reason == EndReason::logged_off);
    auto e = round_trip(ErrorMsg{ErrorCode::ticket_expired, "late"});
    CHECK(e.code == ErrorCode::ticket_expired);
    CHECK(e.message == "late");
}

TEST_CASE("little-endian layout matches the spec", "[protocol]") {
    auto bytes = encode(Message{Pointer{0x0102, 0x0304, 1}});
    CHECK(bytes == std::vector<std::uint8_t>{0x03, 0x02, 0x01, 0x04, 0x03, 0x01});
}

TEST_CASE("truncated messages are refused at every length", "[protocol][bad-input]") {
    TileFrame t{9, 1280, 800, {{0, 8, 64, 64, 0, 0}}, {{10, 10, 64, 64, TileEncoding::jpeg, {1, 2, 3, 4}}}};
    std::vector<std::vector<std::uint8_t>> samples = {
        encode(Message{Hello{1, "ticket"}}),
        encode(Message{Key{true, 30}}),
        encode(Message{Pointer{1, 2, 1}}),
        encode(Message{ServerHello{1, 640, 480, "s"}}),
        encode(Message{t}),
        encode(Message{SessionEnded{EndReason::error, "x"}}),
        encode(Message{VideoFrame{1, false, 640, 480, 5, {{0, 0, 8, 8}}, {9}}}),
    };
    for (const auto& full : samples) {
        for (std::size_t n = 0; n < full.size(); ++n) {
            std::vector<std::uint8_t> cut(full.begin(), full.begin() + static_cast<long>(n));
            INFO("type " << int(full[0]) << " cut at " << n);
            CHECK(refusal(cut) == ErrorCode::malformed);
        }
    }
}

TEST_CASE("trailing bytes, unknown types and out-of-range fields are refused", "[protocol][bad-input]") {
    auto key = encode(Message{Key{true, 30}});
    key.push_back(0);
    CHECK(refusal(key) == ErrorCode::malformed);
    CHECK(refusal({0x42}) == ErrorCode::malformed);
    CHECK(refusal({0x02, 2, 30, 0}) == ErrorCode::malformed);       // down must be 0/1
    CHECK(refusal({0x02, 1, 0, 0}) == ErrorCode::malformed);        // key code 0
    CHECK(refusal({0x02, 1, 0, 3}) == ErrorCode::malformed);        // key code 768
    CHECK(refusal({0x03, 0, 0, 0, 0, 8}) == ErrorCode::malformed);  // unknown button bit
    CHECK(refusal({0x86, 99, 0, 0, 0}) == ErrorCode::malformed);    // unknown error code
}

TEST_CASE("oversized fields are refused", "[protocol][bad-input]") {
    // A string longer than the 4 KiB limit.
    std::vector<std::uint8_t> hello = {0x01, 1, 0, 0x01, 0x10};
    hello.resize(hello.size() + 0x1001, 'a');
    CHECK(refusal(hello) == ErrorCode::malformed);

    // A tile frame announcing more tiles than the limit, or tiles outside the screen.
    std::vector<std::uint8_t> many = {0x83, 1, 0, 0, 0, 0x80, 2, 0xe0, 1, 0, 0, 0x01, 0x20};
    CHECK(refusal(many) == ErrorCode::malformed);
    std::vector<std::uint8_t> nothing = {0x83, 1, 0, 0, 0, 0x80, 2, 0xe0, 1, 0, 0, 0, 0};  // no copies, no tiles
    CHECK(refusal(nothing) == ErrorCode::malformed);
    TileFrame outside{1, 640, 480, {}, {{600, 0, 64, 64, TileEncoding::jpeg, {1}}}};
    CHECK(refusal(encode(Message{outside})) == ErrorCode::malformed);
    TileFrame copy_from_outside{1, 640, 480, {{0, 440, 64, 64, 0, 0}}, {}};
    CHECK(refusal(encode(Message{copy_from_outside})) == ErrorCode::malformed);
    TileFrame copy_to_outside{1, 640, 480, {{0, 0, 64, 64, 600, 0}}, {}};
    CHECK(refusal(encode(Message{copy_to_outside})) == ErrorCode::malformed);
    TileFrame empty_copy{1, 640, 480, {{0, 0, 0, 64, 10, 0}}, {}};
    CHECK(refusal(encode(Message{empty_copy})) == ErrorCode::malformed);
    VideoFrame dirty_outside{1, false, 640, 480, 5, {{630, 0, 16, 16}}, {9}};
    CHECK(refusal(encode(Message{dirty_outside})) == ErrorCode::malformed);
    for (int encoding : {0, 5, 255}) {
        TileFrame unknown_encoding{1, 640, 480, {}, {{0, 0, 8, 8, static_cast<TileEncoding>(encoding), {1}}}};
        CHECK(refusal(encode(Message{unknown_encoding})) == ErrorCode::malformed);
    }

    // A tile whose length field promises more bytes than the message holds.
    auto t = encode(Message{TileFrame{1, 640, 480, {}, {{0, 0, 8, 8, TileEncoding::jpeg, {1, 2, 3}}}}});
    t[t.size() - 4 - 3] = 0xff;  // low byte of the u32 length
    CHECK(refusal(t) == ErrorCode::malformed);

    // Screen sizes beyond 8192.
    CHECK(refusal(encode(Message{ServerHello{1, 9000, 480, "s"}})) == ErrorCode::malformed);

    // A whole message beyond 16 MiB.
    std::vector<std::uint8_t> huge(kMaxMessageBytes + 1, 0);
    huge[0] = 0x82;
    CHECK(refusal(huge) == ErrorCode::too_large);
}

TEST_CASE("empty input is refused", "[protocol][bad-input]") { CHECK(refusal({}) == ErrorCode::malformed); }

TEST_CASE("resize messages round trip with the spec's layout and bounds", "[protocol]") {
    auto rq = round_trip(ResizeRequest{1920, 1080});
    CHECK(rq.width == 1920);
    CHECK(rq.height == 1080);
    auto rs = round_trip(Resize{1366, 768});
    CHECK(rs.width == 1366);
    CHECK(rs.height == 768);
    CHECK(encode(ResizeRequest{0x0102, 0x0304}) == std::vector<std::uint8_t>{0x08, 0x02, 0x01, 0x04, 0x03});
    CHECK(encode(Resize{0x0102, 0x0304}) == std::vector<std::uint8_t>{0x84, 0x02, 0x01, 0x04, 0x03});
    // A client may ask for 64..8192; odd sizes are the host's business (it rounds them down).
    round_trip(ResizeRequest{64, 8192});
    round_trip(ResizeRequest{1001, 777});
    CHECK(refusal({0x08, 63, 0, 0x00, 0x04}) == ErrorCode::malformed);
    CHECK(refusal({0x08, 0x00, 0x04, 0x01, 0x20}) == ErrorCode::malformed);  // height 8193
    CHECK(refusal({0x84, 0, 0, 0x00, 0x04}) == ErrorCode::malformed);
    CHECK(refusal({0x08, 0x00, 0x04, 0x00}) == ErrorCode::malformed);           // truncated
    CHECK(refusal({0x84, 0x00, 0x04, 0x00, 0x04, 0}) == ErrorCode::malformed);  // trailing byte
}

TEST_CASE("a resize request may carry a monitor layout, and a bad layout is refused with its reason", "[protocol]") {
    // Two monitors side by side, the right one primary: 1824x768 = 1024x768 + 800x600.
    ResizeRequest two{1824, 768, {{0, 0, 1024, 768}, {1024, 0, 800, 600}}, 1};
    auto rq = round_trip(two);
    CHECK(rq.width == 1824);
    CHECK(rq.monitors == two.monitors);
    CHECK(rq.primary == 1);
    CHECK(encode(ResizeRequest{0x0102, 0x0304, {{1, 2, 3, 4}}, 0}) ==
          std::vector<std::uint8_t>{0x08, 0x02, 0x01, 0x04, 0x03, 1, 0, 1, 0, 2, 0, 3, 0, 4, 0});
    // Without a layout the message is the web client's four bytes, as before.
    CHECK(round_trip(ResizeRequest{800, 600}).monitors.empty());
    CHECK(round_trip(ResizeRequest{1824, 768, {{0, 0, 1824, 768}}, 0}).monitors.size() == 1);

    auto why = [](const ResizeRequest& m) {
        auto r = decode(encode(m));
        REQUIRE_FALSE(r);
        CHECK(r.error().code == ErrorCode::malformed);
        return r.error().message;
    };
    CHECK_THAT(why(ResizeRequest{1824, 768, {{0, 0, 1024, 768}, {1000, 0, 800, 600}}, 0}),
               Catch::Contains("monitor 1 overlaps monitor 0"));
    CHECK_THAT(why(ResizeRequest{1824, 768, {{0, 0, 1024, 768}, {1024, 0, 801, 600}}, 0}),
               Catch::Contains("reaches outside the 1824x768 screen"));
    CHECK_THAT(why(ResizeRequest{1824, 768, {{0, 0, 1024, 768}, {1024, 0, 0, 600}}, 0}),
               Catch::Contains("monitor 1 has no area"));
    CHECK_THAT(why(ResizeRequest{1824, 768, {{0, 0, 1024, 768}, {1024, 0, 800, 600}}, 2}),
               Catch::Contains("primary monitor 2 is not one of the 2"));
    std::vector<MonitorRect> seventeen;
    for (std::uint16_t i = 0; i < 17; ++i) seventeen.push_back({static_cast<std::uint16_t>(i * 64), 0, 64, 64});
    CHECK_THAT(why(ResizeRequest{1088, 64, seventeen, 0}), Catch::Contains("17 monitors (1..16 allowed)"));
    // Zero monitors, a truncated rectangle, and a byte too many.
    CHECK(refusal({0x08, 0x00, 0x04, 0x00, 0x03, 0, 0}) == ErrorCode::malformed);
    CHECK(refusal({0x08, 0x00, 0x04, 0x00, 0x03, 1, 0, 0, 0, 0, 0, 0, 4}) == ErrorCode::malformed);
    CHECK(refusal({0x08, 0x00, 0x04, 0x00, 0x03, 1, 0, 0, 0, 0, 0, 0, 4, 0, 3, 9}) == ErrorCode::malformed);
    CHECK(decode(std::vector<std::uint8_t>{0x08, 0x00, 0x04, 0x00, 0x03, 1, 0, 0, 0, 0, 0, 0, 4, 0, 3}).ok());
}

TEST_CASE("a layout is cut to the screen the host made", "[protocol]") {
    const std::vector<MonitorRect> two{{0, 0, 1024, 768}, {1024, 0, 800, 600}};
    // The screen the client asked for: nothing changes.
    auto same = fit_monitor_layout(1824, 768, two, 1);
    CHECK(same.monitors == two);
    CHECK(same.primary == 1);
    CHECK(same.dropped == 0);
    // Clamped narrower: the right monitor is cut at the edge.
    auto cut = fit_monitor_layout(1800, 700, two, 1);
    CHECK(cut.monitors == std::vector<MonitorRect>{{0, 0, 1024, 700}, {1024, 0, 776, 600}});
    CHECK(cut.primary == 1);
    // Clamped so that the primary lies outside: it is dropped, the first one left is primary.
    auto dropped = fit_monitor_layout(1024, 768, two, 1);
    CHECK(dropped.monitors == std::vector<MonitorRect>{{0, 0, 1024, 768}});
    CHECK(dropped.primary == 0);
    CHECK(dropped.dropped == 1);
    CHECK(fit_monitor_layout(800, 600, {}, 0).monitors.empty());
}

TEST_CASE("clipboard, ping, key_char and cursor messages round trip with the spec's layout", "[protocol]") {
    auto c = round_trip(Clipboard{"h\xc3\xa9llo \xe2\x82\xac", true});
    CHECK(c.text == "h\xc3\xa9llo \xe2\x82\xac");
    CHECK(c.more);
    CHECK(encode(Message{Clipboard{"ab"}}) == std::vector<std::uint8_t>{0x09, 0, 2, 0, 0, 0, 'a', 'b'});
    CHECK(round_trip(ClipboardData{"copied"}).text == "copied");
    CHECK(encode(Message{ClipboardData{""}}) == std::vector<std::uint8_t>{0x87, 0, 0, 0, 0, 0});
    // An image (flag bit 1): raw bytes, no UTF-8 rule, up to 8 MiB in one message.
    CHECK(encode(Message{Clipboard{"\x89\xff", true, true}}) ==
          std::vector<std::uint8_t>{0x09, 3, 2, 0, 0, 0, 0x89, 0xff});
    auto img = round_trip(ClipboardData{std::string(kMaxClipboardImageBytes, '\xff'), false, true});
    CHECK(img.png);
    CHECK(img.text.size() == kMaxClipboardImageBytes);
    CHECK(looks_like_png(std::string("\x89PNG\r\n\x1a\n...", 11)));
    CHECK_FALSE(looks_like_png("\x89PNG"));

    auto p = round_trip(Ping{7, 0x0102030405060708ULL});
    CHECK(p.id == 7);
    CHECK(p.client_time == 0x0102030405060708ULL);
    auto pong = round_trip(Pong{7, 99});
    CHECK(pong.client_time == 99);
    CHECK(encode(Message{Ping{1, 2}}) == std::vector<std::uint8_t>{0x0a, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0});

    auto k = round_trip(KeyChar{true, 0x20ac, 18});
    CHECK(k.down);
    CHECK(k.codepoint == 0x20ac);
    CHECK(k.code == 18);
    CHECK(encode(Message{KeyChar{false, 0x40, 0}}) == std::vector<std::uint8_t>{0x0b, 0, 0x40, 0, 0, 0, 0, 0});

    CursorShape cs{42, 1, 2, 3, 4, std::vector<std::uint8_t>(3 * 4 * 4, 0x7f)};
    auto cs2 = round_trip(cs);
    CHECK(cs2.id == 42);
    CHECK(cs2.hot_y == 2);
    CHECK(cs2.rgba == cs.rgba);
    CHECK(round_trip(CursorShape{5, 0, 0, 0, 0, {}}).width == 0);  // hidden cursor
}

TEST_CASE("bad clipboard, key_char and cursor messages are refused", "[protocol][bad-input]") {
    for (auto full :
         {encode(Message{Clipboard{"abc"}}), encode(Message{Ping{1, 2}}), encode(Message{KeyChar{true, 65, 30}}),
          encode(Message{CursorShape{1, 0, 0, 1, 1, {1, 2, 3, 4}}})}) {
        for (std::size_t n = 0; n < full.size(); ++n) {
            std::vector<std::uint8_t> cut(full.begin(), full.begin() + static_cast<long>(n));
            INFO("type " << int(full[0]) << " cut at " << n);
            CHECK(refusal(cut) == ErrorCode::malformed);
        }
        full.push_back(0);
        CHECK(refusal(full) == ErrorCode::malformed);
    }
    CHECK(refusal({0x09, 0, 2, 0, 0, 0, 0xc3, 0x28}) == ErrorCode::malformed);  // invalid UTF-8
    CHECK(refusal({0x09, 0, 2, 0, 0, 0, 0xed, 0xa0}) == ErrorCode::malformed);  // truncated sequence
    CHECK(refusal({0x09, 4, 0, 0, 0, 0}) == ErrorCode::malformed);              // unknown flags
    CHECK(refusal({0x09, 0, 1, 0, 0x10, 0}) == ErrorCode::too_large);           // 1 MiB + 1 announced
    CHECK(refusal({0x87, 2, 1, 0, 0x80, 0}) == ErrorCode::too_large);           // an image of 8 MiB + 1
    CHECK(refusal({0x0b, 1, 0x0a, 0, 0, 0, 0, 0}) == ErrorCode::malformed);     // control character
    CHECK(refusal({0x0b, 1, 0x00, 0xd8, 0, 0, 0, 0}) == ErrorCode::malformed);  // surrogate
    CHECK(refusal({0x0b, 1, 0, 0, 0x11, 0, 0, 0}) == ErrorCode::malformed);     // beyond U+10FFFF
    CHECK(refusal({0x0b, 2, 0x41, 0, 0, 0, 0, 0}) == ErrorCode::malformed);     // down must be 0/1
    CHECK(refusal({0x0b, 1, 0x41, 0, 0, 0, 0, 3}) == ErrorCode::malformed);     // code 768
    CHECK(refusal(encode(Message{CursorShape{1, 0, 0, 257, 1, std::vector<std::uint8_t>(257 * 4)}})) ==
          ErrorCode::malformed);
    CHECK(refusal(encode(Message{CursorShape{1, 2, 0, 2, 2, std::vector<std::uint8_t>(16)}})) ==
          ErrorCode::malformed);  // hotspot
    CHECK(refusal(encode(Message{CursorShape{1, 0, 0, 0, 2, {}}})) == ErrorCode::malformed);
    CHECK(valid_utf8("\xf0\x9f\x98\x80"));
    CHECK_FALSE(valid_utf8("\xc0\xaf"));  // overlong
}

TEST_CASE("frame acks may carry the client's paint time and older 5-byte acks still decode", "[protocol]") {
    auto a = round_trip(FrameAck{12, 8500});
    CHECK(a.frame_id == 12);
    CHECK(a.paint_us == 8500);
    auto old = decode(std::vector<std::uint8_t>{0x05, 12, 0, 0, 0});
    REQUIRE(old.ok());
    CHECK(std::get<FrameAck>(old.value()).paint_us == 0);
    CHECK(encode(Message{FrameAck{12, 0}}).size() == 5);                // nothing to report: the old layout
    CHECK(refusal({0x05, 12, 0, 0, 0, 1, 0}) == ErrorCode::malformed);  // a cut paint time
    CHECK(refusal({0x05, 12, 0, 0, 0, 1, 0, 0, 0, 9}) == ErrorCode::malformed);
}

TEST_CASE("reduced-resolution video frames carry their coded size inside the screen", "[protocol]") {
    VideoFrame v{3, false, 1920, 1040, 7, {{0, 0, 64, 64}}, {0, 0, 0, 1, 0x41}, 960, 520};
    auto bytes = encode(Message{v});
    CHECK(bytes[5] == 2);  // flags: bit 1 = coded size follows
    auto v2 = round_trip(v);
    CHECK(v2.coded_width == 960);
    CHECK(v2.coded_height == 520);
    CHECK(v2.width == 1920);
    REQUIRE(v2.dirty.size() == 1);
    CHECK(v2.data == v.data);
    CHECK(round_trip(VideoFrame{4, true, 640, 480, 1, {}, {1}}).coded_width == 0);

    // The access unit is the rest of the message, so only cuts into the header are short.
    for (std::size_t n = 0; n <= bytes.size() - v.data.size(); ++n) {
        std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(n));
        INFO("cut at " << n);
        CHECK(refusal(cut) == ErrorCode::malformed);
    }
    VideoFrame larger = v;
    larger.coded_width = 1922;  // bigger than the screen
    CHECK(refusal(encode(Message{larger})) == ErrorCode::malformed);
    VideoFrame zero = v;
    zero.coded_width = 960;
    zero.coded_height = 0;
    CHECK(refusal(encode(Message{zero})) == ErrorCode::malformed);
    auto unknown_flag = bytes;
    unknown_flag[5] = 4;
    CHECK(refusal(unknown_flag) == ErrorCode::malformed);
}

TEST_CASE("shadow notices round trip with the spec's layout and bounds", "[protocol]") {
    // 0x8A, count u16, n u8, then n length-prefixed UTF-8 names.
    CHECK(encode(Message{ShadowNotice{2, {"hd"}}}) == std::vector<std::uint8_t>{0x8A, 2, 0, 1, 2, 0, 'h', 'd'});
    auto n = round_trip(ShadowNotice{3, {"helpdesk", "Zoë"}});
    CHECK(n.count == 3);
    CHECK(n.names == std::vector<std::string>{"helpdesk", "Zoë"});
    auto none = round_trip(ShadowNotice{0, {}});  // the last watcher left
    CHECK(none.count == 0);
    CHECK(none.names.empty());

    CHECK(refusal({0x8A, 0, 0, 1, 1, 0, 'x'}) == ErrorCode::malformed);   // a name but nobody watching
    CHECK(refusal({0x8A, 1, 0, 1, 0, 0}) == ErrorCode::malformed);        // empty name
    CHECK(refusal({0x8A, 1, 0, 1, 1, 0, 0xff}) == ErrorCode::malformed);  // not UTF-8
    CHECK(refusal({0x8A, 1, 0, 0, 0}) == ErrorCode::malformed);           // trailing byte
    CHECK(refusal({0x8A, 1, 0, 1, 5, 0, 'a'}) == ErrorCode::malformed);   // name cut short
    auto too_many = encode(Message{ShadowNotice{40, std::vector<std::string>(kMaxShadowNames + 1, "a")}});
    CHECK(refusal(too_many) == ErrorCode::malformed);
    auto long_name = encode(Message{ShadowNotice{1, {std::string(kMaxShadowNameBytes + 1, 'a')}}});
    CHECK(refusal(long_name) == ErrorCode::malformed);
    auto full = encode(Message{ShadowNotice{2, {"ab", "cd"}}});
    for (std::size_t len = 1; len < full.size(); ++len) {
        INFO("cut at " << len);
        CHECK(refusal(std::vector<std::uint8_t>(full.begin(), full.begin() + static_cast<long>(len))) ==
              ErrorCode::malformed);
    }
}

TEST_CASE("relative pointer motion and the pointer mode round trip with the spec's layout and bounds", "[protocol]") {
    // 0x0C, i16 dx, i16 dy, u8 buttons; 0x8B, u8 relative.
    CHECK(encode(Message{RelativePointer{-2, 300, 5}}) == std::vector<std::uint8_t>{0x0C, 0xfe, 0xff, 0x2c, 0x01, 5});
    auto m = round_trip(RelativePointer{-kMaxRelativeMotion, kMaxRelativeMotion, 7});
    CHECK(m.dx == -kMaxRelativeMotion);
    CHECK(m.dy == kMaxRelativeMotion);
    CHECK(m.buttons == 7);
    CHECK(encode(Message{PointerMode{true}}) == std::vector<std::uint8_t>{0x8B, 1});
    CHECK(round_trip(PointerMode{true}).relative);
    CHECK_FALSE(round_trip(PointerMode{false}).relative);

    CHECK(refusal({0x0C, 0x00, 0x80, 0, 0, 0}) == ErrorCode::malformed);  // dx -32768: QEMU cannot carry it
    CHECK(refusal({0x0C, 0, 0, 0x00, 0x80, 0}) == ErrorCode::malformed);  // dy -32768
    CHECK(refusal({0x0C, 1, 0, 1, 0, 8}) == ErrorCode::malformed);        // unknown button bit
    CHECK(refusal({0x8B, 2}) == ErrorCode::malformed);                    // relative must be 0 or 1
    for (auto full : {encode(Message{RelativePointer{3, -4, 1}}), encode(Message{PointerMode{true}})}) {
        for (std::size_t n = 1; n < full.size(); ++n) {
            INFO("type " << int(full[0]) << " cut at " << n);
            CHECK(refusal(std::vector<std::uint8_t>(full.begin(), full.begin() + static_cast<long>(n))) ==
                  ErrorCode::malformed);
        }
        full.push_back(0);
        CHECK(refusal(full) == ErrorCode::malformed);
    }
}

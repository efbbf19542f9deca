#include "session-host/vm/rfb_protocol.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <random>
#include <string>
#include <vector>

using portico::host::vm::evdev_to_xt;
using portico::host::vm::RfbClientProtocol;
using Bytes = std::vector<std::uint8_t>;

namespace {

void p8(Bytes& b, std::uint8_t v) { b.push_back(v); }
void p16(Bytes& b, std::uint16_t v) {
    b.push_back(v >> 8);
    b.push_back(v & 0xff);
}
void p32(Bytes& b, std::uint32_t v) {
    p16(b, v >> 16);
    p16(b, v & 0xffff);
}
void pstr(Bytes& b, const std::string& s) { b.insert(b.end(), s.begin(), s.end()); }

// What QEMU sends up to and including ServerInit for a w x h screen.
Bytes handshake(int w, int h) {
    Bytes b;
    pstr(b, "RFB 003.008\n");
    p8(b, 1);
    p8(b, 1);   // security types: [None]
    p32(b, 0);  // SecurityResult OK
    p16(b, w);
    p16(b, h);
    b.insert(b.end(), {32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0});
    p32(b, 4);
    pstr(b, "QEMU");
    return b;
}

void update_header(Bytes& b, std::uint16_t rects) {
    p8(b, 0);
    p8(b, 0);
    p16(b, rects);
}
void rect(Bytes& b, int x, int y, int w, int h, std::int32_t enc) {
    p16(b, x);
    p16(b, y);
    p16(b, w);
    p16(b, h);
    p32(b, static_cast<std::uint32_t>(enc));
}
void raw_pixels(Bytes& b, int w, int h, std::uint8_t value) {
    b.insert(b.end(), static_cast<std::size_t>(w) * h * 4, value);
}

RfbClientProtocol ready_protocol(int w, int h) {
    RfbClientProtocol p;
    const Bytes hs = handshake(w, h);
    REQUIRE(p.feed(hs.data(), hs.size()));
    REQUIRE(p.ready());
    p.take_output();
    return p;
}

}  // namespace

TEST_CASE("rfb: handshake answers version, picks None, sends ClientInit, pixel format, encodings, full request",
          "[rfb]") {
    RfbClientProtocol p;
    const Bytes hs = handshake(640, 480);
    REQUIRE(p.feed(hs.data(), hs.size()));
    REQUIRE(p.ready());
    CHECK(p.server_name() == "QEMU");
    CHECK(p.frame().width == 640);
    CHECK(p.frame().height == 480);
    const Bytes out = p.take_output();
    Bytes expect;
    pstr(expect, "RFB 003.008\n");
    p8(expect, 1);  // security None
    p8(expect, 1);  // ClientInit shared
    p8(expect, 0);
    expect.insert(expect.end(), {0, 0, 0});
    expect.insert(expect.end(), {32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0});
    p8(expect, 2);
    p8(expect, 0);
    p16(expect, 6);
    p32(expect, 1);
    p32(expect, 0);
    p32(expect, static_cast<std::uint32_t>(-223));
    p32(expect, static_cast<std::uint32_t>(-258));
    p32(expect, static_cast<std::uint32_t>(-257));  // pointer-type-change
    p32(expect, static_cast<std::uint32_t>(-308));  // ExtendedDesktopSize
    p8(expect, 3);
    p8(expect, 0);
    p16(expect, 0);
    p16(expect, 0);
    p16(expect, 640);
    p16(expect, 480);
    CHECK(out == expect);
    CHECK(p.update_requested());
}

TEST_CASE("rfb: raw, CopyRect, DesktopSize and the ext-key ack update the mirror and the damage", "[rfb]") {
    RfbClientProtocol p = ready_protocol(64, 32);
    Bytes s;
    update_header(s, 3);
    rect(s, 0, 0, 0, 0, RfbClientProtocol::enc_qemu_ext_key);
    rect(s, 2, 3, 4, 5, RfbClientProtocol::enc_raw);
    raw_pixels(s, 4, 5, 0x7f);
    rect(s, 10, 10, 4, 5, RfbClientProtocol::enc_copyrect);
    p16(s, 2);
    p16(s, 3);
    // Byte by byte: message boundaries must not matter.
    for (std::uint8_t b : s) REQUIRE(p.feed(&b, 1));
    CHECK(p.ext_key_supported());
    CHECK_FALSE(p.in_update());
    CHECK(p.updates_completed() == 1);
    CHECK_FALSE(p.update_requested());
    CHECK(p.frame().at(2, 3)[0] == 0x7f);
    CHECK(p.frame().at(5, 7)[2] == 0x7f);
    CHECK(p.frame().at(6, 3)[0] == 0);
    CHECK(p.frame().at(13, 14)[1] == 0x7f);  // copied
    auto d = p.take_damage();
    CHECK(d.area() == 2 * 4 * 5);
    CHECK(d.contains_point(2, 3));
    CHECK(d.contains_point(13, 14));
    CHECK(p.take_damage().empty());

    Bytes r;
    update_header(r, 1);
    rect(r, 0, 0, 100, 50, RfbClientProtocol::enc_desktop_size);
    REQUIRE(p.feed(r.data(), r.size()));
    CHECK(p.frame().width == 100);
    CHECK(p.frame().height == 50);
    CHECK(p.resizes() == 1);
    CHECK(p.take_damage().area() == 100 * 50);

    // Bell, colour map entries and cut text are skipped.
    Bytes misc;
    p8(misc, 2);
    p8(misc, 1);
    p8(misc, 0);
    p16(misc, 0);
    p16(misc, 1);
    misc.insert(misc.end(), 6, 0);
    p8(misc, 3);
    misc.insert(misc.end(), 3, 0);
    p32(misc, 5);
    pstr(misc, "hello");
    REQUIRE(p.feed(misc.data(), misc.size()));
    CHECK(p.ready());
}

TEST_CASE("rfb: pointer-type-change reports switch the pointer between absolute and relative", "[rfb]") {
    RfbClientProtocol p = ready_protocol(64, 32);
    CHECK_FALSE(p.pointer_relative());  // absolute until QEMU says otherwise
    // QEMU sends the mode in the rectangle's x (1 absolute, 0 relative), the screen size as w x h,
    // each in its own FramebufferUpdate.
    Bytes s;
    update_header(s, 1);
    rect(s, 0, 0, 64, 32, RfbClientProtocol::enc_pointer_type_change);
    for (std::uint8_t b : s) REQUIRE(p.feed(&b, 1));
    CHECK(p.pointer_relative());
    CHECK(p.pointer_mode_reports() == 1);
    CHECK(p.take_damage().empty());  // no pixels change
    Bytes back;
    update_header(back, 1);
    rect(back, 1, 0, 64, 32, RfbClientProtocol::enc_pointer_type_change);
    REQUIRE(p.feed(back.data(), back.size()));
    CHECK_FALSE(p.pointer_relative());
    CHECK(p.pointer_mode_reports() == 2);

    Bytes bad;
    update_header(bad, 1);
    rect(bad, 2, 0, 64, 32, RfbClientProtocol::enc_pointer_type_change);
    CHECK_FALSE(p.feed(bad.data(), bad.size()));
    CHECK(p.error().find("pointer-type-change") != std::string::npos);
}

// An ExtendedDesktopSize rectangle: why (x), status (y), the size, then the screens.
void extended_size(Bytes& b, int why, int status, int w, int h, int screens = 1) {
    rect(b, why, status, w, h, RfbClientProtocol::enc_extended_desktop_size);
    p8(b, static_cast<std::uint8_t>(screens));
    b.insert(b.end(), {0, 0, 0});
    for (int i = 0; i < screens; ++i) {
        p32(b, i);
        p16(b, 0);
        p16(b, 0);
        p16(b, w);
        p16(b, h);
        p32(b, 0);
    }
}

TEST_CASE("rfb: ExtendedDesktopSize enables SetDesktopSize, resizes the mirror and reports the answer", "[rfb]") {
    RfbClientProtocol p = ready_protocol(64, 32);
    CHECK_FALSE(p.desktop_size_supported());
    CHECK_FALSE(p.request_size(80, 40));  // not before the server says it takes it
    CHECK(p.take_output().empty());

    Bytes s;  // QEMU's first answer to the encodings: the current size, from the server
    update_header(s, 1);
    extended_size(s, 0, 0, 64, 32);
    for (std::uint8_t b : s) REQUIRE(p.feed(&b, 1));  // byte by byte: partial rectangles wait
    CHECK(p.desktop_size_supported());
    CHECK(p.resizes() == 0);  // same size
    CHECK(p.size_request_status() == -1);

    REQUIRE(p.request_size(80, 40));
    const Bytes out = p.take_output();
    const Bytes expect{251, 0, 0, 80, 0, 40, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 80, 0, 40, 0, 0, 0, 0};
    CHECK(out == expect);
    CHECK_FALSE(p.request_size(0, 40));
    CHECK_FALSE(p.request_size(80, 9000));

    Bytes forwarded;  // QEMU passed it to the guest's driver (status 4), then the guest changed mode
    update_header(forwarded, 1);
    extended_size(forwarded, 1, 4, 64, 32);
    update_header(forwarded, 1);
    extended_size(forwarded, 0, 0, 80, 40);
    REQUIRE(p.feed(forwarded.data(), forwarded.size()));
    CHECK(p.size_request_status() == 4);
    CHECK(p.resizes() == 1);
    CHECK(p.frame().width == 80);
    CHECK(p.frame().height == 40);
    CHECK(p.take_damage().area() == 80 * 40);

    Bytes refused;  // standard VGA: the guest's resolution cannot be set from outside (status 3)
    update_header(refused, 1);
    extended_size(refused, 1, 3, 80, 40);
    REQUIRE(p.feed(refused.data(), refused.size()));
    CHECK(p.size_request_status() == 3);
    CHECK(p.resizes() == 1);

    Bytes bad;
    update_header(bad, 1);
    extended_size(bad, 0, 0, 80, 40, 17);
    CHECK_FALSE(p.feed(bad.data(), bad.size()));
    CHECK(p.error().find("ExtendedDesktopSize") != std::string::npos);
}

TEST_CASE("rfb: client messages have QEMU's wire layout", "[rfb]") {
    RfbClientProtocol p = ready_protocol(64, 32);
    p.ext_key(true, 0xc8);
    p.pointer(500, -3, 0x1);  // clamped to the screen
    p.request_update(true);
    const Bytes out = p.take_output();
    const Bytes expect{255, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xc8, 5, 1, 0, 63, 0, 0, 3, 1, 0, 0, 0, 0, 0, 64, 0, 32};
    CHECK(out == expect);
}

TEST_CASE("rfb: relative motion is 0x7FFF + delta, clamped to what a u16 carries", "[rfb]") {
    using portico::host::vm::relative_coordinate;
    CHECK(relative_coordinate(0) == 0x7FFF);  // no motion (a button or wheel event in relative mode)
    CHECK(relative_coordinate(5) == 0x8004);
    CHECK(relative_coordinate(-5) == 0x7FFA);
    CHECK(relative_coordinate(-0x7FFF) == 0);
    CHECK(relative_coordinate(-40000) == 0);
    CHECK(relative_coordinate(0x8000) == 0xFFFF);
    CHECK(relative_coordinate(40000) == 0xFFFF);
}

TEST_CASE("rfb: evdev to XT scancodes", "[rfb]") {
    CHECK(evdev_to_xt(1) == 0x01);    // Esc
    CHECK(evdev_to_xt(28) == 0x1c);   // Enter
    CHECK(evdev_to_xt(30) == 0x1e);   // A
    CHECK(evdev_to_xt(42) == 0x2a);   // Left Shift
    CHECK(evdev_to_xt(88) == 0x58);   // F12
    CHECK(evdev_to_xt(103) == 0xc8);  // Up = E0 48
    CHECK(evdev_to_xt(106) == 0xcd);  // Right = E0 4D
    CHECK(evdev_to_xt(97) == 0x9d);   // Right Ctrl = E0 1D
    CHECK(evdev_to_xt(100) == 0xb8);  // AltGr = E0 38
    CHECK(evdev_to_xt(125) == 0xdb);  // Left Meta = E0 5B
    CHECK(evdev_to_xt(0) == 0);
    CHECK(evdev_to_xt(84) == 0);
    CHECK(evdev_to_xt(500) == 0);
}

TEST_CASE("rfb: garbled or malicious servers give errors, not crashes", "[rfb]") {
    SECTION("not RFB") {
        RfbClientProtocol p;
        const std::string s = "HTTP/1.1 200";
        CHECK_FALSE(p.feed(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
        CHECK_THAT(p.error(), Catch::Contains("not an RFB server"));
        CHECK_FALSE(p.feed(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));  // stays failed
    }
    SECTION("old version") {
        RfbClientProtocol p;
        const std::string s = "RFB 003.003\n";
        CHECK_FALSE(p.feed(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
    }
    SECTION("authentication required") {
        RfbClientProtocol p;
        Bytes b;
        pstr(b, "RFB 003.008\n");
        p8(b, 1);
        p8(b, 2);  // VNC auth only
        CHECK_FALSE(p.feed(b.data(), b.size()));
        CHECK_THAT(p.error(), Catch::Contains("authentication"));
    }
    SECTION("refused with reason") {
        RfbClientProtocol p;
        Bytes b;
        pstr(b, "RFB 003.008\n");
        p8(b, 0);
        p32(b, 4);
        pstr(b, "busy");
        CHECK_FALSE(p.feed(b.data(), b.size()));
        CHECK_THAT(p.error(), Catch::Contains("busy"));
    }
    SECTION("huge reason length") {
        RfbClientProtocol p;
        Bytes b;
        pstr(b, "RFB 003.008\n");
        p8(b, 0);
        p32(b, 0xffffffff);
        CHECK_FALSE(p.feed(b.data(), b.size()));
    }
    SECTION("absurd screen size") {
        RfbClientProtocol p;
        const Bytes hs = handshake(65535, 65535);
        CHECK_FALSE(p.feed(hs.data(), hs.size()));
        CHECK_THAT(p.error(), Catch::Contains("out of range"));
    }
    SECTION("zero screen size") {
        RfbClientProtocol p;
        const Bytes hs = handshake(0, 10);
        CHECK_FALSE(p.feed(hs.data(), hs.size()));
    }
    SECTION("raw rectangle past the edge") {
        RfbClientProtocol p = ready_protocol(64, 32);
        Bytes s;
        update_header(s, 1);
        rect(s, 60, 0, 8, 1, RfbClientProtocol::enc_raw);
        raw_pixels(s, 8, 1, 1);
        CHECK_FALSE(p.feed(s.data(), s.size()));
        CHECK_THAT(p.error(), Catch::Contains("outside"));
    }
    SECTION("raw rectangle with coordinates that overflow 16 bits") {
        RfbClientProtocol p = ready_protocol(64, 32);
        Bytes s;
        update_header(s, 1);
        rect(s, 65535, 65535, 2, 2, RfbClientProtocol::enc_raw);
        CHECK_FALSE(p.feed(s.data(), s.size()));
    }
    SECTION("CopyRect source outside") {
        RfbClientProtocol p = ready_protocol(64, 32);
        Bytes s;
        update_header(s, 1);
        rect(s, 0, 0, 10, 10, RfbClientProtocol::enc_copyrect);
        p16(s, 60);
        p16(s, 30);
        CHECK_FALSE(p.feed(s.data(), s.size()));
    }
    SECTION("encoding we did not ask for") {
        RfbClientProtocol p = ready_protocol(64, 32);
        Bytes s;
        update_header(s, 1);
        rect(s, 0, 0, 1, 1, 16);  // ZRLE
        CHECK_FALSE(p.feed(s.data(), s.size()));
        CHECK_THAT(p.error(), Catch::Contains("encoding"));
    }
    SECTION("DesktopSize to an absurd size") {
        RfbClientProtocol p = ready_protocol(64, 32);
        Bytes s;
        update_header(s, 1);
        rect(s, 0, 0, 20000, 20000, RfbClientProtocol::enc_desktop_size);
        CHECK_FALSE(p.feed(s.data(), s.size()));
    }
    SECTION("unknown message type") {
        RfbClientProtocol p = ready_protocol(64, 32);
        const std::uint8_t b = 77;
        CHECK_FALSE(p.feed(&b, 1));
    }
    SECTION("oversized cut text") {
        RfbClientProtocol p = ready_protocol(64, 32);
        Bytes s;
        p8(s, 3);
        s.insert(s.end(), 3, 0);
        p32(s, 0x7fffffff);
        CHECK_FALSE(p.feed(s.data(), s.size()));
    }
    SECTION("a truncated rectangle just waits for more bytes") {
        RfbClientProtocol p = ready_protocol(64, 32);
        Bytes s;
        update_header(s, 1);
        rect(s, 0, 0, 8, 8, RfbClientProtocol::enc_raw);
        raw_pixels(s, 8, 7, 1);
        CHECK(p.feed(s.data(), s.size()));
        CHECK(p.in_update());
        CHECK(p.damage().empty());
    }
}

TEST_CASE("rfb: random bytes after the handshake never crash the parser", "[rfb]") {
    std::mt19937 rng(1234);
    for (int round = 0; round < 300; ++round) {
        RfbClientProtocol p = ready_protocol(32, 16);
        Bytes junk(1 + rng() % 4096);
        for (auto& b : junk) b = static_cast<std::uint8_t>(rng());
        if (round % 2) junk[0] = 0;  // make half of them start like an update
        std::size_t at = 0;
        bool ok = true;
        while (at < junk.size() && ok) {
            const std::size_t n = std::min<std::size_t>(junk.size() - at, 1 + rng() % 64);
            ok = p.feed(junk.data() + at, n);
            at += n;
        }
        if (!ok) CHECK_FALSE(p.error().empty());
        CHECK(p.frame().pixels.size() == static_cast<std::size_t>(p.frame().width) * p.frame().height * 4);
    }
}

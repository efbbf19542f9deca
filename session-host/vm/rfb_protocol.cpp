#include "session-host/vm/rfb_protocol.hpp"

#include <algorithm>
#include <cstring>

namespace portico::host::vm {

namespace {

void put8(std::vector<std::uint8_t>& o, std::uint8_t v) { o.push_back(v); }
void put16(std::vector<std::uint8_t>& o, std::uint16_t v) {
    o.push_back(static_cast<std::uint8_t>(v >> 8));
    o.push_back(static_cast<std::uint8_t>(v));
}
void put32(std::vector<std::uint8_t>& o, std::uint32_t v) {
    put16(o, static_cast<std::uint16_t>(v >> 16));
    put16(o, static_cast<std::uint16_t>(v));
}

}  // namespace

RfbClientProtocol::RfbClientProtocol(int max_dimension) : max_dimension_(max_dimension) {}

std::uint16_t RfbClientProtocol::u16(std::size_t off) const {
    return static_cast<std::uint16_t>((in_[pos_ + off] << 8) | in_[pos_ + off + 1]);
}
std::uint32_t RfbClientProtocol::u32(std::size_t off) const {
    return (static_cast<std::uint32_t>(u16(off)) << 16) | u16(off + 2);
}

bool RfbClientProtocol::fail(std::string why) {
    if (state_ != State::failed) error_ = std::move(why);
    state_ = State::failed;
    in_.clear();
    pos_ = 0;
    return false;
}

std::vector<std::uint8_t> RfbClientProtocol::take_output() {
    std::vector<std::uint8_t> o;
    o.swap(out_);
    return o;
}

capture::DamageRegion RfbClientProtocol::take_damage() {
    capture::DamageRegion d = std::move(damage_);
    damage_.clear();
    return d;
}

bool RfbClientProtocol::feed(const std::uint8_t* data, std::size_t size) {
    if (state_ == State::failed) return false;
    // Compact before appending so the buffer holds at most one unfinished message plus new bytes.
    if (pos_ > 0) {
        in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(pos_));
        pos_ = 0;
    }
    in_.insert(in_.end(), data, data + size);
    while (state_ != State::failed && step()) {
    }
    return state_ != State::failed;
}

bool RfbClientProtocol::set_size(int w, int h) {
    if (w <= 0 || h <= 0 || w > max_dimension_ || h > max_dimension_)
        return fail("server framebuffer size " + std::to_string(w) + "x" + std::to_string(h) + " out of range");
    if (w != frame_.width || h != frame_.height) frame_ = capture::Frame(w, h);
    damage_.clear();
    damage_.add(frame_.bounds());
    return true;
}

void RfbClientProtocol::send_setup() {
    // SetPixelFormat: 32 bpp, depth 24, little-endian true colour, R<<16 G<<8 B: bytes B,G,R,X,
    // exactly capture::Frame's layout, so raw rectangles are copied as they come.
    put8(out_, 0);
    out_.insert(out_.end(), {0, 0, 0});
    out_.insert(out_.end(), {32, 24, 0, 1});
    put16(out_, 255);
    put16(out_, 255);
    put16(out_, 255);
    out_.insert(out_.end(), {16, 8, 0, 0, 0, 0});
    // SetEncodings. Raw and CopyRect only: the server is on the same machine, so bandwidth is
    // free and decoding cost is what matters.
    // Pointer-type-change so that a guest without a tablet gets relative motion it can use;
    // ExtendedDesktopSize so that the guest's resolution can follow the viewer's window.
    const std::int32_t encodings[] = {
        enc_copyrect, enc_raw, enc_desktop_size, enc_qemu_ext_key, enc_pointer_type_change, enc_extended_desktop_size};
    put8(out_, 2);
    put8(out_, 0);
    put16(out_, static_cast<std::uint16_t>(std::size(encodings)));
    for (std::int32_t e : encodings) put32(out_, static_cast<std::uint32_t>(e));
    request_update(false);
}

void RfbClientProtocol::request_update(bool incremental) {
    if (state_ != State::normal) return;
    put8(out_, 3);
    put8(out_, incremental ? 1 : 0);
    put16(out_, 0);
    put16(out_, 0);
    put16(out_, static_cast<std::uint16_t>(frame_.width));
    put16(out_, static_cast<std::uint16_t>(frame_.height));
    request_outstanding_ = true;
}

void RfbClientProtocol::ext_key(bool down, std::uint16_t xt) {
    if (state_ != State::normal || xt == 0) return;
    put8(out_, 255);
    put8(out_, 0);
    put16(out_, down ? 1 : 0);
    put32(out_, 0);  // keysym 0: QEMU then uses the scancode alone, so the guest's layout applies
    put32(out_, xt);
}

void RfbClientProtocol::pointer(int x, int y, std::uint8_t mask) {
    if (state_ != State::normal) return;
    x = std::max(0, std::min(x, frame_.width - 1));
    y = std::max(0, std::min(y, frame_.height - 1));
    put8(out_, 5);
    put8(out_, mask);
    put16(out_, static_cast<std::uint16_t>(x));
    put16(out_, static_cast<std::uint16_t>(y));
}

bool RfbClientProtocol::request_size(int w, int h) {
    if (state_ != State::normal || !desktop_size_supported_) return false;
    if (w < 1 || h < 1 || w > max_dimension_ || h > max_dimension_) return false;
    put8(out_, 251);  // SetDesktopSize
    put8(out_, 0);
    put16(out_, static_cast<std::uint16_t>(w));
    put16(out_, static_cast<std::uint16_t>(h));
    put8(out_, 1);  // one screen
    put8(out_, 0);
    put32(out_, 0);  // screen id
    put16(out_, 0);
    put16(out_, 0);
    put16(out_, static_cast<std::uint16_t>(w));
    put16(out_, static_cast<std::uint16_t>(h));
    put32(out_, 0);  // flags
    return true;
}

bool RfbClientProtocol::step() {
    switch (state_) {
        case State::version: {
            if (avail() < 12) return false;
            const std::string v(reinterpret_cast<const char*>(&in_[pos_]), 12);
            int major = 0, minor = 0;
            if (v.compare(0, 4, "RFB ") != 0 || v[11] != '\n' ||
                std::sscanf(v.c_str() + 4, "%3d.%3d", &major, &minor) != 2)
                return fail("not an RFB server (bad version string)");
            if (major != 3 || minor < 8) return fail("RFB server version " + v.substr(4, 7) + " is older than 3.8");
            pos_ += 12;
            const char reply[] = "RFB 003.008\n";
            out_.insert(out_.end(), reply, reply + 12);
            state_ = State::security;
            return true;
        }
        case State::security: {
            if (avail() < 1) return false;
            const std::size_t n = u8(0);
            if (n == 0) {
                if (avail() < 5) return false;
                const std::uint32_t len = u32(1);
                if (len > max_text) return fail("RFB server refused the connection (oversized reason)");
                if (avail() < 5 + len) return false;
                return fail("RFB server refused the connection: " +
                            std::string(reinterpret_cast<const char*>(&in_[pos_ + 5]), len));
            }
            if (avail() < 1 + n) return false;
            bool none = false;
            for (std::size_t i = 0; i < n; ++i) none = none || u8(1 + i) == 1;
            pos_ += 1 + n;
            if (!none) return fail("RFB server requires authentication (security type None not offered)");
            put8(out_, 1);
            state_ = State::security_result;
            return true;
        }
        case State::security_result: {
            if (avail() < 4) return false;
            const std::uint32_t result = u32(0);
            if (result != 0) {
                if (avail() < 8) return false;
                const std::uint32_t len = u32(4);
                if (len > max_text) return fail("RFB security handshake failed");
                if (avail() < 8 + len) return false;
                return fail("RFB security handshake failed: " +
                            std::string(reinterpret_cast<const char*>(&in_[pos_ + 8]), len));
            }
            pos_ += 4;
            put8(out_, 1);  // ClientInit: shared, so a second viewer (e.g. a debugging vncviewer) does not kick us
            state_ = State::server_init;
            return true;
        }
        case State::server_init: {
            if (avail() < 24) return false;
            const int w = u16(0), h = u16(2);
            const std::uint32_t len = u32(20);
            if (len > max_text) return fail("RFB server name too long");
            if (avail() < 24 + len) return false;
            name_.assign(reinterpret_cast<const char*>(&in_[pos_ + 24]), len);
            pos_ += 24 + len;
            state_ = State::normal;
            if (!set_size(w, h)) return false;
            damage_.clear();  // nothing real yet: damage comes with the first update
            send_setup();
            return true;
        }
        case State::normal: break;
        case State::failed: return false;
    }

    if (rects_left_ > 0) {
        if (avail() < 12) return false;
        const int x = u16(0), y = u16(2), w = u16(4), h = u16(6);
        const auto enc = static_cast<std::int32_t>(u32(8));
        const capture::Rect r{x, y, w, h};
        switch (enc) {
            case enc_raw: {
                if (!r.empty() && !frame_.bounds().contains(r))
                    return fail("RFB raw rectangle outside the framebuffer");
                const std::size_t bytes = r.empty() ? 0 : static_cast<std::size_t>(w) * h * 4;
                if (avail() < 12 + bytes) return false;
                const std::uint8_t* src = &in_[pos_ + 12];
                for (int row = 0; row < (r.empty() ? 0 : h); ++row)
                    std::memcpy(frame_.at(x, y + row), src + static_cast<std::size_t>(row) * w * 4,
                                static_cast<std::size_t>(w) * 4);
                pos_ += 12 + bytes;
                damage_.add(r);
                break;
            }
            case enc_copyrect: {
                if (avail() < 16) return false;
                const capture::Rect s{u16(12), u16(14), w, h};
                if (!r.empty() && (!frame_.bounds().contains(r) || !frame_.bounds().contains(s)))
                    return fail("RFB CopyRect outside the framebuffer");
                pos_ += 16;
                if (!r.empty()) {
                    // Source and destination may overlap: go through a copy.
                    std::vector<std::uint8_t> tmp(static_cast<std::size_t>(w) * h * 4);
                    for (int row = 0; row < h; ++row)
                        std::memcpy(&tmp[static_cast<std::size_t>(row) * w * 4], frame_.at(s.x, s.y + row),
                                    static_cast<std::size_t>(w) * 4);
                    for (int row = 0; row < h; ++row)
                        std::memcpy(frame_.at(x, y + row), &tmp[static_cast<std::size_t>(row) * w * 4],
                                    static_cast<std::size_t>(w) * 4);
                    damage_.add(r);
                }
                break;
            }
            case enc_desktop_size:
                pos_ += 12;
                if (!set_size(w, h)) return false;
                ++resizes_;
                break;
            case enc_qemu_ext_key:
                pos_ += 12;
                ext_key_ = true;
                break;
            case enc_extended_desktop_size: {
                if (avail() < 16) return false;
                const std::size_t screens = u8(12);
                if (screens > max_screens)
                    return fail("RFB ExtendedDesktopSize with " + std::to_string(screens) + " screens");
                if (avail() < 16 + screens * 16) return false;
                pos_ += 16 + screens * 16;
                desktop_size_supported_ = true;
                if (x == 1) size_request_status_ = y;  // the answer to our request
                if (y == 0 && (w != frame_.width || h != frame_.height)) {
                    if (!set_size(w, h)) return false;
                    ++resizes_;
                }
                break;
            }
            case enc_pointer_type_change:
                if (x > 1) return fail("RFB pointer-type-change with x " + std::to_string(x) + " (0 or 1 expected)");
                pos_ += 12;
                pointer_relative_ = x == 0;
                ++pointer_mode_reports_;
                break;
            default: return fail("RFB server sent an encoding we did not ask for: " + std::to_string(enc));
        }
        if (--rects_left_ == 0) {
            ++updates_;
            request_outstanding_ = false;
        }
        return true;
    }

    if (avail() < 1) return false;
    switch (u8(0)) {
        case 0:  // FramebufferUpdate
            if (avail() < 4) return false;
            rects_left_ = u16(2);
            pos_ += 4;
            if (rects_left_ == 0) {
                ++updates_;
                request_outstanding_ = false;
            }
            return true;
        case 1: {  // SetColourMapEntries: meaningless in true colour; skip it
            if (avail() < 6) return false;
            const std::size_t n = u16(4);
            if (avail() < 6 + n * 6) return false;
            pos_ += 6 + n * 6;
            return true;
        }
        case 2:  // Bell
            pos_ += 1;
            return true;
        case 3: {  // ServerCutText (clipboard): not used yet
            if (avail() < 8) return false;
            const std::uint32_t len = u32(4);
            if (len > max_text) return fail("RFB server cut text too long");
            if (avail() < 8 + len) return false;
            pos_ += 8 + len;
            return true;
        }
        default: return fail("RFB server sent unknown message type " + std::to_string(u8(0)));
    }
}

std::uint16_t relative_coordinate(int delta) {
    constexpr int origin = RfbClientProtocol::relative_origin;
    return static_cast<std::uint16_t>(origin + std::max(-origin, std::min(delta, 0xFFFF - origin)));
}

std::uint16_t evdev_to_xt(std::uint16_t evdev) {
    // Codes 1..83 and 86..88 are set-1 scancodes already (evdev was laid out after the PC keyboard).
    if ((evdev >= 1 && evdev <= 83) || (evdev >= 86 && evdev <= 88)) return evdev;
    switch (evdev) {
        case 85: return 0x76;   // Zenkaku/Hankaku
        case 89: return 0x73;   // RO
        case 92: return 0x79;   // Henkan
        case 93: return 0x70;   // Katakana/Hiragana
        case 94: return 0x7b;   // Muhenkan
        case 96: return 0x9c;   // KP Enter
        case 97: return 0x9d;   // Right Ctrl
        case 98: return 0xb5;   // KP /
        case 99: return 0xb7;   // SysRq / Print
        case 100: return 0xb8;  // Right Alt (AltGr)
        case 102: return 0xc7;  // Home
        case 103: return 0xc8;  // Up
        case 104: return 0xc9;  // Page Up
        case 105: return 0xcb;  // Left
        case 106: return 0xcd;  // Right
        case 107: return 0xcf;  // End
        case 108: return 0xd0;  // Down
        case 109: return 0xd1;  // Page Down
        case 110: return 0xd2;  // Insert
        case 111: return 0xd3;  // Delete
        case 113: return 0xa0;  // Mute
        case 114: return 0xae;  // Volume Down
        case 115: return 0xb0;  // Volume Up
        case 116: return 0xde;  // Power
        case 117: return 0x59;  // KP =
        case 119: return 0xc6;  // Pause (QEMU's number for it)
        case 121: return 0x7e;  // KP ,
        case 124: return 0x7d;  // Yen
        case 125: return 0xdb;  // Left Meta
        case 126: return 0xdc;  // Right Meta
        case 127: return 0xdd;  // Compose / Menu
        default: return 0;
    }
}

}  // namespace portico::host::vm

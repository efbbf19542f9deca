#pragma once
// RfbClientProtocol: the client side of RFB 3.8 (VNC) as spoken by QEMU's VNC server, without I/O:
// feed() it the server's bytes, send what take_output() returns. It mirrors the framebuffer in a
// BGRX Frame and accumulates damage. Every length and rectangle from the server is checked, so a
// garbled or malicious server yields an error, never an out-of-bounds access. Single-threaded
// (owned by RfbFrameSource's capture thread; also used directly by tests).

#include "capture/damage.hpp"
#include "capture/frame.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace portico::host::vm {

class RfbClientProtocol {
public:
    static constexpr int default_max_dimension = 8192;
    static constexpr std::uint32_t max_text = 1 << 20;  // server name / cut text

    static constexpr std::int32_t enc_raw = 0;
    static constexpr std::int32_t enc_copyrect = 1;
    static constexpr std::int32_t enc_desktop_size = -223;
    static constexpr std::int32_t enc_qemu_ext_key = -258;
    // QEMU's pointer-type-change: a rectangle whose x is 1 while the guest takes absolute
    // coordinates (a USB tablet) and 0 while it has only a relative mouse (PS/2). Once announced,
    // a PointerEvent in relative mode carries 0x7FFF + dx, 0x7FFF + dy (QEMU's ui/vnc.c).
    static constexpr std::int32_t enc_pointer_type_change = -257;
    static constexpr int relative_origin = 0x7FFF;
    // ExtendedDesktopSize: the server's size changes as a rectangle whose x says why (0 the
    // server, 1 this client's SetDesktopSize, 2 another client's) and y how a request went (0 done;
    // QEMU: 3 when the display device cannot change the guest's resolution (standard VGA), 4 when
    // it passed the request on to the guest's driver), followed by the screen layout. A server
    // that sends one takes SetDesktopSize.
    static constexpr std::int32_t enc_extended_desktop_size = -308;
    static constexpr std::size_t max_screens = 16;

    // A server framebuffer wider or taller than max_dimension is a protocol error (the mirror is
    // allocated up front: 8192² is 256 MiB). The fuzz target passes a smaller bound so that each
    // input costs little; every path is the same.
    explicit RfbClientProtocol(int max_dimension = default_max_dimension);
    int max_dimension() const { return max_dimension_; }

    // Consumes the bytes; processes every complete message. Returns false (and stays failed) on a
    // protocol error; error() says what was wrong.
    bool feed(const std::uint8_t* data, std::size_t size);
    std::vector<std::uint8_t> take_output();
    bool has_output() const { return !out_.empty(); }

    bool ready() const { return state_ == State::normal; }
    bool failed() const { return state_ == State::failed; }
    const std::string& error() const { return error_; }
    const std::string& server_name() const { return name_; }

    const capture::Frame& frame() const { return frame_; }
    capture::DamageRegion take_damage();
    const capture::DamageRegion& damage() const { return damage_; }
    void damage_all() { damage_.add(frame_.bounds()); }
    bool in_update() const { return rects_left_ > 0; }
    std::uint64_t updates_completed() const { return updates_; }
    bool update_requested() const { return request_outstanding_; }
    bool ext_key_supported() const { return ext_key_; }
    std::uint64_t resizes() const { return resizes_; }
    // The guest's pointer as QEMU last reported it (absolute until it says otherwise).
    bool pointer_relative() const { return pointer_relative_; }
    std::uint64_t pointer_mode_reports() const { return pointer_mode_reports_; }
    // The server takes SetDesktopSize (it sent an ExtendedDesktopSize rectangle).
    bool desktop_size_supported() const { return desktop_size_supported_; }
    // The status of the server's answer to our last SetDesktopSize (-1: none yet).
    int size_request_status() const { return size_request_status_; }

    // Client messages, appended to the output.
    void request_update(bool incremental);
    // QEMU extended key event: `xt` is the XT (set 1) scancode, 0xE0-prefixed keys as 0x80|code.
    void ext_key(bool down, std::uint16_t xt);
    void pointer(int x, int y, std::uint8_t mask);  // RFB mask: bit0 left, bit1 middle, bit2 right, 3/4 wheel up/down
    // SetDesktopSize with one screen covering w x h. False (nothing sent) if the server does not
    // take it or the size is outside 1 .. max_dimension.
    bool request_size(int w, int h);

private:
    enum class State { version, security, security_result, server_init, normal, failed };

    bool step();  // one message or rectangle; false when more bytes are needed (or on failure)
    bool fail(std::string why);
    std::size_t avail() const { return in_.size() - pos_; }
    std::uint8_t u8(std::size_t off) const { return in_[pos_ + off]; }
    std::uint16_t u16(std::size_t off) const;
    std::uint32_t u32(std::size_t off) const;
    bool set_size(int w, int h);
    void send_setup();

    State state_ = State::version;
    std::string error_;
    std::vector<std::uint8_t> in_;
    std::size_t pos_ = 0;
    std::vector<std::uint8_t> out_;
    capture::Frame frame_;
    capture::DamageRegion damage_;
    std::string name_;
    std::uint32_t rects_left_ = 0;
    std::uint64_t updates_ = 0;
    std::uint64_t resizes_ = 0;
    int max_dimension_;
    bool request_outstanding_ = false;
    bool ext_key_ = false;
    bool pointer_relative_ = false;
    std::uint64_t pointer_mode_reports_ = 0;
    bool desktop_size_supported_ = false;
    int size_request_status_ = -1;
};

// A relative PointerEvent coordinate: QEMU (relative mode, pointer-type-change announced) moves
// the guest's mouse by coordinate - 0x7FFF, so a delta is sent as 0x7FFF + delta. Deltas beyond
// what a u16 carries (-0x7FFF .. 0x8000) are clamped.
std::uint16_t relative_coordinate(int delta);

// Linux evdev key code -> XT scancode as QEMU's extended key event wants it (set 1; 0xE0-prefixed
// keys as 0x80|code). 0 for keys without a mapping.
std::uint16_t evdev_to_xt(std::uint16_t evdev);

}  // namespace portico::host::vm

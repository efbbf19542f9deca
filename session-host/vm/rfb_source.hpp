#pragma once
// RfbFrameSource: a VM's screen as a FrameSource, read from QEMU's VNC server on a private unix
// socket (RFB with damage rectangles), plus the VM's keyboard (QEMU extended key events: XT
// scancodes, so the guest's own layout decides the characters) and pointer: absolute (usb-tablet)
// or, while QEMU reports that the guest has only a relative mouse (PS/2), relative motion.
// capture()/invalidate() run on the session's capture thread; key/pointer/wheel/release_all are
// thread-safe and never block (they queue bytes and wake the capture thread, which writes them).

#include "capture/frame_source.hpp"
#include "session-host/vm/rfb_protocol.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace portico::host::vm {

class RfbFrameSource final : public capture::FrameSource {
public:
    // Connects (retrying while QEMU creates the socket) and completes the RFB handshake within
    // `timeout`. Throws std::runtime_error on failure.
    RfbFrameSource(const std::string& socket_path, std::chrono::milliseconds timeout);
    ~RfbFrameSource() override;
    RfbFrameSource(const RfbFrameSource&) = delete;
    RfbFrameSource& operator=(const RfbFrameSource&) = delete;

    int width() const override { return proto_.frame().width; }
    int height() const override { return proto_.frame().height; }
    // The frame may change size between calls when the guest changes resolution (compare
    // frame->width/height; the damage then covers the whole new frame). A lost or misbehaving
    // server is a permanent error: nothing in the connection can be trusted afterwards.
    capture::CaptureResult capture(std::chrono::milliseconds timeout) override;
    void invalidate() override;

    bool ext_key_supported() const { return proto_.ext_key_supported(); }
    std::uint64_t resizes() const { return proto_.resizes(); }
    // Asks for this resolution (RFB SetDesktopSize): QEMU hands it to the display device, whose
    // guest driver may apply it; the new size arrives as frames of it. False if the server does
    // not take the request. Capture thread; throws std::runtime_error if the connection broke.
    bool request_size(int width, int height);
    // The server's answer to the last request (RfbClientProtocol::size_request_status).
    int size_request_status() const { return proto_.size_request_status(); }
    // Whether the server said if it takes size requests: it does so in its first update (QEMU
    // sends ExtendedDesktopSize there), so before that request_size is refused for want of an
    // answer, not for good. Capture thread.
    bool size_support_known() const { return proto_.desktop_size_supported() || proto_.updates_completed() > 0; }

    void key(std::uint16_t evdev_code, bool down);
    // The guest's pointer is relative (QEMU's pointer-type-change). Any thread.
    bool pointer_relative() const { return relative_.load(); }
    // Absolute position; bit0 left, bit1 middle, bit2 right. While the guest's pointer is relative
    // the guest's mouse moves by the difference to the previous position instead.
    void pointer(int x, int y, std::uint8_t buttons);
    // Motion by (dx, dy). While the guest's pointer is absolute, the position moves by it instead.
    void pointer_relative(int dx, int dy, std::uint8_t buttons);
    void wheel(int dx, int dy);  // notches -> RFB buttons 4/5 (and 6/7)
    void release_all();

private:
    std::optional<capture::Capture> capture_or_throw(std::chrono::milliseconds timeout);
    void pump(std::chrono::steady_clock::time_point deadline, bool until_first_update);
    void read_available();
    void write_all(const std::vector<std::uint8_t>& bytes);
    void flush_input();
    void append_still(std::uint8_t mask);  // a pointer event that does not move; input_mutex_ held

    std::atomic<bool> relative_{false};  // mirrors proto_.pointer_relative() for the input methods
    int fd_ = -1;
    int wake_fd_ = -1;  // eventfd: input queued
    RfbClientProtocol proto_;
    bool have_first_update_ = false;
    bool invalidated_ = false;

    std::mutex input_mutex_;           // guards the members below
    std::vector<std::uint8_t> input_;  // RFB client messages waiting to be written
    std::set<std::uint16_t> keys_down_;
    std::uint8_t buttons_ = 0;
    int last_x_ = 0, last_y_ = 0;
    bool have_position_ = false;  // a Pointer came: last_x_/last_y_ are the client's position
    int cur_w_ = 0, cur_h_ = 0;
};

}  // namespace portico::host::vm

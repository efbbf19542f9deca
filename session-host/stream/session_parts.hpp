#pragma once
// What a kind of session (an app on Xvfb, a desktop in a VM, a test pattern) plugs into a
// StreamSession instead of subclassing it: its screen, read and kept by the capture thread, and its
// input, fed by network threads. Channels other than the picture (cursor shapes and the clipboard
// now; audio and files later) send to the viewers through ViewerChannel without touching the
// frame path.

#include "capture/frame_source.hpp"
#include "protocol/display.hpp"
#include "session-host/stream/viewer.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace portico::host {

// Why a session ends, as its viewers are told.
struct SessionEnding {
    protocol::EndReason reason;
    std::string message;
};

// The viewers as a non-picture channel sees them. Capture thread.
class ViewerChannel {
public:
    virtual ~ViewerChannel() = default;
    // To every viewer; a ClipboardData message reaches view-only viewers only if the session shares
    // its clipboard with shadows (StreamSession::set_shadow_clipboard).
    virtual void broadcast(Bytes message) = 0;
};

// The screen side. Every method runs on the session's capture thread.
class SessionScreen {
public:
    virtual ~SessionScreen() = default;
    virtual capture::FrameSource& frame_source() = 0;
    // Once per loop turn (about every 20–33 ms): housekeeping and the session's other channels;
    // a value ends the session. display_lost: the frame source's permanent error, if it had one,
    // so the screen can say what happened (the VM powered off) rather than what the socket saw.
    virtual std::optional<SessionEnding> poll(ViewerChannel& viewers, const std::string* display_lost) = 0;
    // A client asked for this size. The screen changes if it can; the new size takes effect when
    // the source delivers frames of it.
    virtual void change_size(int /*width*/, int /*height*/) {}
    // The client's monitor layout (protocol::ResizeRequest::monitors; empty: one monitor, the
    // whole screen), after change_size. The screen clips it to the size it has; one already in
    // place costs nothing.
    virtual void set_monitors(const std::vector<protocol::MonitorRect>& /*monitors*/, int /*primary*/) {}
    // A viewer attached: state it needs besides frames (the cursor shape) goes out again at the
    // next poll. Any thread; must not block.
    virtual void viewer_attached() {}
    // Stops the screen and everything the session started; must leave nothing running.
    virtual void teardown() = 0;
};

// The input side: a viewer's keys, pointer, wheel and clipboard. Network threads; never blocks.
// Coordinates arrive clamped to the screen; release_all comes when a viewer goes away.
class SessionInput {
public:
    virtual ~SessionInput() = default;
    virtual void key(std::uint16_t evdev_code, bool down) = 0;
    virtual void pointer(int x, int y, std::uint8_t buttons) = 0;
    // Motion by (dx, dy) from a client that captured the pointer (protocol RelativePointer). False
    // when this session's pointer is absolute only: the motion is dropped.
    virtual bool pointer_relative(int /*dx*/, int /*dy*/, std::uint8_t /*buttons*/) { return false; }
    virtual void wheel(int dx, int dy) = 0;
    // A character the client's keyboard produced. Sessions that cannot type by character (a VM's
    // keyboard takes scancodes) press the physical key instead.
    virtual void key_char(std::uint32_t /*codepoint*/, std::uint16_t evdev_code, bool down) {
        if (evdev_code) key(evdev_code, down);
    }
    // One piece of the client's clipboard (text, or with png a PNG image); the last has more=false.
    virtual void clipboard(const std::string& /*data*/, bool /*more*/, bool /*png*/) {}
    // Releases keys and buttons a departed viewer may have held.
    virtual void release_all() = 0;
};

}  // namespace portico::host

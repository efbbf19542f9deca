#pragma once
// The seams between the display server (network side) and sessions (capture side):
// ViewerSink is one connected client as a session sees it; DisplayTarget is a session as the
// display server sees it; SessionDirectory finds live sessions by id. Interfaces so the display
// server can be tested against fake sessions and sessions against fake viewers.

#include "protocol/display.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace portico::host {

using Bytes = std::shared_ptr<const std::vector<std::uint8_t>>;

// Implemented by a display connection. Every method may be called from any thread and never blocks.
class ViewerSink {
public:
    virtual ~ViewerSink() = default;
    // Queues one encoded protocol message. False if the bounded queue is full or the connection
    // is gone; the sink has then already started closing itself.
    virtual bool send(Bytes message) = 0;
    // Sends `last` (if non-null) after what is queued, then closes the connection.
    virtual void close(Bytes last) = 0;
    virtual std::string peer() const = 0;  // for logs
    // The display protocol version the client said Hello with: the session sends it nothing newer.
    virtual std::uint16_t version() const { return protocol::kDisplayVersion; }
};

// Implemented by AppSession. Called from network threads; every method returns without blocking.
class DisplayTarget {
public:
    virtual ~DisplayTarget() = default;
    virtual const std::string& id() const = 0;
    virtual int width() const = 0;
    virtual int height() const = 0;
    // Makes `viewer` the owner (replacing and closing a previous owner) and asks for a keyframe.
    virtual void attach(std::shared_ptr<ViewerSink> viewer) = 0;
    virtual void detach(const ViewerSink* viewer) = 0;  // the client vanished; releases held input
    // Adds a view-only viewer (shadowing) next to the owner, replacing nobody; its input never
    // reaches the session. False if this kind of session cannot be shadowed.
    virtual bool attach_view_only(std::shared_ptr<ViewerSink> /*viewer*/) { return false; }
    virtual void key(std::uint16_t evdev_code, bool down) = 0;
    virtual void pointer(int x, int y, std::uint8_t buttons) = 0;
    // Relative motion (protocol RelativePointer): taken by sessions whose pointer can be relative
    // (VM desktops); others drop it.
    virtual void pointer_relative(int /*dx*/, int /*dy*/, std::uint8_t /*buttons*/) {}
    virtual void wheel(int dx, int dy) = 0;
    // paint_us: the client's arrival-to-painted time for the frame (0 = not reported).
    virtual void frame_ack(const ViewerSink* viewer, std::uint32_t frame_id, std::uint32_t paint_us) = 0;
    virtual void keyframe_request() = 0;
    virtual void logoff() = 0;
    // The client's display area changed (ResizeRequest: its size and, from a client spanning
    // several monitors, their layout); a session that can follow it answers every viewer with
    // Resize and a keyframe. Sessions with a fixed screen ignore it.
    virtual void resize(const protocol::ResizeRequest& /*request*/) {}
    // A character the client's keyboard produced (protocol KeyChar). Sessions that cannot type by
    // character (a VM's keyboard takes scancodes) press the physical key instead, as for Key.
    virtual void key_char(std::uint32_t /*codepoint*/, std::uint16_t evdev_code, bool down) {
        if (evdev_code) key(evdev_code, down);
    }
    // One piece of the client's clipboard (protocol Clipboard): UTF-8 text, or with png the bytes
    // of a PNG image; the last piece has more=false.
    virtual void clipboard(const std::string& /*data*/, bool /*more*/, bool /*png*/) {}
};

class SessionDirectory {
public:
    virtual ~SessionDirectory() = default;
    virtual std::shared_ptr<DisplayTarget> find_session(const std::string& session_id) = 0;  // any thread
};

}  // namespace portico::host

#pragma once
// FrameSource: where a session's pixels come from (an X display, a VM's display, or a synthetic
// pattern in tests). Called from the session's capture thread only.

#include "damage.hpp"
#include "frame.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <utility>

namespace portico::capture {

struct Capture {
    const Frame* frame = nullptr;  // owned by the source; valid until the next capture() call
    DamageRegion damage;           // what changed since the previous capture (all of it at first)
    std::chrono::steady_clock::time_point time;
};

// What one capture() call got (after WebRTC's desktop_capture Result): a frame, nothing new, or an
// error that says whether trying again can help. A temporary error (a read that raced a screen
// size change, say) leaves the source usable; a permanent one (the display is gone) does not.
class CaptureResult {
public:
    enum class Status { frame, no_change, temporary_error, permanent_error };

    static CaptureResult got(Capture c) { return CaptureResult(Status::frame, std::move(c), {}); }
    static CaptureResult nothing_new() { return CaptureResult(Status::no_change, {}, {}); }
    static CaptureResult temporary_error(std::string why) {
        return CaptureResult(Status::temporary_error, {}, std::move(why));
    }
    static CaptureResult permanent_error(std::string why) {
        return CaptureResult(Status::permanent_error, {}, std::move(why));
    }

    Status status() const { return status_; }
    // True when a frame was captured; then -> and * reach it.
    explicit operator bool() const { return status_ == Status::frame; }
    bool failed() const { return status_ == Status::temporary_error || status_ == Status::permanent_error; }
    const Capture* operator->() const { return &capture_; }
    Capture* operator->() { return &capture_; }
    const Capture& operator*() const { return capture_; }
    const std::string& error() const { return error_; }

private:
    CaptureResult(Status s, Capture c, std::string e) : status_(s), capture_(std::move(c)), error_(std::move(e)) {}
    Status status_;
    Capture capture_;
    std::string error_;
};

class FrameSource {
public:
    virtual ~FrameSource() = default;
    virtual int width() const = 0;
    virtual int height() const = 0;
    // Waits up to `timeout` for damage, then reads the damaged areas into the frame. Never throws
    // for a failing display: that is a CaptureResult error.
    virtual CaptureResult capture(std::chrono::milliseconds timeout) = 0;
    // Marks the whole screen damaged, so the next capture returns everything (e.g. for a keyframe).
    virtual void invalidate() = 0;
};

}  // namespace portico::capture

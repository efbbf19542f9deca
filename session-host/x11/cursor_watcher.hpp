#pragma once
// CursorWatcher: follows the pointer's shape on an app session's X display (XFIXES cursor
// notifications) so the client can draw the cursor itself and pointer moves never cost a frame.
// Called from the session's capture thread only, except resend() (any thread).

#include "protocol/display.hpp"

#include <atomic>
#include <memory>
#include <optional>
#include <string>

namespace portico::host {

class CursorWatcher {
public:
    // Connects to the display; throws std::runtime_error if it is unreachable or lacks XFIXES.
    CursorWatcher(const std::string& display, const std::string& xauthority);
    ~CursorWatcher();
    CursorWatcher(const CursorWatcher&) = delete;
    CursorWatcher& operator=(const CursorWatcher&) = delete;

    // Without blocking on new events: the current shape if it changed since the last call (or a
    // resend was asked for). Shapes larger than kMaxCursorDim are skipped (the client keeps the
    // previous one).
    std::optional<protocol::CursorShape> poll();
    // The next poll() returns the current shape even if unchanged (a viewer attached).
    void resend() { resend_ = true; }
    // The shape poll() last read has no visible pixel: the app hid the cursor.
    bool hidden() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::atomic<bool> resend_{true};
};

// Converts XFIXES cursor pixels (ARGB, premultiplied, one u32 each) to straight RGBA bytes.
std::vector<std::uint8_t> cursor_argb_to_rgba(const std::uint32_t* argb, std::size_t count);

}  // namespace portico::host

#pragma once
// X11FrameSource: captures an X display (our private Xvfb) with MIT-SHM, reading only the areas
// the DAMAGE extension reports as changed. Used from one session's capture thread only.

#include "capture/frame_source.hpp"

#include <memory>
#include <string>

namespace portico::capture {

class X11FrameSource final : public FrameSource {
public:
    // Connects to `display` (e.g. ":12") with the MIT-MAGIC-COOKIE-1 found in the Xauthority file
    // `xauthority` (empty: the usual XAUTHORITY lookup); throws std::runtime_error if the display,
    // MIT-SHM or DAMAGE is unavailable.
    X11FrameSource(const std::string& display, const std::string& xauthority);
    ~X11FrameSource() override;

    int width() const override;
    int height() const override;
    // A failed read while the connection is fine (it can race a RandR size change) is a
    // temporary error; a lost connection is permanent.
    CaptureResult capture(std::chrono::milliseconds timeout) override;
    void invalidate() override;
    // Re-reads the root window's size (after a RandR screen size change). If it changed, the
    // frame and the MIT-SHM buffer are re-made at the new size and the next capture is a full
    // one; returns true then. Throws std::runtime_error if the X connection fails.
    bool follow_root_size();

private:
    std::optional<Capture> capture_or_throw(std::chrono::milliseconds timeout);
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace portico::capture

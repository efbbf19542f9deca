#pragma once
// FrameSource: where a session's pixels come from (an X display, later a VM's display, or a
// synthetic pattern in tests). Called from the session's capture thread only.

#include "damage.hpp"
#include "frame.hpp"

#include <chrono>
#include <optional>

namespace portico::capture {

struct Capture {
    const Frame* frame = nullptr;   // owned by the source; valid until the next capture() call
    DamageRegion damage;            // what changed since the previous capture (all of it at first)
    std::chrono::steady_clock::time_point time;
};

class FrameSource {
public:
    virtual ~FrameSource() = default;
    virtual int width() const = 0;
    virtual int height() const = 0;
    // Waits up to `timeout` for damage, then reads the damaged areas into the frame. Returns
    // nullopt when nothing changed within the timeout; throws on a lost display.
    virtual std::optional<Capture> capture(std::chrono::milliseconds timeout) = 0;
    // Marks the whole screen damaged, so the next capture returns everything (e.g. for a keyframe).
    virtual void invalidate() = 0;
};

}  // namespace portico::capture

#pragma once
// PointerGrabWatch: tells when an app on a session's X display has taken the pointer for relative
// motion, as games and 3D viewers do (SDL's relative mouse mode, GLFW's disabled cursor): the app
// hides the cursor and holds an active pointer grab. Viewers are then told to capture their
// pointer and send motion as deltas (protocol PointerMode / RelativePointer), since such an app
// reads raw motion, and absolute moves reach it as nothing or as jumps.
// X cannot be asked who holds a grab. A GrabPointer stamped a minute in the future answers anyway
// and never takes the grab: the server replies AlreadyGrabbed when another client holds one (it
// checks that first) and InvalidTime otherwise, so the app under the pointer sees no crossing
// events and its own grab never races ours. Tried every kInterval while the cursor is hidden.
// Capture thread only.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace portico::host {

class PointerGrabWatch {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr auto kInterval = std::chrono::milliseconds(250);

    // Connects to the display; throws std::runtime_error if it is unreachable.
    PointerGrabWatch(const std::string& display, const std::string& xauthority);
    ~PointerGrabWatch();
    PointerGrabWatch(const PointerGrabWatch&) = delete;
    PointerGrabWatch& operator=(const PointerGrabWatch&) = delete;

    // Once per session poll: the new mode (true = relative) when it changed. A cursor that shows
    // ends relative mode at once.
    std::optional<bool> poll(bool cursor_hidden, Clock::time_point now = Clock::now());
    bool relative() const { return relative_; }
    // Whether another client holds an active pointer grab (the probe above; false if X failed).
    bool grabbed_by_another_client();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    bool relative_ = false;
    std::optional<Clock::time_point> last_try_;
};

}  // namespace portico::host

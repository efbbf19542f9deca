#pragma once
// Pointer mapping for the windowed client: SDL mouse buttons -> the protocol's button bits, and
// wheel motion (whole or high-resolution, SDL's preciseX/Y) summed into the protocol's notches,
// as the web client's WheelNotches does, and relative motion (a session whose pointer is relative)
// summed between sends. Pure; owned by the window thread.

#include "protocol/display.hpp"

#include <cstdint>
#include <optional>

namespace portico::client {

// SDL_BUTTON_LEFT/MIDDLE/RIGHT (1, 2, 3) -> protocol bits 1 (left), 2 (middle), 4 (right); 0 for others.
std::uint8_t protocol_button(int sdl_button);

struct WheelStep {
    std::int16_t dx = 0, dy = 0;  // notches; dy > 0 scrolls down, dx > 0 right (the protocol's sense)
};

class WheelNotches {
public:
    // One wheel event in SDL's units (y > 0: away from the user, i.e. up; one unit = one notch;
    // flipped: the event's direction is SDL_MOUSEWHEEL_FLIPPED). The whole notches now due.
    std::optional<WheelStep> add(float x, float y, bool flipped);
    void reset() { x_ = y_ = 0; }

private:
    double x_ = 0, y_ = 0;
};

// Relative pointer motion (SDL's xrel/yrel while the pointer is captured) gathered between sends,
// so a fast mouse costs one RelativePointer per loop turn, not one per X event.
class RelativeMotion {
public:
    void add(int dx, int dy) {
        dx_ += dx;
        dy_ += dy;
    }
    bool pending() const { return dx_ != 0 || dy_ != 0; }
    // The motion gathered so far with `buttons` (what one message carries; a remainder beyond
    // +-kMaxRelativeMotion stays for the next), or nothing when there was no motion.
    std::optional<protocol::RelativePointer> take(std::uint8_t buttons);
    // The message for a button change: the motion so far (possibly none) and the new buttons, so
    // the click lands where the motion led.
    protocol::RelativePointer take_with_buttons(std::uint8_t buttons);
    void reset() { dx_ = dy_ = 0; }

private:
    long dx_ = 0, dy_ = 0;
};

}  // namespace portico::client

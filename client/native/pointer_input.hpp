#pragma once
// Pointer mapping for the windowed client: SDL mouse buttons -> the protocol's button bits, and
// wheel motion (whole or high-resolution, SDL's preciseX/Y) summed into the protocol's notches,
// as the web client's WheelNotches does. Pure; owned by the window thread.

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

}  // namespace portico::client

#include "client/native/pointer_input.hpp"

#include <algorithm>
#include <cmath>

namespace portico::client {

std::uint8_t protocol_button(int sdl_button) {
    switch (sdl_button) {
        case 1: return 1;
        case 2: return 2;
        case 3: return 4;
        default: return 0;
    }
}

std::optional<WheelStep> WheelNotches::add(float x, float y, bool flipped) {
    const double sign = flipped ? -1.0 : 1.0;
    x_ += sign * x;
    y_ -= sign * y;  // SDL's up is the protocol's negative dy
    const double dx = std::trunc(x_), dy = std::trunc(y_);
    if (dx == 0 && dy == 0) return std::nullopt;
    x_ -= dx;
    y_ -= dy;
    auto clamp16 = [](double v) { return static_cast<std::int16_t>(std::clamp(v, -32768.0, 32767.0)); };
    return WheelStep{clamp16(dx), clamp16(dy)};
}

std::optional<protocol::RelativePointer> RelativeMotion::take(std::uint8_t buttons) {
    if (!pending()) return std::nullopt;
    return take_with_buttons(buttons);
}

protocol::RelativePointer RelativeMotion::take_with_buttons(std::uint8_t buttons) {
    constexpr long m = protocol::kMaxRelativeMotion;
    const long dx = std::clamp(dx_, -m, m), dy = std::clamp(dy_, -m, m);
    dx_ -= dx;
    dy_ -= dy;
    return {static_cast<std::int16_t>(dx), static_cast<std::int16_t>(dy), buttons};
}

}  // namespace portico::client

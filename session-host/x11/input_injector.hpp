#pragma once
// InputInjector: replays a client's keyboard and pointer input into an X display with XTEST.
// Keys arrive as Linux evdev codes; X keycode = evdev + 8 under the evdev keymap that Xvfb loads,
// so the server-side layout decides which character a physical key makes.
// Thread-safe (one mutex): the network thread calls it directly; each call only queues requests.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace portico::host {

class InputInjector {
public:
    explicit InputInjector(const std::string& display, const std::string& xauthority);  // throws if no XTEST
    ~InputInjector();

    void key(std::uint16_t evdev_code, bool down);
    // Types a character the client's layout produced, whatever the X layout: finds the keycode and
    // Shift level that carry its keysym (binding a spare keycode to it if no key does, as xdotool
    // does), and for the press sets Shift as that level needs and lifts other held modifiers.
    // A release lets go of the keycode the press used.
    void key_char(std::uint32_t codepoint, bool down);
    void pointer(int x, int y, std::uint8_t buttons);  // absolute; buttons bit0 left, bit1 middle, bit2 right
    // Motion by (dx, dy), as a mouse makes it: an app that grabbed the pointer and reads raw motion
    // (a game) sees the deltas, which absolute moves do not give it.
    void pointer_relative(int dx, int dy, std::uint8_t buttons);
    void wheel(int dx, int dy);  // notches -> buttons 4/5 (vertical), 6/7 (horizontal)
    void release_all();          // releases held keys and buttons (client vanished)

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace portico::host

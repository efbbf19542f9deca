#pragma once
// SwallowedRelease: gives back the key releases SDL 2 drops on X11. SDL takes a key's release
// followed at once by its press (less than 2 ms apart in the X server's time) for auto-repeat: it
// drops the release and reports the press as a repeat. Real auto-repeat never looks like that
// (SDL turns on XKB's detectable auto-repeat, so a held key sends presses only), but typing by
// program does whenever the X server handles the two together: xdotool, or a password manager's
// auto-type, typing "tt". Passed on as a repeat, a VM guest takes the second press for the
// keyboard's own typematic repeat and types one 't'. The X events themselves (SDL_SYSWMEVENT,
// delivered in order with SDL's own) still show the release; this turns such a "repeat" back into
// a release and a press. Window (main) thread only.

#include <SDL.h>

#include <optional>

namespace portico::client {

class SwallowedRelease {
public:
    // Asks SDL for the X events (SDL_SYSWMEVENT); false when the video driver is not X11 (SDL
    // drops no release there, and on_event then never sees one).
    static bool enable();

    // Every event, in order: SDL_SYSWMEVENT and SDL_KEYUP are the ones that count.
    void on_event(const SDL_Event& e);
    // For an SDL_KEYDOWN (after on_event): true when it is a new press whose release SDL dropped.
    bool dropped_before(const SDL_KeyboardEvent& key) const { return key.repeat && new_press_; }

    // What on_event reads from an X event; public for the tests. keycode: the X key code.
    void raw_release(unsigned keycode);
    void raw_press(unsigned keycode);
    void key_up();

private:
    std::optional<unsigned> released_;  // the X release not yet followed by SDL's key up
    bool new_press_ = false;            // the last X press came right after its own release
};

}  // namespace portico::client

#pragma once
// X11ImageClipboard: images on the local X display's CLIPBOARD, which SDL 2.26's text-only
// clipboard API cannot reach. X11 only (a Wayland or other SDL video driver gets text alone).
// It keeps a connection of its own to the client's display (so SDL's event loop never sees the
// selection traffic) and a thread that serves and fetches on it:
//  - set_image(): the client owns CLIPBOARD with a PNG from the session, answering TARGETS and
//    image/png (one ChangeProperty: BIG-REQUESTS takes 16 MiB, twice the largest image);
//  - when another program takes CLIPBOARD (XFIXES), it asks TARGETS and fetches image/png if the
//    owner offers no text (the same rule as the session host: text wins, SDL sends it), reading
//    INCR transfers of large images; take() hands the newest image to the window thread.
// The session host's ClipboardBridge does the same on the session's display; both speak the X
// selection protocol through x11/selection.hpp and keep their policy here.

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace portico::client {

class X11ImageClipboard {
public:
    // Connects to `display` (e.g. ":1"); throws std::runtime_error when that fails or XFIXES is
    // missing. `changed` runs on the clipboard thread when take() has something new.
    X11ImageClipboard(const std::string& display, std::function<void()> changed);
    ~X11ImageClipboard();
    X11ImageClipboard(const X11ImageClipboard&) = delete;
    X11ImageClipboard& operator=(const X11ImageClipboard&) = delete;

    // The local CLIPBOARD holds this PNG image now (from the session).
    void set_image(std::string png);
    // The image another program last put on CLIPBOARD, once (nullopt: none new).
    std::optional<std::string> take();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace portico::client

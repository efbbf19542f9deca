#pragma once
// Resize follows the window: the session size the window wants against what the host has
// (ServerHello, Resize) and what it was last asked, so a ResizeRequest goes out only when it
// would change something, sizes rounded as the host rounds them (client/web/resize.js's rules).
// A window spanning several monitors also sends their layout with every request (clipped to the
// size as rounded), and asks once per connection, and again whenever the layout changes (a monitor
// plugged or unplugged), even when the host has the size already: only the request tells the host
// the layout.
// The window thread debounces size changes before calling want(). Pure; window thread.

#include "protocol/display.hpp"

#include <optional>
#include <vector>

namespace portico::client {

inline constexpr int kMinResizeDim = 64;  // the host's smallest screen (protocol.js MIN_RESIZE_DIM)

// A wanted dimension as the host takes it: whole, even, within 64..kMaxScreenDim.
int screen_dim(int v);

class ResizeFollower {
public:
    // The host's screen size (ServerHello, Resize).
    void announced(int w, int h);
    // The window wants w x h output pixels: the request to send, if any.
    std::optional<protocol::ResizeRequest> want(int w, int h);
    // A new connection (reconnect): the host's size is announced again, and the wish asked again.
    std::optional<protocol::ResizeRequest> reconnected(int w, int h);
    // The monitors the window spans (monitor_layout.hpp), in window pixels; empty: none (one
    // monitor, the whole screen). A different layout is asked for with the next want().
    void set_layout(std::vector<protocol::MonitorRect> monitors, int primary);

private:
    struct Size {
        int w = 0, h = 0;
        bool operator==(const Size&) const = default;
    };
    std::optional<protocol::ResizeRequest> ask_if_needed();
    std::optional<Size> wanted_, asked_, announced_;
    std::vector<protocol::MonitorRect> layout_;
    int primary_ = 0;
    bool layout_news_ = false;  // the host has not been told the current layout on this connection
};

}  // namespace portico::client

#pragma once
// MonitorWatch: notices when the local X display's monitors change (a monitor plugged in or out,
// or rearranged in the display settings) and lists them as they are then. SDL 2.26 reads its
// display list once and afterwards follows only an output's connection state, so a monitor the
// desktop switches off, moves or resizes would go unseen; the watch asks RandR itself, on a
// connection of its own. X11 only: open() gives nothing elsewhere (then SDL's display events are
// all there is). Window (main) thread only.

#include "client/native/monitor_layout.hpp"

#include <memory>
#include <string>
#include <vector>

struct xcb_connection_t;

namespace portico::client {

struct NamedMonitor {
    std::string name;  // the RandR monitor's name: its output's ("HDMI-1")
    DisplayRect rect;  // in desktop (root window) coordinates
};

class MonitorWatch {
public:
    // A watch of $DISPLAY's screen, or nullptr when there is no X display to watch.
    static std::unique_ptr<MonitorWatch> open();
    ~MonitorWatch();
    MonitorWatch(const MonitorWatch&) = delete;
    MonitorWatch& operator=(const MonitorWatch&) = delete;

    // True when RandR reported a change since the last call (never blocks).
    bool changed();
    // The active monitors now, the primary first (as SDL numbers them), then in RandR's order.
    std::vector<NamedMonitor> monitors();

private:
    MonitorWatch(xcb_connection_t* c, unsigned root) : c_(c), root_(root) {}
    xcb_connection_t* c_;
    unsigned root_;
    unsigned randr_event_base_ = 0;
};

}  // namespace portico::client

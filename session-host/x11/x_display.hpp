#pragma once
// XvfbDisplay: one private X server per app session. Xvfb picks a free display number itself
// (-displayfd), listens on no TCP port, and requires the session's own MIT-MAGIC-COOKIE.
// Destroying the object stops the server. Not thread-safe; owned by one session.
// Xvfb gets PR_SET_PDEATHSIG(SIGKILL), which fires when the *thread* that constructed this object
// exits: construct it on a thread that lives as long as the session (not a short-lived worker).

#include <string>
#include <sys/types.h>

namespace portico::host {

class XvfbDisplay {
public:
    // Starts Xvfb at width x height x 24 and `dpi` and waits (up to 10 s) until it accepts
    // connections; before anyone else connects, the root window's RESOURCE_MANAGER gets
    // "Xft.dpi: <dpi>" (Xft and the toolkits take font DPI from it, not from the screen size).
    // `runtime_dir` is a private per-session directory (for the Xauthority file).
    // Throws std::runtime_error with Xvfb's complaint if it cannot start.
    XvfbDisplay(int width, int height, const std::string& runtime_dir, int dpi = 96);
    ~XvfbDisplay();
    XvfbDisplay(const XvfbDisplay&) = delete;
    XvfbDisplay& operator=(const XvfbDisplay&) = delete;

    const std::string& display() const { return display_; }        // e.g. ":12"
    const std::string& xauthority() const { return xauthority_; }  // path; set XAUTHORITY to it
    const std::string& cookie() const { return cookie_; }          // the MIT-MAGIC-COOKIE-1 bytes
    pid_t pid() const { return pid_; }
    bool running() const;

private:
    std::string display_, xauthority_, cookie_;
    pid_t pid_ = -1;
};

}  // namespace portico::host

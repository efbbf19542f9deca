#pragma once
// DisplayScale: how an app session honours its client's device pixel ratio (StartSession's
// `scale`) so text is as large as a local app's on that screen: the X server's DPI (Xvfb -dpi,
// RandR physical size, the Xft.dpi resource) and toolkit variables for the app. Pure; any thread.

#include <string>
#include <vector>

namespace portico::host {

struct DisplayScale {
    int dpi = 96;                  // round(96 * scale)
    std::vector<std::string> env;  // "NAME=value" entries for the app's environment
};

// `scale` outside 1..4 (the protocol refuses those) is clamped.
DisplayScale display_scale(double scale);

// The RESOURCE_MANAGER text that `xrdb -merge` of "Xft.dpi: <dpi>" leaves on the root window.
std::string xft_resources(int dpi);

}  // namespace portico::host

#include "session-host/x11/display_scale.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace portico::host {

DisplayScale display_scale(double scale) {
    if (!(scale >= 1)) scale = 1;  // also NaN
    scale = std::min(scale, 4.0);
    DisplayScale out;
    out.dpi = static_cast<int>(std::lround(96 * scale));
    // GTK scales widgets only by whole numbers (GDK_SCALE) and would then apply Xft.dpi to its fonts
    // on top, so GDK_DPI_SCALE takes that factor back out. A fractional DPR (1.25, 1.5) scales only
    // the fonts through Xft.dpi: readable text, 1x widgets, as on a local X desktop at that DPI.
    // Qt 5 reads Xft.dpi for its fonts; QT_SCALE_FACTOR would multiply on top, so it is left alone.
    const long n = std::lround(scale);
    if (n >= 2 && std::fabs(scale - static_cast<double>(n)) <= 0.05) {
        char inverse[32];
        std::snprintf(inverse, sizeof inverse, "%.6g", 1.0 / static_cast<double>(n));
        out.env.push_back("GDK_SCALE=" + std::to_string(n));
        out.env.push_back(std::string("GDK_DPI_SCALE=") + inverse);
    }
    return out;
}

std::string xft_resources(int dpi) { return "Xft.dpi:\t" + std::to_string(dpi) + "\n"; }

}  // namespace portico::host

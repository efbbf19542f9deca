#include "client/native/view_geometry.hpp"

#include <algorithm>
#include <cmath>

namespace portico::client {

ViewRect fit_view(int session_w, int session_h, int out_w, int out_h) {
    if (session_w <= 0 || session_h <= 0 || out_w <= 0 || out_h <= 0) return {};
    if (session_w <= out_w && session_h <= out_h) return {0, 0, session_w, session_h};
    const double scale = std::min(static_cast<double>(out_w) / session_w, static_cast<double>(out_h) / session_h);
    const int w = std::max(1, static_cast<int>(std::floor(session_w * scale)));
    const int h = std::max(1, static_cast<int>(std::floor(session_h * scale)));
    return {(out_w - w) / 2, (out_h - h) / 2, w, h};
}

std::optional<SessionPoint> session_point(const ViewRect& view, int session_w, int session_h, double px, double py) {
    if (view.w <= 0 || view.h <= 0 || session_w <= 0 || session_h <= 0) return std::nullopt;
    const int x = static_cast<int>(std::floor((px - view.x) * session_w / view.w));
    const int y = static_cast<int>(std::floor((py - view.y) * session_h / view.h));
    return SessionPoint{std::clamp(x, 0, session_w - 1), std::clamp(y, 0, session_h - 1)};
}

}  // namespace portico::client

#include "client/native/monitor_layout.hpp"

#include <algorithm>
#include <charconv>

namespace portico::client {

namespace {

bool overlap(const DisplayRect& a, const DisplayRect& b) {
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

}  // namespace

ClientResult<MonitorSelection> parse_monitor_selection(const std::string& text) {
    MonitorSelection s;
    if (text == "all") {
        s.all = true;
        return s;
    }
    const auto bad = [&] {
        return fail(ClientError::usage,
                    "--monitors wants 'all' or monitor numbers like 1,2 (see --list-monitors), not '" + text + "'");
    };
    std::size_t at = 0;
    while (at <= text.size()) {
        const std::size_t comma = std::min(text.find(',', at), text.size());
        int n = 0;
        const auto [p, ec] = std::from_chars(text.data() + at, text.data() + comma, n);
        if (ec != std::errc() || p != text.data() + comma || n < 1 || n > static_cast<int>(protocol::kMaxMonitors))
            return bad();
        if (std::find(s.numbers.begin(), s.numbers.end(), n) != s.numbers.end())
            return fail(ClientError::usage, "--monitors names monitor " + std::to_string(n) + " twice");
        s.numbers.push_back(n);
        at = comma + 1;
    }
    std::sort(s.numbers.begin(), s.numbers.end());
    return s;
}

ClientResult<SpanLayout> span_layout(const std::vector<DisplayRect>& displays, const MonitorSelection& chosen) {
    std::vector<int> numbers = chosen.numbers;
    if (chosen.all)
        for (int n = 1; n <= static_cast<int>(displays.size()); ++n) numbers.push_back(n);
    if (numbers.empty()) return fail(ClientError::usage, "no monitor chosen");
    if (numbers.size() > protocol::kMaxMonitors)
        return fail(ClientError::usage, "a session spans at most " + std::to_string(protocol::kMaxMonitors) +
                                            " monitors; choose some with --monitors 1,2,...");
    for (int n : numbers)
        if (n > static_cast<int>(displays.size()))
            return fail(ClientError::usage, "there is no monitor " + std::to_string(n) + ": this display has " +
                                                std::to_string(displays.size()) + " (see --list-monitors)");
    SpanLayout out;
    int x0 = displays[numbers[0] - 1].x, y0 = displays[numbers[0] - 1].y, x1 = x0, y1 = y0;
    for (std::size_t i = 0; i < numbers.size(); ++i) {
        const DisplayRect& d = displays[numbers[i] - 1];
        for (std::size_t j = 0; j < i; ++j)
            if (overlap(d, displays[numbers[j] - 1]))
                return fail(ClientError::usage, "monitors " + std::to_string(numbers[j]) + " and " +
                                                    std::to_string(numbers[i]) +
                                                    " overlap (mirrored?): a session cannot span them");
        x0 = std::min(x0, d.x);
        y0 = std::min(y0, d.y);
        x1 = std::max(x1, d.x + d.w);
        y1 = std::max(y1, d.y + d.h);
    }
    out.window = {x0, y0, x1 - x0, y1 - y0};
    for (int n = 1; n <= static_cast<int>(displays.size()); ++n)
        if (std::find(numbers.begin(), numbers.end(), n) == numbers.end() && overlap(out.window, displays[n - 1]))
            return fail(ClientError::usage,
                        "the chosen monitors do not sit together: a window over them would cover "
                        "part of monitor " +
                            std::to_string(n) + " (choose it too, or neighbouring ones)");
    if (out.window.w > protocol::kMaxScreenDim || out.window.h > protocol::kMaxScreenDim)
        return fail(ClientError::usage, "the chosen monitors span " + std::to_string(out.window.w) + "x" +
                                            std::to_string(out.window.h) + ", more than a session's " +
                                            std::to_string(protocol::kMaxScreenDim) + " pixels a side");
    for (std::size_t i = 0; i < numbers.size(); ++i) {
        const DisplayRect& d = displays[numbers[i] - 1];
        out.layout.push_back({static_cast<std::uint16_t>(d.x - x0), static_cast<std::uint16_t>(d.y - y0),
                              static_cast<std::uint16_t>(d.w), static_cast<std::uint16_t>(d.h)});
        if (numbers[i] == 1) out.primary = static_cast<int>(i);
    }
    return out;
}

}  // namespace portico::client

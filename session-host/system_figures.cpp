#include "session-host/system_figures.hpp"

#include <unistd.h>

#include <array>
#include <charconv>
#include <fstream>
#include <sstream>
#include <tuple>

namespace portico::host {

namespace {

std::string read_file(const char* path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        std::size_t j = i;
        while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
        if (j > i) out.push_back(line.substr(i, j - i));
        i = j;
    }
    return out;
}

std::optional<std::uint64_t> number(std::string_view w) {
    std::uint64_t v = 0;
    auto r = std::from_chars(w.data(), w.data() + w.size(), v);
    if (r.ec != std::errc() || r.ptr != w.data() + w.size()) return std::nullopt;
    return v;
}

}  // namespace

std::vector<std::pair<std::string, double>> parse_proc_stat_cpu(std::string_view text, long ticks_per_second) {
    // cpu  user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
    // inside user and nice, so the last two are left out (as node_exporter does).
    static constexpr std::array<const char*, 8> kModes{"user",   "nice", "system",  "idle",
                                                       "iowait", "irq",  "softirq", "steal"};
    std::vector<std::pair<std::string, double>> out;
    if (ticks_per_second <= 0) return out;
    const auto line = text.substr(0, text.find('\n'));
    auto w = words(line);
    if (w.empty() || w[0] != "cpu") return out;
    for (std::size_t i = 0; i < kModes.size() && i + 1 < w.size(); ++i) {
        auto v = number(w[i + 1]);
        if (!v) return {};
        out.emplace_back(kModes[i], static_cast<double>(*v) / static_cast<double>(ticks_per_second));
    }
    return out;
}

std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_meminfo(std::string_view text) {
    std::optional<std::uint64_t> total, available;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        auto w = words(text.substr(start, end - start));
        start = end + 1;
        if (w.size() < 2) continue;
        auto kib = number(w[1]);
        if (!kib) continue;
        if (w[0] == "MemTotal:") total = *kib * 1024;
        if (w[0] == "MemAvailable:") available = *kib * 1024;
    }
    if (!total || !available) return std::nullopt;
    return std::pair{*total, *available};
}

std::optional<double> parse_self_stat_cpu(std::string_view text, long ticks_per_second) {
    // The command (field 2) is in parentheses and may hold spaces and ')': fields after the last ')'.
    const auto close = text.rfind(')');
    if (close == std::string_view::npos || ticks_per_second <= 0) return std::nullopt;
    auto w = words(text.substr(close + 1, text.find('\n', close) - close - 1));
    // w[0] is field 3 (state), so utime (14) and stime (15) are w[11] and w[12].
    if (w.size() < 13) return std::nullopt;
    auto utime = number(w[11]), stime = number(w[12]);
    if (!utime || !stime) return std::nullopt;
    return static_cast<double>(*utime + *stime) / static_cast<double>(ticks_per_second);
}

SystemFigures read_system_figures() {
    SystemFigures f;
    const long ticks = ::sysconf(_SC_CLK_TCK);
    f.cpu_seconds = parse_proc_stat_cpu(read_file("/proc/stat"), ticks);
    f.cpus = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
    if (auto m = parse_meminfo(read_file("/proc/meminfo")))
        std::tie(f.memory_total_bytes, f.memory_available_bytes) = *m;
    {
        const std::string load = read_file("/proc/loadavg");
        auto w = words(load);
        if (!w.empty()) {
            double v = 0;
            auto r = std::from_chars(w[0].data(), w[0].data() + w[0].size(), v);
            if (r.ec == std::errc()) f.load1 = v;
        }
    }
    if (auto cpu = parse_self_stat_cpu(read_file("/proc/self/stat"), ticks)) f.process_cpu_seconds = *cpu;
    {
        // statm: size resident shared ... in pages.
        const std::string statm = read_file("/proc/self/statm");
        auto w = words(statm);
        if (w.size() >= 2)
            if (auto pages = number(w[1]))
                f.process_resident_bytes = *pages * static_cast<std::uint64_t>(::getpagesize());
    }
    return f;
}

}  // namespace portico::host

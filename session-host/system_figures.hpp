#pragma once
// What the machine and this process use, read from /proc for the host's GET /metrics: the
// machine's CPU time by mode, memory and load (a session's Xvfb, apps and QEMU are other processes,
// so the host process's own figures alone would hide what its sessions cost), and this process's
// CPU time and resident memory. The parsers take the files' text, so tests feed them samples.
// Any thread; reading never blocks for long (procfs).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portico::host {

struct SystemFigures {
    std::vector<std::pair<std::string, double>> cpu_seconds;  // machine, by mode (user, system, idle, ...)
    int cpus = 0;                                             // online
    std::uint64_t memory_total_bytes = 0, memory_available_bytes = 0;
    double load1 = 0;  // run queue averaged over one minute
    double process_cpu_seconds = 0;
    std::uint64_t process_resident_bytes = 0;
};

// The first ("cpu") line of /proc/stat: seconds per mode, given the kernel's clock ticks a second.
std::vector<std::pair<std::string, double>> parse_proc_stat_cpu(std::string_view text, long ticks_per_second);
// /proc/meminfo: MemTotal and MemAvailable in bytes; nullopt when either is missing.
std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_meminfo(std::string_view text);
// /proc/self/stat: utime + stime in seconds (fields 14 and 15, counted after the command's ')').
std::optional<double> parse_self_stat_cpu(std::string_view text, long ticks_per_second);

// Reads everything now; a file that cannot be read leaves its figures at zero.
SystemFigures read_system_figures();

}  // namespace portico::host

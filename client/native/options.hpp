#pragma once
// The portico-client command line: parsed into Options (a pure function, unit-tested) and the
// --help text that documents flags and exit codes. Used once at start-up on the main thread.

#include "client/native/client_error.hpp"
#include "client/native/monitor_layout.hpp"
#include "codec/h264_decoder.hpp"
#include "protocol/launch_file.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portico::client {

struct Options {
    bool help = false;
    bool headless = false;
    std::string broker;  // https://host:port (--broker, or the first positional argument)
    // A launch file (the positional argument when it is no URL) or launch link (portico://...,
    // the same fields): it names the broker, its certificate's pin and the resource, and its
    // token stands in for the user and password.
    std::optional<protocol::LaunchFile> launch_file;
    // --error-window (the desktop file's Exec line): started by the desktop, with no terminal to
    // read stderr, so a failure is also shown in a message box (error_window.hpp).
    bool error_window = false;
    std::string user;      // windowed: asked on the terminal when not given
    std::string password;  // from --password-file or PORTICO_PASSWORD
    // Windowed only: no --password-file and no PORTICO_PASSWORD, so the password is asked on the
    // terminal with echo off (never taken from the command line).
    bool ask_password = false;
    // --login-dialog: ask the user name and password in a window (login_dialog.hpp) even when stdin
    // is a terminal; without it the window asks only when stdin is none (started by the desktop).
    bool login_dialog = false;
    std::string resource;  // id or name
    std::string ca_file;   // --ca
    bool insecure = false;
    bool direct = false;                   // connect to the host directly instead of the broker's gateway
    std::optional<std::string> type_text;  // escapes already interpreted
    int type_delay_ms = 30;
    std::optional<std::pair<int, int>> pointer;  // --pointer X,Y: move there before typing
    int wait_frames = 1;
    double duration_s = 3.0;
    std::string png_path;
    bool logoff = false;
    bool json = false;
    // Benchmarks (bench/display): a JSON line per received frame, and input-to-photon probes.
    std::string frame_log_path;               // --frame-log FILE
    int probe_latency = 0;                    // --probe-latency N: N key presses, each timed to the frame showing it
    std::optional<std::pair<int, int>> size;  // --size WxH: ResizeRequest right after ServerHello
    std::string record_path;                  // --record FILE: every screen-changing message, for --replay
    // --replay FILE: no session; decode a --record file offline (recording.hpp), writing --png
    // (the picture at --png-at-ms, wall ms since the epoch), --raw-out (every frame, rgb24) and
    // --frame-log (one JSON line per raw frame).
    std::string replay_path;
    std::optional<double> png_at_ms;
    std::string raw_out_path;
    // The window (without --headless): start in full screen, the session's scale (its DPI is
    // 96 x scale; default: what SDL reports for the display), the stats overlay shown at start.
    bool fullscreen = false;
    std::optional<double> scale;
    bool stats_overlay = false;
    // --decoder: H.264 through VA-API when the machine has it (auto), or always in software, or
    // VA-API or nothing (vaapi: the client refuses to start without it).
    codec::H264Acceleration decoder = codec::H264Acceleration::automatic;
    // --monitors all|N,M: a borderless window over those monitors, the session laid out like them
    // (numbers as --list-monitors prints them); --list-monitors prints them and exits.
    std::optional<MonitorSelection> monitors;
    bool list_monitors = false;
};

// args excludes argv[0]. env_password is PORTICO_PASSWORD if set. Reads --password-file and the
// launch file (one that cannot be read or parsed is a usage error naming the file).
ClientResult<Options> parse_options(const std::vector<std::string>& args,
                                    const std::optional<std::string>& env_password);

const char* help_text();

// Whether a command-line argument is a launch link (portico://..., any case of the scheme).
bool is_launch_link(std::string_view arg);

}  // namespace portico::client

#include "client/native/options.hpp"

#include "client/native/keyboard_us.hpp"
#include "common/cli.hpp"

#include <cctype>
#include <charconv>
#include <fstream>
#include <functional>
#include <map>

namespace portico::client {

namespace {

template <class T>
bool parse_number(const std::string& s, T& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

// "X<sep>Y" with 0 <= X, Y <= 65535 (at least `min` each), or nothing.
std::optional<std::pair<int, int>> parse_pair(const std::string& v, char sep, int min) {
    auto at = v.find(sep);
    int x = -1, y = -1;
    if (at == std::string::npos || !parse_number(v.substr(0, at), x) || !parse_number(v.substr(at + 1), y) || x < min ||
        y < min || x > 65535 || y > 65535)
        return std::nullopt;
    return std::make_pair(x, y);
}

// A validator that refuses a value with `message` when `ok` says no.
CLI::Validator wants(std::function<bool(const std::string&)> ok, std::string message) {
    return CLI::Validator([ok, message](std::string& v) { return ok(v) ? std::string() : message; }, "");
}

// What the command line holds before the checks that look at several options at once.
struct RawOptions {
    std::string broker_positional;
    std::string password_file;
    std::optional<std::string> type;
    std::string pointer, size;
    std::string monitors;
};

const char* const kDescription =
    R"(usage: portico-client FILE.portico|portico://LINK [--headless ...] [--direct] [--fullscreen] [--scale F]
                      [--stats] [--error-window]
       portico-client [--broker] https://HOST:PORT --resource ID_OR_NAME [--user NAME]
                      [--password-file FILE] [--login-dialog] [--ca FILE | --insecure] [--direct]
                      [--size WxH] [--fullscreen | --monitors all|N,M,...] [--scale F] [--stats] [--logoff]
                      [--decoder auto|software|vaapi]
       portico-client --list-monitors
       portico-client --headless --broker https://HOST:PORT --user NAME
                      (--password-file FILE | env PORTICO_PASSWORD) --resource ID_OR_NAME
                      [--ca FILE | --insecure] [--direct] [--type TEXT] [--type-delay-ms MS]
                      [--pointer X,Y] [--wait-frames N] [--duration SECONDS] [--png FILE] [--logoff] [--json]
                      [--frame-log FILE] [--probe-latency N] [--size WxH] [--record FILE]
       portico-client --replay FILE [--png FILE [--png-at-ms MS]] [--raw-out FILE] [--frame-log FILE]

Logs in to the broker, launches the resource and opens its display channel (through the broker's
gateway, or with --direct straight to the host, trusting exactly the certificate the broker
names). Without --headless it shows the session in a window (docs/native-client.md): the user
name and password are asked when --user and --password-file (or the PORTICO_PASSWORD environment
variable) are not given, on the terminal when stdin is one, else (or with --login-dialog) in a
login window naming the broker, which asks again after a wrong password; Ctrl+Alt+Shift+F toggles full screen (which
grabs the keyboard), Ctrl+Alt+Shift+G lets go of (or takes back) the keyboard, Ctrl+Alt+Shift+S
shows the stats overlay; closing the window leaves the session running (--logoff ends it).
A launch file (what the portal's "Open in the Portico app" downloads, MIME type
application/x-portico-launch) names the broker, pins its certificate and carries a single-use
token that lasts a minute instead of a user and password; a launch link
(portico://BROKER:PORT/launch?version=1&...&token=..., the URL handler the package registers)
carries the same fields. --error-window (the desktop file gives it) also shows a failure in a
message box, as nobody reads stderr then.
With --headless it decodes what arrives (H.264 video, JPEG tiles), optionally types TEXT, and
prints one JSON line of statistics on stdout.)";

const char* const kFooter = R"(Replay (no session): --replay FILE decodes a --record file offline. --png FILE writes the
picture as it was at --png-at-ms (wall ms since the epoch; default: the end), --raw-out FILE
every frame as rgb24 (width*height*3 bytes each), --frame-log FILE one JSON line per frame
(wall_ms, id, kind, width, height), written before its pixels. Prints one JSON line.

The JSON line: session_id, width, height, decoder (what decoded H.264, and why not VA-API), frames,
video_frames, tile_frames, keyframes, decoded_frames, bytes, decode_errors, keys_sent, elapsed_s, first_frame_ms (launch request to
first decoded frame), ended (reason or null), error (message or null), exit_code; with
--probe-latency also probe_ms and probe_timeouts.

Exit codes:
  0  ok
  2  bad usage (unknown flag, missing value, unreadable password, CA or launch file, a damaged
     launch file)
  3  refused: login rejected, launch error, ticket refused by the host, a launch file expired or
     used already
  4  connection or protocol failure (includes no frame within 15 s, connection lost)
  5  frames arrived but not one could be decoded
  6  the user cancelled the login window (Cancel, Escape or closing it)
)";

// Declares portico-client's options on `app`, bound to `o` and `raw`: the one list both the parser
// and --help read.
void declare(CLI::App& app, Options& o, RawOptions& raw) {
    cli::setup(app, &o.help);
    app.description(kDescription);
    app.footer(kFooter);
    app.add_flag("--headless", o.headless, "run without a window (tests and measurements)");
    app.add_option("--broker", o.broker, "broker base URL, https only")->option_text("URL");
    app.add_option("broker_url", raw.broker_positional,
                   "the broker base URL, as an alternative to --broker; or a launch file or link")
        ->option_text("URL|FILE|LINK");
    app.add_flag("--fullscreen", o.fullscreen, "window: start in full screen (keyboard grabbed)");
    app.add_option("--scale", o.scale,
                   "window: the session's pixels per point, 1..4 (its DPI is 96 x F);\n"
                   "default: the display's scale as SDL reports it")
        ->option_text("F")
        ->check(wants(
            [](const std::string& v) {
                double d;
                return parse_number(v, d) && d >= 1 && d <= 4;
            },
            "wants 1..4"));
    app.add_flag("--stats", o.stats_overlay, "window: show the stats overlay from the start");
    app.add_flag("--error-window", o.error_window,
                 "window: show a failure in a message box too (started by the desktop, no terminal)");
    app.add_option("--decoder", o.decoder,
                   "H.264 decoding: auto (VA-API when the machine has a device for it, else\n"
                   "software; the stats say which), software, or vaapi (fails without it)")
        ->option_text("auto|software|vaapi")
        ->transform(CLI::CheckedTransformer(
            std::map<std::string, codec::H264Acceleration>{{"auto", codec::H264Acceleration::automatic},
                                                           {"software", codec::H264Acceleration::software},
                                                           {"vaapi", codec::H264Acceleration::vaapi}},
            CLI::ignore_case));
    app.add_option("--monitors", raw.monitors,
                   "window: span the session over all monitors or the numbered ones (as\n"
                   "--list-monitors prints them), its RandR monitors laid out like them")
        ->option_text("all|N,M");
    app.add_flag("--list-monitors", o.list_monitors, "print this display's monitors (numbers for --monitors) and exit");
    app.add_option("--user", o.user, "user name")->option_text("NAME");
    app.add_flag("--login-dialog", o.login_dialog,
                 "window: ask the user name and password in a login window even when stdin\n"
                 "is a terminal (without a terminal on stdin it is the default)");
    app.add_option("--password-file", raw.password_file, "first line is the password (else env PORTICO_PASSWORD)")
        ->option_text("FILE");
    app.add_option("--resource", o.resource, "resource id or name (names are looked up in /api/v1/resources)")
        ->option_text("R");
    app.add_option("--ca", o.ca_file, "trust the broker certificate chain in FILE (host name checked)")
        ->option_text("FILE");
    app.add_flag("--insecure", o.insecure, "do not verify the broker's certificate (a warning is printed)");
    app.add_flag("--direct", o.direct, "connect to the host's direct_url, pinned to host_cert_sha256");
    app.add_option("--type", raw.type, "type TEXT on a US layout once frames arrive; \\n = Enter, \\t = Tab, \\\\ = \\")
        ->option_text("TEXT");
    app.add_option("--type-delay-ms", o.type_delay_ms, "pause between typed characters (default 30)")
        ->option_text("MS")
        ->check(wants(
            [](const std::string& v) {
                int n;
                return parse_number(v, n) && n >= 0 && n <= 60000;
            },
            "wants 0..60000"));
    app.add_option("--pointer", raw.pointer,
                   "move the remote pointer to X,Y before typing (with no window manager,\n"
                   "keys go to the window under the pointer)")
        ->option_text("X,Y")
        ->check(wants([](const std::string& v) { return parse_pair(v, ',', 0).has_value(); }, "wants X,Y"));
    app.add_option("--wait-frames", o.wait_frames, "frames to receive before typing (default 1)")
        ->option_text("N")
        ->check(wants(
            [](const std::string& v) {
                int n;
                return parse_number(v, n) && n >= 1 && n <= 1000000;
            },
            "wants a positive count"));
    app.add_option("--duration", o.duration_s,
                   "keep receiving this long after the first frame (default 3; typing\n"
                   "always finishes first); ends earlier if the session ends")
        ->option_text("SECONDS")
        ->check(wants(
            [](const std::string& v) {
                double d;
                return parse_number(v, d) && d >= 0 && d <= 86400;
            },
            "wants 0..86400 seconds"));
    app.add_option("--png", o.png_path, "write the final screen as PNG")->option_text("FILE");
    app.add_flag("--logoff", o.logoff, "log the session off at the end (Logoff message, REST as fallback)");
    app.add_flag("--json", o.json, "no human-readable summary on stderr, only the JSON line on stdout");
    app.add_option("--frame-log", o.frame_log_path,
                   "write one JSON line per received frame: wall_ms (receive time, ms since\n"
                   "the epoch), id, kind (video, video_key, tiles), bytes_total (display\n"
                   "channel bytes received so far), latency_ms (video: receive time minus the\n"
                   "host's capture time; null for tiles, which carry no capture time)")
        ->option_text("FILE");
    app.add_option("--size", raw.size, "ask the host for a WxH screen (ResizeRequest) right after ServerHello")
        ->option_text("WxH")
        ->check(wants([](const std::string& v) { return parse_pair(v, 'x', 1).has_value(); }, "wants WxH"));
    app.add_option("--probe-latency", o.probe_latency,
                   "after --duration, N times: wait until the screen is quiet, press a key\n"
                   "(alternately 'x' and BackSpace) and time until a decoded frame differs\n"
                   "from the screen before the key; adds probe_ms (list) and probe_timeouts")
        ->option_text("N")
        ->check(wants(
            [](const std::string& v) {
                int n;
                return parse_number(v, n) && n >= 1 && n <= 100000;
            },
            "wants a positive count"));
    app.add_option("--record", o.record_path,
                   "append every screen-changing message, with the wall time it was painted,\n"
                   "to FILE (for --replay; benchmarks compare pictures without slowing the run)")
        ->option_text("FILE");
    app.add_option("--replay", o.replay_path, "decode a --record file offline (no session; see below)")
        ->option_text("FILE");
    app.add_option("--png-at-ms", o.png_at_ms, "with --replay: the moment --png shows (wall ms since the epoch)")
        ->option_text("MS")
        ->check(wants(
            [](const std::string& v) {
                double t;
                return parse_number(v, t) && t > 0;
            },
            "wants wall ms since the epoch"));
    app.add_option("--raw-out", o.raw_out_path, "with --replay: every frame as rgb24")->option_text("FILE");
}

// The launch file at `path`, read and parsed; a usage error naming the file otherwise.
ClientResult<protocol::LaunchFile> read_launch_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(ClientError::usage, "cannot read launch file " + path);
    std::string text(protocol::kMaxLaunchFileBytes + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    auto parsed = protocol::parse_launch_file(text);
    if (!parsed) return fail(ClientError::usage, "launch file " + path + ": " + parsed.error().message);
    return std::move(parsed.value());
}

// The launch link given as the argument, parsed; a usage error saying what is wrong otherwise (the
// link itself is not repeated: it carries the token).
ClientResult<protocol::LaunchFile> read_launch_link(const std::string& link) {
    auto parsed = protocol::parse_launch_url(link);
    if (!parsed) return fail(ClientError::usage, "launch link: " + parsed.error().message);
    return std::move(parsed.value());
}

// The path of a file:///path URL (percent-escapes decoded), nullopt for anything else.
std::optional<std::string> local_file_url_path(std::string_view arg) {
    constexpr std::string_view kPrefix = "file://";
    if (arg.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
    arg.remove_prefix(kPrefix.size());
    if (arg.substr(0, 10) == "localhost/") arg.remove_prefix(9);
    if (arg.empty() || arg.front() != '/') return std::nullopt;  // another machine's file: not ours to open
    std::string path;
    for (std::size_t i = 0; i < arg.size(); ++i) {
        int hi = 0, lo = 0;
        auto hex = [](char c, int& v) {
            v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
            return v >= 0;
        };
        if (arg[i] == '%' && i + 2 < arg.size() && hex(arg[i + 1], hi) && hex(arg[i + 2], lo)) {
            path.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else {
            path.push_back(arg[i]);
        }
    }
    return path;
}

}  // namespace

bool is_launch_link(std::string_view arg) {
    constexpr std::string_view kPrefix = "portico://";
    if (arg.size() < kPrefix.size()) return false;
    for (std::size_t i = 0; i < kPrefix.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(arg[i])) != kPrefix[i]) return false;
    return true;
}

const char* help_text() {
    static const std::string text = [] {
        Options o;
        RawOptions raw;
        CLI::App app("", "portico-client");
        declare(app, o, raw);
        return app.help();
    }();
    return text.c_str();
}

ClientResult<Options> parse_options(const std::vector<std::string>& args,
                                    const std::optional<std::string>& env_password) {
    Options o;
    RawOptions raw;
    CLI::App app("", "portico-client");
    declare(app, o, raw);
    if (auto parsed = cli::parse(app, args); !parsed) return fail(ClientError::usage, parsed.error().message);
    if (!raw.pointer.empty()) o.pointer = parse_pair(raw.pointer, ',', 0);
    if (!raw.size.empty()) o.size = parse_pair(raw.size, 'x', 1);
    if (o.help || o.list_monitors) return o;
    if (!raw.monitors.empty()) {
        auto chosen = parse_monitor_selection(raw.monitors);
        if (!chosen) return chosen.error();
        if (o.headless || o.fullscreen || o.size)
            return fail(ClientError::usage,
                        "--monitors sizes the window itself: not with --headless, --fullscreen or --size");
        o.monitors = std::move(chosen.value());
    }
    if (!o.replay_path.empty()) {
        if (o.png_path.empty() && o.raw_out_path.empty() && o.frame_log_path.empty())
            return fail(ClientError::usage, "--replay needs --png, --raw-out or --frame-log");
        return o;  // offline: no broker, user or password
    }
    if (o.png_at_ms || !o.raw_out_path.empty())
        return fail(ClientError::usage, "--png-at-ms and --raw-out go with --replay");
    // The desktop file's %u hands a launch file over as a path or as a file:// URL.
    if (auto path = local_file_url_path(raw.broker_positional)) raw.broker_positional = *path;
    const bool file_given = !raw.broker_positional.empty() && raw.broker_positional.find("://") == std::string::npos;
    const bool link_given = is_launch_link(raw.broker_positional);
    if (file_given || link_given) {
        // The file says where to go and who asks: the options that would say it too are refused.
        if (!o.broker.empty() || !o.user.empty() || !raw.password_file.empty() || !o.resource.empty() ||
            !o.ca_file.empty() || o.insecure)
            return fail(ClientError::usage,
                        "a launch file names the broker, its certificate, the user and the resource: --broker, "
                        "--user, --password-file, --resource, --ca and --insecure do not go with it");
        auto file = link_given ? read_launch_link(raw.broker_positional) : read_launch_file(raw.broker_positional);
        if (!file) return file.error();
        o.launch_file = std::move(file.value());
        o.broker = o.launch_file->broker;
        o.resource = o.launch_file->resource;
    } else if (!raw.broker_positional.empty()) {
        if (!o.broker.empty()) return fail(ClientError::usage, "the broker URL is given twice");
        o.broker = raw.broker_positional;
    }
    if (o.broker.empty()) return fail(ClientError::usage, "--broker is required");
    if (o.headless && o.user.empty() && !o.launch_file) return fail(ClientError::usage, "--user is required");
    if (o.headless && o.error_window)
        return fail(ClientError::usage, "--error-window goes with the window, not --headless");
    if (o.headless && o.login_dialog)
        return fail(ClientError::usage, "--login-dialog goes with the window, not --headless");
    if (o.launch_file && o.login_dialog)
        return fail(ClientError::usage, "a launch file needs no login: --login-dialog does not go with it");
    if (!o.headless) {
        // What only a headless run does (typing, screenshots, measuring) has no meaning in a window.
        if (raw.type || !o.png_path.empty() || o.probe_latency > 0 || !o.frame_log_path.empty() ||
            !o.record_path.empty() || o.json || o.pointer)
            return fail(
                ClientError::usage,
                "--type, --pointer, --png, --probe-latency, --frame-log, --record and --json go with --headless");
    } else if (o.fullscreen || o.scale || o.stats_overlay) {
        return fail(ClientError::usage, "--fullscreen, --scale and --stats go with the window, not --headless");
    }
    if (o.resource.empty()) return fail(ClientError::usage, "--resource is required");
    if (o.insecure && !o.ca_file.empty()) return fail(ClientError::usage, "--ca and --insecure exclude each other");
    if (o.launch_file) {
        // The token stands in for the password.
    } else if (!raw.password_file.empty()) {
        std::ifstream f(raw.password_file);
        if (!f) return fail(ClientError::usage, "cannot read password file " + raw.password_file);
        std::getline(f, o.password);
        if (!o.password.empty() && o.password.back() == '\r') o.password.pop_back();
    } else if (env_password) {
        o.password = *env_password;
    } else if (!o.headless) {
        o.ask_password = true;
    } else {
        return fail(ClientError::usage, "no password: use --password-file or PORTICO_PASSWORD");
    }
    if (raw.type) o.type_text = unescape_text(*raw.type);
    return o;
}

}  // namespace portico::client

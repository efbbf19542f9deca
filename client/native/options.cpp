#include "client/native/options.hpp"

#include "client/native/keyboard_us.hpp"

#include <charconv>
#include <fstream>

namespace portico::client {

namespace {

template <class T>
bool parse_number(const std::string& s, T& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

const char* help_text() {
    return R"(usage: portico-client --headless --broker https://HOST:PORT --user NAME
                      (--password-file FILE | env PORTICO_PASSWORD) --resource ID_OR_NAME
                      [--ca FILE | --insecure] [--direct] [--type TEXT] [--type-delay-ms MS]
                      [--pointer X,Y] [--wait-frames N] [--duration SECONDS] [--png FILE] [--logoff] [--json]
                      [--frame-log FILE] [--probe-latency N] [--size WxH] [--record FILE]
       portico-client --replay FILE [--png FILE [--png-at-ms MS]] [--raw-out FILE] [--frame-log FILE]

Logs in to the broker, launches the resource, opens its display channel (through the broker's
gateway, or with --direct straight to the host, trusting exactly the certificate the broker
names), decodes what arrives (H.264 video, JPEG tiles), optionally types TEXT, and prints one
JSON line of statistics on stdout.

  --headless           run without a window (the only mode in this build)
  --broker URL         broker base URL, https only
  --user NAME          user name
  --password-file FILE first line is the password (else env PORTICO_PASSWORD)
  --resource R         resource id or name (names are looked up in /api/v1/resources)
  --ca FILE            trust the broker certificate chain in FILE (host name checked)
  --insecure           do not verify the broker's certificate (a warning is printed)
  --direct             connect to the host's direct_url, pinned to host_cert_sha256
  --type TEXT          type TEXT on a US layout once frames arrive; \n = Enter, \t = Tab, \\ = \
  --type-delay-ms MS   pause between typed characters (default 30)
  --pointer X,Y        move the remote pointer to X,Y before typing (with no window manager,
                       keys go to the window under the pointer)
  --wait-frames N      frames to receive before typing (default 1)
  --duration SECONDS   keep receiving this long after the first frame (default 3; typing
                       always finishes first); ends earlier if the session ends
  --png FILE           write the final screen as PNG
  --logoff             log the session off at the end (Logoff message, REST as fallback)
  --json               no human-readable summary on stderr, only the JSON line on stdout
  --frame-log FILE     write one JSON line per received frame: wall_ms (receive time, ms since
                       the epoch), id, kind (video, video_key, tiles), bytes_total (display
                       channel bytes received so far), latency_ms (video: receive time minus the
                       host's capture time; null for tiles, which carry no capture time)
  --size WxH           ask the host for a WxH screen (ResizeRequest) right after ServerHello
  --probe-latency N    after --duration, N times: wait until the screen is quiet, press a key
                       (alternately 'x' and BackSpace) and time until a decoded frame differs
                       from the screen before the key; adds probe_ms (list) and probe_timeouts
  --record FILE        append every screen-changing message, with the wall time it was painted,
                       to FILE (for --replay; benchmarks compare pictures without slowing the run)

Replay (no session): --replay FILE decodes a --record file offline. --png FILE writes the
picture as it was at --png-at-ms (wall ms since the epoch; default: the end), --raw-out FILE
every frame as rgb24 (width*height*3 bytes each), --frame-log FILE one JSON line per frame
(wall_ms, id, kind, width, height), written before its pixels. Prints one JSON line.

The JSON line: session_id, width, height, frames, video_frames, tile_frames, keyframes,
decoded_frames, bytes, decode_errors, keys_sent, elapsed_s, first_frame_ms (launch request to
first decoded frame), ended (reason or null), error (message or null), exit_code; with
--probe-latency also probe_ms and probe_timeouts.

Exit codes:
  0  ok
  2  bad usage (unknown flag, missing value, unreadable password or CA file)
  3  refused: login rejected, launch error, ticket refused by the host
  4  connection or protocol failure (includes no frame within 15 s, connection lost)
  5  frames arrived but not one could be decoded
)";
}

ClientResult<Options> parse_options(const std::vector<std::string>& args,
                                    const std::optional<std::string>& env_password) {
    Options o;
    std::string password_file;
    std::optional<std::string> type_raw;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&](std::string& out) -> bool {
            if (i + 1 >= args.size()) return false;
            out = args[++i];
            return true;
        };
        std::string v;
        if (a == "--help" || a == "-h") {
            o.help = true;
        } else if (a == "--headless") {
            o.headless = true;
        } else if (a == "--insecure") {
            o.insecure = true;
        } else if (a == "--direct") {
            o.direct = true;
        } else if (a == "--logoff") {
            o.logoff = true;
        } else if (a == "--json") {
            o.json = true;
        } else if (a == "--broker" || a == "--user" || a == "--password-file" || a == "--resource" || a == "--ca" ||
                   a == "--type" || a == "--type-delay-ms" || a == "--wait-frames" || a == "--duration" ||
                   a == "--png" || a == "--pointer" || a == "--frame-log" || a == "--probe-latency" ||
                   a == "--size" || a == "--record" || a == "--replay" || a == "--png-at-ms" || a == "--raw-out") {
            if (!value(v)) return fail(ClientError::usage, a + " needs a value");
            if (a == "--broker") o.broker = v;
            else if (a == "--user") o.user = v;
            else if (a == "--password-file") password_file = v;
            else if (a == "--resource") o.resource = v;
            else if (a == "--ca") o.ca_file = v;
            else if (a == "--type") type_raw = v;
            else if (a == "--png") o.png_path = v;
            else if (a == "--frame-log") o.frame_log_path = v;
            else if (a == "--record") o.record_path = v;
            else if (a == "--replay") o.replay_path = v;
            else if (a == "--raw-out") o.raw_out_path = v;
            else if (a == "--png-at-ms") {
                double t = 0;
                if (!parse_number(v, t) || !(t > 0)) return fail(ClientError::usage, "--png-at-ms wants wall ms since the epoch");
                o.png_at_ms = t;
            }
            else if (a == "--size") {
                auto x = v.find('x');
                int w = 0, h = 0;
                if (x == std::string::npos || !parse_number(v.substr(0, x), w) || !parse_number(v.substr(x + 1), h) ||
                    w < 1 || h < 1 || w > 65535 || h > 65535)
                    return fail(ClientError::usage, "--size wants WxH");
                o.size = std::make_pair(w, h);
            }
            else if (a == "--probe-latency") {
                if (!parse_number(v, o.probe_latency) || o.probe_latency < 1 || o.probe_latency > 100000)
                    return fail(ClientError::usage, "--probe-latency wants a positive count");
            }
            else if (a == "--pointer") {
                auto comma = v.find(',');
                int x = -1, y = -1;
                if (comma == std::string::npos || !parse_number(v.substr(0, comma), x) ||
                    !parse_number(v.substr(comma + 1), y) || x < 0 || y < 0 || x > 65535 || y > 65535)
                    return fail(ClientError::usage, "--pointer wants X,Y");
                o.pointer = std::make_pair(x, y);
            }
            else if (a == "--type-delay-ms") {
                if (!parse_number(v, o.type_delay_ms) || o.type_delay_ms < 0 || o.type_delay_ms > 60000)
                    return fail(ClientError::usage, "--type-delay-ms wants 0..60000");
            } else if (a == "--wait-frames") {
                if (!parse_number(v, o.wait_frames) || o.wait_frames < 1 || o.wait_frames > 1000000)
                    return fail(ClientError::usage, "--wait-frames wants a positive count");
            } else if (a == "--duration") {
                if (!parse_number(v, o.duration_s) || !(o.duration_s >= 0) || o.duration_s > 86400)
                    return fail(ClientError::usage, "--duration wants 0..86400 seconds");
            }
        } else {
            return fail(ClientError::usage, "unknown argument: " + a);
        }
    }
    if (o.help) return o;
    if (!o.replay_path.empty()) {
        if (o.png_path.empty() && o.raw_out_path.empty() && o.frame_log_path.empty())
            return fail(ClientError::usage, "--replay needs --png, --raw-out or --frame-log");
        return o;  // offline: no broker, user or password
    }
    if (o.png_at_ms || !o.raw_out_path.empty()) return fail(ClientError::usage, "--png-at-ms and --raw-out go with --replay");
    if (!o.headless) return fail(ClientError::usage, "this build has no window: pass --headless");
    if (o.broker.empty()) return fail(ClientError::usage, "--broker is required");
    if (o.user.empty()) return fail(ClientError::usage, "--user is required");
    if (o.resource.empty()) return fail(ClientError::usage, "--resource is required");
    if (o.insecure && !o.ca_file.empty()) return fail(ClientError::usage, "--ca and --insecure exclude each other");
    if (!password_file.empty()) {
        std::ifstream f(password_file);
        if (!f) return fail(ClientError::usage, "cannot read password file " + password_file);
        std::getline(f, o.password);
        if (!o.password.empty() && o.password.back() == '\r') o.password.pop_back();
    } else if (env_password) {
        o.password = *env_password;
    } else {
        return fail(ClientError::usage, "no password: use --password-file or PORTICO_PASSWORD");
    }
    if (type_raw) o.type_text = unescape_text(*type_raw);
    return o;
}

}  // namespace portico::client

#pragma once
// The headless client run: login, launch, display channel, decode, optional typing, PNG and
// logoff, ending in one JSON line of statistics. Runs on the calling (main) thread.

#include "client/native/options.hpp"

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace portico::client {

struct RunStats {
    std::string session_id;
    int width = 0;
    int height = 0;
    std::string decoder;       // what decoded H.264 (H264Decoder::backend)
    std::uint64_t frames = 0;  // VideoFrames + TileFrames received
    std::uint64_t video_frames = 0;
    std::uint64_t tile_frames = 0;
    std::uint64_t keyframes = 0;
    std::uint64_t decoded_frames = 0;  // frames that changed the screen
    std::uint64_t bytes = 0;
    std::uint64_t decode_errors = 0;
    std::uint64_t keys_sent = 0;  // Key messages (down and up count separately)
    double elapsed_s = 0;
    double stream_s = 0;  // from opening the display connection to the end of --duration
    std::optional<double> first_frame_ms;
    // Client-side figures: decode time per frame, Ping -> Pong round trips (one Ping a second).
    std::vector<double> decode_ms;
    std::vector<double> rtt_ms;
    std::vector<double> probe_ms;      // --probe-latency: key sent to the decoded frame showing it
    int probe_timeouts = 0;            // probes whose change did not arrive within 2 s
    std::optional<std::string> ended;  // app_exited, logged_off, host_shutdown, error
    std::optional<std::string> error;
    int exit_code = 0;
};

std::string stats_json(const RunStats& s);  // one line, no newline

// Runs the whole flow; writes the JSON line to out and progress/errors to stderr.
// Returns the process exit code.
int run_headless(const Options& o, std::ostream& out);

// main() of portico-client: parses argv, prints help or usage errors, runs.
int client_main(int argc, char** argv);

}  // namespace portico::client

#pragma once
// Recording and replay of what a headless client painted, for benchmarks (bench/display): the
// live client appends every screen-changing display message (Resize, VideoFrame, TileFrame)
// with the wall time it finished painting it; the replay decodes the file again, offline, so
// the picture at any moment and every delivered frame can be compared with the source without
// slowing the measured run (writing 1080p pictures at 30 frames/s would).
//
// File format: records of [u64 wall time, µs since the epoch, little-endian][u32 length, LE]
// [protocol::encode() bytes]. The first record is a Resize with the ServerHello's screen size.

#include "client/native/client_error.hpp"
#include "protocol/display.hpp"

#include <cstdint>
#include <cstdio>
#include <optional>
#include <ostream>
#include <string>

namespace portico::client {

class Recorder {
public:
    explicit Recorder(const std::string& path);  // check ok() after
    ~Recorder();
    Recorder(const Recorder&) = delete;
    Recorder& operator=(const Recorder&) = delete;
    bool ok() const { return f_ != nullptr; }
    void append(std::uint64_t wall_us, const protocol::Message& m);

private:
    std::FILE* f_ = nullptr;
};

struct ReplayOptions {
    std::string record_path;
    std::string png_path;             // the picture as it was at png_at_ms
    std::optional<double> png_at_ms;  // wall ms since the epoch; unset = after the last record
    std::string raw_out_path;         // every painted frame as rgb24, W*H*3 bytes each
    std::string index_path;           // one JSON line per raw frame, written before its pixels
};

// Replays a recording. Errors: usage (unreadable file), protocol (a corrupt record).
Status replay(const ReplayOptions& o, std::ostream& summary);

}  // namespace portico::client

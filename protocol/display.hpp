#pragma once
// Display channel messages (docs/protocol.md): typed structs, encode() and a bounds-checked
// decode() that turns any malformed input into an ErrorCode instead of a crash. Shared by the
// session host and the native client; the web client has its own parser of the same layouts.

#include "common/result.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace portico::protocol {

inline constexpr std::uint16_t kDisplayVersion = 2;
inline constexpr std::size_t kMaxMessageBytes = 16 * 1024 * 1024;
inline constexpr std::size_t kMaxStringBytes = 4096;
inline constexpr int kMaxScreenDim = 8192;
inline constexpr int kMinResizeDim = 64;  // smallest size a client may ask for
inline constexpr std::size_t kMaxTiles = 4096;
inline constexpr std::size_t kMaxCopies = 4096;
inline constexpr std::size_t kMaxDirtyRects = 4096;
inline constexpr std::uint16_t kMaxKeyCode = 767;

enum class ErrorCode : std::uint16_t {
    malformed = 1,
    unsupported_version = 2,
    ticket_invalid = 3,
    ticket_expired = 4,
    ticket_replayed = 5,
    session_not_found = 6,
    too_large = 7,
    internal = 8,
    expected_hello = 9,
};
const char* to_string(ErrorCode);

enum class MsgType : std::uint8_t {
    hello = 0x01,
    key = 0x02,
    pointer = 0x03,
    wheel = 0x04,
    frame_ack = 0x05,
    keyframe_request = 0x06,
    logoff = 0x07,
    resize_request = 0x08,
    server_hello = 0x81,
    video_frame = 0x82,
    tile_frame = 0x83,
    resize = 0x84,
    session_ended = 0x85,
    error = 0x86,
};

// Client -> host
struct Hello { std::uint16_t version = kDisplayVersion; std::string ticket; };
struct Key { bool down = false; std::uint16_t code = 0; };
struct Pointer { std::uint16_t x = 0, y = 0; std::uint8_t buttons = 0; };
struct Wheel { std::int16_t dx = 0, dy = 0; };
struct FrameAck { std::uint32_t frame_id = 0; };
struct KeyframeRequest {};
struct Logoff {};
// The client's wish; the host rounds down to even sizes and clamps to what its screen allows.
struct ResizeRequest { std::uint16_t width = 0, height = 0; };

// Host -> client
struct ServerHello { std::uint16_t version = kDisplayVersion; std::uint16_t width = 0, height = 0; std::string session_id; };
struct ScreenRect { std::uint16_t x = 0, y = 0, w = 0, h = 0; };
struct VideoFrame {
    std::uint32_t frame_id = 0;
    bool keyframe = false;
    std::uint16_t width = 0, height = 0;
    std::uint64_t capture_time_us = 0;
    // What changed: the client paints only these parts of the decoded picture, so the lossless
    // pixels it has elsewhere stay. Empty = the whole screen (always so for keyframes).
    std::vector<ScreenRect> dirty;
    std::vector<std::uint8_t> data;  // one H.264 access unit, Annex B
};
// Moves what the client shows (scrolled text, a dragged window): copy the w x h rectangle at
// (x, y) to (dx, dy), as if through a temporary copy (the two may overlap).
struct CopyRect { std::uint16_t x = 0, y = 0, w = 0, h = 0, dx = 0, dy = 0; };
enum class TileEncoding : std::uint8_t { jpeg = 1, png = 2 };  // png: lossless
struct Tile {
    std::uint16_t x = 0, y = 0, w = 0, h = 0;
    TileEncoding encoding = TileEncoding::jpeg;
    std::vector<std::uint8_t> data;
};
// Copies first, in order, then tiles painted over the result.
struct TileFrame {
    std::uint32_t frame_id = 0;
    std::uint16_t width = 0, height = 0;
    std::vector<CopyRect> copies;
    std::vector<Tile> tiles;
};
enum class EndReason : std::uint8_t { app_exited = 0, logged_off = 1, host_shutdown = 2, error = 3 };
// The screen changed size; the next frame is a keyframe of this size.
struct Resize { std::uint16_t width = 0, height = 0; };
struct SessionEnded { EndReason reason = EndReason::app_exited; std::string message; };
struct ErrorMsg { ErrorCode code = ErrorCode::internal; std::string message; };

using Message = std::variant<Hello, Key, Pointer, Wheel, FrameAck, KeyframeRequest, Logoff, ResizeRequest,
                             ServerHello, VideoFrame, TileFrame, Resize, SessionEnded, ErrorMsg>;

std::vector<std::uint8_t> encode(const Message& m);
Result<Message, ErrorCode> decode(std::span<const std::uint8_t> bytes);

}  // namespace portico::protocol

#pragma once
// Display channel messages (docs/protocol.md): typed structs, encode() and a bounds-checked
// decode() that turns any malformed input into an ErrorCode instead of a crash. Shared by the
// session host and the native client; the web client has its own parser of the same layouts.

#include "common/result.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace portico::protocol {

// The version this build speaks; a host also serves clients of kMinDisplayVersion and up, sending
// them only what their version has (version 4 added the compact palette tile, version 5 its
// indices column by column).
inline constexpr std::uint16_t kDisplayVersion = 5;
inline constexpr std::uint16_t kMinDisplayVersion = 3;
inline constexpr std::uint16_t kCompactPaletteVersion = 4;
inline constexpr std::uint16_t kPaletteColumnsVersion = 5;
// WebSocket close code of a connection an administrator ended (the session keeps running): a
// client does not reconnect by itself (docs/protocol.md, "Closing").
inline constexpr std::uint16_t kCloseDisconnectedByAdmin = 4001;
inline constexpr std::size_t kMaxMessageBytes = 16 * 1024 * 1024;
inline constexpr std::size_t kMaxStringBytes = 4096;
inline constexpr int kMaxScreenDim = 8192;
inline constexpr int kMinResizeDim = 64;  // smallest size a client may ask for
inline constexpr std::size_t kMaxTiles = 4096;
inline constexpr std::size_t kMaxCopies = 4096;
inline constexpr std::size_t kMaxDirtyRects = 4096;
inline constexpr std::uint16_t kMaxKeyCode = 767;
inline constexpr std::size_t kMaxClipboardBytes = 1024 * 1024;           // UTF-8 text of one Clipboard message
inline constexpr std::size_t kMaxClipboardImageBytes = 8 * 1024 * 1024;  // one PNG on the clipboard, in all
inline constexpr int kMaxCursorDim = 256;                                // cursor shapes are at most 256x256
inline constexpr std::size_t kMaxShadowNames = 16;                       // names one ShadowNotice lists
inline constexpr std::size_t kMaxShadowNameBytes = 128;                  // UTF-8 bytes of one of them
inline constexpr std::size_t kMaxMonitors = 16;                          // monitors one ResizeRequest lays out
inline constexpr int kMaxRelativeMotion = 32767;                         // |dx|, |dy| of one RelativePointer

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
    clipboard = 0x09,
    ping = 0x0A,
    key_char = 0x0B,
    relative_pointer = 0x0C,
    server_hello = 0x81,
    video_frame = 0x82,
    tile_frame = 0x83,
    resize = 0x84,
    session_ended = 0x85,
    error = 0x86,
    clipboard_data = 0x87,
    cursor_shape = 0x88,
    pong = 0x89,
    shadow_notice = 0x8A,
    pointer_mode = 0x8B,
};

// Client -> host
struct Hello {
    std::uint16_t version = kDisplayVersion;
    std::string ticket;
};
struct Key {
    bool down = false;
    std::uint16_t code = 0;
};
struct Pointer {
    std::uint16_t x = 0, y = 0;
    std::uint8_t buttons = 0;
};
struct Wheel {
    std::int16_t dx = 0, dy = 0;
};
// paint_us: how long the client took from the frame's arrival to painted (0 = not reported). The
// host paces frames by it and shrinks full-motion video for clients that cannot paint it in time.
struct FrameAck {
    std::uint32_t frame_id = 0;
    std::uint32_t paint_us = 0;
};
struct KeyframeRequest {};
struct Logoff {};
// One monitor of a client spanning several, in session pixels of the requested screen.
struct MonitorRect {
    std::uint16_t x = 0, y = 0, w = 0, h = 0;
    bool operator==(const MonitorRect&) const = default;
};
// The client's wish; the host rounds down to even sizes and clamps to what its screen allows.
// `monitors` (optional on the wire; empty: one monitor, the whole screen) is the layout of a
// client spanning several monitors: 1..kMaxMonitors non-empty, non-overlapping rectangles inside
// width x height, monitors[primary] the primary one. The host's RandR monitors follow it.
struct ResizeRequest {
    std::uint16_t width = 0, height = 0;
    std::vector<MonitorRect> monitors{};
    std::uint8_t primary = 0;
};
// Why a layout is unacceptable for a width x height screen, or empty when it is acceptable.
std::string monitor_layout_error(int width, int height, const std::vector<MonitorRect>& monitors, int primary);
// A layout cut to the width x height screen the host made (it may have rounded or clamped the
// size the client asked for): what reaches past the screen is cut off, a monitor left without
// area is dropped, and `primary` follows its monitor (0 when that one was dropped).
struct FittedLayout {
    std::vector<MonitorRect> monitors;
    int primary = 0;
    std::size_t dropped = 0;
};
FittedLayout fit_monitor_layout(int width, int height, const std::vector<MonitorRect>& monitors, int primary);
// The client's clipboard changed (or it pasted): the session's clipboard becomes this UTF-8 text.
// Text longer than one message allows (the gateway takes 64 KiB from clients) comes in chunks,
// each valid UTF-8, all but the last with `more` set; the whole text is at most 1 MiB.
// With `png` the pieces carry the bytes of one image/png instead (no UTF-8 rule; at most 8 MiB in
// all): the session's CLIPBOARD then offers that image. Every piece of one transfer has the same kind.
inline constexpr std::size_t kClipboardChunkBytes = 60000;
struct Clipboard {
    std::string text;  // UTF-8 text, or with `png` the bytes of a PNG file
    bool more = false;
    bool png = false;
};
// Round-trip probe: the host answers with Pong carrying the same fields, at once.
struct Ping {
    std::uint32_t id = 0;
    std::uint64_t client_time = 0;
};
// A character the client's layout produced (KeyboardEvent.key), typed by the host whatever its own
// layout; down and up carry the same code point. Unicode scalar value, no control characters.
// `code` is the physical key (evdev, 0 = unknown) for sessions that cannot type by character.
struct KeyChar {
    bool down = false;
    std::uint32_t codepoint = 0;
    std::uint16_t code = 0;
};
// Pointer motion by (dx, dy) device pixels (positive: right, down), for a session whose pointer is
// relative (PointerMode): a VM guest with only a PS/2 mouse. |dx|, |dy| <= kMaxRelativeMotion (QEMU
// carries a delta as 0x7FFF + d in a u16); buttons as in Pointer.
struct RelativePointer {
    std::int16_t dx = 0, dy = 0;
    std::uint8_t buttons = 0;
};

// Host -> client
struct ServerHello {
    std::uint16_t version = kDisplayVersion;
    std::uint16_t width = 0, height = 0;
    std::string session_id;
};
struct ScreenRect {
    std::uint16_t x = 0, y = 0, w = 0, h = 0;
};
struct VideoFrame {
    std::uint32_t frame_id = 0;
    bool keyframe = false;
    std::uint16_t width = 0, height = 0;
    std::uint64_t capture_time_us = 0;
    // What changed: the client paints only these parts of the decoded picture, so the lossless
    // pixels it has elsewhere stay. Empty = the whole screen (always so for keyframes).
    std::vector<ScreenRect> dirty;
    std::vector<std::uint8_t> data;  // one H.264 access unit, Annex B
    // The H.264 picture's size when it is smaller than the screen (reduced-resolution motion): the
    // client scales it up to width x height. 0 = the picture is the screen's size.
    std::uint16_t coded_width = 0, coded_height = 0;
};
// Moves what the client shows (scrolled text, a dragged window): copy the w x h rectangle at
// (x, y) to (dx, dy), as if through a temporary copy (the two may overlap).
struct CopyRect {
    std::uint16_t x = 0, y = 0, w = 0, h = 0, dx = 0, dy = 0;
};
// png and the palettes are lossless; palette: at most 256 colours without a container, palette_compact
// (since version 4) the same with the palette sorted, as deltas, greys in one byte (codec/palette_format.hpp).
enum class TileEncoding : std::uint8_t { jpeg = 1, png = 2, palette = 3, palette_compact = 4 };
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
struct Resize {
    std::uint16_t width = 0, height = 0;
};
struct SessionEnded {
    EndReason reason = EndReason::app_exited;
    std::string message;
};
struct ErrorMsg {
    ErrorCode code = ErrorCode::internal;
    std::string message;
};
// Text copied in the session (CLIPBOARD or PRIMARY selection), UTF-8; with `png` an image an app
// put on CLIPBOARD (as image/png, without a text form), the bytes of a PNG file.
struct ClipboardData {
    std::string text;
    bool more = false;
    bool png = false;
};
// The PNG file signature: what a clipboard image must start with.
bool looks_like_png(std::string_view bytes);
// The pointer's shape changed. `id` names the shape (the X cursor serial); rgba is w*h*4 bytes,
// straight (not premultiplied) alpha. w == h == 0 hides the cursor.
struct CursorShape {
    std::uint32_t id = 0;
    std::uint16_t hot_x = 0, hot_y = 0, width = 0, height = 0;
    std::vector<std::uint8_t> rgba;
};
struct Pong {
    std::uint32_t id = 0;
    std::uint64_t client_time = 0;
};
// Sent to the session's owner whenever a view-only viewer (a helpdesk shadow) attaches or leaves,
// and on the owner's attach while any is watching, so the user always knows who sees the screen.
// count: how many watch now (0: nobody any more); names: who, at most kMaxShadowNames of them.
struct ShadowNotice {
    std::uint16_t count = 0;
    std::vector<std::string> names;
};
// How the session takes the pointer: absolute (Pointer, the default until this arrives) or relative
// (RelativePointer: the client captures the pointer and sends motion). Sent by VM desktops on each
// viewer's attach and whenever the guest switches (its USB tablet driver loads or goes away).
struct PointerMode {
    bool relative = false;
};

// True if `s` is valid UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool valid_utf8(std::string_view s);

using Message = std::variant<Hello, Key, Pointer, Wheel, FrameAck, KeyframeRequest, Logoff, ResizeRequest, ServerHello,
                             VideoFrame, TileFrame, Resize, SessionEnded, ErrorMsg, Clipboard, Ping, KeyChar,
                             ClipboardData, CursorShape, Pong, ShadowNotice, RelativePointer, PointerMode>;

std::vector<std::uint8_t> encode(const Message& m);
Result<Message, ErrorCode> decode(std::span<const std::uint8_t> bytes);

}  // namespace portico::protocol

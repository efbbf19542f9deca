#pragma once
// Framebuffer: the client's picture of the remote screen. Applies VideoFrames (H.264, painted
// where the frame says the screen changed) and TileFrames (copies of moved content, then JPEG,
// palette or PNG rectangles painted over what is there), checking every size and position against the
// screen before anything is written. Owned and used by the client thread.

#include "capture/frame.hpp"
#include "codec/h264_decoder.hpp"
#include "codec/jpeg_decoder.hpp"
#include "codec/palette_decoder.hpp"
#include "codec/png_decoder.hpp"
#include "protocol/display.hpp"

#include <string>

namespace portico::client {

class Framebuffer {
public:
    // The ServerHello size (1..kMaxScreenDim); H.264 decoded as `accel` asks (h264_decoder.hpp;
    // throws with `vaapi` on a machine without it).
    Framebuffer(int width, int height, codec::H264Acceleration accel = codec::H264Acceleration::software);

    // Decodes the access unit and replaces the screen with it. False (reason in last_error())
    // on a decoder error or a picture whose size is not the frame's; the screen is then kept.
    bool apply_video(const protocol::VideoFrame& f);

    struct TileResult {
        int painted = 0;
        int failed = 0;  // tiles outside the screen, of an unknown encoding or corrupt
    };
    // Paints each tile. If the frame announces another screen size, the screen is first resized
    // (and cleared), since the host's display changed size.
    TileResult apply_tiles(const protocol::TileFrame& f);

    // Paints one JPEG, palette or PNG tile at (x, y); false if the rectangle is not inside the screen or
    // the image does not decode to exactly w x h.
    bool apply_tile(const protocol::Tile& t);
    // Copies a rectangle of the screen (moved content); false if either side leaves the screen.
    bool apply_copy(const protocol::CopyRect& c);

    // The host's screen changed size (Resize): a cleared screen of the new size until the keyframe
    // that follows paints it. False if the size is out of range.
    bool resize(int width, int height);

    const capture::Frame& frame() const { return frame_; }
    int width() const { return frame_.width; }
    int height() const { return frame_.height; }
    const std::string& last_error() const { return error_; }
    const std::string& decoder() const { return h264_.backend(); }  // what decodes H.264

private:
    capture::Frame frame_;
    capture::Frame decoded_;  // H.264 output, copied to frame_ only when it is valid
    capture::Frame scaled_;   // a reduced-resolution picture scaled up to the screen
    codec::H264Decoder h264_;
    codec::JpegDecoder jpeg_;
    codec::PaletteDecoder palette_;
    codec::PngDecoder png_;
    std::string error_;
};

}  // namespace portico::client

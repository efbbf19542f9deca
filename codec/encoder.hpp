#pragma once
// The two kinds of encoder the display pipeline uses, as interfaces: the stream picks among them
// by what they are (a tile format that may decline content, or a video stream), and the
// conformance suite (tests/unit/codec/conformance_test.cpp) runs every implementation the same
// way. Modelled on Chromium remoting's VideoEncoder::Encode: a packet, or nothing. Implementations
// are used from one thread (a session's capture thread) and are not thread-safe.

#include "capture/frame.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace portico::codec {

enum class TileFormat { png, jpeg, palette };

class TileEncoder {
public:
    virtual ~TileEncoder() = default;
    virtual TileFormat format() const = 0;
    // r as one standalone image, or nothing when this encoder declines content of this kind (the
    // palette tile declines photo-like rectangles) so the caller can try the next encoder.
    // r must be non-empty and inside the frame (std::invalid_argument otherwise: a caller bug).
    virtual std::optional<std::vector<std::uint8_t>> encode(const capture::Frame& frame, const capture::Rect& r) = 0;
    // Lossy encoders: quality 1..100 from the next tile on. Lossless encoders ignore it.
    virtual void set_quality(int /*quality*/) {}
};

struct VideoPacket {
    std::vector<std::uint8_t> data;  // one access unit
    bool keyframe = false;           // a fresh decoder can start here
};

class VideoEncoder {
public:
    virtual ~VideoEncoder() = default;
    // The next access unit, or nothing if the encoder holds the frame back (an encoder with delay;
    // ours have none). frame must have the encoder's size (std::invalid_argument otherwise).
    virtual std::optional<VideoPacket> encode(const capture::Frame& frame, bool force_keyframe) = 0;
    // The encoder's own quality scale (x264: CRF 0..51, lower is better), from the next frame on,
    // without a keyframe.
    virtual void set_quality(int quality) = 0;
    // The coded picture size (what decoders output).
    virtual int width() const = 0;
    virtual int height() const = 0;
};

}  // namespace portico::codec

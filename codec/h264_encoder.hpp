#pragma once
// H264Encoder: x264 wrapped for interactive streaming (no frame delay, Constrained Baseline so
// browsers' WebCodecs and every hardware decoder accept it). One per session, used from that
// session's encode thread only; not thread-safe.

#include "codec/encoder.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace portico::codec {

class H264Encoder final : public VideoEncoder {
public:
    struct Options {
        int width = 0;  // the real frame size; odd values are padded, see width()
        int height = 0;
        int fps = 30;
        int crf = 23;              // x264 constant rate factor, 0..51, lower is better
        int max_bitrate_kbps = 0;  // 0 = no VBV cap
        int keyint = 300;          // longest distance between IDR frames
    };

    // Throws std::runtime_error with a readable message if x264 rejects the settings.
    explicit H264Encoder(const Options& options);
    ~H264Encoder() override;
    H264Encoder(const H264Encoder&) = delete;
    H264Encoder& operator=(const H264Encoder&) = delete;
    H264Encoder(H264Encoder&&) noexcept;
    H264Encoder& operator=(H264Encoder&&) noexcept;

    // One Annex B access unit (SPS+PPS precede every IDR). frame must have the size given in
    // Options (throws std::invalid_argument otherwise: that is a caller bug). Always a packet:
    // the encoder has no lookahead or B-frames.
    std::optional<VideoPacket> encode(const capture::Frame& frame, bool force_keyframe) override;

    // Changes the constant rate factor (0..51) from the next frame on, keeping the stream (no
    // keyframe): the session lowers quality while its link is the bottleneck. Throws
    // std::invalid_argument out of range, std::runtime_error if x264 refuses.
    void set_crf(int crf);
    void set_quality(int crf) override { set_crf(crf); }

    // WebCodecs codec string "avc1.42e0LL": Constrained Baseline, LL = the level x264 chose.
    std::string codec_string() const;

    // The coded picture size, i.e. Options' size rounded up to even (4:2:0 needs even sizes; the
    // extra column/row repeats the last real one). Decoders output this size.
    int width() const override;
    int height() const override;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace portico::codec

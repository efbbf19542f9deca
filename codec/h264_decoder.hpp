#pragma once
// H264Decoder: libavcodec's software H.264 decoder producing BGRX frames, for the native client
// and for tests. Its input comes from the network, so any byte sequence is safe to feed it.
// One per stream, used from one thread.

#include "capture/frame.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace portico::codec {

class H264Decoder {
public:
    H264Decoder();  // throws std::runtime_error if libavcodec has no H.264 decoder
    ~H264Decoder();
    H264Decoder(const H264Decoder&) = delete;
    H264Decoder& operator=(const H264Decoder&) = delete;
    H264Decoder(H264Decoder&&) noexcept;
    H264Decoder& operator=(H264Decoder&&) noexcept;

    // Decodes one Annex B access unit. Returns true and writes the picture to out (resized as
    // needed) when one comes out; false on error, on a picture with concealed errors, or when
    // there is no picture (last_error() says which); out is then not written. After a false, the
    // caller should ask for a keyframe: decoding resumes cleanly there.
    bool decode(std::span<const uint8_t> annexb, capture::Frame& out);
    const std::string& last_error() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace portico::codec

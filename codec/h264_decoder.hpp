#pragma once
// H264Decoder: libavcodec's H.264 decoder producing BGRX frames, for the native client and for
// tests. In software, or through VA-API (a GPU's decoder, pictures copied back to memory) when
// asked or, with `automatic`, when the machine has a VA-API device that decodes H.264; backend()
// says which, and why not VA-API. Its input comes from the network, so any byte sequence is safe
// to feed it. One per stream, used from one thread.

#include "capture/frame.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace portico::codec {

enum class H264Acceleration { software, automatic, vaapi };

class H264Decoder {
public:
    // Throws std::runtime_error if libavcodec has no H.264 decoder or, with `vaapi`, when there is
    // no VA-API device that decodes H.264 (the message says why). vaapi_device: a DRM render node,
    // empty for libva's default.
    explicit H264Decoder(H264Acceleration accel = H264Acceleration::software, const std::string& vaapi_device = "");
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
    // "software", "VA-API" or, when automatic found none, "software (no VA-API: <why>)". A VA-API
    // decoder that fails mid-stream turns into software here (the next keyframe decodes).
    const std::string& backend() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace portico::codec

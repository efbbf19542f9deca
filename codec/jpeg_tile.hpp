#pragma once
// JpegTileEncoder: compresses one damaged rectangle of a BGRX frame into a standalone JPEG
// (TurboJPEG), for sparse updates where H.264 would be wasteful. One per encode thread; not
// thread-safe.

#include "codec/encoder.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace portico::codec {

class JpegTileEncoder final : public TileEncoder {
public:
    // Throws std::runtime_error if TurboJPEG cannot be initialised. quality and chroma_full are
    // what the TileEncoder interface's encode() uses (see the explicit form below).
    explicit JpegTileEncoder(int quality = 90, bool chroma_full = true);
    ~JpegTileEncoder() override;
    JpegTileEncoder(const JpegTileEncoder&) = delete;
    JpegTileEncoder& operator=(const JpegTileEncoder&) = delete;
    JpegTileEncoder(JpegTileEncoder&&) noexcept;
    JpegTileEncoder& operator=(JpegTileEncoder&&) noexcept;

    // r must be non-empty and inside frame.bounds() (std::invalid_argument otherwise: a caller
    // bug). quality is clamped to 1..100. chroma_full = 4:4:4, which keeps coloured text sharp;
    // false = 4:2:0, smaller, for photos and video-like content.
    std::vector<uint8_t> encode(const capture::Frame& frame, const capture::Rect& r, int quality, bool chroma_full);

    TileFormat format() const override { return TileFormat::jpeg; }
    // At the set quality and chroma; never declines.
    std::optional<std::vector<std::uint8_t>> encode(const capture::Frame& frame, const capture::Rect& r) override {
        return encode(frame, r, quality_, chroma_full_);
    }
    void set_quality(int quality) override { quality_ = quality; }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    int quality_;
    bool chroma_full_;
};

}  // namespace portico::codec

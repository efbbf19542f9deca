#include "codec/jpeg_tile.hpp"

#include "codec/frame_check.hpp"

#include <turbojpeg.h>

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <string>

namespace portico::codec {

struct JpegTileEncoder::Impl {
    tjhandle handle = nullptr;
    // Reused between tiles so steady-state encoding allocates only the returned vector.
    unsigned char* buffer = nullptr;
    unsigned long capacity = 0;

    ~Impl() {
        if (buffer) tjFree(buffer);
        if (handle) tjDestroy(handle);
    }
};

JpegTileEncoder::JpegTileEncoder(int quality, bool chroma_full)
    : impl_(std::make_unique<Impl>()), quality_(quality), chroma_full_(chroma_full) {
    impl_->handle = tjInitCompress();
    if (!impl_->handle)
        throw std::runtime_error(std::string("JpegTileEncoder: tjInitCompress failed: ") + tjGetErrorStr2(nullptr));
}

JpegTileEncoder::~JpegTileEncoder() = default;
JpegTileEncoder::JpegTileEncoder(JpegTileEncoder&&) noexcept = default;
JpegTileEncoder& JpegTileEncoder::operator=(JpegTileEncoder&&) noexcept = default;

std::vector<uint8_t> JpegTileEncoder::encode(const capture::Frame& frame, const capture::Rect& r, int quality,
                                             bool chroma_full) {
    Impl& s = *impl_;
    if (!detail::frame_is_valid(frame) || r.empty() || !frame.bounds().contains(r))
        throw std::invalid_argument("JpegTileEncoder::encode: rect " + std::to_string(r.x) + "," + std::to_string(r.y) +
                                    " " + std::to_string(r.w) + "x" + std::to_string(r.h) +
                                    " is empty or outside the " + std::to_string(frame.width) + "x" +
                                    std::to_string(frame.height) + " frame");
    quality = std::clamp(quality, 1, 100);
    const int subsamp = chroma_full ? TJSAMP_444 : TJSAMP_420;

    // tjBufSize is the worst case, so with NOREALLOC TurboJPEG never reallocates behind our back.
    const unsigned long bound = tjBufSize(r.w, r.h, subsamp);
    if (bound == static_cast<unsigned long>(-1) || bound > static_cast<unsigned long>(INT_MAX))
        throw std::runtime_error("JpegTileEncoder: tile too large");
    if (s.capacity < bound) {
        if (s.buffer) tjFree(s.buffer);
        s.capacity = 0;
        s.buffer = tjAlloc(static_cast<int>(bound));
        if (!s.buffer) throw std::runtime_error("JpegTileEncoder: out of memory");
        s.capacity = bound;
    }
    unsigned long size = s.capacity;
    const int rc = tjCompress2(s.handle, frame.at(r.x, r.y), r.w, frame.stride, r.h, TJPF_BGRX, &s.buffer, &size,
                               subsamp, quality, TJFLAG_NOREALLOC);
    if (rc != 0) throw std::runtime_error(std::string("JpegTileEncoder: ") + tjGetErrorStr2(s.handle));
    return std::vector<uint8_t>(s.buffer, s.buffer + size);
}

}  // namespace portico::codec

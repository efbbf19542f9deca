#include "codec/jpeg_decoder.hpp"

#include "codec/frame_check.hpp"

#include <turbojpeg.h>

#include <cstring>
#include <stdexcept>
#include <vector>

namespace portico::codec {

struct JpegDecoder::Impl {
    tjhandle handle = nullptr;
    std::vector<uint8_t> scratch;  // decoded here first so a failed decode leaves target alone
    std::string error;

    ~Impl() {
        if (handle) tjDestroy(handle);
    }
    bool fail(std::string what) {
        error = std::move(what);
        return false;
    }
};

JpegDecoder::JpegDecoder() : impl_(std::make_unique<Impl>()) {
    impl_->handle = tjInitDecompress();
    if (!impl_->handle)
        throw std::runtime_error(std::string("JpegDecoder: tjInitDecompress failed: ") + tjGetErrorStr2(nullptr));
}

JpegDecoder::~JpegDecoder() = default;
JpegDecoder::JpegDecoder(JpegDecoder&&) noexcept = default;
JpegDecoder& JpegDecoder::operator=(JpegDecoder&&) noexcept = default;

const std::string& JpegDecoder::last_error() const { return impl_->error; }

bool JpegDecoder::decode_into(std::span<const uint8_t> jpeg, capture::Frame& target, int x, int y, int w, int h) {
    Impl& s = *impl_;
    s.error.clear();
    if (!detail::frame_is_valid(target)) return s.fail("target frame is invalid");
    // Compare in 64 bits: x + w may overflow int with hostile values.
    if (w <= 0 || h <= 0 || x < 0 || y < 0 || static_cast<long long>(x) + w > target.width ||
        static_cast<long long>(y) + h > target.height)
        return s.fail("tile " + std::to_string(w) + "x" + std::to_string(h) + " at " + std::to_string(x) + "," +
                      std::to_string(y) + " does not fit the " + std::to_string(target.width) + "x" +
                      std::to_string(target.height) + " frame");
    if (jpeg.empty()) return s.fail("empty JPEG");

    int jw = 0, jh = 0, subsamp = 0, colorspace = 0;
    // TurboJPEG's API is not const-correct; it does not write to the source buffer.
    auto* src = const_cast<unsigned char*>(jpeg.data());
    if (tjDecompressHeader3(s.handle, src, jpeg.size(), &jw, &jh, &subsamp, &colorspace) != 0)
        return s.fail(std::string("bad JPEG header: ") + tjGetErrorStr2(s.handle));
    if (jw != w || jh != h)
        return s.fail("JPEG is " + std::to_string(jw) + "x" + std::to_string(jh) + ", expected " + std::to_string(w) +
                      "x" + std::to_string(h));

    s.scratch.resize(static_cast<std::size_t>(w) * h * 4);
    // STOPONWARNING turns truncation ("premature end of data", which libjpeg would paper over
    // with grey) into an error; LIMITSCANS stops progressive files built to burn CPU.
    const int flags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;
    if (tjDecompress2(s.handle, src, jpeg.size(), s.scratch.data(), w, w * 4, h, TJPF_BGRX, flags) != 0)
        return s.fail(std::string("corrupt JPEG: ") + tjGetErrorStr2(s.handle));

    for (int row = 0; row < h; ++row)
        std::memcpy(target.at(x, y + row), s.scratch.data() + static_cast<std::size_t>(row) * w * 4,
                    static_cast<std::size_t>(w) * 4);
    return true;
}

}  // namespace portico::codec

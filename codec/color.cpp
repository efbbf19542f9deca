#include "codec/color.hpp"

#include "codec/frame_check.hpp"

#include <libyuv/convert.h>
#include <libyuv/convert_argb.h>
#include <libyuv/scale_argb.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace portico::codec {

void bgra_to_i420(const capture::Frame& src, I420Image& dst) {
    if (!detail::frame_is_valid(src)) throw std::invalid_argument("bgra_to_i420: invalid frame");
    const int cw = (src.width + 1) / 2;
    const int ch = (src.height + 1) / 2;
    dst.width = src.width;
    dst.height = src.height;
    dst.stride_y = src.width;
    dst.stride_uv = cw;
    dst.y.resize(static_cast<std::size_t>(src.width) * src.height);
    dst.u.resize(static_cast<std::size_t>(cw) * ch);
    dst.v.resize(static_cast<std::size_t>(cw) * ch);
    // libyuv's "ARGB" is little-endian words, i.e. bytes B,G,R,A: exactly our BGRX.
    libyuv::ARGBToI420(src.pixels.data(), src.stride, dst.y.data(), dst.stride_y, dst.u.data(), dst.stride_uv,
                       dst.v.data(), dst.stride_uv, src.width, src.height);
}

void i420_to_bgra(const I420Image& src, capture::Frame& dst) {
    const int cw = (src.width + 1) / 2;
    const int ch = (src.height + 1) / 2;
    if (src.width <= 0 || src.height <= 0 || src.stride_y < src.width || src.stride_uv < cw ||
        src.y.size() < static_cast<std::size_t>(src.stride_y) * (src.height - 1) + src.width ||
        src.u.size() < static_cast<std::size_t>(src.stride_uv) * (ch - 1) + cw ||
        src.v.size() < static_cast<std::size_t>(src.stride_uv) * (ch - 1) + cw)
        throw std::invalid_argument("i420_to_bgra: invalid image");
    detail::resize_frame(dst, src.width, src.height);
    libyuv::I420ToARGB(src.y.data(), src.stride_y, src.u.data(), src.stride_uv, src.v.data(), src.stride_uv,
                       dst.pixels.data(), dst.stride, src.width, src.height);
}

void scale_bgra(const capture::Frame& src, capture::Frame& dst, int width, int height) {
    if (!detail::frame_is_valid(src)) throw std::invalid_argument("scale_bgra: invalid frame");
    if (width < 1 || height < 1) throw std::invalid_argument("scale_bgra: empty target size");
    if (dst.width != width || dst.height != height) {
        dst.width = width;
        dst.height = height;
        dst.stride = width * 4;
        dst.pixels.resize(static_cast<std::size_t>(dst.stride) * height);
    }
    const bool shrinking = width <= src.width && height <= src.height;
    libyuv::ARGBScale(src.pixels.data(), src.stride, src.width, src.height, dst.pixels.data(), dst.stride, width,
                      height, shrinking ? libyuv::kFilterBox : libyuv::kFilterBilinear);
}

double psnr_bgra(const capture::Frame& a, const capture::Frame& b) {
    if (a.width != b.width || a.height != b.height || !detail::frame_is_valid(a) || !detail::frame_is_valid(b))
        return 0.0;
    constexpr double kCap = 99.0;
    unsigned long long sse = 0;
    for (int y = 0; y < a.height; ++y) {
        const uint8_t* pa = a.row(y);
        const uint8_t* pb = b.row(y);
        for (int x = 0; x < a.width * 4; x += 4) {
            for (int c = 0; c < 3; ++c) {
                const int d = int(pa[x + c]) - int(pb[x + c]);
                sse += static_cast<unsigned long long>(d * d);
            }
        }
    }
    if (sse == 0) return kCap;
    const double mse = double(sse) / (double(a.width) * a.height * 3);
    return std::min(kCap, 10.0 * std::log10(255.0 * 255.0 / mse));
}

}  // namespace portico::codec

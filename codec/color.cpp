#include "codec/color.hpp"

#include "codec/frame_check.hpp"

#include <libyuv/convert.h>
#include <libyuv/convert_argb.h>
#include <libyuv/convert_from_argb.h>
#include <libyuv/scale_argb.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>

namespace portico::codec {

namespace {

// BT.601, limited range, for R, G, B in 0..255 (ITU-R BT.601 scaled to 8 bits):
//   Cb = 128 + (-37.797 R - 74.203 G + 112 B) / 255,  Cr = 128 + (112 R - 93.786 G - 18.214 B) / 255.
// Applied to the sums of a 2x2 block's four pixels, in 16-bit fixed point (error < 0.03 of a step).
constexpr int chroma_coefficient(double c) {
    const double scaled = c * 65536.0 / (255.0 * 4.0);
    return scaled < 0 ? -static_cast<int>(-scaled + 0.5) : static_cast<int>(scaled + 0.5);
}
constexpr int kUR = chroma_coefficient(-37.797), kUG = chroma_coefficient(-74.203), kUB = chroma_coefficient(112.0);
constexpr int kVR = chroma_coefficient(112.0), kVG = chroma_coefficient(-93.786), kVB = chroma_coefficient(-18.214);
constexpr int kChromaOffset = (128 << 16) + (1 << 15);  // +128, and +0.5 so the shift rounds to nearest

void bgra_to_chroma(const capture::Frame& src, uint8_t* u, int stride_u, uint8_t* v, int stride_v) {
    const int cw = (src.width + 1) / 2;
    const int ch = (src.height + 1) / 2;
    for (int j = 0; j < ch; ++j) {
        const uint8_t* r0 = src.row(2 * j);
        const uint8_t* r1 = 2 * j + 1 < src.height ? src.row(2 * j + 1) : r0;  // odd height: last row twice
        uint8_t* uo = u + static_cast<std::ptrdiff_t>(j) * stride_u;
        uint8_t* vo = v + static_cast<std::ptrdiff_t>(j) * stride_v;
        for (int i = 0; i < cw; ++i) {
            const int a = 8 * i;
            const int b = 2 * i + 1 < src.width ? a + 4 : a;  // odd width: last column twice
            const int sb = r0[a] + r0[b] + r1[a] + r1[b];     // BGRX
            const int sg = r0[a + 1] + r0[b + 1] + r1[a + 1] + r1[b + 1];
            const int sr = r0[a + 2] + r0[b + 2] + r1[a + 2] + r1[b + 2];
            uo[i] = static_cast<uint8_t>((kUR * sr + kUG * sg + kUB * sb + kChromaOffset) >> 16);
            vo[i] = static_cast<uint8_t>((kVR * sr + kVG * sg + kVB * sb + kChromaOffset) >> 16);
        }
    }
}

}  // namespace

void bgra_to_i420(const capture::Frame& src, uint8_t* y, int stride_y, uint8_t* u, int stride_u, uint8_t* v,
                  int stride_v) {
    if (!detail::frame_is_valid(src)) throw std::invalid_argument("bgra_to_i420: invalid frame");
    // libyuv's luma is right to within a fraction of a step (and vectorised); its chroma is not.
    libyuv::ARGBToI400(src.pixels.data(), src.stride, y, stride_y, src.width, src.height);
    bgra_to_chroma(src, u, stride_u, v, stride_v);
}

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
    bgra_to_i420(src, dst.y.data(), dst.stride_y, dst.u.data(), dst.stride_uv, dst.v.data(), dst.stride_uv);
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

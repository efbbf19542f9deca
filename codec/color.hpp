#pragma once
// Colour conversion between BGRX frames and planar I420 (BT.601, limited range, what x264 and
// browsers' H.264 decoders expect), plus a PSNR measure used by tests and encoder tuning.

#include "capture/frame.hpp"

#include <cstdint>
#include <vector>

namespace portico::codec {

// A planar 4:2:0 picture. Chroma planes are ceil(width/2) x ceil(height/2), so odd sizes keep
// their last column and row.
struct I420Image {
    int width = 0;
    int height = 0;
    std::vector<uint8_t> y, u, v;
    int stride_y = 0;
    int stride_uv = 0;
};

// Resizes dst to src's size (reusing its storage when it is big enough). Odd sizes are fine.
void bgra_to_i420(const capture::Frame& src, I420Image& dst);
// The same into caller-owned planes (an encoder's picture): y is width x height, u and v are
// ceil(width/2) x ceil(height/2). Chroma is the exact BT.601 value of each 2x2 block's mean colour,
// rounded to nearest: libyuv's own chroma comes out half a step low on average, which cost
// 0.5 dB of RGB PSNR on a video clip (bench/display/colour_round_trip.py).
void bgra_to_i420(const capture::Frame& src, std::uint8_t* y, int stride_y, std::uint8_t* u, int stride_u,
                  std::uint8_t* v, int stride_v);
// Resizes dst to src's size; X bytes come out as 255.
void i420_to_bgra(const I420Image& src, capture::Frame& dst);

// Resamples src to width x height into dst (resized, storage reused): a box filter when
// shrinking (every source pixel counts, so text thins out instead of aliasing), bilinear when
// growing. For reduced-resolution motion: the host halves full-motion frames, clients scale back.
void scale_bgra(const capture::Frame& src, capture::Frame& dst, int width, int height);

// PSNR in dB over the R, G and B channels. Identical frames give 99.0 (the cap); frames of
// different sizes give 0.0.
double psnr_bgra(const capture::Frame& a, const capture::Frame& b);

}  // namespace portico::codec

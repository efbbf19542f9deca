#include "codec/h264_encoder.hpp"

#include "codec/color.hpp"
#include "codec/frame_check.hpp"

extern "C" {
#include <x264.h>
}

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

namespace portico::codec {

namespace {

// VUI colour description: what bgra_to_i420 produces (BT.601 matrix, limited range) from
// sRGB desktop pixels. Signalled explicitly because decoders guess BT.709 for HD sizes otherwise.
constexpr int kColorPrimBt709 = 1;
constexpr int kTransferSrgb = 13;  // IEC 61966-2-1
constexpr int kColMatrixSmpte170m = 6;

std::runtime_error x264_error(const std::string& what) { return std::runtime_error("H264Encoder: " + what); }

}  // namespace

struct H264Encoder::Impl {
    Options options;
    int coded_width = 0;
    int coded_height = 0;
    x264_t* encoder = nullptr;
    x264_picture_t picture{};
    bool picture_allocated = false;
    int64_t pts = 0;
    uint8_t level_idc = 0;

    ~Impl() {
        if (picture_allocated) x264_picture_clean(&picture);
        if (encoder) x264_encoder_close(encoder);
    }
};

H264Encoder::H264Encoder(const Options& options) : impl_(std::make_unique<Impl>()) {
    Impl& s = *impl_;
    s.options = options;
    if (options.width <= 0 || options.height <= 0 || options.width > 16384 || options.height > 16384)
        throw x264_error("invalid size " + std::to_string(options.width) + "x" + std::to_string(options.height));
    if (options.fps <= 0 || options.fps > 1000) throw x264_error("invalid fps");
    if (options.crf < 0 || options.crf > 51) throw x264_error("crf must be 0..51");
    if (options.keyint <= 0) throw x264_error("keyint must be positive");
    if (options.max_bitrate_kbps < 0) throw x264_error("max_bitrate_kbps must be >= 0");
    s.coded_width = (options.width + 1) & ~1;
    s.coded_height = (options.height + 1) & ~1;

    x264_param_t param;
    // veryfast: measured ~6-9 ms per 720p and ~16 ms per 1080p frame (2 slice threads, busy
    // 2-core VM), inside a 30 fps budget; ultrafast halves that but costs ~35% more bytes.
    // zerolatency removes lookahead, B-frames and frame threads, so every input picture comes
    // straight out as one access unit.
    if (x264_param_default_preset(&param, "veryfast", "zerolatency") < 0)
        throw x264_error("x264 rejected preset veryfast/zerolatency");
    param.i_log_level = X264_LOG_ERROR;
    param.i_csp = X264_CSP_I420;
    param.i_width = s.coded_width;
    param.i_height = s.coded_height;
    param.i_fps_num = static_cast<uint32_t>(options.fps);
    param.i_fps_den = 1;
    param.i_timebase_num = 1;
    param.i_timebase_den = static_cast<uint32_t>(options.fps);
    param.b_vfr_input = 0;
    // Two slice threads: halves latency on a free core without the frame delay of frame threads.
    param.i_threads = 2;
    param.b_sliced_threads = 1;
    param.i_keyint_max = options.keyint;
    param.i_keyint_min = 1;
    param.i_scenecut_threshold = 0;  // IDRs only when asked or at keyint: keeps sizes predictable
    param.b_repeat_headers = 1;      // SPS/PPS before every IDR so a late joiner can start there
    param.b_annexb = 1;
    param.b_aud = 0;
    param.rc.i_rc_method = X264_RC_CRF;
    param.rc.f_rf_constant = static_cast<float>(options.crf);
    if (options.max_bitrate_kbps > 0) {
        param.rc.i_vbv_max_bitrate = options.max_bitrate_kbps;
        // Half a second of buffer bounds how long a burst (a keyframe) occupies the link.
        param.rc.i_vbv_buffer_size = std::max(1, options.max_bitrate_kbps / 2);
    }
    param.vui.i_colorprim = kColorPrimBt709;
    param.vui.i_transfer = kTransferSrgb;
    param.vui.i_colmatrix = kColMatrixSmpte170m;
    param.vui.b_fullrange = 0;
    if (x264_param_apply_profile(&param, "baseline") < 0) throw x264_error("x264 rejected profile baseline");

    s.encoder = x264_encoder_open(&param);
    if (!s.encoder)
        throw x264_error("x264_encoder_open failed for " + std::to_string(s.coded_width) + "x" +
                         std::to_string(s.coded_height));
    if (x264_picture_alloc(&s.picture, X264_CSP_I420, s.coded_width, s.coded_height) < 0)
        throw x264_error("x264_picture_alloc failed");
    s.picture_allocated = true;

    // Read the level from the SPS x264 will actually write rather than re-deriving its choice.
    x264_nal_t* nals = nullptr;
    int nal_count = 0;
    if (x264_encoder_headers(s.encoder, &nals, &nal_count) < 0) throw x264_error("x264_encoder_headers failed");
    for (int i = 0; i < nal_count; ++i) {
        if (nals[i].i_type != NAL_SPS) continue;
        // Payload: start code (4 bytes), NAL header, profile_idc, constraint flags, level_idc.
        const uint8_t* p = nals[i].p_payload;
        int n = nals[i].i_payload;
        int sc = (n >= 4 && p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 1) ? 4 : 3;
        if (n >= sc + 4) s.level_idc = p[sc + 3];
    }
    if (s.level_idc == 0) throw x264_error("x264 produced no SPS");
}

H264Encoder::~H264Encoder() = default;
H264Encoder::H264Encoder(H264Encoder&&) noexcept = default;
H264Encoder& H264Encoder::operator=(H264Encoder&&) noexcept = default;

void H264Encoder::set_crf(int crf) {
    if (crf < 0 || crf > 51) throw std::invalid_argument("crf must be 0..51");
    x264_param_t param;
    x264_encoder_parameters(impl_->encoder, &param);
    if (param.rc.f_rf_constant == static_cast<float>(crf)) return;
    param.rc.f_rf_constant = static_cast<float>(crf);
    if (x264_encoder_reconfig(impl_->encoder, &param) < 0) throw x264_error("x264 refused CRF " + std::to_string(crf));
}

std::optional<VideoPacket> H264Encoder::encode(const capture::Frame& frame, bool force_keyframe) {
    Impl& s = *impl_;
    if (!detail::frame_is_valid(frame) || frame.width != s.options.width || frame.height != s.options.height)
        throw std::invalid_argument("H264Encoder::encode: frame is " + std::to_string(frame.width) + "x" +
                                    std::to_string(frame.height) + ", encoder expects " +
                                    std::to_string(s.options.width) + "x" + std::to_string(s.options.height));

    x264_image_t& img = s.picture.img;
    bgra_to_i420(frame, img.plane[0], img.i_stride[0], img.plane[1], img.i_stride[1], img.plane[2], img.i_stride[2]);
    // Odd sizes: the chroma planes already cover the padding (they are rounded up); luma gets
    // its last column and row repeated so the padding is invisible when a decoder scales.
    if (frame.width != s.coded_width) {
        for (int y = 0; y < frame.height; ++y) {
            uint8_t* row = img.plane[0] + static_cast<std::ptrdiff_t>(y) * img.i_stride[0];
            row[frame.width] = row[frame.width - 1];
        }
    }
    if (frame.height != s.coded_height) {
        uint8_t* last = img.plane[0] + static_cast<std::ptrdiff_t>(frame.height - 1) * img.i_stride[0];
        std::memcpy(last + img.i_stride[0], last, static_cast<std::size_t>(s.coded_width));
    }

    s.picture.i_type = force_keyframe ? X264_TYPE_IDR : X264_TYPE_AUTO;
    s.picture.i_pts = s.pts++;

    x264_nal_t* nals = nullptr;
    int nal_count = 0;
    x264_picture_t out{};
    int size = x264_encoder_encode(s.encoder, &nals, &nal_count, &s.picture, &out);
    if (size < 0) throw std::runtime_error("H264Encoder: x264_encoder_encode failed");
    if (size == 0) return std::nullopt;  // held back (zerolatency has no delay, so never in practice)

    VideoPacket result;
    // x264 guarantees the NAL payloads of one call are contiguous.
    result.data.assign(nals[0].p_payload, nals[0].p_payload + size);
    result.keyframe = out.b_keyframe != 0;
    return result;
}

std::string H264Encoder::codec_string() const {
    // profile_idc 0x42 (Baseline) with constraint flags 0xe0: the Constrained Baseline form
    // browsers and WebRTC use. x264's SPS says 0xc0 (set0+set1), which is also Constrained
    // Baseline; decoders configure themselves from the SPS, the string only has to name a
    // configuration they support.
    char buf[16];
    std::snprintf(buf, sizeof buf, "avc1.42e0%02x", impl_->level_idc);
    return buf;
}

int H264Encoder::width() const { return impl_->coded_width; }
int H264Encoder::height() const { return impl_->coded_height; }

}  // namespace portico::codec

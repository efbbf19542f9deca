#include "codec/h264_decoder.hpp"

#include "codec/frame_check.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/hwcontext.h>
#include <libavutil/log.h>
#include <libavutil/pixfmt.h>
}

#include <libyuv/convert_argb.h>

#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

namespace portico::codec {

namespace {

// Largest picture we agree to allocate for: 8K. A forged SPS cannot make us reserve more.
constexpr int64_t kMaxPixels = 8192LL * 4320LL;

std::string av_error_text(int err) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(err, buf, sizeof buf);
    return buf;
}

const libyuv::YuvConstants* yuv_constants(const AVFrame& f) {
    const bool full = f.color_range == AVCOL_RANGE_JPEG || f.format == AV_PIX_FMT_YUVJ420P ||
                      f.format == AV_PIX_FMT_YUVJ422P || f.format == AV_PIX_FMT_YUVJ444P;
    const bool bt709 = f.colorspace == AVCOL_SPC_BT709;
    if (bt709) return full ? &libyuv::kYuvF709Constants : &libyuv::kYuvH709Constants;
    // Unspecified means BT.601 here: that is what our own encoder produces.
    return full ? &libyuv::kYuvJPEGConstants : &libyuv::kYuvI601Constants;
}

// The VA-API surface format when libavcodec offers it for this stream, else the first software
// format (the driver cannot decode this profile: libavcodec then decodes in software).
AVPixelFormat prefer_vaapi(AVCodecContext*, const AVPixelFormat* offered) {
    for (const AVPixelFormat* p = offered; *p != AV_PIX_FMT_NONE; ++p)
        if (*p == AV_PIX_FMT_VAAPI) return *p;
    for (const AVPixelFormat* p = offered; *p != AV_PIX_FMT_NONE; ++p)
        if (*p != AV_PIX_FMT_VAAPI) return *p;
    return AV_PIX_FMT_NONE;
}

// A VA-API device that libavcodec's H.264 decoder can use, or the reason there is none.
AVBufferRef* open_vaapi(const AVCodec* codec, const std::string& device, std::string& why) {
    bool supported = false;
    for (int i = 0;; ++i) {
        const AVCodecHWConfig* c = avcodec_get_hw_config(codec, i);
        if (!c) break;
        if ((c->methods & AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX) && c->device_type == AV_HWDEVICE_TYPE_VAAPI)
            supported = true;
    }
    if (!supported) {
        why = "this libavcodec cannot decode H.264 through it";
        return nullptr;
    }
    // libva's default is the first DRM render node: without one, say that rather than libva's
    // "generic error".
    std::string node = device;
    if (node.empty()) {
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator("/dev/dri", ec))
            if (e.path().filename().string().starts_with("renderD") && (node.empty() || e.path().string() < node))
                node = e.path().string();
        if (node.empty()) {
            why = "no GPU render node in /dev/dri";
            return nullptr;
        }
    }
    AVBufferRef* hw = nullptr;
    const int rc = av_hwdevice_ctx_create(&hw, AV_HWDEVICE_TYPE_VAAPI, node.c_str(), nullptr, 0);
    if (rc < 0) {
        why = "no driver for " + node + ": " + av_error_text(rc);
        return nullptr;
    }
    return hw;
}

}  // namespace

struct H264Decoder::Impl {
    const AVCodec* codec = nullptr;
    AVCodecContext* ctx = nullptr;
    AVPacket* packet = nullptr;
    AVFrame* frame = nullptr;
    AVFrame* copied = nullptr;  // a VA-API surface copied back to memory (NV12)
    std::string backend = "software";
    // libavcodec reads up to AV_INPUT_BUFFER_PADDING_SIZE bytes past the end of its input, so
    // network data is copied into a buffer with zeroed padding first.
    std::vector<uint8_t> padded;
    std::string error;

    ~Impl() {
        av_frame_free(&copied);
        av_frame_free(&frame);
        av_packet_free(&packet);
        avcodec_free_context(&ctx);
    }
    bool fail(std::string what) {
        error = std::move(what);
        return false;
    }
    // A fresh decoding context, on the VA-API device `hw` (taken over) or in software.
    void open(AVBufferRef* hw) {
        avcodec_free_context(&ctx);
        ctx = avcodec_alloc_context3(codec);
        if (!ctx) throw std::runtime_error("H264Decoder: out of memory");
        // One thread and LOW_DELAY: frame threading would hold pictures back by a frame per thread.
        ctx->thread_count = 1;
        ctx->flags |= AV_CODEC_FLAG_LOW_DELAY;
        ctx->max_pixels = kMaxPixels;
        // Hostile input makes libavcodec log every broken NAL to stderr; demote this context's
        // messages to verbose (error -> verbose) instead of touching the process-wide log level.
        // The caller still learns what failed through last_error().
        ctx->log_level_offset = AV_LOG_VERBOSE - AV_LOG_ERROR;
        if (hw) {
            ctx->hw_device_ctx = hw;
            ctx->get_format = prefer_vaapi;
        }
        const int rc = avcodec_open2(ctx, codec, nullptr);
        if (rc < 0) throw std::runtime_error("H264Decoder: avcodec_open2: " + av_error_text(rc));
    }
};

H264Decoder::H264Decoder(H264Acceleration accel, const std::string& vaapi_device) : impl_(std::make_unique<Impl>()) {
    Impl& s = *impl_;
    s.codec = avcodec_find_decoder(AV_CODEC_ID_H264);
    if (!s.codec) throw std::runtime_error("H264Decoder: libavcodec has no H.264 decoder");
    s.packet = av_packet_alloc();
    s.frame = av_frame_alloc();
    s.copied = av_frame_alloc();
    if (!s.packet || !s.frame || !s.copied) throw std::runtime_error("H264Decoder: out of memory");
    AVBufferRef* hw = nullptr;
    if (accel != H264Acceleration::software) {
        std::string why;
        hw = open_vaapi(s.codec, vaapi_device, why);
        if (!hw && accel == H264Acceleration::vaapi) throw std::runtime_error("H264Decoder: no VA-API: " + why);
        s.backend = hw ? "VA-API" : "software (no VA-API: " + why + ")";
    }
    s.open(hw);
}

H264Decoder::~H264Decoder() = default;
H264Decoder::H264Decoder(H264Decoder&&) noexcept = default;
H264Decoder& H264Decoder::operator=(H264Decoder&&) noexcept = default;

const std::string& H264Decoder::last_error() const { return impl_->error; }
const std::string& H264Decoder::backend() const { return impl_->backend; }

bool H264Decoder::decode(std::span<const uint8_t> annexb, capture::Frame& out) {
    Impl& s = *impl_;
    s.error.clear();
    if (annexb.empty()) return s.fail("empty access unit");
    if (annexb.size() > static_cast<std::size_t>(INT32_MAX - AV_INPUT_BUFFER_PADDING_SIZE))
        return s.fail("access unit too large");

    s.padded.resize(annexb.size() + AV_INPUT_BUFFER_PADDING_SIZE);
    std::memcpy(s.padded.data(), annexb.data(), annexb.size());
    std::memset(s.padded.data() + annexb.size(), 0, AV_INPUT_BUFFER_PADDING_SIZE);
    av_packet_unref(s.packet);
    s.packet->data = s.padded.data();
    s.packet->size = static_cast<int>(annexb.size());

    int rc = avcodec_send_packet(s.ctx, s.packet);
    s.packet->data = nullptr;
    s.packet->size = 0;
    if (rc < 0) return s.fail("avcodec_send_packet: " + av_error_text(rc));

    // Keep only the newest picture: with no reordering there is at most one per access unit.
    bool got = false;
    while (true) {
        rc = avcodec_receive_frame(s.ctx, s.frame);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) break;
        if (rc < 0) return s.fail("avcodec_receive_frame: " + av_error_text(rc));
        const AVFrame& f = *s.frame;
        // Error concealment would hand us a picture patched from guesses; report it instead so
        // the client asks for a keyframe rather than showing (and predicting from) garbage.
        if (f.decode_error_flags != 0 || (f.flags & AV_FRAME_FLAG_CORRUPT)) {
            av_frame_unref(s.frame);
            return s.fail("corrupt picture (concealed decoding errors)");
        }
        got = true;
        if (s.frame->format == AV_PIX_FMT_VAAPI) {
            // The picture is in GPU memory: copied back (NV12) to be converted like any other.
            av_frame_unref(s.copied);
            rc = av_hwframe_transfer_data(s.copied, s.frame, 0);
            if (rc >= 0) rc = av_frame_copy_props(s.copied, s.frame);
            av_frame_unref(s.frame);
            if (rc < 0) {
                // A GPU that fails mid-stream is not asked again: software from the next keyframe.
                s.backend = "software (VA-API failed: " + av_error_text(rc) + ")";
                s.open(nullptr);
                return s.fail("VA-API: copying the picture back failed: " + av_error_text(rc));
            }
            av_frame_move_ref(s.frame, s.copied);
        }
        if (f.width <= 0 || f.height <= 0 || int64_t(f.width) * f.height > kMaxPixels) {
            av_frame_unref(s.frame);
            return s.fail("decoder produced an invalid picture size");
        }
        detail::resize_frame(out, f.width, f.height);
        const libyuv::YuvConstants* k = yuv_constants(f);
        int conv = -1;
        switch (f.format) {
            case AV_PIX_FMT_YUV420P:
            case AV_PIX_FMT_YUVJ420P:
                conv = libyuv::I420ToARGBMatrix(f.data[0], f.linesize[0], f.data[1], f.linesize[1], f.data[2],
                                                f.linesize[2], out.pixels.data(), out.stride, k, f.width, f.height);
                break;
            case AV_PIX_FMT_YUV422P:
            case AV_PIX_FMT_YUVJ422P:
                conv = libyuv::I422ToARGBMatrix(f.data[0], f.linesize[0], f.data[1], f.linesize[1], f.data[2],
                                                f.linesize[2], out.pixels.data(), out.stride, k, f.width, f.height);
                break;
            case AV_PIX_FMT_YUV444P:
            case AV_PIX_FMT_YUVJ444P:
                conv = libyuv::I444ToARGBMatrix(f.data[0], f.linesize[0], f.data[1], f.linesize[1], f.data[2],
                                                f.linesize[2], out.pixels.data(), out.stride, k, f.width, f.height);
                break;
            case AV_PIX_FMT_NV12:  // what VA-API surfaces copy back as
                conv = libyuv::NV12ToARGBMatrix(f.data[0], f.linesize[0], f.data[1], f.linesize[1], out.pixels.data(),
                                                out.stride, k, f.width, f.height);
                break;
            default: {
                const int fmt = f.format;
                av_frame_unref(s.frame);
                return s.fail("unsupported decoded pixel format " + std::to_string(fmt));
            }
        }
        av_frame_unref(s.frame);
        if (conv != 0) return s.fail("colour conversion failed");
    }
    if (!got) return s.fail("no picture");
    return true;
}

}  // namespace portico::codec

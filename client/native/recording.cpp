#include "client/native/recording.hpp"

#include "client/native/framebuffer.hpp"
#include "client/native/png_writer.hpp"

#include <memory>
#include <vector>

namespace portico::client {

namespace proto = protocol;

namespace {

void put_le(std::vector<std::uint8_t>& out, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::uint64_t get_le(const std::uint8_t* p, int bytes) {
    std::uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

struct FileCloser {
    void operator()(std::FILE* f) const {
        if (f) std::fclose(f);
    }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

// The framebuffer's BGRX pixels as packed rgb24 rows.
void write_rgb24(std::FILE* f, const capture::Frame& fr, std::vector<std::uint8_t>& row) {
    row.resize(static_cast<std::size_t>(fr.width) * 3);
    for (int y = 0; y < fr.height; ++y) {
        const std::uint8_t* src = fr.pixels.data() + static_cast<std::size_t>(y) * fr.stride;
        for (int x = 0; x < fr.width; ++x) {
            row[3 * x] = src[4 * x + 2];
            row[3 * x + 1] = src[4 * x + 1];
            row[3 * x + 2] = src[4 * x];
        }
        std::fwrite(row.data(), 1, row.size(), f);
    }
}

}  // namespace

Recorder::Recorder(const std::string& path) : f_(std::fopen(path.c_str(), "wb")) {}

Recorder::~Recorder() {
    if (f_) std::fclose(f_);
}

void Recorder::append(std::uint64_t wall_us, const proto::Message& m) {
    if (!f_) return;
    const auto body = proto::encode(m);
    std::vector<std::uint8_t> head;
    put_le(head, wall_us, 8);
    put_le(head, body.size(), 4);
    std::fwrite(head.data(), 1, head.size(), f_);
    std::fwrite(body.data(), 1, body.size(), f_);
}

Status replay(const ReplayOptions& o, std::ostream& summary) {
    File in(std::fopen(o.record_path.c_str(), "rb"));
    if (!in) return fail(ClientError::usage, "cannot read recording " + o.record_path);
    File raw, index;
    if (!o.raw_out_path.empty() && !(raw = File(std::fopen(o.raw_out_path.c_str(), "wb"))))
        return fail(ClientError::usage, "cannot write " + o.raw_out_path);
    if (!o.index_path.empty() && !(index = File(std::fopen(o.index_path.c_str(), "w"))))
        return fail(ClientError::usage, "cannot write " + o.index_path);

    std::unique_ptr<Framebuffer> fb;
    std::vector<std::uint8_t> body, row;
    std::uint64_t records = 0, frames = 0, failed = 0;
    double png_wall_ms = -1;
    auto write_picture = [&](double wall_ms) -> Status {
        if (o.png_path.empty()) return ok();
        if (!fb) return fail(ClientError::protocol, "no picture before the requested moment");
        std::string err;
        if (!write_png(o.png_path, fb->frame(), err)) return fail(ClientError::usage, "--png: " + err);
        png_wall_ms = wall_ms;
        return ok();
    };
    double last_ms = 0;
    for (;;) {
        std::uint8_t head[12];
        const std::size_t got = std::fread(head, 1, sizeof head, in.get());
        if (got == 0) break;
        if (got != sizeof head) return fail(ClientError::protocol, "truncated record header");
        const double wall_ms = static_cast<double>(get_le(head, 8)) / 1000.0;
        body.resize(get_le(head + 8, 4));
        if (std::fread(body.data(), 1, body.size(), in.get()) != body.size())
            return fail(ClientError::protocol, "truncated record");
        // The picture at png_at_ms is the one painted before it: write it before applying later records.
        if (o.png_at_ms && png_wall_ms < 0 && wall_ms > *o.png_at_ms)
            if (auto s = write_picture(*o.png_at_ms); !s) return s;
        auto m = proto::decode(body);
        if (!m) return fail(ClientError::protocol, "record " + std::to_string(records) + " does not decode");
        ++records;
        last_ms = wall_ms;
        const char* kind = nullptr;
        std::uint32_t id = 0;
        if (auto* r = std::get_if<proto::Resize>(&m.value())) {
            if (!fb)
                fb = std::make_unique<Framebuffer>(r->width, r->height);
            else if (!fb->resize(r->width, r->height))
                return fail(ClientError::protocol, "resize to an invalid size");
        } else if (auto* v = std::get_if<proto::VideoFrame>(&m.value())) {
            if (!fb) return fail(ClientError::protocol, "a frame before the screen size");
            failed += fb->apply_video(*v) ? 0 : 1;
            kind = v->keyframe ? "video_key" : "video";
            id = v->frame_id;
        } else if (auto* t = std::get_if<proto::TileFrame>(&m.value())) {
            if (!fb) return fail(ClientError::protocol, "a frame before the screen size");
            failed += fb->apply_tiles(*t).failed > 0 ? 1 : 0;
            kind = "tiles";
            id = t->frame_id;
        }
        if (!kind) continue;
        ++frames;
        if (index) {
            std::fprintf(index.get(), "{\"wall_ms\":%.3f,\"id\":%u,\"kind\":\"%s\",\"width\":%d,\"height\":%d}\n",
                         wall_ms, id, kind, fb->width(), fb->height());
            std::fflush(index.get());  // read while the pixels stream
        }
        if (raw) write_rgb24(raw.get(), fb->frame(), row);
    }
    if (png_wall_ms < 0)
        if (auto s = write_picture(o.png_at_ms.value_or(last_ms)); !s) return s;
    summary << "{\"records\":" << records << ",\"frames\":" << frames << ",\"failed_frames\":" << failed
            << ",\"png_at_ms\":" << (png_wall_ms < 0 ? std::string("null") : std::to_string(png_wall_ms)) << "}"
            << std::endl;
    return ok();
}

}  // namespace portico::client

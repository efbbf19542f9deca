#include "session-host/stream/thumbnail.hpp"

#include "codec/color.hpp"
#include "codec/jpeg_tile.hpp"

#include <algorithm>

namespace portico::host {

ThumbnailSize thumbnail_size(int frame_width, int frame_height, int max_width, int max_height) {
    if (frame_width <= max_width && frame_height <= max_height) return {frame_width, frame_height};
    // Scale by the tighter side, in 64-bit so 8192-pixel screens cannot overflow.
    const auto fw = static_cast<long long>(frame_width), fh = static_cast<long long>(frame_height);
    ThumbnailSize s;
    if (fw * max_height >= fh * max_width) {
        s.width = max_width;
        s.height = static_cast<int>(std::max(1LL, (fh * max_width + fw / 2) / fw));
    } else {
        s.height = max_height;
        s.width = static_cast<int>(std::max(1LL, (fw * max_height + fh / 2) / fh));
    }
    return s;
}

Result<std::vector<std::uint8_t>, std::string> make_thumbnail(const capture::Frame& frame, int max_width,
                                                              int max_height, int quality, std::size_t max_bytes) {
    using Err = Error<std::string>;
    if (frame.width < 1 || frame.height < 1 || frame.stride < frame.width * 4 ||
        frame.pixels.size() < static_cast<std::size_t>(frame.stride) * frame.height)
        return Err{"", "the session has no picture yet"};
    if (max_width < 1 || max_height < 1 || max_width > 8192 || max_height > 8192)
        return Err{"", "thumbnail size out of range"};
    const auto size = thumbnail_size(frame.width, frame.height, max_width, max_height);
    capture::Frame small;
    const capture::Frame* source = &frame;
    if (size.width != frame.width || size.height != frame.height) {
        codec::scale_bgra(frame, small, size.width, size.height);
        source = &small;
    }
    codec::JpegTileEncoder jpeg;
    // 4:2:0: a thumbnail is looked at, not read; quarter chroma keeps it small.
    for (int q = std::clamp(quality, 1, 100); q >= 20; q -= 15) {
        auto bytes = jpeg.encode(*source, source->bounds(), q, false);
        if (bytes.size() <= max_bytes) return bytes;
    }
    return Err{"", "the thumbnail does not fit its size bound"};
}

}  // namespace portico::host

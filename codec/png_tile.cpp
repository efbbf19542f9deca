#include "codec/png_tile.hpp"

#include "codec/colour_table.hpp"

#include <png.h>

#include <cstring>
#include <stdexcept>

namespace portico::codec {

std::optional<std::vector<std::uint8_t>> PngTileEncoder::encode(const capture::Frame& frame, const capture::Rect& r) {
    const bool allow_rgb = !palette_only_;
    if (r.empty() || !frame.bounds().contains(r)) throw std::invalid_argument("PNG tile outside the frame");
    const auto n = static_cast<std::size_t>(r.w) * static_cast<std::size_t>(r.h);

    // Try a palette first: terminal text and flat UI rarely use more than 256 colours.
    ColourTable table;
    pixels_.resize(n);
    bool paletted = true;
    for (int y = 0; y < r.h && paletted; ++y) {
        const std::uint8_t* row = frame.row(r.y + y) + static_cast<std::size_t>(r.x) * 4;
        std::uint8_t* out = pixels_.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(r.w);
        for (int x = 0; x < r.w; ++x) {
            const std::uint8_t* p = row + static_cast<std::size_t>(x) * 4;
            int i =
                table.index_of(static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[1]) << 8 | p[0]);
            if (i < 0) {
                paletted = false;
                break;
            }
            out[x] = static_cast<std::uint8_t>(i);
        }
    }

    png_image image;
    std::memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = static_cast<png_uint_32>(r.w);
    image.height = static_cast<png_uint_32>(r.h);
    image.flags = PNG_IMAGE_FLAG_FAST;  // zlib speed over the last few percent of size
    const void* colormap = nullptr;
    png_int_32 row_stride = 0;
    if (paletted) {
        palette_.resize(static_cast<std::size_t>(table.count()) * 3);
        for (int i = 0; i < table.count(); ++i) {
            auto c = table.colour(i);
            palette_[static_cast<std::size_t>(i) * 3 + 0] = static_cast<std::uint8_t>(c >> 16);
            palette_[static_cast<std::size_t>(i) * 3 + 1] = static_cast<std::uint8_t>(c >> 8);
            palette_[static_cast<std::size_t>(i) * 3 + 2] = static_cast<std::uint8_t>(c);
        }
        image.format = PNG_FORMAT_RGB_COLORMAP;
        image.colormap_entries = static_cast<png_uint_32>(table.count());
        colormap = palette_.data();
        row_stride = r.w;
    } else {
        if (!allow_rgb) return {};
        pixels_.resize(n * 3);
        for (int y = 0; y < r.h; ++y) {
            const std::uint8_t* row = frame.row(r.y + y) + static_cast<std::size_t>(r.x) * 4;
            std::uint8_t* out = pixels_.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(r.w) * 3;
            for (int x = 0; x < r.w; ++x) {
                out[x * 3 + 0] = row[x * 4 + 2];
                out[x * 3 + 1] = row[x * 4 + 1];
                out[x * 3 + 2] = row[x * 4 + 0];
            }
        }
        image.format = PNG_FORMAT_RGB;
        row_stride = r.w * 3;
    }

    // One pass into a buffer of the worst-case size (asking libpng for the size first would
    // compress twice).
    png_alloc_size_t size = PNG_IMAGE_PNG_SIZE_MAX(image);
    std::vector<std::uint8_t> out(size);
    if (!png_image_write_to_memory(&image, out.data(), &size, 0, pixels_.data(), row_stride, colormap))
        throw std::runtime_error(std::string("PNG encoding failed: ") + image.message);
    out.resize(size);
    return out;
}

}  // namespace portico::codec

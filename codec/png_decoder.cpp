#include "codec/png_decoder.hpp"

#include <png.h>

#include <cstring>

namespace portico::codec {

bool PngDecoder::decode_into(std::span<const std::uint8_t> png, capture::Frame& target, int x, int y, int w, int h) {
    if (w <= 0 || h <= 0 || x < 0 || y < 0 || x + w > target.width || y + h > target.height) {
        error_ = "PNG tile lies outside the screen";
        return false;
    }
    png_image image;
    std::memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, png.data(), png.size())) {
        error_ = std::string("corrupt PNG: ") + image.message;
        png_image_free(&image);
        return false;
    }
    if (image.width != static_cast<png_uint_32>(w) || image.height != static_cast<png_uint_32>(h)) {
        error_ = "PNG is " + std::to_string(image.width) + "x" + std::to_string(image.height) + ", the tile says " +
                 std::to_string(w) + "x" + std::to_string(h);
        png_image_free(&image);
        return false;
    }
    image.format = PNG_FORMAT_BGRA;
    scratch_.resize(PNG_IMAGE_SIZE(image));
    // Decode into scratch first: a PNG truncated halfway must not leave half a tile painted.
    if (!png_image_finish_read(&image, nullptr, scratch_.data(), 0, nullptr)) {
        error_ = std::string("corrupt PNG: ") + image.message;
        return false;
    }
    for (int row = 0; row < h; ++row)
        std::memcpy(target.at(x, y + row),
                    scratch_.data() + static_cast<std::size_t>(row) * static_cast<std::size_t>(w) * 4,
                    static_cast<std::size_t>(w) * 4);
    return true;
}

}  // namespace portico::codec

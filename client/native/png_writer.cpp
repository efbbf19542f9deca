#include "client/native/png_writer.hpp"

#include <png.h>

#include <cstring>
#include <vector>

namespace portico::client {

bool write_png(const std::string& path, const capture::Frame& frame, std::string& error) {
    if (frame.width <= 0 || frame.height <= 0 || frame.stride < frame.width * 4 ||
        frame.pixels.size() < static_cast<std::size_t>(frame.stride) * frame.height) {
        error = "frame is empty or inconsistent";
        return false;
    }
    std::vector<png_byte> rgb(static_cast<std::size_t>(frame.width) * frame.height * 3);
    for (int y = 0; y < frame.height; ++y) {
        const std::uint8_t* src = frame.row(y);
        png_byte* dst = rgb.data() + static_cast<std::size_t>(y) * frame.width * 3;
        for (int x = 0; x < frame.width; ++x) {
            dst[x * 3 + 0] = src[x * 4 + 2];
            dst[x * 3 + 1] = src[x * 4 + 1];
            dst[x * 3 + 2] = src[x * 4 + 0];
        }
    }
    // The simplified API reports errors through image.message instead of longjmp.
    png_image image;
    std::memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = static_cast<png_uint_32>(frame.width);
    image.height = static_cast<png_uint_32>(frame.height);
    image.format = PNG_FORMAT_RGB;
    if (!png_image_write_to_file(&image, path.c_str(), 0, rgb.data(), 0, nullptr)) {
        error = std::string("libpng: ") + image.message + " (" + path + ")";
        png_image_free(&image);
        return false;
    }
    return true;
}

}  // namespace portico::client

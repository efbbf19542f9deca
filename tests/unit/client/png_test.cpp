#include "client/native/png_writer.hpp"

#include <catch2/catch.hpp>
#include <png.h>

#include <cstring>
#include <filesystem>
#include <unistd.h>

using portico::capture::Frame;

TEST_CASE("the PNG writer's file reads back with libpng as the same RGB pixels") {
    Frame f(37, 21);  // odd sizes catch stride mistakes
    for (int y = 0; y < f.height; ++y)
        for (int x = 0; x < f.width; ++x) {
            auto* p = f.at(x, y);
            p[0] = static_cast<std::uint8_t>(x * 7);      // B
            p[1] = static_cast<std::uint8_t>(y * 11);     // G
            p[2] = static_cast<std::uint8_t>(x + y * 3);  // R
            p[3] = 0;                                     // X: ignored
        }
    auto path = std::filesystem::temp_directory_path() / ("portico-png-test-" + std::to_string(getpid()) + ".png");
    std::string err;
    REQUIRE(portico::client::write_png(path.string(), f, err));

    png_image img;
    std::memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    REQUIRE(png_image_begin_read_from_file(&img, path.c_str()));
    CHECK(img.width == 37);
    CHECK(img.height == 21);
    CHECK((img.format & PNG_FORMAT_FLAG_ALPHA) == 0);
    CHECK((img.format & PNG_FORMAT_FLAG_COLOR) != 0);
    img.format = PNG_FORMAT_RGB;
    std::vector<png_byte> rgb(PNG_IMAGE_SIZE(img));
    REQUIRE(png_image_finish_read(&img, nullptr, rgb.data(), 0, nullptr));
    std::filesystem::remove(path);
    int mismatches = 0;
    for (int y = 0; y < f.height; ++y)
        for (int x = 0; x < f.width; ++x) {
            const png_byte* q = &rgb[(static_cast<std::size_t>(y) * f.width + x) * 3];
            const auto* p = f.at(x, y);
            if (q[0] != p[2] || q[1] != p[1] || q[2] != p[0]) ++mismatches;
        }
    CHECK(mismatches == 0);
}

TEST_CASE("the PNG writer reports unwritable paths and empty frames") {
    std::string err;
    CHECK_FALSE(portico::client::write_png("/nonexistent-dir/x.png", Frame(4, 4), err));
    CHECK_FALSE(err.empty());
    err.clear();
    CHECK_FALSE(portico::client::write_png("/tmp/never-written.png", Frame(), err));
    CHECK_FALSE(err.empty());
}

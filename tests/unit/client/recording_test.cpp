#include "client/native/recording.hpp"
#include "codec/png_tile.hpp"

#include <catch2/catch.hpp>
#include <png.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

using portico::capture::Frame;
using portico::capture::Rect;
namespace proto = portico::protocol;
namespace fs = std::filesystem;

namespace {

constexpr int kW = 16, kH = 8;

// A TileFrame painting the whole kW x kH screen one colour, losslessly (PNG tile).
proto::TileFrame solid_frame(std::uint32_t id, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
    Frame f(kW, kH);
    for (int y = 0; y < kH; ++y)
        for (int x = 0; x < kW; ++x) {
            auto* p = f.at(x, y);
            p[0] = b;
            p[1] = g;
            p[2] = r;
            p[3] = 255;
        }
    proto::Tile t;
    t.w = kW;
    t.h = kH;
    t.encoding = proto::TileEncoding::png;
    t.data = portico::codec::PngTileEncoder().encode(f, Rect{0, 0, kW, kH}).value();
    proto::TileFrame tf;
    tf.frame_id = id;
    tf.width = kW;
    tf.height = kH;
    tf.tiles.push_back(std::move(t));
    return tf;
}

std::vector<std::uint8_t> read_png_rgb(const fs::path& path) {
    png_image img;
    std::memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    REQUIRE(png_image_begin_read_from_file(&img, path.c_str()));
    img.format = PNG_FORMAT_RGB;
    std::vector<std::uint8_t> rgb(PNG_IMAGE_SIZE(img));
    REQUIRE(png_image_finish_read(&img, nullptr, rgb.data(), 0, nullptr));
    return rgb;
}

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST_CASE("a recording replays to the picture at a given moment, every frame raw, and an index") {
    const fs::path dir = fs::temp_directory_path() / ("portico-rec-test-" + std::to_string(getpid()));
    fs::create_directories(dir);
    {
        portico::client::Recorder rec((dir / "rec").string());
        REQUIRE(rec.ok());
        rec.append(1'000'000'000, proto::Resize{kW, kH});
        rec.append(1'000'000'000, solid_frame(1, 255, 0, 0));  // red painted at 1,000,000 ms
        rec.append(1'002'000'000, solid_frame(2, 0, 0, 255));  // blue at 1,002,000 ms
    }
    portico::client::ReplayOptions o;
    o.record_path = (dir / "rec").string();
    o.png_path = (dir / "at.png").string();
    o.png_at_ms = 1'001'000.0;  // between the two: the red picture
    o.raw_out_path = (dir / "raw").string();
    o.index_path = (dir / "index").string();
    std::ostringstream summary;
    REQUIRE(portico::client::replay(o, summary));
    CHECK(summary.str().find("\"frames\":2") != std::string::npos);

    auto at = read_png_rgb(dir / "at.png");
    REQUIRE(at.size() == kW * kH * 3);
    CHECK((at[0] == 255 && at[1] == 0 && at[2] == 0));

    const std::string raw = slurp(dir / "raw");
    REQUIRE(raw.size() == 2u * kW * kH * 3);
    CHECK(static_cast<std::uint8_t>(raw[0]) == 255);                // frame 1: red
    CHECK(static_cast<std::uint8_t>(raw[kW * kH * 3 + 2]) == 255);  // frame 2: blue
    CHECK(static_cast<std::uint8_t>(raw[kW * kH * 3]) == 0);

    const std::string index = slurp(dir / "index");
    CHECK(index.find("\"wall_ms\":1000000.000,\"id\":1,\"kind\":\"tiles\"") != std::string::npos);
    CHECK(index.find("\"wall_ms\":1002000.000,\"id\":2") != std::string::npos);

    SECTION("without --png-at-ms the picture is the last one") {
        o.png_at_ms.reset();
        o.raw_out_path.clear();
        o.index_path.clear();
        REQUIRE(portico::client::replay(o, summary));
        auto last = read_png_rgb(dir / "at.png");
        CHECK((last[0] == 0 && last[2] == 255));
    }
    SECTION("a truncated recording is an error, not a short replay") {
        auto full = slurp(dir / "rec");
        std::ofstream(dir / "rec", std::ios::binary | std::ios::trunc) << full.substr(0, full.size() - 3);
        CHECK_FALSE(portico::client::replay(o, summary));
    }
    fs::remove_all(dir);
}

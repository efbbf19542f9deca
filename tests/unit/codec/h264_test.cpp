#include "codec/color.hpp"
#include "codec/h264_decoder.hpp"
#include "codec/h264_encoder.hpp"
#include "tests/support/test_frames.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <regex>
#include <vector>

using namespace portico;
using namespace portico::codec;

namespace {

struct Nal {
    int type = 0;
    size_t offset = 0;  // first byte after the start code (the NAL header)
};

// Splits Annex B data at 00 00 01 / 00 00 00 01 start codes.
std::vector<Nal> nal_units(const std::vector<uint8_t>& d) {
    std::vector<Nal> out;
    for (size_t i = 0; i + 3 < d.size(); ++i) {
        if (d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1) {
            out.push_back({d[i + 3] & 0x1f, i + 3});
            i += 2;
        }
    }
    return out;
}

bool has_nal(const std::vector<uint8_t>& d, int type) {
    for (const Nal& n : nal_units(d))
        if (n.type == type) return true;
    return false;
}

constexpr int kNalIdr = 5;
constexpr int kNalSps = 7;
constexpr int kNalPps = 8;

// Changes one line of "text", the kind of update a typing user causes.
capture::Frame with_small_change(capture::Frame f, unsigned seed) {
    std::mt19937 rng(seed);
    test::fill(f, {8, 64, 200, 14}, 0x23, 0x1e, 0x1e);
    for (int i = 0; i < 20; ++i) test::draw_glyph(f, 8 + i * 8, 64, rng, 0xe0, 0xe0, 0xe0);
    return f;
}

}  // namespace

TEST_CASE("H.264 round trip keeps text-like frames legible", "[codec][h264]") {
    const auto [w, h] = GENERATE(std::pair{640, 480}, std::pair{1280, 720});
    INFO(w << "x" << h);
    // CRF 18 rather than the default 23: 4:2:0 alone costs this content ~3 dB (coloured
    // strokes), and at 23 a 720p page measures ~34.4 dB.
    H264Encoder enc({.width = w, .height = h, .crf = 18});
    CHECK(enc.width() == w);
    CHECK(enc.height() == h);
    H264Decoder dec;

    const capture::Frame f0 = test::make_text_frame(w, h, 7);
    const auto e0 = *enc.encode(f0, false);
    REQUIRE_FALSE(e0.data.empty());
    CHECK(e0.keyframe);
    CHECK(has_nal(e0.data, kNalSps));
    CHECK(has_nal(e0.data, kNalPps));
    CHECK(has_nal(e0.data, kNalIdr));

    capture::Frame out;
    REQUIRE(dec.decode(e0.data, out));
    REQUIRE(out.width == w);
    REQUIRE(out.height == h);
    const double psnr0 = psnr_bgra(f0, out);
    INFO("keyframe psnr " << psnr0 << " size " << e0.data.size());
    CHECK(psnr0 >= 35.0);

    const capture::Frame f1 = with_small_change(f0, 99);
    const auto e1 = *enc.encode(f1, false);
    REQUIRE_FALSE(e1.data.empty());
    CHECK_FALSE(e1.keyframe);
    CHECK_FALSE(has_nal(e1.data, kNalIdr));
    INFO("P-frame size " << e1.data.size());
    CHECK(e1.data.size() * 10 < e0.data.size());
    REQUIRE(dec.decode(e1.data, out));
    CHECK(psnr_bgra(f1, out) >= 35.0);
}

TEST_CASE("H.264 forced keyframes are IDR access units with headers", "[codec][h264]") {
    H264Encoder enc({.width = 320, .height = 240, .crf = 18});
    H264Decoder dec;
    capture::Frame f = test::make_text_frame(320, 240, 3);
    capture::Frame out;

    CHECK(enc.encode(f, false)->keyframe);
    for (int i = 0; i < 5; ++i) {
        f = with_small_change(f, 100 + i);
        const auto e = *enc.encode(f, false);
        CHECK_FALSE(e.keyframe);
        CHECK_FALSE(has_nal(e.data, kNalIdr));
    }
    const auto key = *enc.encode(f, true);
    CHECK(key.keyframe);
    CHECK(has_nal(key.data, kNalIdr));
    CHECK(has_nal(key.data, kNalSps));
    CHECK(has_nal(key.data, kNalPps));

    // A decoder that joins at the forced keyframe can start there: that is what it is for.
    REQUIRE(dec.decode(key.data, out));
    CHECK(psnr_bgra(f, out) >= 35.0);
}

TEST_CASE("H.264 keyint limits the distance between IDR frames", "[codec][h264]") {
    H264Encoder enc({.width = 160, .height = 120, .keyint = 4});
    capture::Frame f = test::make_text_frame(160, 120, 4);
    std::vector<int> keys;
    for (int i = 0; i < 10; ++i) {
        f = with_small_change(f, 200 + i);
        if (enc.encode(f, false)->keyframe) keys.push_back(i);
    }
    CHECK(keys == std::vector<int>{0, 4, 8});
}

TEST_CASE("H.264 codec string names Constrained Baseline and the chosen level", "[codec][h264]") {
    H264Encoder small({.width = 640, .height = 480});
    H264Encoder hd({.width = 1920, .height = 1080});
    const std::regex pattern("^avc1\\.42e0[0-9a-f]{2}$");
    CHECK(std::regex_match(small.codec_string(), pattern));
    CHECK(std::regex_match(hd.codec_string(), pattern));
    // 1080p30 needs at least level 4.0 (0x28); 640x480 fits well below it.
    CHECK(std::stoi(hd.codec_string().substr(9), nullptr, 16) >= 0x28);
    CHECK(std::stoi(small.codec_string().substr(9), nullptr, 16) < std::stoi(hd.codec_string().substr(9), nullptr, 16));

    // The SPS really is Baseline with constraint_set1 (=> Constrained Baseline) and the same
    // level as the string.
    const auto e = *hd.encode(test::make_text_frame(1920, 1080), false);
    bool seen = false;
    for (const Nal& n : nal_units(e.data)) {
        if (n.type != kNalSps) continue;
        seen = true;
        REQUIRE(n.offset + 3 < e.data.size());
        CHECK(e.data[n.offset + 1] == 0x42);
        CHECK((e.data[n.offset + 2] & 0x40) != 0);
        char level[3];
        std::snprintf(level, sizeof level, "%02x", e.data[n.offset + 3]);
        CHECK(hd.codec_string().substr(9) == level);
    }
    CHECK(seen);
}

TEST_CASE("H.264 odd sizes encode as the next even size", "[codec][h264]") {
    H264Encoder enc({.width = 641, .height = 481, .crf = 18});
    CHECK(enc.width() == 642);
    CHECK(enc.height() == 482);
    H264Decoder dec;
    const capture::Frame f = test::make_text_frame(641, 481, 5);
    const auto e = *enc.encode(f, false);
    capture::Frame out;
    REQUIRE(dec.decode(e.data, out));
    REQUIRE(out.width == 642);
    REQUIRE(out.height == 482);
    CHECK(psnr_bgra(f, test::crop(out, {0, 0, 641, 481})) >= 35.0);
    // The padding repeats the last real column, so it is not a black stripe.
    const uint8_t* pad = out.at(641, 300);
    const uint8_t* last = out.at(640, 300);
    CHECK(std::abs(int(pad[1]) - int(last[1])) < 24);
}

TEST_CASE("H.264 VBV cap bounds the keyframe size", "[codec][h264]") {
    const capture::Frame f = test::make_text_frame(1280, 720, 8);
    H264Encoder uncapped({.width = 1280, .height = 720});
    H264Encoder capped({.width = 1280, .height = 720, .max_bitrate_kbps = 400});
    const size_t free_size = uncapped.encode(f, false)->data.size();
    const size_t capped_size = capped.encode(f, false)->data.size();
    INFO("uncapped " << free_size << " capped " << capped_size);
    // The buffer is half a second of the cap: 200 kbit = 25 000 bytes (+ headers and SEI).
    CHECK(capped_size < 27000);
    CHECK(capped_size < free_size);
}

TEST_CASE("H.264 set_crf changes the rate of the running stream without a keyframe", "[codec][h264]") {
    // Two encoders fed the same changing frames; one lowers its quality midway.
    H264Encoder steady({.width = 640, .height = 360, .crf = 18});
    H264Encoder adapting({.width = 640, .height = 360, .crf = 18});
    H264Decoder decoder;
    capture::Frame decoded;
    size_t steady_bytes = 0, adapting_bytes = 0;
    for (unsigned i = 0; i < 6; ++i) {
        const capture::Frame f = test::make_text_frame(640, 360, 20 + i);
        if (i == 3) adapting.set_crf(34);
        const auto a = *adapting.encode(f, i == 0);
        CHECK(a.keyframe == (i == 0));
        REQUIRE(decoder.decode(a.data, decoded));  // still one decodable stream
        if (i >= 3) {
            adapting_bytes += a.data.size();
            steady_bytes += steady.encode(f, i == 0)->data.size();
        } else {
            steady.encode(f, i == 0);
        }
    }
    INFO("after the change: steady " << steady_bytes << " bytes, adapting " << adapting_bytes);
    CHECK(adapting_bytes * 2 < steady_bytes);
    CHECK_THROWS_AS(adapting.set_crf(52), std::invalid_argument);
}

TEST_CASE("H264Encoder rejects bad settings and mismatched frames", "[codec][h264]") {
    CHECK_THROWS_AS(H264Encoder({.width = 0, .height = 480}), std::runtime_error);
    CHECK_THROWS_AS(H264Encoder({.width = 640, .height = 480, .crf = 80}), std::runtime_error);
    CHECK_THROWS_AS(H264Encoder({.width = 640, .height = 480, .fps = 0}), std::runtime_error);
    H264Encoder enc({.width = 64, .height = 64});
    CHECK_THROWS_AS(enc.encode(capture::Frame(32, 32), false), std::invalid_argument);
}

TEST_CASE("H264Decoder survives garbage and truncated data", "[codec][h264]") {
    H264Decoder dec;
    capture::Frame out;

    CHECK_FALSE(dec.decode({}, out));
    CHECK_FALSE(dec.last_error().empty());

    std::mt19937 rng(1234);
    std::uniform_int_distribution<int> byte(0, 255);
    for (int round = 0; round < 200; ++round) {
        std::vector<uint8_t> junk(1 + round * 37 % 5000);
        for (auto& b : junk) b = static_cast<uint8_t>(byte(rng));
        // Half the rounds look like NAL units (start code + SPS/PPS/IDR header) to get past the
        // first parsing step.
        if (round % 2 == 0 && junk.size() > 5) {
            junk[0] = 0;
            junk[1] = 0;
            junk[2] = 0;
            junk[3] = 1;
            const uint8_t headers[] = {0x67, 0x68, 0x65, 0x41, 0x06};
            junk[4] = headers[round / 2 % 5];
        }
        CHECK_FALSE(dec.decode(junk, out));
    }

    // A truncated keyframe from a fresh stream.
    H264Encoder enc({.width = 320, .height = 240});
    const capture::Frame f = test::make_text_frame(320, 240, 11);
    const auto key = *enc.encode(f, false);
    for (size_t cut : {size_t(1), size_t(4), size_t(10), key.data.size() / 3, key.data.size() / 2}) {
        H264Decoder fresh;
        std::vector<uint8_t> part(key.data.begin(), key.data.begin() + cut);
        INFO("cut at " << cut);
        CHECK_FALSE(fresh.decode(part, out));
    }

    // Bit flips in a valid keyframe: anything may come out, but no crash, and the same decoder
    // recovers at the next intact keyframe.
    for (int round = 0; round < 50; ++round) {
        std::vector<uint8_t> damaged = key.data;
        for (int i = 0; i < 8; ++i)
            damaged[std::uniform_int_distribution<size_t>(0, damaged.size() - 1)(rng)] ^=
                static_cast<uint8_t>(1u << (i % 8));
        (void)dec.decode(damaged, out);
    }
    REQUIRE(dec.decode(key.data, out));
    CHECK(psnr_bgra(f, out) >= 35.0);
}

TEST_CASE("H.264 decoding picks VA-API when the machine has it, software otherwise, and says which", "[codec][h264]") {
    H264Encoder enc({.width = 320, .height = 240, .crf = 18});
    const capture::Frame f0 = test::make_text_frame(320, 240, 5);
    const capture::Frame f1 = with_small_change(f0, 7);
    const auto e0 = *enc.encode(f0, false);
    const auto e1 = *enc.encode(f1, false);

    H264Decoder software;
    CHECK(software.backend() == "software");
    H264Decoder automatic(H264Acceleration::automatic);
    const bool has_vaapi = automatic.backend() == "VA-API";
    INFO("automatic chose: " << automatic.backend());
    // Without VA-API the reason is in the name, for the stats and the log.
    if (!has_vaapi) CHECK(std::regex_match(automatic.backend(), std::regex(R"(software \(.*VA-API.*\))")));

    // Either way the pictures are the ones software decodes (H.264 decoding is exact; the colour
    // conversion of VA-API's NV12 uses the same matrix as the software decoder's I420).
    for (const auto* unit : {&e0.data, &e1.data}) {
        capture::Frame a, b;
        REQUIRE(software.decode(*unit, a));
        REQUIRE(automatic.decode(*unit, b));
        REQUIRE((a.width == b.width && a.height == b.height));
        CHECK(psnr_bgra(a, b) >= 50.0);
    }

    // Asked for VA-API explicitly: refused with the reason when there is none.
    if (has_vaapi) {
        CHECK(H264Decoder(H264Acceleration::vaapi).backend() == "VA-API");
    } else {
        try {
            H264Decoder forced(H264Acceleration::vaapi);
            FAIL("VA-API was forced on a machine without it and no error came");
        } catch (const std::runtime_error& e) {
            CHECK(std::string(e.what()).find("VA-API") != std::string::npos);
        }
        CHECK_THROWS_AS(H264Decoder(H264Acceleration::vaapi, "/dev/null/not-a-render-node"), std::runtime_error);
    }
}

// Thumbnails of a session's screen: the fitting size, the JPEG (decoded again and its colours
// checked), the errors, and StreamSession answering requests from its capture thread.
#include "session-host/stream/thumbnail.hpp"
#include "capture/synthetic_source.hpp"
#include "codec/jpeg_decoder.hpp"
#include "session-host/stream/stream_session.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <future>

using namespace portico;
using namespace portico::host;

namespace {

// Left half of one colour, right half of another (B, G, R bytes).
capture::Frame two_colours(int w, int h, std::array<std::uint8_t, 3> left, std::array<std::uint8_t, 3> right) {
    capture::Frame f(w, h);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            auto* p = f.at(x, y);
            const auto& c = x < w / 2 ? left : right;
            p[0] = c[0];
            p[1] = c[1];
            p[2] = c[2];
            p[3] = 255;
        }
    return f;
}

capture::Frame decode(const std::vector<std::uint8_t>& jpeg, int w, int h) {
    capture::Frame out(w, h);
    codec::JpegDecoder d;
    INFO(d.last_error());
    REQUIRE(d.decode_into(jpeg, out, 0, 0, w, h));
    return out;
}

bool near(const std::uint8_t* p, std::array<std::uint8_t, 3> c) {
    for (int i = 0; i < 3; ++i)
        if (std::abs(int(p[i]) - int(c[i])) > 24) return false;
    return true;
}

}  // namespace

TEST_CASE("thumbnail size fits the box with the screen's aspect and never enlarges", "[thumbnail]") {
    auto s = thumbnail_size(1920, 1080, 320, 200);
    CHECK((s.width == 320 && s.height == 180));
    s = thumbnail_size(1080, 1920, 320, 200);  // portrait (a phone's session)
    CHECK((s.width == 113 && s.height == 200));
    s = thumbnail_size(1280, 800, 320, 200);
    CHECK((s.width == 320 && s.height == 200));
    s = thumbnail_size(200, 100, 320, 200);
    CHECK((s.width == 200 && s.height == 100));
    s = thumbnail_size(8192, 64, 320, 200);  // a sliver keeps at least one row
    CHECK((s.width == 320 && s.height == 3));
}

TEST_CASE("a 1920x1080 screen becomes a small JPEG of 320x180 showing the same picture", "[thumbnail]") {
    const std::array<std::uint8_t, 3> red{0, 0, 220}, blue{200, 40, 0};
    auto frame = two_colours(1920, 1080, red, blue);
    const auto start = std::chrono::steady_clock::now();
    auto jpeg = make_thumbnail(frame, 320, 200, StreamSession::kThumbnailQuality, StreamSession::kMaxThumbnailBytes);
    const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    REQUIRE(jpeg.ok());
    std::printf("thumbnail of 1920x1080: %zu bytes in %.1f ms\n", jpeg.value().size(), ms);
    CHECK(jpeg.value().size() < StreamSession::kMaxThumbnailBytes);
    CHECK((jpeg.value()[0] == 0xFF && jpeg.value()[1] == 0xD8));
    auto back = decode(jpeg.value(), 320, 180);
    CHECK(near(back.at(40, 90), red));
    CHECK(near(back.at(280, 90), blue));

    // Another screen gives another picture.
    auto swapped = make_thumbnail(two_colours(1920, 1080, blue, red), 320, 200, 70, StreamSession::kMaxThumbnailBytes);
    REQUIRE(swapped.ok());
    CHECK(swapped.value() != jpeg.value());
    CHECK(near(decode(swapped.value(), 320, 180).at(40, 90), blue));
}

TEST_CASE("a noisy 1920x1080 screen (the worst case) stays within the size bound", "[thumbnail]") {
    capture::Frame noise(1920, 1080);
    std::uint32_t seed = 12345;
    for (auto& b : noise.pixels) {
        seed = seed * 1664525u + 1013904223u;
        b = static_cast<std::uint8_t>(seed >> 24);
    }
    const auto start = std::chrono::steady_clock::now();
    auto jpeg = make_thumbnail(noise, 320, 200, StreamSession::kThumbnailQuality, StreamSession::kMaxThumbnailBytes);
    const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    REQUIRE(jpeg.ok());
    std::printf("thumbnail of a noisy 1920x1080 screen: %zu bytes in %.1f ms\n", jpeg.value().size(), ms);
    CHECK(jpeg.value().size() <= StreamSession::kMaxThumbnailBytes);
    decode(jpeg.value(), 320, 180);
}

TEST_CASE("thumbnail errors: no picture, absurd box, a bound no quality meets", "[thumbnail]") {
    CHECK_FALSE(make_thumbnail(capture::Frame{}, 320, 200, 70, 32768).ok());
    capture::Frame frame(64, 64);
    CHECK_FALSE(make_thumbnail(frame, 0, 200, 70, 32768).ok());
    CHECK_FALSE(make_thumbnail(frame, 320, 100000, 70, 32768).ok());
    auto tiny = make_thumbnail(frame, 32, 32, 70, 10);
    REQUIRE_FALSE(tiny.ok());
    CHECK(tiny.error().message.find("bound") != std::string::npos);
}

namespace {

class SyntheticScreen final : public SessionScreen {
public:
    SyntheticScreen(int w, int h) : source_(w, h) {}
    capture::FrameSource& frame_source() override { return source_; }
    std::optional<SessionEnding> poll(ViewerChannel&, const std::string*) override { return std::nullopt; }
    void teardown() override {}

private:
    capture::SyntheticFrameSource source_;
};

using Answer = Result<std::vector<std::uint8_t>, std::string>;

Answer ask(StreamSession& s, int w, int h) {
    auto p = std::make_shared<std::promise<Answer>>();
    auto f = p->get_future();
    s.request_thumbnail(w, h, [p](Answer a) { p->set_value(std::move(a)); });
    REQUIRE(f.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
    return f.get();
}

}  // namespace

TEST_CASE("a session without viewers answers thumbnail requests from its capture thread", "[thumbnail]") {
    auto session = StreamSession::start("thumb", std::make_shared<SyntheticScreen>(1280, 800), nullptr, {});
    auto a = ask(*session, 320, 200);
    REQUIRE(a.ok());
    decode(a.value(), 320, 200);
    // Another box, another size; several waiting requests are each answered.
    auto b = ask(*session, 160, 160);
    REQUIRE(b.ok());
    decode(b.value(), 160, 100);

    session->end(protocol::EndReason::logged_off, "test over");
    session->wait_finished();
    auto late = ask(*session, 320, 200);
    REQUIRE_FALSE(late.ok());
    CHECK(late.error().message.find("ending") != std::string::npos);
}

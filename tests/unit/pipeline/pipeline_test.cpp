// The display pipeline as one piece: a real StreamSession (capture thread, H.264/PNG/JPEG encoders,
// scroll detection, flow control, build-to-lossless refinement) fed by a scripted source, and a
// viewer that decodes everything with the native client's Framebuffer and acknowledges frames.
// What the viewer shows is compared with the source byte for byte (B, G, R).

#include "session-host/stream/flow_control.hpp"
#include "tests/support/pipeline_support.hpp"
#include "tests/support/test_frames.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <functional>
#include <random>
#include <sstream>

using namespace portico;
using namespace portico::pipeline_test;
namespace ct = portico::codec::test;

namespace {

constexpr int kW = 640, kH = 480;
constexpr auto kStep = 33ms;  // the test "application" changes its screen at about 30 Hz

// A source, a session streaming it and one attached viewer; torn down in the right order (the
// session's capture thread stops before the viewer and the source go away).
struct Rig {
    ScriptedSource source;
    std::shared_ptr<TestScreen> screen;
    std::shared_ptr<host::StreamSession> session;
    std::shared_ptr<ClientViewer> viewer;

    explicit Rig(capture::Frame first, std::uint16_t version = protocol::kDisplayVersion) : source(std::move(first)) {
        screen = std::make_shared<TestScreen>(source);
        session = start_test_session(screen);
        viewer = std::make_shared<ClientViewer>(source.width(), source.height());
        viewer->set_version(version);
        viewer->set_target(session.get());
        session->attach(viewer);
    }
    ~Rig() {
        stop_test_session(*session);
        viewer->stop();
    }

    bool converged() {
        const auto want = source.current();
        return viewer->idle() && same_bgr(viewer->screen(), want);
    }
    // Waits until the viewer shows exactly what the source shows; returns how long that took.
    std::optional<std::chrono::milliseconds> converge(std::chrono::milliseconds timeout) {
        const auto start = Clock::now();
        if (!eventually([&] { return converged(); }, timeout)) return std::nullopt;
        return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    }
    std::string describe() {
        std::ostringstream out;
        int key = 0, delta = 0, tiles = 0, copies = 0, resizes = 0, failed = 0;
        for (const auto& r : viewer->received()) {
            key += r.kind == Received::video && r.keyframe;
            delta += r.kind == Received::video && !r.keyframe;
            tiles += r.kind == Received::tiles && r.copies == 0;
            copies += r.kind == Received::tiles && r.copies > 0;
            resizes += r.kind == Received::resize;
            failed += !r.applied;
        }
        out << "received: " << key << " keyframes, " << delta << " H.264 deltas, " << tiles << " tile frames, "
            << copies << " frames with copies, " << resizes << " resizes, " << failed
            << " not applied; differing pixels " << differing_pixels(viewer->screen(), source.current());
        return out.str();
    }
};

// Typing: one glyph into the next cell of a text row (small damage: tiles).
struct Typist {
    int col = 0;
    std::mt19937 rng{42};
    void type(ScriptedSource& src, int row_y = 420) {
        const int x = 16 + (col % 50) * 8;
        if (col % 50 == 0)
            src.change(
                [&](capture::Frame& f) {
                    ct::fill(f, {8, row_y - 1, 420, 16}, 0x23, 0x1e, 0x1e);
                },
                {8, row_y - 1, 420, 16});
        src.change([&](capture::Frame& f) { ct::draw_glyph(f, x, row_y, rng, 0xe0, 0xe0, 0xe0); },
                   {x - 1, row_y - 1, 10, 16});
        ++col;
    }
};

// A large part of the screen replaced by another page of text each step: neither a scroll nor a
// move, and more than a quarter of the screen, so the session sends H.264.
void flip_page(ScriptedSource& src, const capture::Frame& page) {
    const capture::Rect r{40, 40, 480, 320};
    src.change(
        [&](capture::Frame& f) {
            for (int y = r.y; y < r.bottom(); ++y)
                std::memcpy(f.at(r.x, y), page.at(r.x, y), static_cast<std::size_t>(r.w) * 4);
        },
        r);
}

// A terminal-like scroll: rows of the text area move up by one line, and `draw` writes the new
// line at the bottom (given the frame and the line's top).
void scroll_by_a_line(ScriptedSource& src, const std::function<void(capture::Frame&, int)>& draw) {
    const capture::Rect area{0, 24, kW - 160, kH - 24};
    constexpr int kLine = 16;
    src.change(
        [&](capture::Frame& f) {
            for (int y = area.y; y + kLine < area.bottom(); ++y)
                std::memcpy(f.at(area.x, y), f.at(area.x, y + kLine), static_cast<std::size_t>(area.w) * 4);
            const int top = area.bottom() - kLine;
            ct::fill(f, {area.x, top, area.w, kLine}, 0x23, 0x1e, 0x1e);
            draw(f, top);
        },
        area);
}

// A new line of random glyphs.
void scroll_line(ScriptedSource& src, std::mt19937& rng) {
    scroll_by_a_line(src, [&](capture::Frame& f, int top) {
        for (int i = 0; i < 40; ++i)
            if (rng() % 5) ct::draw_glyph(f, 8 + i * 8, top + 1, rng, 0xe0, 0xe0, 0xe0);
    });
}

// A log tail: a new line of words whose glyphs are always the same (as a font's are).
void scroll_log_line(ScriptedSource& src, std::mt19937& rng) {
    scroll_by_a_line(src, [&](capture::Frame& f, int top) {
        for (int x = 8; x + 6 * 8 < kW - 160;) {
            const unsigned word = rng() % 6;
            for (unsigned c = 0; c < 3 + word; ++c, x += 8) {
                std::mt19937 glyph(word * 7 + c);  // the same letter, the same strokes
                ct::draw_glyph(f, x, top + 1, glyph, 0xe0, 0xe0, 0xe0);
            }
            x += 8;
        }
    });
}

// The test "application" at work: calls `step` every kStep on its own thread until stop() (or
// destruction, so a failed REQUIRE still joins it).
class Background {
public:
    explicit Background(std::function<void(int)> step)
        : thread_([this, step = std::move(step)] {
              for (int i = 0; running_; ++i) {
                  step(i);
                  std::this_thread::sleep_for(kStep);
              }
          }) {}
    ~Background() { stop(); }
    void stop() {
        running_ = false;
        if (thread_.joinable()) thread_.join();
    }

private:
    std::atomic<bool> running_{true};
    std::thread thread_;
};

int count(const std::vector<Received>& log, const std::function<bool(const Received&)>& pred) {
    int n = 0;
    for (const auto& r : log) n += pred(r);
    return n;
}

}  // namespace

TEST_CASE("pipeline: text, then H.264 motion and a scroll, then stillness: the client ends pixel-exact within 1 s",
          "[pipeline]") {
    Rig rig(ct::make_text_frame(kW, kH, 1));
    REQUIRE(rig.converge(3s));  // the first keyframe, then its refinement to lossless
    INFO(rig.describe());

    Typist typist;
    for (int i = 0; i < 20; ++i) {
        typist.type(rig.source);
        std::this_thread::sleep_for(kStep);
    }
    std::vector<capture::Frame> pages;
    for (unsigned s = 0; s < 4; ++s) pages.push_back(ct::make_text_frame(kW, kH, 100 + s));
    const auto motion_from = rig.viewer->received().size();
    for (int i = 0; i < 20; ++i) {
        flip_page(rig.source, pages[i % pages.size()]);
        std::this_thread::sleep_for(kStep);
    }
    std::mt19937 rng(7);
    for (int i = 0; i < 40; ++i) {
        scroll_line(rig.source, rng);
        std::this_thread::sleep_for(kStep);
    }
    typist.type(rig.source);
    const auto last_change = Clock::now();

    const bool exact = eventually([&] { return rig.converged(); }, 1000ms);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - last_change);
    // Printed on success too: how long build-to-lossless took is worth seeing in test logs.
    WARN(rig.describe() << "; converged " << took.count() << " ms after the last change");
    CHECK(exact);

    const auto log = rig.viewer->received();
    const std::vector<Received> since(log.begin() + static_cast<std::ptrdiff_t>(motion_from), log.end());
    CHECK(count(since, [](const Received& r) { return r.kind == Received::video && !r.keyframe; }) > 0);
    CHECK(count(since, [](const Received& r) { return r.kind == Received::tiles && r.copies > 0; }) > 0);
    CHECK(count(log, [](const Received& r) { return !r.applied; }) == 0);
}

TEST_CASE(
    "pipeline: each viewer version gets the palette form it reads: classic (3), compact (4), compact with "
    "columns (5)",
    "[pipeline]") {
    const auto version =
        GENERATE(protocol::kMinDisplayVersion, protocol::kCompactPaletteVersion, protocol::kPaletteColumnsVersion);
    INFO("viewer of version " << version);
    Rig rig(ct::make_text_frame(kW, kH, 2), version);
    REQUIRE(rig.converge(3s));
    Typist typist;
    for (int i = 0; i < 10; ++i) {
        typist.type(rig.source);
        std::this_thread::sleep_for(kStep);
    }
    // New lines of a log: strips a line high, which go in columns where the viewer reads them.
    std::mt19937 rng(5);
    for (int i = 0; i < 10; ++i) {
        scroll_log_line(rig.source, rng);
        std::this_thread::sleep_for(kStep);
    }
    CHECK(rig.converge(1000ms));
    std::size_t classic = 0, compact = 0, columns = 0;
    for (const auto& r : rig.viewer->received()) {
        classic += r.palette_tiles;
        compact += r.compact_palette_tiles;
        columns += r.column_palette_tiles;
        CHECK(r.applied);
    }
    INFO(rig.describe() << "; palette tiles: " << classic << " classic, " << compact << " compact (" << columns
                        << " in columns)");
    if (version < protocol::kCompactPaletteVersion) {
        CHECK(classic >= 10);
        CHECK(compact == 0);
    } else {
        CHECK(compact >= 10);
        CHECK(classic == 0);
    }
    if (version < protocol::kPaletteColumnsVersion)
        CHECK(columns == 0);
    else
        CHECK(columns >= 5);
}

TEST_CASE("pipeline: an icon among text (more than 256 colours in its tile) still ends pixel-exact", "[pipeline]") {
    Rig rig(ct::make_text_frame(kW, kH, 3));
    REQUIRE(rig.converge(3s));
    // A 40x40 patch of noise (an icon, a thumbnail) in a 200x100 area of new text: the area's
    // tile has too many colours for a palette, its 64x64 pieces but the icon's do not.
    const capture::Rect area{100, 200, 200, 100};
    std::mt19937 rng(11);
    rig.source.change(
        [&](capture::Frame& f) {
            ct::fill(f, area, 0x23, 0x1e, 0x1e);
            for (int i = 0; i < 20; ++i) ct::draw_glyph(f, area.x + 8 + i * 8, area.y + 70, rng, 0xe0, 0xe0, 0xe0);
            for (int y = 0; y < 40; ++y)
                for (int x = 0; x < 40; ++x) {
                    auto* p = f.at(area.x + 10 + x, area.y + 10 + y);
                    p[0] = static_cast<std::uint8_t>(rng());
                    p[1] = static_cast<std::uint8_t>(rng());
                    p[2] = static_cast<std::uint8_t>(rng());
                }
        },
        area);
    // Refinement re-sends the icon losslessly (a JPEG, at any quality, would leave it approximate).
    const auto took = rig.converge(1500ms);
    INFO(rig.describe());
    CHECK(took);
}

TEST_CASE("pipeline: no damage, no frames (once what was lossy is refined)", "[pipeline]") {
    Rig rig(ct::make_text_frame(kW, kH, 2));
    REQUIRE(rig.converge(3s));
    // Refinement may still be finishing when the picture already matches; let it settle.
    std::this_thread::sleep_for(300ms);
    const auto before = rig.viewer->frame_count();
    const auto calls = rig.source.calls();
    std::this_thread::sleep_for(500ms);
    CHECK(rig.viewer->frame_count() == before);
    CHECK(rig.source.calls() > calls + 5);  // the capture loop kept looking: it was idle, not stuck

    // A source that returns captures with empty damage instead of nothing.
    rig.source.report_empty_captures(true);
    const auto captures = rig.source.captures();
    std::this_thread::sleep_for(500ms);
    CHECK(rig.source.captures() > captures + 5);
    CHECK(rig.viewer->frame_count() == before);

    // And the session still reacts to the next real change.
    Typist typist;
    typist.type(rig.source);
    INFO(rig.describe());
    CHECK(rig.converge(1s));
    CHECK(rig.viewer->frame_count() > before);
}

TEST_CASE("pipeline: a keyframe request makes the next frame a keyframe, even on a still screen", "[pipeline]") {
    Rig rig(ct::make_text_frame(kW, kH, 3));
    REQUIRE(rig.converge(3s));
    std::this_thread::sleep_for(300ms);
    for (int round = 0; round < 2; ++round) {
        const auto before = rig.viewer->received().size();
        rig.session->keyframe_request();
        REQUIRE(eventually([&] { return rig.viewer->received().size() > before; }, 1s));
        const auto next = rig.viewer->received()[before];
        CHECK(next.kind == Received::video);
        CHECK(next.keyframe);
        CHECK(next.width == kW);
        CHECK(next.height == kH);
        INFO(rig.describe());
        CHECK(rig.converge(1s));  // the keyframe is lossy; refinement makes it exact again
        std::this_thread::sleep_for(300ms);
    }
}

TEST_CASE("pipeline: a new screen size reaches the viewer as Resize, then a keyframe of that size", "[pipeline]") {
    Rig rig(ct::make_text_frame(kW, kH, 4));
    rig.screen->on_resize = [](int w, int h) { return ct::make_text_frame(w, h, 40); };
    REQUIRE(rig.converge(3s));

    struct Step {
        const char* how;
        int w, h;
    };
    // A client's ResizeRequest (the session changes its screen), then the source changing size by
    // itself (a VM guest switching resolution). Sizes are even, as session_dimension() makes them.
    for (const Step step : {Step{"ResizeRequest", 480, 360}, Step{"source", 800, 600}}) {
        INFO(step.how << " -> " << step.w << "x" << step.h);
        const auto before = rig.viewer->received().size();
        if (std::string(step.how) == "source")
            rig.source.replace(ct::make_text_frame(step.w, step.h, 41));
        else
            rig.session->resize({static_cast<std::uint16_t>(step.w), static_cast<std::uint16_t>(step.h), {}, 0});

        REQUIRE(eventually(
            [&] {
                const auto log = rig.viewer->received();
                return log.size() > before + 1 &&
                       count({log.begin() + static_cast<std::ptrdiff_t>(before), log.end()},
                             [](const Received& r) { return r.kind == Received::video; }) > 0;
            },
            2s));
        const auto log = rig.viewer->received();
        std::size_t i = before;
        // Frames already on their way at the old size may come first; then Resize, then a keyframe.
        while (i < log.size() && log[i].kind != Received::resize) {
            CHECK((log[i].kind == Received::video || log[i].kind == Received::tiles));
            CHECK(log[i].width != step.w);
            ++i;
        }
        REQUIRE(i + 1 < log.size());
        CHECK(log[i].width == step.w);
        CHECK(log[i].height == step.h);
        CHECK(log[i + 1].kind == Received::video);
        CHECK(log[i + 1].keyframe);
        CHECK(log[i + 1].width == step.w);
        CHECK(log[i + 1].height == step.h);
        for (std::size_t j = i + 1; j < log.size(); ++j) CHECK(log[j].width == step.w);
        CHECK(rig.session->width() == step.w);
        CHECK(rig.session->height() == step.h);
        INFO(rig.describe());
        CHECK(rig.converge(1500ms));
    }
}

TEST_CASE(
    "pipeline: a viewer that stops acknowledging gets a bounded number of frames, skips are counted, "
    "and it catches up to the newest frame",
    "[pipeline]") {
    Rig rig(ct::make_text_frame(kW, kH, 5));
    REQUIRE(rig.converge(3s));

    Typist typist;
    std::mt19937 rng(9);
    Background app([&](int i) {
        if (i % 10 == 9)
            scroll_line(rig.source, rng);
        else
            typist.type(rig.source, 440);
    });

    std::this_thread::sleep_for(300ms);
    rig.viewer->set_acking(false);
    const auto at_pause = rig.viewer->frame_count();
    std::this_thread::sleep_for(1500ms);  // well below FlowControl::kStallLimit
    const auto while_paused = rig.viewer->frame_count() - at_pause;
    INFO(rig.describe());
    CHECK(while_paused <= host::FlowControl::kMaxUnacked);
    CHECK(while_paused >= 1);
    CHECK(rig.session->viewer_count() == 1);  // paused, not dropped
    CHECK_FALSE(rig.viewer->closed());

    rig.viewer->set_acking(true);
    CHECK(eventually([&] { return rig.session->stats().rolling.skipped > 0; }, 1s));
    const auto skipped = rig.session->stats().rolling.skipped;
    INFO("skipped " << skipped);
    // About 1.5 s at 30 frames/s were not sent; the figure counts frame intervals spent blocked.
    CHECK(skipped >= 20);
    const auto after_resume = rig.viewer->frame_count();
    std::this_thread::sleep_for(500ms);
    CHECK(rig.viewer->frame_count() > after_resume + 3);  // frames flow again

    app.stop();
    INFO(rig.describe());
    CHECK(rig.converge(1s));
    CHECK(count(rig.viewer->received(), [](const Received& r) { return !r.applied; }) == 0);
}

TEST_CASE(
    "pipeline: a viewer that reports its paint time on a LAN has one frame in flight, "
    "a shadow that does holds the owner only by its backlog",
    "[pipeline]") {
    Rig rig(ct::make_text_frame(kW, kH, 6));
    rig.viewer->set_paint_report(1000);  // 1 ms: a fast client right next to the host
    REQUIRE(rig.converge(3s));

    Typist typist;
    Background app([&](int) { typist.type(rig.source, 440); });

    // The owner paints, but does not acknowledge yet: the host waits for it after one frame.
    std::this_thread::sleep_for(300ms);
    rig.viewer->set_acking(false);
    std::this_thread::sleep_for(100ms);  // a frame on its way when acking stopped has arrived
    const auto at_pause = rig.viewer->frame_count();
    std::this_thread::sleep_for(600ms);
    INFO(rig.describe());
    CHECK(rig.viewer->frame_count() - at_pause <= 1);
    rig.viewer->set_acking(true);

    // A helpdesk shadow that reports the same and stops acknowledging: the owner goes on getting
    // frames until the shadow's backlog (kMaxUnacked) is full, not just one.
    auto shadow = std::make_shared<ClientViewer>(kW, kH);
    shadow->set_target(rig.session.get());
    shadow->set_paint_report(1000);
    REQUIRE(rig.session->attach_view_only(shadow));
    REQUIRE(eventually([&] { return shadow->frame_count() >= 3; }, 3s));  // paced by the shadow's acks too
    shadow->set_acking(false);
    const auto owner_before = rig.viewer->frame_count();
    std::this_thread::sleep_for(600ms);
    const auto owner_during = rig.viewer->frame_count() - owner_before;
    INFO("owner frames while the shadow was paused: " << owner_during);
    CHECK(owner_during >= 2);
    CHECK(owner_during <= host::FlowControl::kMaxUnacked + 1);
    shadow->set_acking(true);
    CHECK(eventually([&] { return rig.viewer->frame_count() > owner_before + owner_during + 2; }, 2s));

    app.stop();
    rig.session->detach(shadow.get());
    shadow->stop();
    CHECK(rig.converge(1s));
}

TEST_CASE("pipeline: what the user copies reaches a shadow only when the session's policy allows it", "[pipeline]") {
    Rig rig(ct::make_text_frame(kW, kH, 6));
    REQUIRE(rig.converge(3s));
    auto shadow = std::make_shared<ClientViewer>(kW, kH);
    shadow->set_target(rig.session.get());
    REQUIRE(rig.session->attach_view_only(shadow));
    REQUIRE(eventually([&] { return shadow->frame_count() >= 1; }, 3s));  // the shadow is being served

    auto clipboards = [](ClientViewer& v) {
        std::vector<std::string> out;
        for (const auto& r : v.received())
            if (r.kind == Received::clipboard) out.push_back(r.text);
        return out;
    };
    CHECK_FALSE(rig.session->shadow_clipboard());  // the default: the clipboard is the user's
    rig.screen->copy_in_session("the user's password");
    REQUIRE(eventually([&] { return clipboards(*rig.viewer).size() == 1; }, 2s));
    CHECK(clipboards(*rig.viewer)[0] == "the user's password");
    // Sent in one pass over the viewers: once the owner has it, the shadow would have it too.
    REQUIRE(eventually([&] { return shadow->idle(); }, 2s));
    CHECK(clipboards(*shadow).empty());

    rig.session->set_shadow_clipboard(true);  // policy says a shadow may see it
    rig.screen->copy_in_session("shared on purpose");
    REQUIRE(eventually([&] { return clipboards(*shadow).size() == 1; }, 2s));
    CHECK(clipboards(*shadow)[0] == "shared on purpose");
    CHECK(eventually([&] { return clipboards(*rig.viewer).size() == 2; }, 2s));
    CHECK_FALSE(shadow->closed());  // skipping a shadow is not dropping it

    rig.session->detach(shadow.get());
    shadow->stop();
}

// StreamSession routes RelativePointer to the session's input: a VM desktop's takes it; an app
// session's input (absolute only: it does not override pointer_relative) drops it, and nothing of
// it turns into an absolute pointer event.
#include "capture/synthetic_source.hpp"
#include "session-host/stream/stream_session.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <mutex>
#include <vector>

using namespace portico;
using namespace portico::host;

namespace {

class StillScreen final : public SessionScreen {
public:
    StillScreen() : source_(640, 480) {}
    capture::FrameSource& frame_source() override { return source_; }
    std::optional<SessionEnding> poll(ViewerChannel&, const std::string*) override { return std::nullopt; }
    void teardown() override {}

private:
    capture::SyntheticFrameSource source_;
};

// Records what reaches it; `relative` says whether it takes relative motion (a VM) or not (an app).
class RecordingInput final : public SessionInput {
public:
    explicit RecordingInput(bool relative) : relative_(relative) {}
    void key(std::uint16_t, bool) override {}
    void pointer(int x, int y, std::uint8_t b) override {
        std::lock_guard lk(mu);
        absolute.push_back({x, y, b});
    }
    bool pointer_relative(int dx, int dy, std::uint8_t b) override {
        if (!relative_) return SessionInput::pointer_relative(dx, dy, b);
        std::lock_guard lk(mu);
        motion.push_back({dx, dy, b});
        return true;
    }
    void wheel(int, int) override {}
    void release_all() override {}

    std::mutex mu;
    std::vector<std::array<int, 3>> absolute, motion;

private:
    bool relative_;
};

void send_motion(const std::shared_ptr<RecordingInput>& input, const char* id) {
    auto session = StreamSession::start(id, std::make_shared<StillScreen>(), input, {});
    session->pointer_relative(-7, 9, 1);
    session->pointer_relative(3, 0, 0);
    session->end(protocol::EndReason::logged_off, "test over");
    session->wait_finished();
}

}  // namespace

TEST_CASE("relative pointer motion reaches a session that takes it, and an absolute-only one drops it", "[stream]") {
    auto vm = std::make_shared<RecordingInput>(true);
    send_motion(vm, "vm");
    CHECK(vm->motion == std::vector<std::array<int, 3>>{{-7, 9, 1}, {3, 0, 0}});
    CHECK(vm->absolute.empty());

    auto app = std::make_shared<RecordingInput>(false);
    send_motion(app, "app");  // dropped (logged once), the session unharmed
    CHECK(app->motion.empty());
    CHECK(app->absolute.empty());
}

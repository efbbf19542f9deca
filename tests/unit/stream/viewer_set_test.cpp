// ViewerSet with sinks that record what they got: ownership, shadows, fan-out, drops.

#include "session-host/stream/viewer_set.hpp"

#include <catch2/catch.hpp>

#include <atomic>

using namespace portico::host;

namespace {

class RecordingSink final : public ViewerSink {
public:
    explicit RecordingSink(bool accept = true) : accept_(accept) {}
    bool send(Bytes message) override {
        if (!accept_ || closed) return false;
        got.push_back(std::move(message));
        return true;
    }
    void close(Bytes) override { closed = true; }
    std::string peer() const override { return "test"; }
    bool accept_;
    std::vector<Bytes> got;
    bool closed = false;
};

Bytes bytes(std::uint8_t first) { return std::make_shared<const std::vector<std::uint8_t>>(1, first); }

}  // namespace

TEST_CASE("viewers: a new owner replaces the old one and shadows stay", "[stream][viewers]") {
    int lost = 0;
    ViewerSet set("s", [&] { ++lost; });
    auto a = std::make_shared<RecordingSink>(), b = std::make_shared<RecordingSink>();
    auto shadow = std::make_shared<RecordingSink>();
    set.attach_owner(a);
    set.attach_view_only(shadow);
    set.attach_owner(b);
    CHECK(a->closed);
    CHECK_FALSE(shadow->closed);
    CHECK(set.size() == 2);
    CHECK(set.detach(b.get()));
    CHECK_FALSE(set.detach(b.get()));
    CHECK(lost == 1);  // the departing viewer's input is released
}

TEST_CASE("viewers: frames wait for a keyframe, and each send is counted for flow control", "[stream][viewers]") {
    ViewerSet set("s");
    auto v = std::make_shared<RecordingSink>();
    set.attach_owner(v);
    CHECK(set.send_frame(1, bytes(1), false) == 0);  // a new viewer needs a keyframe first
    CHECK(set.send_frame(2, bytes(2), true) == 1);
    CHECK(set.send_frame(3, bytes(3), false) == 1);
    CHECK(v->got.size() == 2);
    // Four frames unacknowledged: capture holds back for the owner.
    set.send_frame(4, bytes(4), false);
    set.send_frame(5, bytes(5), false);
    CHECK(set.prune(ViewerSet::Clock::now()).held);
    CHECK(set.on_ack(v.get(), 5, ViewerSet::Clock::now(), {}).has_value());
    CHECK_FALSE(set.prune(ViewerSet::Clock::now()).held);
}

TEST_CASE("viewers: the clipboard is the owner's, and a broadcast can require a keyframe", "[stream][viewers]") {
    ViewerSet set("s");
    auto owner = std::make_shared<RecordingSink>(), shadow = std::make_shared<RecordingSink>();
    set.attach_owner(owner);
    set.attach_view_only(shadow);
    set.send_frame(1, bytes(1), true);
    set.broadcast(bytes(9), false, /*owner_only=*/true);
    CHECK(owner->got.size() == 2);
    CHECK(shadow->got.size() == 1);
    set.broadcast(bytes(8), /*then_needs_keyframe=*/true, false);
    CHECK(set.send_frame(2, bytes(2), false) == 0);
    CHECK(set.send_frame(3, bytes(3), true) == 2);
}

TEST_CASE("viewers: a full queue drops that viewer only, and its input is released", "[stream][viewers]") {
    int lost = 0;
    ViewerSet set("s", [&] { ++lost; });
    auto good = std::make_shared<RecordingSink>(), full = std::make_shared<RecordingSink>(false);
    set.attach_owner(good);
    set.attach_view_only(full);
    CHECK(set.send_frame(1, bytes(1), true) == 1);
    CHECK(full->closed);
    CHECK_FALSE(good->closed);
    CHECK(set.size() == 1);
    CHECK(lost == 1);
}

TEST_CASE("viewers: a viewer that acknowledges nothing for the stall limit is dropped", "[stream][viewers]") {
    ViewerSet set("s");
    auto v = std::make_shared<RecordingSink>();
    set.attach_owner(v);
    set.send_frame(1, bytes(1), true);
    const auto later = ViewerSet::Clock::now() + FlowControl::kStallLimit + std::chrono::seconds(1);
    set.prune(ViewerSet::Clock::now());  // starts the held clock if held; one frame is not held
    auto state = set.prune(later);
    // One unacknowledged frame does not hold capture, so nothing stalls: the viewer stays.
    CHECK(state.any);
    for (std::uint32_t id = 2; id <= 6; ++id) set.send_frame(id, bytes(2), false);
    set.prune(ViewerSet::Clock::now());
    state = set.prune(ViewerSet::Clock::now() + FlowControl::kStallLimit + std::chrono::seconds(1));
    CHECK_FALSE(state.any);
    CHECK(v->closed);
}

TEST_CASE("viewers: close_all closes everyone with the last message", "[stream][viewers]") {
    ViewerSet set("s");
    auto a = std::make_shared<RecordingSink>(), b = std::make_shared<RecordingSink>();
    set.attach_owner(a);
    set.attach_view_only(b);
    set.close_all(bytes(7));
    CHECK(a->closed);
    CHECK(b->closed);
    CHECK(set.size() == 0);
}

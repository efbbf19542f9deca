// LinkQuality: quality steps down while flow control holds capture back, and back up only after
// the link has kept up for a while.
#include "session-host/stream/link_quality.hpp"

#include <catch2/catch.hpp>

using portico::host::LinkQuality;
using namespace std::chrono_literals;

namespace {

// Runs capture turns every 33 ms for `span`, blocked on the given share of turns.
LinkQuality::Clock::time_point run(LinkQuality& q, LinkQuality::Clock::time_point t, std::chrono::milliseconds span,
                                   double blocked_share, int* changes = nullptr) {
    const auto end = t + span;
    int i = 0;
    while (t < end) {
        t += 33ms;
        const bool blocked = (i++ % 10) < blocked_share * 10;
        if (q.on_turn(t, blocked) && changes) ++*changes;
    }
    return t;
}

}  // namespace

TEST_CASE("link quality: a link that keeps up stays at the best level") {
    LinkQuality q;
    run(q, {}, 10s, 0.0);
    CHECK(q.level() == 0);
    CHECK(q.current().crf == 18);
}

TEST_CASE("link quality: mostly blocked steps down one level per second, to the floor") {
    LinkQuality q;
    auto t = run(q, {}, 1100ms, 0.8);
    CHECK(q.level() == 1);
    CHECK(q.current().crf > LinkQuality::kLevels[0].crf);
    CHECK(q.current().jpeg_quality < LinkQuality::kLevels[0].jpeg_quality);
    run(q, t, 10s, 1.0);
    CHECK(q.level() == LinkQuality::kLevelCount - 1);
}

TEST_CASE("link quality: some backpressure holds the level and three calm windows step up") {
    LinkQuality q;
    auto t = run(q, {}, 3100ms, 0.9);
    REQUIRE(q.level() == 3);
    t = run(q, t, 5s, 0.3);  // neither slow nor calm
    CHECK(q.level() == 3);
    int changes = 0;
    t = run(q, t, 4100ms, 0.0, &changes);
    CHECK(q.level() == 2);
    CHECK(changes == 1);
    run(q, t, 20s, 0.0);
    CHECK(q.level() == 0);
}

#pragma once
// ViewerSet: the clients attached to one session — the owner (at most one: a new connection is the
// same user reconnecting) and view-only shadows — with each one's flow control. It fans messages
// out and drops a viewer whose queue is full or that stopped acknowledging, in one place, and
// closes dropped sinks outside its lock. Thread-safe: network threads attach, detach and ack; the
// capture thread sends; channels (cursor, clipboard) broadcast from the capture thread.

#include "session-host/stream/flow_control.hpp"
#include "session-host/stream/viewer.hpp"

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace portico::host {

class ViewerSet {
public:
    using Clock = FlowControl::Clock;
    // Called (outside the lock) after viewers were dropped or detached, so the session can release
    // keys and buttons they may have held.
    explicit ViewerSet(std::string session_id, std::function<void()> on_viewer_lost = {})
        : session_id_(std::move(session_id)), on_viewer_lost_(std::move(on_viewer_lost)) {}

    // Makes `sink` the owner; a previous owner is closed (shadows stay). Gets nothing until a keyframe.
    void attach_owner(std::shared_ptr<ViewerSink> sink);
    // Adds a shadow next to the owner; it never replaces nor is replaced by anyone.
    void attach_view_only(std::shared_ptr<ViewerSink> sink);
    // The client vanished. True if it was attached.
    bool detach(const ViewerSink* sink);
    // A viewer acknowledged a frame: its round trip, if the frame was one it had been sent.
    std::optional<Clock::duration> on_ack(const ViewerSink* sink, std::uint32_t frame_id, Clock::time_point now,
                                          Clock::duration paint_time);

    // A message that is not a frame, to every viewer (view-only ones only if !owner_only).
    // then_needs_keyframe: they get no delta frame until the next keyframe.
    void broadcast(const Bytes& message, bool then_needs_keyframe, bool owner_only);
    // A frame, to every viewer that can use it (one waiting for a keyframe gets only a keyframe);
    // returns how many got it.
    int send_frame(std::uint32_t frame_id, const Bytes& bytes, bool keyframe);

    struct State {
        bool any = false;           // at least one viewer
        bool link_blocked = false;  // a viewer's link has all it can carry (LinkQuality reacts)
        bool held = false;          // ... or a viewer is still painting the frames it has
    };
    // Drops viewers that acknowledged nothing for FlowControl::kStallLimit and says whether capture
    // must wait for the others. The session is paced to its owner: a shadow's slower paint must not
    // slow the user's picture, only its link or its backlog holds capture back.
    State prune(Clock::time_point now);

    // Closes every viewer with `last` (the session ended); afterwards the set is empty.
    void close_all(const Bytes& last);
    std::size_t size();
    // The oldest display protocol version among the viewers (kDisplayVersion when there are none):
    // what a frame encoded now may use. A viewer that attaches later waits for a keyframe encoded
    // after it did, and frames go out in the order they are encoded, so it never gets one made for
    // newer viewers only.
    std::uint16_t min_version();

private:
    struct Viewer {
        std::shared_ptr<ViewerSink> sink;
        FlowControl flow;
        bool needs_keyframe = true;
        bool view_only = false;
    };
    // Closes `dropped` (outside mu_) with a log line saying why, then tells the session.
    void finish_drops(std::vector<std::shared_ptr<ViewerSink>>& dropped, const char* why);

    const std::string session_id_;
    std::function<void()> on_viewer_lost_;
    std::mutex mu_;
    std::vector<Viewer> viewers_;
};

}  // namespace portico::host

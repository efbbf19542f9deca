#pragma once
// SessionManager: the host's live sessions by id (apps on Xvfb, VM desktops). Starts sessions on
// its own worker threads (Xvfb and VM start-up block), ends them on request, and tells its owner
// when one has ended. Thread-safe; start_session/end_session/find_session/set_pools never block,
// shutdown() does.

#include "protocol/control.hpp"
#include "protocol/display.hpp"
#include "session-host/app/package_launch.hpp"
#include "session-host/stream/stream_session.hpp"
#include "session-host/stream/viewer.hpp"

#include <boost/asio/thread_pool.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace portico::host {

// The control channel's spelling of an end reason.
const char* control_reason(protocol::EndReason reason);

class VmDesktops;
class AppLauncher;

class SessionManager final : public SessionDirectory {
public:
    struct Options {
        std::string state_dir;  // sessions live in <state_dir>/sessions/<id>
        int max_sessions = 20;
        std::vector<std::string> apps{"*"};  // app names or ids offered; "*" = any
        VmDesktops* desktops = nullptr;      // VM desktops (--images); must outlive the manager
        AppLauncher* launcher = nullptr;     // starts apps (app_launcher.hpp); none = apps refused
        package_launch::Policy packages;     // how published packages start (trusted runtime, trust list)
        bool shadow_clipboard = false;       // shadows also receive the user's clipboard (policy)
        bool full_size_motion = false;       // StreamSession::Options::halve_for_slow_viewers off
    };
    // Called on a session's capture thread once it has ended and been torn down.
    using EndedFn = std::function<void(const std::string& session_id, const std::string& reason)>;
    // Called on a worker thread: empty error = the session is ready.
    using StartedFn = std::function<void(const std::string& error)>;

    SessionManager(Options options, EndedFn on_ended);
    ~SessionManager() override;  // shutdown()

    void start_session(const protocol::control::StartSession& request, StartedFn done);
    void end_session(const std::string& session_id, protocol::EndReason reason);  // unknown ids are ignored
    // The broker's desktop pools (spares, files of deleted pools); ignored without VM desktops.
    void set_pools(std::vector<protocol::control::PoolSpec> pools);
    // Ends every session with host_shutdown and waits until all are torn down. Refuses new starts.
    void shutdown();
    int count();
    std::vector<std::string> running_ids();  // the sessions started and not yet ended
    // The figures over the last ~2 s of every session with a viewer, for the broker's console (any thread).
    std::vector<protocol::control::StreamStats> stream_stats();

    // How many sessions there are of each kind in each state, and their viewers, for GET /metrics.
    // A running session is active while its owner watches (`with_owner`: the display server's
    // presence, what the broker is told), else disconnected. Any thread; short locks only.
    enum class Kind { app, vm };
    enum class State { starting, active, disconnected };
    struct Census {
        int sessions[2][3] = {};  // [Kind][State]
        int viewers = 0;          // owners and shadows of every running session
        int& at(Kind k, State s) { return sessions[static_cast<int>(k)][static_cast<int>(s)]; }
        int at(Kind k, State s) const { return sessions[static_cast<int>(k)][static_cast<int>(s)]; }
    };
    Census census(const std::set<std::string>& with_owner);
    // What every session has streamed since the host started (frames, bytes, encode time).
    const StreamCounters& stream_counters() const { return counters_; }

    std::shared_ptr<DisplayTarget> find_session(const std::string& session_id) override;

    // A JPEG thumbnail of a live session's screen (StreamSession::request_thumbnail); an unknown
    // or starting session is answered at once with an error. `done` runs on the session's capture
    // thread or the caller's. Any thread; never blocks.
    void thumbnail(const std::string& session_id, int max_width, int max_height, StreamSession::ThumbnailDone done);

    // Session ids become directory names, so they are restricted to a safe alphabet.
    static bool valid_session_id(const std::string& id);

private:
    std::shared_ptr<StreamSession> find(const std::string& id);
    bool app_offered(const protocol::control::AppSpec& app) const;
    // Starts the session a request asks for (worker thread). Throws std::runtime_error.
    std::shared_ptr<StreamSession> start(const protocol::control::StartSession& req);

    Options options_;
    EndedFn on_ended_;
    StreamCounters counters_;  // before the sessions, which count into it
    std::mutex mu_;
    std::map<std::string, std::shared_ptr<StreamSession>> sessions_;
    std::map<std::string, Kind> kinds_;  // of every starting or running session
    std::set<std::string> starting_;
    bool shutting_down_ = false;
    boost::asio::thread_pool workers_{2};
};

}  // namespace portico::host

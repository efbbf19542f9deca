#include "session-host/app/app_session.hpp"

#include "capture/x11/x11_source.hpp"
#include "common/log.hpp"
#include "session-host/app/app_launcher.hpp"
#include "session-host/stream/encode_policy.hpp"
#include "session-host/x11/clipboard_bridge.hpp"
#include "session-host/x11/cursor_watcher.hpp"
#include "session-host/x11/display_scale.hpp"
#include "session-host/x11/input_injector.hpp"
#include "session-host/x11/pointer_grab_watch.hpp"
#include "session-host/x11/screen_sizer.hpp"
#include "session-host/x11/window_keeper.hpp"
#include "session-host/x11/x_display.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace portico::host {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

void make_private_dir(const std::string& dir) {
    std::error_code ec;
    fs::remove_all(dir, ec);  // a leftover from a crashed host
    fs::create_directories(fs::path(dir).parent_path(), ec);
    if (::mkdir(dir.c_str(), 0700) != 0) throw std::runtime_error("cannot create runtime directory " + dir);
    ::chmod(dir.c_str(), 0700);
}

}  // namespace

AppSession::AppSession(Options options) : options_(std::move(options)) {}

std::shared_ptr<StreamSession> AppSession::start(Options options, StreamSession::EndedFn on_ended,
                                                 StreamSession::Options stream) {
    if (options.command.empty()) throw std::runtime_error("the application has no command");
    if (!options.launcher) throw std::runtime_error("this host has no way to start applications");
    options.width = session_dimension(options.width);
    options.height = session_dimension(options.height);
    std::shared_ptr<AppSession> s(new AppSession(std::move(options)));
    const auto& o = s->options_;
    const DisplayScale scale = display_scale(o.scale);
    make_private_dir(o.runtime_dir);
    try {
        s->xvfb_ = std::make_unique<XvfbDisplay>(std::max(o.width, kMaxWidth), std::max(o.height, kMaxHeight),
                                                 o.runtime_dir, scale.dpi);
        s->sizer_ = std::make_unique<ScreenSizer>(s->xvfb_->display(), s->xvfb_->xauthority(), scale.dpi);
        if (std::string why; !s->sizer_->set_size(o.width, o.height, why))
            throw std::runtime_error("cannot set the X screen to " + std::to_string(o.width) + "x" +
                                     std::to_string(o.height) + ": " + why);
        s->windows_ = std::make_unique<WindowKeeper>(s->xvfb_->display(), s->xvfb_->xauthority());
        s->app_ = o.launcher->launch({o.id, o.user, o.command, s->xvfb_->display(), s->xvfb_->cookie(),
                                      s->xvfb_->xauthority(), o.runtime_dir + "/app.log", scale.env});
        s->source_ = std::make_unique<capture::X11FrameSource>(s->xvfb_->display(), s->xvfb_->xauthority());
        s->injector_ = std::make_unique<InputInjector>(s->xvfb_->display(), s->xvfb_->xauthority());
        s->clipboard_ = std::make_unique<ClipboardBridge>(s->xvfb_->display(), s->xvfb_->xauthority());
        s->cursor_ = std::make_unique<CursorWatcher>(s->xvfb_->display(), s->xvfb_->xauthority());
        s->grab_ = std::make_unique<PointerGrabWatch>(s->xvfb_->display(), s->xvfb_->xauthority());
    } catch (...) {
        s->teardown();
        throw;
    }
    s->wait_for_first_window();
    auto session = StreamSession::start(o.id, s, s, std::move(on_ended), stream);
    log::info("session ", o.id, ": started '", o.command.front(), "' on display ", s->xvfb_->display(), " (", o.width,
              "x", o.height, ", ", scale.dpi, " dpi)");
    return session;
}

// Keys typed before the app's window exists would go nowhere (there is no window manager to hold
// focus), so the session is announced ready only once the window is mapped and focused.
void AppSession::wait_for_first_window() {
    constexpr auto kTimeout = 10s;
    auto deadline = std::chrono::steady_clock::now() + kTimeout;
    for (;;) {
        windows_->poll();
        if (windows_->main_window()) return;
        if (app_->exited()) {
            std::string log_tail;
            if (std::ifstream in{options_.runtime_dir + "/app.log"}) {
                std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
                log_tail = all.substr(all.size() > 400 ? all.size() - 400 : 0);
            }
            std::string msg = "'" + options_.command.front() + "' exited (status " +
                              std::to_string(app_->exit_status()) + ") before showing a window";
            if (!log_tail.empty()) msg += ": " + log_tail;
            teardown();
            throw std::runtime_error(msg);
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            log::warn("session ", options_.id, ": '", options_.command.front(), "' showed no window within ",
                      kTimeout.count(), " s; starting the session anyway");
            return;
        }
        std::this_thread::sleep_for(20ms);
    }
}

AppSession::~AppSession() = default;

void AppSession::key(std::uint16_t code, bool down) {
    std::lock_guard lk(input_mu_);
    if (injector_) injector_->key(code, down);
}

void AppSession::pointer(int x, int y, std::uint8_t buttons) {
    std::lock_guard lk(input_mu_);
    if (injector_) injector_->pointer(x, y, buttons);
}

bool AppSession::pointer_relative(int dx, int dy, std::uint8_t buttons) {
    std::lock_guard lk(input_mu_);
    if (injector_) injector_->pointer_relative(dx, dy, buttons);
    return true;  // taken in either mode: motion that crosses a switch back to absolute still moves the pointer
}

void AppSession::wheel(int dx, int dy) {
    std::lock_guard lk(input_mu_);
    if (injector_) injector_->wheel(dx, dy);
}

void AppSession::key_char(std::uint32_t codepoint, std::uint16_t /*evdev_code*/, bool down) {
    std::lock_guard lk(input_mu_);
    if (injector_) injector_->key_char(codepoint, down);
}

void AppSession::clipboard(const std::string& data, bool more, bool png) {
    std::lock_guard lk(input_mu_);
    if (clipboard_in_.empty() && !clipboard_dropped_) clipboard_in_png_ = png;  // a transfer's first piece
    if (!clipboard_dropped_ && png != clipboard_in_png_) {
        log::warn("session ", options_.id,
                  ": the client mixed text and image pieces in one clipboard transfer; ignored");
        clipboard_dropped_ = true;
    }
    const std::size_t max = png ? ClipboardBridge::kMaxImage : ClipboardBridge::kMaxText;
    if (!clipboard_dropped_ && clipboard_in_.size() + data.size() > max) {
        log::warn("session ", options_.id, ": clipboard ", png ? "image" : "text", " from the client exceeds ",
                  max >> 20, " MiB; ignored");
        clipboard_dropped_ = true;
    }
    if (!clipboard_dropped_) clipboard_in_ += data;
    if (more) return;
    if (!clipboard_dropped_ && clipboard_in_png_ && !protocol::looks_like_png(clipboard_in_)) {
        log::warn("session ", options_.id, ": clipboard image from the client is not a PNG file; ignored");
        clipboard_dropped_ = true;
    }
    if (!clipboard_dropped_ && clipboard_) {
        if (clipboard_in_png_)
            clipboard_->set_image(std::move(clipboard_in_));
        else
            clipboard_->set_text(std::move(clipboard_in_));
    }
    clipboard_in_.clear();
    clipboard_dropped_ = false;
}

void AppSession::viewer_attached() {
    cursor_resend_ = true;
    mode_resend_ = true;
}

void AppSession::release_all() {
    std::lock_guard lk(input_mu_);
    if (injector_) injector_->release_all();
}

capture::FrameSource& AppSession::frame_source() { return *source_; }

std::optional<SessionEnding> AppSession::app_ended() {
    if (!app_->exited()) return std::nullopt;
    // A clean exit needs no words beyond the reason ("The application was closed."); a failure says
    // how it failed. (Status 128+N is how a death by signal N is recorded.)
    const int status = app_->exit_status();
    std::string how;
    if (status > 128)
        how = "it was ended by signal " + std::to_string(status - 128);
    else if (status != 0)
        how = "it exited with status " + std::to_string(status);
    return SessionEnding{protocol::EndReason::app_exited, how};
}

std::optional<SessionEnding> AppSession::poll(ViewerChannel& viewers, const std::string* display_lost) {
    if (display_lost) {
        // Xvfb went away: the app's exit says more if it went with it.
        if (auto ended = app_ended()) return ended;
        return SessionEnding{protocol::EndReason::error, "lost the application's display: " + *display_lost};
    }
    windows_->poll();
    // Selections and cursor: their events are rare and handled here, between frames, so the
    // session needs no thread of its own for them.
    if (auto copied = clipboard_->poll())
        viewers.broadcast(std::make_shared<const std::vector<std::uint8_t>>(
            protocol::encode(protocol::ClipboardData{std::move(copied->data), false, copied->png})));
    if (cursor_resend_.exchange(false)) cursor_->resend();
    if (auto shape = cursor_->poll())
        viewers.broadcast(std::make_shared<const std::vector<std::uint8_t>>(protocol::encode(*shape)));
    // Viewers start absolute: one that attaches is told only a relative mode.
    const auto mode = grab_->poll(cursor_->hidden());
    if (mode)
        log::info("session ", options_.id, ": the app ",
                  *mode ? "took the pointer (relative: viewers capture it)" : "let the pointer go (absolute)");
    const bool attached = mode_resend_.exchange(false);
    if (mode || (attached && grab_->relative()))
        viewers.broadcast(std::make_shared<const std::vector<std::uint8_t>>(
            protocol::encode(protocol::PointerMode{grab_->relative()})));
    return app_ended();
}

// Screen and capture buffer move to the new size and the main window follows; StreamSession
// notices the new frame size and sends Resize and a keyframe.
void AppSession::change_size(int width, int height) {
    width = session_dimension(std::min(width, sizer_->max_width()));
    height = session_dimension(std::min(height, sizer_->max_height()));
    if (width == source_->width() && height == source_->height()) return;
    std::string why;
    if (!sizer_->set_size(width, height, why)) {
        log::warn("session ", options_.id, ": cannot resize the screen to ", width, "x", height, ": ", why);
        return;
    }
    source_->follow_root_size();
    windows_->set_screen_size(source_->width(), source_->height());
}

void AppSession::set_monitors(const std::vector<protocol::MonitorRect>& monitors, int primary) {
    const int w = source_->width(), h = source_->height();
    auto [fitted, fitted_primary, dropped] = protocol::fit_monitor_layout(w, h, monitors, primary);
    if (dropped)
        log::warn("session ", options_.id, ": ", dropped, " of the client's ", monitors.size(),
                  " monitors lie outside the ", w, "x", h, " screen and are left out");
    if (monitors_known_ && fitted == monitors_ && fitted_primary == primary_) return;
    std::string why;
    if (!sizer_->set_monitors(fitted, fitted_primary, why)) {
        log::warn("session ", options_.id, ": cannot lay out ", fitted.size(), " monitors: ", why);
        monitors_known_ = false;  // part of it may be in place: the next request sets its own whole
        return;
    }
    log::info("session ", options_.id, ": ",
              fitted.empty() ? std::string("one monitor, the whole screen")
                             : std::to_string(fitted.size()) + " monitors, primary " + std::to_string(fitted_primary));
    monitors_ = std::move(fitted);
    primary_ = fitted_primary;
    monitors_known_ = true;
}

void AppSession::teardown() {
    {
        std::lock_guard lk(input_mu_);
        injector_.reset();
        clipboard_.reset();
    }
    cursor_.reset();
    grab_.reset();
    source_.reset();
    windows_.reset();
    sizer_.reset();
    if (app_) {
        app_->terminate();  // also when the app has exited: what it left behind goes too
        app_.reset();
    }
    xvfb_.reset();
    std::error_code ec;
    fs::remove_all(options_.runtime_dir, ec);
    if (ec) log::warn("session ", options_.id, ": cannot remove ", options_.runtime_dir, ": ", ec.message());
}

}  // namespace portico::host

#include "client/native/windowed.hpp"

#include "client/native/clipboard_sync.hpp"
#include "client/native/error_window.hpp"
#include "client/native/framebuffer.hpp"
#include "client/native/key_translator.hpp"
#include "client/native/login_dialog.hpp"
#include "client/native/monitor_watch.hpp"
#include "client/native/net_pump.hpp"
#include "client/native/pointer_input.hpp"
#include "client/native/resize_follower.hpp"
#include "client/native/sdl_x11.hpp"
#include "client/native/secret.hpp"
#include "client/native/session_launch.hpp"
#include "client/native/session_window.hpp"
#include "client/native/swallowed_release.hpp"
#include "client/native/terminal_prompt.hpp"
#include "client/native/x11_errors.hpp"
#include "client/native/x11_image_clipboard.hpp"
#include "common/log.hpp"

#include <SDL.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace portico::client {

namespace proto = protocol;

namespace {

constexpr std::chrono::milliseconds kResizeDebounce{300};  // as the web client (app.js)
constexpr std::chrono::seconds kPingInterval{1};
// Relative pointer motion is gathered and sent at most this often (a 120 Hz frame): a fast mouse
// makes hundreds of events a second, each a message to the host and a PointerEvent to QEMU.
constexpr std::chrono::milliseconds kMotionInterval{8};
constexpr std::chrono::seconds kClipboardPoll{1};  // X has no portable "clipboard changed" event
constexpr std::chrono::milliseconds kReconnectFirst{500};
constexpr std::chrono::seconds kReconnectMaxDelay{4};
constexpr std::chrono::seconds kReconnectBudget{30};  // as the web client: then give up
constexpr int kDefaultWidth = 1280, kDefaultHeight = 800;

// The display's monitors in SDL's order (SDL_GetDisplayBounds); SDL video must be initialised.
std::vector<DisplayRect> local_displays() {
    std::vector<DisplayRect> out;
    for (int i = 0; i < SDL_GetNumVideoDisplays(); ++i) {
        SDL_Rect r{};
        if (SDL_GetDisplayBounds(i, &r) == 0) out.push_back({r.x, r.y, r.w, r.h});
    }
    return out;
}

// Their names (on X11 the RandR output's, "HDMI-1"), in the same order: what identifies a monitor
// when others come and go and the numbers move.
std::vector<std::string> local_display_names() {
    std::vector<std::string> out;
    for (int i = 0; i < SDL_GetNumVideoDisplays(); ++i) {
        const char* name = SDL_GetDisplayName(i);
        out.emplace_back(name ? name : "");
    }
    return out;
}

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

std::uint64_t steady_us() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count());
}

// Client chords: Ctrl+Alt+Shift with a letter, never forwarded to the session.
enum class Chord { none, fullscreen, grab, stats };
Chord chord_of(const SDL_KeyboardEvent& k) {
    const auto m = k.keysym.mod;
    if (!(m & KMOD_CTRL) || !(m & KMOD_ALT) || !(m & KMOD_SHIFT)) return Chord::none;
    switch (k.keysym.scancode) {
        case SDL_SCANCODE_F: return Chord::fullscreen;
        case SDL_SCANCODE_G: return Chord::grab;
        case SDL_SCANCODE_S: return Chord::stats;
        default: return Chord::none;
    }
}

// Figures over the last second for the overlay (and the exit summary).
struct Meter {
    Clock::time_point since = Clock::now();
    int frames = 0;
    std::uint64_t bytes_at_start = 0;
    double decode_ms = 0, paint_ms = 0;
    int decodes = 0, paints = 0;
    std::optional<double> rtt_ms;
    std::vector<std::string> lines;  // what the overlay shows now

    void roll(Clock::time_point now, std::uint64_t bytes, int w, int h, const std::string& decoder,
              const std::string& pointer) {
        const double s = std::chrono::duration<double>(now - since).count();
        if (s <= 0) return;
        char buf[160];
        lines.clear();
        std::snprintf(buf, sizeof buf, "FPS %.1f  KBIT/S %.0f  RTT %s MS", frames / s,
                      static_cast<double>(bytes - bytes_at_start) * 8 / 1000 / s,
                      rtt_ms ? std::to_string(*rtt_ms).substr(0, std::to_string(*rtt_ms).find('.') + 2).c_str() : "-");
        lines.emplace_back(buf);
        std::snprintf(buf, sizeof buf, "DECODE %.1f MS  PAINT %.1f MS", decodes ? decode_ms / decodes : 0.0,
                      paints ? paint_ms / paints : 0.0);
        lines.emplace_back(buf);
        std::snprintf(buf, sizeof buf, "%dx%d  H.264 %s", w, h, decoder.starts_with("VA-API") ? "VA-API" : "SOFTWARE");
        lines.emplace_back(buf);
        lines.push_back("POINTER " + pointer);
        since = now;
        frames = decodes = paints = 0;
        decode_ms = paint_ms = 0;
        bytes_at_start = bytes;
    }
};

class WindowedClient {
public:
    WindowedClient(Options o, Broker broker, std::string resource)
        : o_(std::move(o)), broker_(std::move(broker)), resource_(std::move(resource)) {
        wake_event_ = SDL_RegisterEvents(1);
        show_stats_ = o_.stats_overlay;
    }

    int run() {
        int w = kDefaultWidth, h = kDefaultHeight;
        if (o_.size) std::tie(w, h) = *o_.size;
        std::optional<SpanLayout> span;
        if (o_.monitors) {
            auto s = choose_span(*o_.monitors);
            if (!s) {
                return failed(s.error().message, s.error().code);
            }
            span = std::move(s.value());
        }
        try {
            const std::string title = "Portico: " + o_.resource;
            window_ = span ? std::make_unique<SessionWindow>(title, span->window)
                           : std::make_unique<SessionWindow>(title, w, h, o_.fullscreen);
        } catch (const std::exception& e) {
            return failed(std::string("cannot open a window: ") + e.what(), ClientError::usage);
        }
        if (span) {
            follow_span(*span);
            monitor_watch_ = MonitorWatch::open();
        }
        open_image_clipboard();
        SwallowedRelease::enable();  // X11 only; elsewhere no release is dropped
        std::optional<double> scale = o_.scale;
        if (!scale && window_->pixel_ratio() > 1.01) scale = std::min(4.0, window_->pixel_ratio());
        scale_ = scale;
        if (auto s = connect(false); !s) {
            return failed(s.error().message, s.error().code);
        }
        want_resize_at_ = Clock::now();  // ask for the window's size once connected
        Status result = loop();
        pump_.reset();
        if (result && o_.logoff && !ended_) {
            if (auto r = broker_.rest->logoff(session_id_); !r) log::warn("logoff: ", r.error().message);
        }
        if (!result) {
            return failed(result.error().message, result.error().code);
        }
        return 0;
    }

private:
    int failed(const std::string& message, ClientError code) const {
        return report_failure(message, exit_code(code), o_.error_window);
    }

    // The monitors --monitors chose. App sessions and VM desktops both take the layout (a VM's
    // through its guest's agent: session-host/vm/guest_agent.hpp).
    ClientResult<SpanLayout> choose_span(const MonitorSelection& chosen) {
        displays_ = local_displays();
        if (!chosen.all) {
            const auto names = local_display_names();
            for (int n : chosen.numbers)
                if (n >= 1 && n <= static_cast<int>(names.size())) span_names_.push_back(names[n - 1]);
        }
        span_all_ = chosen.all;
        return span_layout(displays_, chosen);
    }

    // The monitors changed (a monitor plugged in or out, or rearranged): the window covers what is
    // left of the chosen monitors (all of them, or those named when it started; monitor 1 when none
    // is left) and the session follows with the new size and layout. `names` go with `displays`.
    void respan(std::vector<DisplayRect> displays, const std::vector<std::string>& names) {
        if (!spanning_ || displays.empty() || displays == displays_) return;
        displays_ = std::move(displays);
        MonitorSelection now{span_all_, {}};
        if (!span_all_) {
            for (std::size_t i = 0; i < names.size(); ++i)
                if (std::find(span_names_.begin(), span_names_.end(), names[i]) != span_names_.end())
                    now.numbers.push_back(static_cast<int>(i) + 1);
            if (now.numbers.empty()) now.numbers.push_back(1);
        }
        auto span = span_layout(displays_, now);
        if (!span) {
            log::warn("the monitors changed, and the window stays where it is: ", span.error().message);
            return;
        }
        log::info("the monitors changed: the window now covers ", span->window.w, "x", span->window.h, " at ",
                  span->window.x, ",", span->window.y);
        window_->cover(span->window);
        follow_span(*span);
        want_resize_at_ = Clock::now();  // a new layout of the same size gets no SIZE_CHANGED
        paint();
    }

    // From the RandR watch on X11 (SDL 2.26's own list goes stale there), else from SDL.
    void monitors_changed() {
        std::vector<DisplayRect> displays;
        std::vector<std::string> names;
        if (monitor_watch_) {
            for (auto& m : monitor_watch_->monitors()) {
                displays.push_back(m.rect);
                names.push_back(std::move(m.name));
            }
        } else {
            displays = local_displays();
            names = local_display_names();
        }
        respan(std::move(displays), names);
    }

    void follow_span(const SpanLayout& span) {
        spanning_ = true;
        if (span.layout.size() < 2) {  // one monitor: the whole screen is it, no layout to send
            resize_.set_layout({}, 0);
            return;
        }
        // Layout in output pixels, as the session's size (SDL's desktop coordinates are points).
        const double r = window_->pixel_ratio();
        std::vector<proto::MonitorRect> layout;
        for (const auto& m : span.layout)
            layout.push_back(
                {static_cast<std::uint16_t>(std::lround(m.x * r)), static_cast<std::uint16_t>(std::lround(m.y * r)),
                 static_cast<std::uint16_t>(std::lround(m.w * r)), static_cast<std::uint16_t>(std::lround(m.h * r))});
        std::string said;
        for (std::size_t i = 0; i < layout.size(); ++i)
            said += (i ? ", " : "") + std::to_string(layout[i].w) + "x" + std::to_string(layout[i].h) + "+" +
                    std::to_string(layout[i].x) + "+" + std::to_string(layout[i].y) +
                    (static_cast<int>(i) == span.primary ? " (primary)" : "");
        log::info("spanning ", layout.size(), " monitors, ", span.window.w, "x", span.window.h, ": ", said);
        resize_.set_layout(std::move(layout), span.primary);
    }

    // Launch (a reconnect rejoins the running session), the display channel, Hello/ServerHello,
    // then the pump.
    Status connect(bool reconnect) {
        // A launch file's token serves once; reconnects launch its resource with the session it logged in.
        const bool use_file = o_.launch_file && !file_redeemed_;
        auto target = use_file ? redeem_launch_file(broker_, *o_.launch_file, o_.direct, scale_)
                               : launch_display(broker_, resource_, o_.direct, scale_);
        if (!target) return target.error();
        if (use_file) {
            file_redeemed_ = true;
            resource_ = target->launch.resource;
        }
        if (reconnect && target->launch.session_id != session_id_)
            log::warn("the reconnect landed in session ", target->launch.session_id, " instead of ", session_id_);
        session_id_ = target->launch.session_id;
        std::unique_ptr<DisplayConnection> conn;
        try {
            conn = std::make_unique<DisplayConnection>(target->trust);
        } catch (const std::exception& e) {
            return fail(ClientError::usage, std::string("cannot load trust settings: ") + e.what());
        }
        if (auto s = conn->connect(target->url); !s) return s;
        auto hello = display_handshake(*conn, target->launch.ticket);
        if (!hello) return hello.error();
        // A new framebuffer: the first frame on a connection is a keyframe and the lossless
        // refinement follows, so nothing of the old picture needs keeping.
        try {
            fb_ = std::make_unique<Framebuffer>(hello->width, hello->height, o_.decoder);
        } catch (const std::exception& e) {  // --decoder vaapi on a machine without it
            return fail(ClientError::usage, e.what());
        }
        if (!reconnect) log::info("H.264 decoding: ", fb_->decoder());
        window_->set_session_size(hello->width, hello->height);
        if (reconnect) {
            if (auto req = resize_.reconnected(hello->width, hello->height)) send(*req);
        } else {
            resize_.announced(hello->width, hello->height);
        }
        log::info(reconnect ? "reconnected to session " : "connected to session ", session_id_, " (", hello->width, "x",
                  hello->height, ")");
        const Uint32 ev = wake_event_;
        pump_ = std::make_unique<NetPump>(std::move(conn), [ev] {
            SDL_Event e{};
            e.type = ev;
            SDL_PushEvent(&e);
        });
        if (reconnect) {
            // Anything asked before the drop is asked again on the new connection.
            if (auto req = resize_.want(window_->output_size().x, window_->output_size().y)) send(*req);
        }
        window_->set_title("Portico: " + o_.resource);
        return ok();
    }

    void send(proto::Message m) {
        if (pump_) pump_->send(std::move(m));
    }
    void send_all(std::vector<proto::Message>& out) {
        for (auto& m : out) send(std::move(m));
        out.clear();
    }

    Status loop() {
        KeyTranslator::Out out;
        while (!quit_) {
            const auto now = Clock::now();
            auto next = std::min({next_ping_, next_meter_, next_clipboard_poll_});
            if (want_resize_at_) next = std::min(next, *want_resize_at_);
            if (motion_.pending()) next = std::min(next, next_motion_);
            const int wait_ms = static_cast<int>(std::clamp<long long>(
                std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count(), 0, 1000));
            SDL_Event e;
            if (SDL_WaitEventTimeout(&e, wait_ms)) {
                do {
                    if (e.type != SDL_TEXTINPUT) keys_.settle(out);
                    on_event(e, out);
                } while (SDL_PollEvent(&e));
            }
            keys_.settle(out);
            send_all(out);
            if (monitor_watch_ && monitor_watch_->changed()) monitors_changed();
            flush_motion();
            if (auto s = drain(); !s) return s;
            if (ended_) return ok();
            if (pump_) {
                if (auto f = pump_->failed()) {
                    if (auto s = reconnect(*f); !s) return s;
                    continue;
                }
            }
            timers();
        }
        return ok();
    }

    void timers() {
        const auto now = Clock::now();
        if (now >= next_ping_) {
            send(proto::Ping{++ping_id_, steady_us()});
            next_ping_ = now + kPingInterval;
        }
        if (want_resize_at_ && now >= *want_resize_at_) {
            want_resize_at_.reset();
            const auto sz = window_->output_size();
            if (auto req = resize_.want(sz.x, sz.y)) {
                log::info("asking the host for ", req->width, "x", req->height);
                send(*req);
            }
        }
        if (now >= next_meter_) {
            meter_.roll(now, pump_ ? pump_->bytes_received() : 0, fb_ ? fb_->width() : 0, fb_ ? fb_->height() : 0,
                        fb_ ? fb_->decoder() : std::string(), pointer_state());
            next_meter_ = now + std::chrono::seconds(1);
            if (show_stats_) paint();
        }
        if (now >= next_clipboard_poll_) {
            next_clipboard_poll_ = now + kClipboardPoll;
            if (focused_) poll_clipboard();
        }
    }

    // Images need the X11 selection protocol itself (SDL 2.26's clipboard is text only): on
    // another video driver the clipboard carries text alone.
    void open_image_clipboard() {
        const char* display = std::getenv("DISPLAY");
        if (!sdl_video_is_x11() || !display) {
            const char* driver = SDL_GetCurrentVideoDriver();
            log::info("clipboard: text only (images need the X11 video driver, not ", driver ? driver : "none", ")");
            return;
        }
        try {
            const Uint32 ev = wake_event_;
            image_clipboard_ = std::make_unique<X11ImageClipboard>(display, [ev] {
                SDL_Event e{};
                e.type = ev;
                SDL_PushEvent(&e);
            });
        } catch (const std::exception& e) {
            log::warn("clipboard: text only (", e.what(), ")");
        }
    }

    void poll_clipboard() {
        if (image_clipboard_) {
            if (auto png = image_clipboard_->take()) {
                auto msgs = clipboard_.local_image(*png);
                if (!msgs.empty()) log::info("clipboard image to the session: ", png->size(), " bytes");
                for (auto& m : msgs) send(std::move(m));
            }
        }
        if (!SDL_HasClipboardText()) return;
        char* t = SDL_GetClipboardText();
        if (!t) return;
        const std::string text(t);
        SDL_free(t);
        auto msgs = clipboard_.local(text);
        if (!msgs.empty()) log::info("clipboard to the session: ", text.size(), " bytes");
        for (auto& m : msgs) send(std::move(m));
    }

    // Messages the pump queued: decoded into the framebuffer; one upload and present for all of
    // them, then their acks (painted, as the browser acks, so the host's pacing sees paint time).
    Status drain() {
        auto arrivals = pump_ ? pump_->take() : std::vector<Arrival>{};
        if (arrivals.empty()) return ok();
        for (auto& a : arrivals)
            if (auto s = handle(a); !s) return s;
        if (!acks_.empty() || full_upload_ || !dirty_.empty()) paint();
        return ok();
    }

    void paint() {
        if (!fb_) return;
        const auto start = Clock::now();
        window_->upload(fb_->frame(), dirty_, full_upload_);
        dirty_.clear();
        full_upload_ = false;
        window_->present(show_stats_ ? meter_.lines : std::vector<std::string>{});
        const auto done = Clock::now();
        if (!acks_.empty()) {
            meter_.paint_ms += ms_between(start, done);
            ++meter_.paints;
        }
        for (const auto& [id, arrived] : acks_) {
            const auto us = std::chrono::duration_cast<std::chrono::microseconds>(done - arrived).count();
            send(proto::FrameAck{id, static_cast<std::uint32_t>(std::clamp<long long>(us, 1, 0xffffffffLL))});
        }
        acks_.clear();
    }

    void screen_size_check() {
        if (fb_->width() != last_w_ || fb_->height() != last_h_) {
            last_w_ = fb_->width();
            last_h_ = fb_->height();
            window_->set_session_size(last_w_, last_h_);
            full_upload_ = true;
        }
    }

    Status handle(Arrival& a) {
        auto& m = a.message;
        if (auto* v = std::get_if<proto::VideoFrame>(&m)) {
            ++meter_.frames;
            acks_.emplace_back(v->frame_id, a.at);
            if (awaiting_keyframe_ && !v->keyframe) return ok();
            const auto t0 = Clock::now();
            const bool decoded = fb_->apply_video(*v);
            meter_.decode_ms += ms_between(t0, Clock::now());
            ++meter_.decodes;
            if (!decoded) {
                log::warn("frame ", v->frame_id, ": ", fb_->last_error());
                awaiting_keyframe_ = true;
                send(proto::KeyframeRequest{});
                return ok();
            }
            awaiting_keyframe_ = false;
            screen_size_check();
            if (v->dirty.empty()) full_upload_ = true;
            for (const auto& d : v->dirty) dirty_.push_back({d.x, d.y, d.w, d.h});
            return ok();
        }
        if (auto* t = std::get_if<proto::TileFrame>(&m)) {
            ++meter_.frames;
            acks_.emplace_back(t->frame_id, a.at);
            const auto t0 = Clock::now();
            auto res = fb_->apply_tiles(*t);
            meter_.decode_ms += ms_between(t0, Clock::now());
            ++meter_.decodes;
            if (res.failed) log::warn("frame ", t->frame_id, ": ", res.failed, " tile(s) failed: ", fb_->last_error());
            screen_size_check();
            for (const auto& c : t->copies) dirty_.push_back({c.dx, c.dy, c.w, c.h});
            for (const auto& tile : t->tiles) dirty_.push_back({tile.x, tile.y, tile.w, tile.h});
            return ok();
        }
        if (auto* r = std::get_if<proto::Resize>(&m)) {
            log::info("the host's screen is now ", r->width, "x", r->height);
            if (!fb_->resize(r->width, r->height)) return fail(ClientError::protocol, "resize to an invalid size");
            resize_.announced(r->width, r->height);
            screen_size_check();
            return ok();
        }
        if (auto* p = std::get_if<proto::Pong>(&m)) {
            const auto now_us = steady_us();
            if (p->id <= ping_id_ && p->client_time <= now_us)
                meter_.rtt_ms = static_cast<double>(now_us - p->client_time) / 1000.0;
            return ok();
        }
        if (auto* c = std::get_if<proto::ClipboardData>(&m)) {
            if (auto got = clipboard_.remote(*c)) {
                if (got->png && image_clipboard_) {
                    log::info("clipboard image from the session: ", got->data.size(), " bytes");
                    image_clipboard_->set_image(std::move(got->data));
                } else if (got->png) {
                    log::info("clipboard image from the session (", got->data.size(),
                              " bytes) not taken: this display's clipboard carries text only");
                } else {
                    log::info("clipboard from the session: ", got->data.size(), " bytes");
                    SDL_SetClipboardText(got->data.c_str());
                }
            }
            return ok();
        }
        if (auto* c = std::get_if<proto::CursorShape>(&m)) {
            window_->set_cursor(*c);
            return ok();
        }
        if (auto* p = std::get_if<proto::PointerMode>(&m)) {
            if (p->relative != relative_mode_)
                log::info("the session's pointer is ",
                          p->relative ? "relative: captured while the window has focus (Ctrl+Alt+Shift+G releases "
                                        "it, a click takes it again)"
                                      : "absolute");
            relative_mode_ = p->relative;
            update_capture();
            return ok();
        }
        if (auto* n = std::get_if<proto::ShadowNotice>(&m)) {
            window_->set_title("Portico: " + o_.resource +
                               (n->count ? " (viewed by " + std::to_string(n->count) + ")" : std::string()));
            return ok();
        }
        if (auto* e = std::get_if<proto::SessionEnded>(&m)) {
            log::info("session ended", e->message.empty() ? "" : ": " + e->message);
            ended_ = true;
            return ok();
        }
        if (auto* e = std::get_if<proto::ErrorMsg>(&m))
            return fail(ClientError::protocol,
                        std::string("host error: ") + proto::to_string(e->code) + ": " + e->message);
        return ok();  // ServerHello again or another message a client never gets: nothing to do
    }

    // The connection dropped: what the host believes held is let go locally, then launch again
    // (the broker hands back the running session) with backoff, as the web client does.
    Status reconnect(const Error<ClientError>& why) {
        log::warn("display connection lost (", why.message, "); reconnecting");
        pump_.reset();
        KeyTranslator::Out dropped;
        keys_.release_all(dropped);  // the host releases held keys when a connection ends
        buttons_ = 0;
        // Absolute until the new connection's PointerMode says otherwise: give the pointer back.
        relative_mode_ = false;
        motion_.reset();
        update_capture();
        const auto started = Clock::now();
        auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(kReconnectFirst);
        std::string last = why.message;
        for (int attempt = 1;; ++attempt) {
            window_->set_title("Portico: " + o_.resource + " (reconnecting, attempt " + std::to_string(attempt) + ")");
            if (Clock::now() - started + delay > kReconnectBudget)
                return fail(ClientError::network, "the connection was lost and could not be re-established (" + last +
                                                      "); the session may still be running");
            // Keep the window alive (events answered) while waiting.
            const auto until = Clock::now() + delay;
            while (Clock::now() < until) {
                SDL_Event e;
                if (SDL_WaitEventTimeout(&e, 50) && e.type == SDL_QUIT) {
                    quit_ = true;  // the window was closed while reconnecting
                    return ok();
                }
            }
            auto running = broker_.rest->session_running(session_id_);
            if (running && !*running) {
                ended_ = true;
                log::info("the session ended while the connection was lost");
                return ok();
            }
            if (running) {
                auto s = connect(true);
                if (s) return ok();
                last = s.error().message;
                if (s.error().code == ClientError::usage) return s;
            } else {
                last = running.error().message;
            }
            log::warn("reconnect attempt ", attempt, ": ", last);
            delay = std::min<std::chrono::milliseconds>(delay * 2, kReconnectMaxDelay);
        }
    }

    void on_event(const SDL_Event& e, KeyTranslator::Out& out) {
        released_.on_event(e);
        switch (e.type) {
            case SDL_QUIT: quit_ = true; return;
            case SDL_WINDOWEVENT:
                switch (e.window.event) {
                    case SDL_WINDOWEVENT_SIZE_CHANGED:
                        window_->size_changed();
                        want_resize_at_ = Clock::now() + kResizeDebounce;
                        paint();
                        return;
                    case SDL_WINDOWEVENT_EXPOSED: paint(); return;
                    case SDL_WINDOWEVENT_FOCUS_GAINED:
                        focused_ = true;
                        update_capture();
                        poll_clipboard();
                        return;
                    case SDL_WINDOWEVENT_FOCUS_LOST:
                        focused_ = false;
                        // No stuck modifiers: the session gets the release the window will not see.
                        keys_.release_all(out);
                        release_buttons();
                        update_capture();
                        return;
                    default: return;
                }
            case SDL_KEYDOWN: {
                // A "repeat" that was a release and a press: the session gets both.
                const bool pressed_again = released_.dropped_before(e.key);
                const Chord c = chord_of(e.key);
                if (c != Chord::none) {
                    if (!e.key.repeat || pressed_again) run_chord(c);
                    return;
                }
                if (pressed_again) keys_.key_up(e.key.keysym.scancode, out);
                keys_.key_down(e.key.keysym.scancode, e.key.keysym.mod, out);
                return;
            }
            case SDL_KEYUP: keys_.key_up(e.key.keysym.scancode, out); return;
            case SDL_TEXTINPUT: keys_.text(e.text.text, out); return;
            case SDL_MOUSEMOTION:
                if (captured_)
                    motion_.add(e.motion.xrel, e.motion.yrel);
                else if (!relative_mode_)
                    pointer(e.motion.x, e.motion.y);
                // Relative session, pointer given back: the local pointer is the user's, not the guest's.
                return;
            case SDL_MOUSEBUTTONDOWN:
            case SDL_MOUSEBUTTONUP: {
                if (relative_mode_ && !captured_) {
                    // The click that takes the pointer again is the client's, not the session's.
                    if (e.type == SDL_MOUSEBUTTONDOWN && focused_) {
                        pointer_released_ = false;
                        update_capture();
                    }
                    return;
                }
                const auto bit = protocol_button(e.button.button);
                if (!bit) return;
                buttons_ = static_cast<std::uint8_t>(e.type == SDL_MOUSEBUTTONDOWN ? buttons_ | bit : buttons_ & ~bit);
                if (captured_)
                    send(motion_.take_with_buttons(buttons_));
                else
                    pointer(e.button.x, e.button.y);
                return;
            }
            case SDL_MOUSEWHEEL: {
                if (auto step =
                        wheel_.add(e.wheel.preciseX, e.wheel.preciseY, e.wheel.direction == SDL_MOUSEWHEEL_FLIPPED))
                    send(proto::Wheel{step->dx, step->dy});
                return;
            }
            case SDL_CLIPBOARDUPDATE: poll_clipboard(); return;
            case SDL_DISPLAYEVENT: monitors_changed(); return;
            default: return;  // the pump's wake-up event: drain() follows
        }
    }

    void run_chord(Chord c) {
        switch (c) {
            case Chord::fullscreen:
                // SDL's full screen is one monitor: it would undo the span.
                if (spanning_)
                    log::info("full screen is not available while spanning monitors");
                else
                    window_->set_fullscreen(!window_->fullscreen());
                break;
            case Chord::grab: {
                // The escape key: gives back the keyboard and a captured pointer, or takes both.
                const bool take = !(window_->keyboard_grabbed() || captured_);
                if (!take) release_buttons();
                window_->grab_keyboard(take);
                pointer_released_ = !take;
                update_capture();
                break;
            }
            case Chord::stats:
                show_stats_ = !show_stats_;
                paint();
                break;
            case Chord::none: break;
        }
    }

    void pointer(int x, int y) {
        auto p = window_->to_session(x, y);
        if (!p) return;
        last_pointer_ = *p;
        send(proto::Pointer{static_cast<std::uint16_t>(p->x), static_cast<std::uint16_t>(p->y), buttons_});
    }

    void release_buttons() {
        if (buttons_ == 0) return;
        buttons_ = 0;
        if (relative_mode_) {
            send(motion_.take_with_buttons(0));
            return;
        }
        send(proto::Pointer{static_cast<std::uint16_t>(last_pointer_.x), static_cast<std::uint16_t>(last_pointer_.y),
                            0});
    }

    // SDL's relative mouse mode (the pointer hidden and held in the window, motion as deltas) while
    // the session's pointer is relative, the window has focus and the user has not released it.
    void update_capture() {
        const bool want = relative_mode_ && focused_ && !pointer_released_;
        if (want == captured_) return;
        if (SDL_SetRelativeMouseMode(want ? SDL_TRUE : SDL_FALSE) != 0) {
            log::warn("cannot ", want ? "capture" : "release", " the pointer: ", SDL_GetError());
            return;
        }
        captured_ = want;
        motion_.reset();
        log::info(want ? "pointer captured (relative motion to the session)" : "pointer released");
    }

    // At most one RelativePointer per kMotionInterval: a fast mouse makes hundreds of events a second.
    void flush_motion() {
        if (!motion_.pending()) return;
        const auto now = Clock::now();
        if (now < next_motion_) return;
        if (captured_) {
            if (auto m = motion_.take(buttons_)) send(*m);
        } else {
            motion_.reset();
        }
        next_motion_ = now + kMotionInterval;
    }

    std::string pointer_state() const {
        if (!relative_mode_) return "ABSOLUTE";
        return captured_ ? "RELATIVE (CAPTURED)" : "RELATIVE (CLICK TO CAPTURE)";
    }

    Options o_;
    Broker broker_;
    std::string resource_;
    bool spanning_ = false;                        // a borderless window over the --monitors
    bool span_all_ = false;                        // --monitors all
    std::vector<std::string> span_names_;          // else the chosen monitors' names
    std::vector<DisplayRect> displays_;            // the monitors the span was last laid out over
    std::unique_ptr<MonitorWatch> monitor_watch_;  // while spanning, on X11
    std::optional<double> scale_;
    std::string session_id_;
    Uint32 wake_event_ = 0;
    std::unique_ptr<SessionWindow> window_;
    std::unique_ptr<Framebuffer> fb_;
    std::unique_ptr<NetPump> pump_;
    KeyTranslator keys_;
    SwallowedRelease released_;
    WheelNotches wheel_;
    ResizeFollower resize_;
    ClipboardSync clipboard_;
    std::unique_ptr<X11ImageClipboard> image_clipboard_;  // X11 only; destroyed before the window
    Meter meter_;
    std::uint8_t buttons_ = 0;
    SessionPoint last_pointer_;
    RelativeMotion motion_;
    bool relative_mode_ = false;     // the session's PointerMode
    bool captured_ = false;          // SDL relative mouse mode is on
    bool pointer_released_ = false;  // the user gave the pointer back (the grab chord)
    Clock::time_point next_motion_{};
    std::vector<capture::Rect> dirty_;
    bool full_upload_ = true;
    int last_w_ = 0, last_h_ = 0;
    std::vector<std::pair<std::uint32_t, Clock::time_point>> acks_;
    bool awaiting_keyframe_ = false;
    bool show_stats_ = false;
    bool focused_ = false;
    bool quit_ = false;
    bool ended_ = false;
    bool file_redeemed_ = false;
    std::uint32_t ping_id_ = 0;
    Clock::time_point next_ping_{}, next_meter_{}, next_clipboard_poll_{};
    std::optional<Clock::time_point> want_resize_at_;
};

}  // namespace

namespace {

// The terminal prompt (terminal_prompt.hpp): the user name if missing, the password with echo
// off if missing. A failure's exit code, or nullopt when both are known.
std::optional<int> ask_credentials_on_terminal(Options& o) {
    if (o.user.empty()) {
        auto u = ask_on_terminal("Portico user: ", true);
        if (!u || u->empty()) {
            return report_failure("no user name (give --user, or run on a terminal)", exit_code(ClientError::usage),
                                  o.error_window);
        }
        o.user = *u;
    }
    if (o.ask_password) {
        auto p = ask_on_terminal("Password for " + o.user + ": ", false);
        if (!p) {
            return report_failure("no password (give --password-file, or run on a terminal)",
                                  exit_code(ClientError::usage), o.error_window);
        }
        o.password = *p;
        wipe_secret(*p);
    }
    return std::nullopt;
}

// Logs in and resolves the resource with the user and password of `o`, then wipes the password:
// the login cookie serves every later request, reconnects included.
ClientResult<std::string> sign_in(Broker& broker, Options& o) {
    auto resource = login_and_resolve(broker, o);
    wipe_secret(o.password);
    return resource;
}

// The login window (login_dialog.hpp) until the broker accepts a user and password: a refused
// login, an unreachable broker or any other failure of the login is shown in it and asked again.
// The resource, or the exit code: 6 when the user cancels.
ClientResult<std::string> sign_in_with_dialog(Broker& broker, Options& o) {
    std::optional<LoginDialog> dialog;
    try {
        dialog.emplace(broker.url.port == "443" ? broker.url.host : broker.url.host_port(), o.user, o.password,
                       o.scale);
    } catch (const std::exception& e) {
        return fail(ClientError::usage, std::string("cannot show the login window (") + e.what() +
                                            "): give --user and --password-file, or run on a terminal");
    }
    wipe_secret(o.password);  // the dialog holds it now
    std::string failure;
    for (;;) {
        if (!dialog->ask(failure)) return fail(ClientError::cancelled, "login cancelled");
        dialog->show_busy("Signing in as " + dialog->user() + " ...");
        o.user = dialog->user();
        o.password.assign(dialog->password());
        auto resource = sign_in(broker, o);
        if (resource) return resource;
        // The broker's own words ("wrong user name or password", "too many failed logins; try
        // again in 4 s") or the network's; never the password.
        failure = resource.error().message;
        log::warn("login window: ", failure);
    }
}

}  // namespace

int run_windowed(Options o) {
    tolerate_vanished_windows();  // before SDL_Init: SDL keeps it, and puts it back at SDL_Quit
    const bool needs_login = !o.launch_file && (o.user.empty() || o.ask_password);
    // Without a terminal on stdin (started from a desktop menu or a file manager) nobody could
    // answer the terminal prompt: the login window asks instead.
    const bool dialog = needs_login && (o.login_dialog || !::isatty(STDIN_FILENO));
    if (needs_login && !dialog) {
        if (auto code = ask_credentials_on_terminal(o)) return *code;
    }
    auto broker = open_broker(o);
    if (!broker) {
        return report_failure(broker.error().message, exit_code(broker.error().code), o.error_window);
    }
    if (dialog && SDL_Init(SDL_INIT_VIDEO) != 0) {
        return report_failure(std::string("cannot start SDL video for the login window: ") + SDL_GetError() +
                                  " (give --user and --password-file, or run on a terminal)",
                              exit_code(ClientError::usage), o.error_window);
    }
    // A launch file's token stands in for the login; it is redeemed when the window connects.
    auto resource = o.launch_file ? ClientResult<std::string>(o.resource)
                    : dialog      ? sign_in_with_dialog(*broker, o)
                                  : sign_in(*broker, o);
    if (!resource) {
        const auto& e = resource.error();
        if (dialog) SDL_Quit();
        // A cancel is the user's own doing: stderr says so, no message box.
        return report_failure(e.message, exit_code(e.code), o.error_window && e.code != ClientError::cancelled);
    }
    if (SDL_Init(SDL_INIT_VIDEO) != 0) {
        std::cerr << "portico-client: cannot start SDL video: " << SDL_GetError() << "\n";
        return exit_code(ClientError::usage);
    }
    // Scaled views (a session larger than the window) are smoothed; 1:1 views are exact either way.
    SDL_SetHint(SDL_HINT_RENDER_SCALE_QUALITY, "linear");
    // Without a window manager's help, clicking into the window should also focus it.
    SDL_SetHint(SDL_HINT_MOUSE_FOCUS_CLICKTHROUGH, "1");
    // A grabbed keyboard sends Alt+Tab to the session: SDL would otherwise minimise a full-screen
    // window on it. Ctrl+Alt+Shift+G (or F) is the documented way out.
    SDL_SetHint(SDL_HINT_ALLOW_ALT_TAB_WHILE_GRABBED, "0");
    int code;
    {
        WindowedClient client(std::move(o), std::move(*broker), std::move(*resource));
        code = client.run();
    }
    SDL_Quit();
    return code;
}

int list_monitors(std::ostream& out) {
    if (SDL_Init(SDL_INIT_VIDEO) != 0) {
        std::cerr << "portico-client: cannot start SDL video: " << SDL_GetError() << "\n";
        return exit_code(ClientError::usage);
    }
    const auto displays = local_displays();
    for (std::size_t i = 0; i < displays.size(); ++i) {
        const auto& d = displays[i];
        const char* name = SDL_GetDisplayName(static_cast<int>(i));
        out << i + 1 << ": " << (name ? name : "?") << " " << d.w << "x" << d.h << " at " << d.x << "," << d.y
            << (i == 0 ? " (primary)" : "") << "\n";
    }
    SDL_Quit();
    return 0;
}

}  // namespace portico::client

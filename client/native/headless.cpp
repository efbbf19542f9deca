#include "client/native/headless.hpp"

#include "client/native/display_connection.hpp"
#include "client/native/error_window.hpp"
#include "client/native/framebuffer.hpp"
#include "client/native/keyboard_us.hpp"
#include "client/native/png_writer.hpp"
#include "client/native/recording.hpp"
#include "client/native/rest_client.hpp"
#include "client/native/session_launch.hpp"
#include "client/native/windowed.hpp"
#include "common/log.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>

namespace portico::client {

using json = nlohmann::json;
namespace proto = protocol;

namespace {

constexpr std::chrono::seconds kFirstFrameTimeout{15};
constexpr std::chrono::seconds kLogoffWait{5};
constexpr std::uint16_t kKeyBackspace = 14;  // evdev
constexpr std::chrono::milliseconds kProbeQuiet{200};
constexpr std::chrono::seconds kProbeTimeout{2};
constexpr std::chrono::seconds kPingInterval{1};
constexpr std::chrono::seconds kStatsInterval{2};

std::uint64_t steady_us() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count());
}

std::optional<double> median_of(std::vector<double> v) {
    if (v.empty()) return std::nullopt;
    auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
    std::nth_element(v.begin(), mid, v.end());
    return *mid;
}

double wall_ms_now() {
    return std::chrono::duration<double, std::milli>(std::chrono::system_clock::now().time_since_epoch()).count();
}

const char* reason_name(proto::EndReason r) {
    switch (r) {
        case proto::EndReason::app_exited: return "app_exited";
        case proto::EndReason::logged_off: return "logged_off";
        case proto::EndReason::host_shutdown: return "host_shutdown";
        case proto::EndReason::error: return "error";
    }
    return "error";
}

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

// One display session from Hello to the end of --duration, counting into stats.
class Viewer {
public:
    Viewer(const Options& o, DisplayConnection& conn, RunStats& st, Clock::time_point launch_start)
        : o_(o), conn_(conn), st_(st), launch_start_(launch_start) {
        if (o.type_text)
            for (char c : *o.type_text) {
                if (auto seq = us_key_sequence(c))
                    typing_.push_back(std::move(*seq));
                else
                    log::warn("cannot type character 0x", std::hex, static_cast<int>(static_cast<unsigned char>(c)),
                              " on a US keyboard; skipped");
            }
        if (!o.frame_log_path.empty()) {
            frame_log_ = std::fopen(o.frame_log_path.c_str(), "w");
            if (!frame_log_) log::warn("--frame-log: cannot write ", o.frame_log_path);
        }
        if (!o.record_path.empty()) {
            recorder_ = std::make_unique<Recorder>(o.record_path);
            if (!recorder_->ok()) log::warn("--record: cannot write ", o.record_path);
        }
    }
    ~Viewer() {
        if (frame_log_) std::fclose(frame_log_);
    }
    Viewer(const Viewer&) = delete;
    Viewer& operator=(const Viewer&) = delete;

    // Hello and ServerHello. Errors: refused (the host's Error), protocol, network.
    Status open(const std::string& ticket) {
        std::optional<proto::EndReason> ended;
        auto hello = display_handshake(conn_, ticket, &ended);
        if (ended) st_.ended = reason_name(*ended);
        if (!hello) return hello.error();
        st_.width = hello->width;
        st_.height = hello->height;
        if (st_.session_id.empty()) st_.session_id = hello->session_id;
        try {
            fb_ = std::make_unique<Framebuffer>(hello->width, hello->height, o_.decoder);
        } catch (const std::exception& e) {  // --decoder vaapi on a machine without it
            return fail(ClientError::usage, e.what());
        }
        st_.decoder = fb_->decoder();
        record(proto::Resize{hello->width, hello->height});
        if (o_.size)
            return conn_.send(proto::ResizeRequest{static_cast<std::uint16_t>(o_.size->first),
                                                   static_cast<std::uint16_t>(o_.size->second)});
        return ok();
    }

    // Receives and types until the duration is over or the session ends.
    Status run() {
        const auto duration = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.duration_s));
        const auto first_deadline = Clock::now() + kFirstFrameTimeout;
        std::optional<Clock::time_point> end_at;
        Clock::time_point next_key = Clock::now();
        for (;;) {
            const auto now = Clock::now();
            const bool typing_pending = next_group_ < typing_.size();
            const bool may_type = typing_pending && st_.frames >= static_cast<std::uint64_t>(o_.wait_frames);
            // Typing that has started always finishes; typing still waiting for frames does not
            // hold the run open past --duration.
            if (end_at && now >= *end_at && !may_type) {
                if (typing_pending) log::warn("--duration ended before --wait-frames frames arrived; text not typed");
                return ok();
            }
            if (!end_at && now >= first_deadline) return fail(ClientError::network, "no frame within 15 s");
            if (now >= next_ping_) {
                if (auto s = conn_.send(proto::Ping{++ping_id_, steady_us()}); !s) return s;
                next_ping_ = now + kPingInterval;
            }
            if (now >= next_stats_) {
                if (next_stats_ != Clock::time_point{}) print_stats(now);
                stats_mark_ = {now, st_.frames, conn_.bytes_received(), st_.decode_ms.size(), st_.rtt_ms.size()};
                next_stats_ = now + kStatsInterval;
            }
            if (may_type && now >= next_key) {
                if (next_group_ == 0 && o_.pointer) {
                    proto::Pointer p;
                    p.x = static_cast<std::uint16_t>(o_.pointer->first);
                    p.y = static_cast<std::uint16_t>(o_.pointer->second);
                    if (auto s = conn_.send(p); !s) return s;
                }
                for (const auto& k : typing_[next_group_]) {
                    if (auto s = conn_.send(proto::Key{k.down, k.code}); !s) return s;
                    ++st_.keys_sent;
                }
                ++next_group_;
                next_key = Clock::now() + std::chrono::milliseconds(o_.type_delay_ms);
                continue;
            }
            auto deadline = std::min({end_at ? *end_at : first_deadline, next_ping_, next_stats_});
            if (may_type) deadline = (end_at && now >= *end_at) ? next_key : std::min(deadline, next_key);
            auto r = conn_.receive(deadline);
            if (!r) return r.error();
            if (!r.value()) continue;
            auto res = handle(*r.value());
            if (!res) return res;
            if (st_.ended) return ok();
            if (!end_at && st_.frames > 0) end_at = Clock::now() + duration;
        }
    }

    // Sends Logoff and waits briefly for SessionEnded or the close.
    Status logoff() {
        if (auto s = conn_.send(proto::Logoff{}); !s) return s;
        const auto deadline = Clock::now() + kLogoffWait;
        while (!st_.ended) {
            auto r = conn_.receive(deadline);
            if (!r) return conn_.is_open() ? r.error() : ok();  // the host closing is an answer too
            if (!r.value()) return fail(ClientError::network, "no SessionEnded within 5 s of Logoff");
            if (auto res = handle(*r.value()); !res) return res;
        }
        return ok();
    }

    // Input-to-photon: n times, once the screen has been quiet for kProbeQuiet, press a key
    // (alternately 'x' and BackSpace, so a terminal's line stays short) and time until a decoded
    // frame differs from the screen before the key.
    Status probe(int n) {
        const auto x = us_key_sequence('x');
        if (!x || !fb_) return fail(ClientError::protocol, "cannot probe: no screen or no key for 'x'");
        const std::vector<KeyEvent> backspace = {{kKeyBackspace, true}, {kKeyBackspace, false}};
        for (int i = 0; i < n && !st_.ended; ++i) {
            if (auto s = wait_quiet(); !s) return s;
            if (st_.ended) break;
            const std::vector<std::uint8_t> before = fb_->frame().pixels;
            for (const auto& k : (i % 2 == 0) ? *x : backspace) {
                if (auto s = conn_.send(proto::Key{k.down, k.code}); !s) return s;
                ++st_.keys_sent;
            }
            const auto sent = Clock::now();
            const auto deadline = sent + kProbeTimeout;
            for (;;) {
                auto r = conn_.receive(deadline);
                if (!r) return r.error();
                if (!r.value()) {
                    ++st_.probe_timeouts;
                    break;
                }
                const auto painted_before = st_.decoded_frames;
                if (auto res = handle(*r.value()); !res) return res;
                const auto at = Clock::now();
                if (st_.ended) break;
                if (st_.decoded_frames == painted_before) continue;
                const auto& now_px = fb_->frame().pixels;
                if (now_px.size() != before.size() || std::memcmp(now_px.data(), before.data(), before.size()) != 0) {
                    st_.probe_ms.push_back(ms_between(sent, at));
                    break;
                }
            }
        }
        return ok();
    }

    const Framebuffer* framebuffer() const { return fb_.get(); }

    // Every 2 s on stderr: the figures since the previous line.
    void print_stats(Clock::time_point now) {
        const double secs = std::chrono::duration<double>(now - stats_mark_.at).count();
        if (secs <= 0) return;
        auto since = [](const std::vector<double>& v, std::size_t from) {
            return median_of(
                std::vector<double>(v.begin() + static_cast<std::ptrdiff_t>(std::min(from, v.size())), v.end()));
        };
        auto fmt = [](std::optional<double> v) {
            return v ? std::to_string(*v).substr(0, std::to_string(*v).find('.') + 2) : std::string("-");
        };
        log::info("stats: ", fmt(static_cast<double>(st_.frames - stats_mark_.frames) / secs), " fps, ",
                  fmt(static_cast<double>(conn_.bytes_received() - stats_mark_.bytes) * 8 / 1000 / secs),
                  " kbit/s, decode ", fmt(since(st_.decode_ms, stats_mark_.decodes)), " ms, rtt ",
                  fmt(since(st_.rtt_ms, stats_mark_.rtts)), " ms");
    }

private:
    // Returns once no frame has arrived for kProbeQuiet (or after 5 s of steady change).
    Status wait_quiet() {
        const auto give_up = Clock::now() + std::chrono::seconds(5);
        auto quiet_until = Clock::now() + kProbeQuiet;
        while (Clock::now() < quiet_until && Clock::now() < give_up) {
            auto r = conn_.receive(std::min(quiet_until, give_up));
            if (!r) return r.error();
            if (!r.value()) continue;
            if (auto res = handle(*r.value()); !res) return res;
            if (st_.ended) return ok();
            quiet_until = Clock::now() + kProbeQuiet;
        }
        return ok();
    }

    void log_frame(std::uint32_t id, const char* kind, std::optional<std::uint64_t> capture_us) {
        if (!frame_log_) return;
        const double now = wall_ms_now();
        std::fprintf(frame_log_,
                     "{\"wall_ms\":%.3f,\"id\":%u,\"kind\":\"%s\",\"bytes_total\":%llu,\"latency_ms\":", now, id, kind,
                     static_cast<unsigned long long>(conn_.bytes_received()));
        if (capture_us)
            std::fprintf(frame_log_, "%.3f}\n", now - static_cast<double>(*capture_us) / 1000.0);
        else
            std::fprintf(frame_log_, "null}\n");
        std::fflush(frame_log_);  // read live by benchmarks
    }

    Status handle(proto::Message& m) {
        if (auto* v = std::get_if<proto::VideoFrame>(&m)) {
            log_frame(v->frame_id, v->keyframe ? "video_key" : "video", v->capture_time_us);
            ++st_.frames;
            ++st_.video_frames;
            if (v->keyframe) ++st_.keyframes;
            // After an error, P-frames cannot decode cleanly until the requested keyframe.
            if (awaiting_keyframe_ && !v->keyframe) return ack(v->frame_id);
            const auto decode_start = Clock::now();
            const bool decoded = fb_->apply_video(*v);
            st_.decode_ms.push_back(ms_between(decode_start, Clock::now()));
            if (decoded) {
                awaiting_keyframe_ = false;
                painted();
            } else {
                ++st_.decode_errors;
                log::warn("frame ", v->frame_id, ": ", fb_->last_error());
                awaiting_keyframe_ = true;
                if (auto s = conn_.send(proto::KeyframeRequest{}); !s) return s;
            }
            record(m);
            return ack(v->frame_id);
        }
        if (auto* t = std::get_if<proto::TileFrame>(&m)) {
            log_frame(t->frame_id, "tiles", std::nullopt);
            ++st_.frames;
            ++st_.tile_frames;
            const auto decode_start = Clock::now();
            auto res = fb_->apply_tiles(*t);
            st_.decode_ms.push_back(ms_between(decode_start, Clock::now()));
            st_.decode_errors += static_cast<std::uint64_t>(res.failed);
            if (res.failed) log::warn("frame ", t->frame_id, ": ", res.failed, " tile(s) failed: ", fb_->last_error());
            if (res.painted) painted();
            record(m);
            return ack(t->frame_id);
        }
        if (auto* r = std::get_if<proto::Resize>(&m)) {
            log::info("the host's screen is now ", r->width, "x", r->height);
            if (!fb_->resize(r->width, r->height)) return fail(ClientError::protocol, "resize to an invalid size");
            record(m);
            return ok();
        }
        if (auto* e = std::get_if<proto::SessionEnded>(&m)) {
            st_.ended = reason_name(e->reason);
            log::info("session ended: ", *st_.ended, e->message.empty() ? "" : " (" + e->message + ")");
            return ok();
        }
        if (auto* e = std::get_if<proto::ErrorMsg>(&m))
            return fail(ClientError::protocol,
                        std::string("host error: ") + proto::to_string(e->code) + ": " + e->message);
        if (auto* p = std::get_if<proto::Pong>(&m)) {
            const auto now_us = steady_us();
            if (p->id <= ping_id_ && p->client_time <= now_us)
                st_.rtt_ms.push_back(static_cast<double>(now_us - p->client_time) / 1000.0);
            return ok();
        }
        // Clipboard text, cursor shapes and who is shadowing matter to interactive clients only.
        if (std::holds_alternative<proto::ClipboardData>(m) || std::holds_alternative<proto::CursorShape>(m) ||
            std::holds_alternative<proto::Pong>(m))
            return ok();
        if (auto* n = std::get_if<proto::ShadowNotice>(&m)) {
            log::info(n->count ? "the session is being viewed by " + std::to_string(n->count) + " viewer(s)"
                               : std::string("nobody is viewing the session any more"));
            return ok();
        }
        // Headless input types keys only; the pointer mode is logged so tests can see what the host said.
        if (auto* p = std::get_if<proto::PointerMode>(&m)) {
            log::info("the session's pointer is ", p->relative ? "relative" : "absolute");
            return ok();
        }
        return fail(ClientError::protocol, "unexpected message type from the host");
    }

    void painted() {
        ++st_.decoded_frames;
        st_.width = fb_->width();
        st_.height = fb_->height();
        if (!st_.first_frame_ms) st_.first_frame_ms = ms_between(launch_start_, Clock::now());
    }

    Status ack(std::uint32_t id) { return conn_.send(proto::FrameAck{id}); }

    // Appends a message that changed the screen, stamped with the wall time it was painted.
    void record(const proto::Message& m) {
        if (recorder_) recorder_->append(static_cast<std::uint64_t>(wall_ms_now() * 1000.0), m);
    }

    const Options& o_;
    DisplayConnection& conn_;
    RunStats& st_;
    Clock::time_point launch_start_;
    std::unique_ptr<Framebuffer> fb_;
    bool awaiting_keyframe_ = false;
    std::vector<std::vector<KeyEvent>> typing_;
    std::size_t next_group_ = 0;
    std::FILE* frame_log_ = nullptr;
    std::unique_ptr<Recorder> recorder_;
    std::uint32_t ping_id_ = 0;
    Clock::time_point next_ping_{}, next_stats_{};
    struct Mark {
        Clock::time_point at;
        std::uint64_t frames = 0, bytes = 0;
        std::size_t decodes = 0, rtts = 0;
    } stats_mark_;
};

// Everything up to the end of the display session; errors end the run.
Status run_flow(const Options& o, RunStats& st) {
    auto broker = open_broker(o);
    if (!broker) return broker.error();
    std::string resource;
    if (!o.launch_file) {  // a launch file's token stands in for the login
        auto r = login_and_resolve(*broker, o);
        if (!r) return r.error();
        resource = std::move(r.value());
    }

    const auto launch_start = Clock::now();
    auto target = o.launch_file ? redeem_launch_file(*broker, *o.launch_file, o.direct)
                                : launch_display(*broker, resource, o.direct);
    if (!target) return target.error();
    const LaunchInfo& li = target->launch;
    st.session_id = li.session_id;
    st.width = li.width;
    st.height = li.height;
    const Url& url = target->url;
    const tls::ClientTrust& display_trust = target->trust;
    RestClient* rest = broker->rest.get();

    std::unique_ptr<DisplayConnection> conn;
    try {
        conn = std::make_unique<DisplayConnection>(display_trust);
    } catch (const std::exception& e) {
        return fail(ClientError::usage, std::string("cannot load trust settings: ") + e.what());
    }
    if (auto s = conn->connect(url); !s) return s;
    Viewer viewer(o, *conn, st, launch_start);
    const auto stream_start = Clock::now();
    Status result = viewer.open(li.ticket);
    if (result) result = viewer.run();
    st.stream_s = std::chrono::duration<double>(Clock::now() - stream_start).count();
    if (result && o.probe_latency > 0 && !st.ended) result = viewer.probe(o.probe_latency);
    st.bytes = conn->bytes_received();

    if (result && !o.png_path.empty()) {
        const Framebuffer* fb = viewer.framebuffer();
        if (fb && st.decoded_frames > 0) {
            std::string err;
            if (!write_png(o.png_path, fb->frame(), err)) log::error("--png: ", err);
        } else {
            log::warn("--png: no frame was decoded; nothing written");
        }
    }
    if (o.logoff && !st.ended) {
        Status l = conn->is_open() ? viewer.logoff() : fail(ClientError::network, "display connection closed");
        if (!l) {
            log::warn("Logoff over the display channel: ", l.error().message, "; asking the broker");
            if (auto r = rest->logoff(li.session_id); !r)
                log::warn("REST logoff: ", r.error().message);
            else if (!st.ended)
                st.ended = "logged_off";
        }
    }
    st.bytes = conn->bytes_received();
    conn->close();
    return result;
}

}  // namespace

std::string stats_json(const RunStats& s) {
    json j;
    j["session_id"] = s.session_id.empty() ? json(nullptr) : json(s.session_id);
    j["width"] = s.width;
    j["height"] = s.height;
    j["decoder"] = s.decoder.empty() ? json(nullptr) : json(s.decoder);
    j["frames"] = s.frames;
    j["video_frames"] = s.video_frames;
    j["tile_frames"] = s.tile_frames;
    j["keyframes"] = s.keyframes;
    j["decoded_frames"] = s.decoded_frames;
    j["bytes"] = s.bytes;
    j["decode_errors"] = s.decode_errors;
    j["keys_sent"] = s.keys_sent;
    j["elapsed_s"] = s.elapsed_s;
    j["first_frame_ms"] = s.first_frame_ms ? json(*s.first_frame_ms) : json(nullptr);
    j["ended"] = s.ended ? json(*s.ended) : json(nullptr);
    j["error"] = s.error ? json(*s.error) : json(nullptr);
    j["exit_code"] = s.exit_code;
    // Client-side stream figures over the display connection's life (before probing).
    auto opt = [](std::optional<double> v) { return v ? json(*v) : json(nullptr); };
    j["stream_s"] = s.stream_s;
    j["fps"] = s.stream_s > 0 ? json(static_cast<double>(s.frames) / s.stream_s) : json(nullptr);
    j["kbps"] = s.stream_s > 0 ? json(static_cast<double>(s.bytes) * 8 / 1000 / s.stream_s) : json(nullptr);
    j["decode_ms_median"] = opt(median_of(s.decode_ms));
    j["rtt_ms_median"] = opt(median_of(s.rtt_ms));
    if (!s.probe_ms.empty() || s.probe_timeouts > 0) {
        j["probe_ms"] = s.probe_ms;
        j["probe_timeouts"] = s.probe_timeouts;
    }
    return j.dump();
}

int run_headless(const Options& o, std::ostream& out) {
    const auto start = Clock::now();
    RunStats st;
    Status s = run_flow(o, st);
    st.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
    if (!s) {
        st.error = s.error().message;
        st.exit_code = exit_code(s.error().code);
        std::cerr << "portico-client: " << s.error().message << "\n";
    } else if (st.decoded_frames == 0 && st.decode_errors > 0) {
        st.error = "no frame could be decoded";
        st.exit_code = exit_code(ClientError::decode);
        std::cerr << "portico-client: " << *st.error << "\n";
    }
    out << stats_json(st) << std::endl;
    if (!o.json) {
        std::cerr << "portico-client: session " << (st.session_id.empty() ? "-" : st.session_id) << " " << st.width
                  << "x" << st.height << ": " << st.frames << " frames (" << st.video_frames << " video, "
                  << st.tile_frames << " tile, " << st.keyframes << " keyframes), " << st.decoded_frames << " decoded, "
                  << st.decode_errors << " decode errors, " << st.bytes << " bytes in " << st.elapsed_s << " s";
        if (st.first_frame_ms) std::cerr << ", first frame after " << *st.first_frame_ms << " ms";
        if (st.stream_s > 0)
            std::cerr << "; " << static_cast<double>(st.frames) / st.stream_s << " fps, "
                      << static_cast<double>(st.bytes) * 8 / 1000 / st.stream_s << " kbit/s";
        if (auto d = median_of(st.decode_ms)) std::cerr << ", decode " << *d << " ms (median)";
        if (auto r = median_of(st.rtt_ms)) std::cerr << ", rtt " << *r << " ms (median)";
        if (st.ended) std::cerr << ", ended: " << *st.ended;
        std::cerr << "\n";
    }
    return st.exit_code;
}

int client_main(int argc, char** argv) {
    log::set_component("client");
    std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
    std::optional<std::string> env_pw;
    if (const char* p = std::getenv("PORTICO_PASSWORD")) env_pw = p;
    auto opts = parse_options(args, env_pw);
    if (!opts) {
        // A damaged launch file or link opened by the desktop: the options did not parse, but the
        // desktop file's --error-window is there to say where the message must go.
        if (std::find(args.begin(), args.end(), "--error-window") != args.end())
            return report_failure(opts.error().message, exit_code(opts.error().code), true);
        std::cerr << "portico-client: " << opts.error().message << "\n(try --help)\n";
        return exit_code(opts.error().code);
    }
    if (opts->help) {
        std::cout << help_text();
        return 0;
    }
    if (opts->list_monitors) return list_monitors(std::cout);
    if (!opts->replay_path.empty()) {
        ReplayOptions r{opts->replay_path, opts->png_path, opts->png_at_ms, opts->raw_out_path, opts->frame_log_path};
        if (auto s = replay(r, std::cout); !s) {
            std::cerr << "portico-client: " << s.error().message << "\n";
            return exit_code(s.error().code);
        }
        return 0;
    }
    try {
        if (!opts->headless) return run_windowed(opts.value());
        return run_headless(opts.value(), std::cout);
    } catch (const std::exception& e) {
        // Nothing below should throw; this keeps a surprise from looking like a crash.
        std::cerr << "portico-client: internal error: " << e.what() << "\n";
        return 4;
    }
}

}  // namespace portico::client

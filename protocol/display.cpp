#include "protocol/display.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace portico::protocol {

const char* to_string(ErrorCode c) {
    switch (c) {
        case ErrorCode::malformed: return "malformed";
        case ErrorCode::unsupported_version: return "unsupported_version";
        case ErrorCode::ticket_invalid: return "ticket_invalid";
        case ErrorCode::ticket_expired: return "ticket_expired";
        case ErrorCode::ticket_replayed: return "ticket_replayed";
        case ErrorCode::session_not_found: return "session_not_found";
        case ErrorCode::too_large: return "too_large";
        case ErrorCode::internal: return "internal";
        case ErrorCode::expected_hello: return "expected_hello";
    }
    return "unknown";
}

namespace {

class Writer {
public:
    explicit Writer(MsgType t) { out_.push_back(static_cast<std::uint8_t>(t)); }
    template <class T>
    void put(T v) {
        static_assert(std::is_integral_v<T>);
        using U = std::make_unsigned_t<T>;
        U u = static_cast<U>(v);
        for (std::size_t i = 0; i < sizeof(T); ++i) out_.push_back(static_cast<std::uint8_t>(u >> (8 * i)));
    }
    void str(const std::string& s) {
        put<std::uint16_t>(static_cast<std::uint16_t>(s.size()));
        out_.insert(out_.end(), s.begin(), s.end());
    }
    void bytes(const std::vector<std::uint8_t>& b) { out_.insert(out_.end(), b.begin(), b.end()); }
    std::vector<std::uint8_t> take() { return std::move(out_); }

private:
    std::vector<std::uint8_t> out_;
};

// Reads fields from a message; any read past the end sets failed() and returns zeros.
class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> b) : b_(b) {}
    template <class T>
    T get() {
        static_assert(std::is_integral_v<T>);
        if (b_.size() - pos_ < sizeof(T)) {
            fail_ = true;
            pos_ = b_.size();
            return 0;
        }
        std::make_unsigned_t<T> u = 0;
        for (std::size_t i = 0; i < sizeof(T); ++i) u |= static_cast<decltype(u)>(b_[pos_ + i]) << (8 * i);
        pos_ += sizeof(T);
        return static_cast<T>(u);
    }
    std::string str() {
        auto n = get<std::uint16_t>();
        if (n > kMaxStringBytes) {
            fail_ = true;
            return {};
        }
        if (fail_ || b_.size() - pos_ < n) {
            fail_ = true;
            pos_ = b_.size();
            return {};
        }
        std::string s(reinterpret_cast<const char*>(b_.data() + pos_), n);
        pos_ += n;
        return s;
    }
    std::vector<std::uint8_t> bytes(std::size_t n) {
        if (fail_ || b_.size() - pos_ < n) {
            fail_ = true;
            pos_ = b_.size();
            return {};
        }
        std::vector<std::uint8_t> v(b_.begin() + static_cast<long>(pos_), b_.begin() + static_cast<long>(pos_ + n));
        pos_ += n;
        return v;
    }
    std::vector<std::uint8_t> rest() { return bytes(b_.size() - pos_); }
    bool failed() const { return fail_; }
    bool at_end() const { return pos_ == b_.size(); }

private:
    std::span<const std::uint8_t> b_;
    std::size_t pos_ = 1;  // byte 0 is the type
    bool fail_ = false;
};

bool valid_dim(std::uint16_t v) { return v >= 1 && v <= kMaxScreenDim; }

// A non-empty rectangle lying inside a width x height screen.
bool inside(int x, int y, int w, int h, int width, int height) {
    return w > 0 && h > 0 && x + w <= width && y + h <= height;
}

Error<ErrorCode> malformed(std::string why) { return {ErrorCode::malformed, std::move(why)}; }

bool valid_codepoint(std::uint32_t cp) {
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) return false;  // control characters
    if (cp >= 0xd800 && cp <= 0xdfff) return false;                          // surrogates
    return cp <= 0x10ffff;
}

}  // namespace

bool looks_like_png(std::string_view bytes) {
    static constexpr std::string_view kSignature{"\x89PNG\r\n\x1a\n", 8};
    return bytes.substr(0, kSignature.size()) == kSignature;
}

bool valid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<std::uint8_t>(s[i]);
        int n;
        std::uint32_t cp;
        if (c < 0x80) {
            ++i;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            cp = c & 0x07;
        } else
            return false;
        if (s.size() - i <= static_cast<std::size_t>(n)) return false;
        for (int k = 1; k <= n; ++k) {
            auto cc = static_cast<std::uint8_t>(s[i + k]);
            if ((cc & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3f);
        }
        static constexpr std::uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += static_cast<std::size_t>(n) + 1;
    }
    return true;
}

std::string monitor_layout_error(int width, int height, const std::vector<MonitorRect>& monitors, int primary) {
    if (monitors.empty() || monitors.size() > kMaxMonitors)
        return std::to_string(monitors.size()) + " monitors (1.." + std::to_string(kMaxMonitors) + " allowed)";
    if (primary < 0 || static_cast<std::size_t>(primary) >= monitors.size())
        return "primary monitor " + std::to_string(primary) + " is not one of the " + std::to_string(monitors.size());
    for (std::size_t i = 0; i < monitors.size(); ++i) {
        const MonitorRect& a = monitors[i];
        const std::string name = "monitor " + std::to_string(i);
        if (a.w == 0 || a.h == 0) return name + " has no area";
        if (a.x + a.w > width || a.y + a.h > height)
            return name + " (" + std::to_string(a.w) + "x" + std::to_string(a.h) + "+" + std::to_string(a.x) + "+" +
                   std::to_string(a.y) + ") reaches outside the " + std::to_string(width) + "x" +
                   std::to_string(height) + " screen";
        for (std::size_t j = 0; j < i; ++j) {
            const MonitorRect& b = monitors[j];
            if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h)
                return name + " overlaps monitor " + std::to_string(j);
        }
    }
    return {};
}

FittedLayout fit_monitor_layout(int width, int height, const std::vector<MonitorRect>& monitors, int primary) {
    FittedLayout fitted;
    for (std::size_t i = 0; i < monitors.size(); ++i) {
        MonitorRect m = monitors[i];
        if (m.x >= width || m.y >= height) {
            ++fitted.dropped;
            continue;
        }
        m.w = static_cast<std::uint16_t>(std::min<int>(m.w, width - m.x));
        m.h = static_cast<std::uint16_t>(std::min<int>(m.h, height - m.y));
        if (static_cast<int>(i) == primary) fitted.primary = static_cast<int>(fitted.monitors.size());
        fitted.monitors.push_back(m);
    }
    return fitted;
}

std::vector<std::uint8_t> encode(const Message& m) {
    return std::visit(
        [](const auto& msg) -> std::vector<std::uint8_t> {
            using T = std::decay_t<decltype(msg)>;
            if constexpr (std::is_same_v<T, Hello>) {
                Writer w(MsgType::hello);
                w.put(msg.version);
                w.str(msg.ticket);
                return w.take();
            } else if constexpr (std::is_same_v<T, Key>) {
                Writer w(MsgType::key);
                w.put<std::uint8_t>(msg.down ? 1 : 0);
                w.put(msg.code);
                return w.take();
            } else if constexpr (std::is_same_v<T, Pointer>) {
                Writer w(MsgType::pointer);
                w.put(msg.x);
                w.put(msg.y);
                w.put(msg.buttons);
                return w.take();
            } else if constexpr (std::is_same_v<T, Wheel>) {
                Writer w(MsgType::wheel);
                w.put(msg.dx);
                w.put(msg.dy);
                return w.take();
            } else if constexpr (std::is_same_v<T, FrameAck>) {
                Writer w(MsgType::frame_ack);
                w.put(msg.frame_id);
                if (msg.paint_us != 0) w.put(msg.paint_us);
                return w.take();
            } else if constexpr (std::is_same_v<T, KeyframeRequest>) {
                return Writer(MsgType::keyframe_request).take();
            } else if constexpr (std::is_same_v<T, Logoff>) {
                return Writer(MsgType::logoff).take();
            } else if constexpr (std::is_same_v<T, ResizeRequest>) {
                Writer w(MsgType::resize_request);
                w.put(msg.width);
                w.put(msg.height);
                if (!msg.monitors.empty()) {
                    w.put(static_cast<std::uint8_t>(msg.monitors.size()));
                    w.put(msg.primary);
                    for (const MonitorRect& m : msg.monitors) {
                        w.put(m.x);
                        w.put(m.y);
                        w.put(m.w);
                        w.put(m.h);
                    }
                }
                return w.take();
            } else if constexpr (std::is_same_v<T, Resize>) {
                Writer w(MsgType::resize);
                w.put(msg.width);
                w.put(msg.height);
                return w.take();
            } else if constexpr (std::is_same_v<T, ServerHello>) {
                Writer w(MsgType::server_hello);
                w.put(msg.version);
                w.put(msg.width);
                w.put(msg.height);
                w.str(msg.session_id);
                return w.take();
            } else if constexpr (std::is_same_v<T, VideoFrame>) {
                Writer w(MsgType::video_frame);
                const bool scaled = msg.coded_width != 0;
                w.put(msg.frame_id);
                w.put<std::uint8_t>((msg.keyframe ? 1 : 0) | (scaled ? 2 : 0));
                w.put(msg.width);
                w.put(msg.height);
                w.put(msg.capture_time_us);
                if (scaled) {
                    w.put(msg.coded_width);
                    w.put(msg.coded_height);
                }
                w.put(static_cast<std::uint16_t>(msg.dirty.size()));
                for (const ScreenRect& d : msg.dirty) {
                    w.put(d.x);
                    w.put(d.y);
                    w.put(d.w);
                    w.put(d.h);
                }
                w.bytes(msg.data);
                return w.take();
            } else if constexpr (std::is_same_v<T, TileFrame>) {
                Writer w(MsgType::tile_frame);
                w.put(msg.frame_id);
                w.put(msg.width);
                w.put(msg.height);
                w.put(static_cast<std::uint16_t>(msg.copies.size()));
                for (const CopyRect& c : msg.copies) {
                    w.put(c.x);
                    w.put(c.y);
                    w.put(c.w);
                    w.put(c.h);
                    w.put(c.dx);
                    w.put(c.dy);
                }
                w.put(static_cast<std::uint16_t>(msg.tiles.size()));
                for (const Tile& t : msg.tiles) {
                    w.put(t.x);
                    w.put(t.y);
                    w.put(t.w);
                    w.put(t.h);
                    w.put(static_cast<std::uint8_t>(t.encoding));
                    w.put(static_cast<std::uint32_t>(t.data.size()));
                    w.bytes(t.data);
                }
                return w.take();
            } else if constexpr (std::is_same_v<T, Clipboard> || std::is_same_v<T, ClipboardData>) {
                Writer w(std::is_same_v<T, Clipboard> ? MsgType::clipboard : MsgType::clipboard_data);
                w.put<std::uint8_t>(static_cast<std::uint8_t>((msg.more ? 1 : 0) | (msg.png ? 2 : 0)));
                w.put(static_cast<std::uint32_t>(msg.text.size()));
                w.bytes(std::vector<std::uint8_t>(msg.text.begin(), msg.text.end()));
                return w.take();
            } else if constexpr (std::is_same_v<T, Ping> || std::is_same_v<T, Pong>) {
                Writer w(std::is_same_v<T, Ping> ? MsgType::ping : MsgType::pong);
                w.put(msg.id);
                w.put(msg.client_time);
                return w.take();
            } else if constexpr (std::is_same_v<T, KeyChar>) {
                Writer w(MsgType::key_char);
                w.put<std::uint8_t>(msg.down ? 1 : 0);
                w.put(msg.codepoint);
                w.put(msg.code);
                return w.take();
            } else if constexpr (std::is_same_v<T, RelativePointer>) {
                Writer w(MsgType::relative_pointer);
                w.put(msg.dx);
                w.put(msg.dy);
                w.put(msg.buttons);
                return w.take();
            } else if constexpr (std::is_same_v<T, PointerMode>) {
                Writer w(MsgType::pointer_mode);
                w.put<std::uint8_t>(msg.relative ? 1 : 0);
                return w.take();
            } else if constexpr (std::is_same_v<T, CursorShape>) {
                Writer w(MsgType::cursor_shape);
                w.put(msg.id);
                w.put(msg.hot_x);
                w.put(msg.hot_y);
                w.put(msg.width);
                w.put(msg.height);
                w.bytes(msg.rgba);
                return w.take();
            } else if constexpr (std::is_same_v<T, ShadowNotice>) {
                Writer w(MsgType::shadow_notice);
                w.put(msg.count);
                w.put(static_cast<std::uint8_t>(msg.names.size()));
                for (const auto& n : msg.names) w.str(n);
                return w.take();
            } else if constexpr (std::is_same_v<T, SessionEnded>) {
                Writer w(MsgType::session_ended);
                w.put(static_cast<std::uint8_t>(msg.reason));
                w.str(msg.message);
                return w.take();
            } else {
                static_assert(std::is_same_v<T, ErrorMsg>);
                Writer w(MsgType::error);
                w.put(static_cast<std::uint16_t>(msg.code));
                w.str(msg.message);
                return w.take();
            }
        },
        m);
}

Result<Message, ErrorCode> decode(std::span<const std::uint8_t> bytes) {
    if (bytes.empty()) return malformed("empty message");
    if (bytes.size() > kMaxMessageBytes) return Error<ErrorCode>{ErrorCode::too_large, "message exceeds 16 MiB"};
    Reader r(bytes);
    Message out;
    switch (static_cast<MsgType>(bytes[0])) {
        case MsgType::hello: {
            Hello m;
            m.version = r.get<std::uint16_t>();
            m.ticket = r.str();
            out = std::move(m);
            break;
        }
        case MsgType::key: {
            Key m;
            auto down = r.get<std::uint8_t>();
            m.code = r.get<std::uint16_t>();
            if (!r.failed() && down > 1) return malformed("key: down must be 0 or 1");
            if (!r.failed() && (m.code == 0 || m.code > kMaxKeyCode)) return malformed("key: code out of range");
            m.down = down == 1;
            out = m;
            break;
        }
        case MsgType::pointer: {
            Pointer m;
            m.x = r.get<std::uint16_t>();
            m.y = r.get<std::uint16_t>();
            m.buttons = r.get<std::uint8_t>();
            if (!r.failed() && m.buttons > 7) return malformed("pointer: unknown button bits");
            out = m;
            break;
        }
        case MsgType::wheel: {
            Wheel m;
            m.dx = r.get<std::int16_t>();
            m.dy = r.get<std::int16_t>();
            out = m;
            break;
        }
        case MsgType::frame_ack: {
            FrameAck m;
            m.frame_id = r.get<std::uint32_t>();
            if (!r.failed() && !r.at_end()) m.paint_us = r.get<std::uint32_t>();  // optional since 2026-11
            out = m;
            break;
        }
        case MsgType::keyframe_request: out = KeyframeRequest{}; break;
        case MsgType::logoff: out = Logoff{}; break;
        case MsgType::resize_request: {
            ResizeRequest m;
            m.width = r.get<std::uint16_t>();
            m.height = r.get<std::uint16_t>();
            if (!r.failed() && (m.width < kMinResizeDim || m.width > kMaxScreenDim || m.height < kMinResizeDim ||
                                m.height > kMaxScreenDim))
                return malformed("resize_request: size out of range");
            if (!r.failed() && !r.at_end()) {  // a monitor layout (optional since 2026-12)
                const auto count = r.get<std::uint8_t>();
                m.primary = r.get<std::uint8_t>();
                if (!r.failed() && (count == 0 || count > kMaxMonitors))
                    return malformed("resize_request: " + std::to_string(count) + " monitors (1.." +
                                     std::to_string(kMaxMonitors) + " allowed)");
                for (int i = 0; i < count && !r.failed(); ++i) {
                    MonitorRect mon;
                    mon.x = r.get<std::uint16_t>();
                    mon.y = r.get<std::uint16_t>();
                    mon.w = r.get<std::uint16_t>();
                    mon.h = r.get<std::uint16_t>();
                    m.monitors.push_back(mon);
                }
                if (!r.failed())
                    if (auto why = monitor_layout_error(m.width, m.height, m.monitors, m.primary); !why.empty())
                        return malformed("resize_request: " + why);
            }
            out = std::move(m);
            break;
        }
        case MsgType::resize: {
            Resize m;
            m.width = r.get<std::uint16_t>();
            m.height = r.get<std::uint16_t>();
            if (!r.failed() && (!valid_dim(m.width) || !valid_dim(m.height)))
                return malformed("resize: bad screen size");
            out = m;
            break;
        }
        case MsgType::server_hello: {
            ServerHello m;
            m.version = r.get<std::uint16_t>();
            m.width = r.get<std::uint16_t>();
            m.height = r.get<std::uint16_t>();
            m.session_id = r.str();
            if (!r.failed() && (!valid_dim(m.width) || !valid_dim(m.height)))
                return malformed("server_hello: bad screen size");
            out = std::move(m);
            break;
        }
        case MsgType::video_frame: {
            VideoFrame m;
            m.frame_id = r.get<std::uint32_t>();
            auto flags = r.get<std::uint8_t>();
            m.width = r.get<std::uint16_t>();
            m.height = r.get<std::uint16_t>();
            m.capture_time_us = r.get<std::uint64_t>();
            if (r.failed()) break;
            if (flags > 3) return malformed("video_frame: unknown flags");
            if (!valid_dim(m.width) || !valid_dim(m.height)) return malformed("video_frame: bad size");
            if (flags & 2) {
                m.coded_width = r.get<std::uint16_t>();
                m.coded_height = r.get<std::uint16_t>();
                if (r.failed()) break;
                if (!valid_dim(m.coded_width) || !valid_dim(m.coded_height) || m.coded_width > m.width ||
                    m.coded_height > m.height)
                    return malformed("video_frame: coded size must be within the screen size");
            }
            auto dirty = r.get<std::uint16_t>();
            if (r.failed()) break;
            if (dirty > kMaxDirtyRects) return malformed("video_frame: too many dirty rectangles");
            m.dirty.reserve(dirty);
            for (int i = 0; i < dirty && !r.failed(); ++i) {
                ScreenRect d;
                d.x = r.get<std::uint16_t>();
                d.y = r.get<std::uint16_t>();
                d.w = r.get<std::uint16_t>();
                d.h = r.get<std::uint16_t>();
                if (!r.failed() && !inside(d.x, d.y, d.w, d.h, m.width, m.height))
                    return malformed("video_frame: dirty rectangle outside the screen");
                m.dirty.push_back(d);
            }
            if (r.failed()) break;
            m.keyframe = flags & 1;
            m.data = r.rest();
            if (m.data.empty()) return malformed("video_frame: no data");
            out = std::move(m);
            break;
        }
        case MsgType::tile_frame: {
            TileFrame m;
            m.frame_id = r.get<std::uint32_t>();
            m.width = r.get<std::uint16_t>();
            m.height = r.get<std::uint16_t>();
            auto copies = r.get<std::uint16_t>();
            if (r.failed()) break;
            if (!valid_dim(m.width) || !valid_dim(m.height)) return malformed("tile_frame: bad screen size");
            if (copies > kMaxCopies) return malformed("tile_frame: too many copies");
            m.copies.reserve(copies);
            for (int i = 0; i < copies && !r.failed(); ++i) {
                CopyRect c;
                c.x = r.get<std::uint16_t>();
                c.y = r.get<std::uint16_t>();
                c.w = r.get<std::uint16_t>();
                c.h = r.get<std::uint16_t>();
                c.dx = r.get<std::uint16_t>();
                c.dy = r.get<std::uint16_t>();
                if (r.failed()) break;
                if (!inside(c.x, c.y, c.w, c.h, m.width, m.height) || !inside(c.dx, c.dy, c.w, c.h, m.width, m.height))
                    return malformed("tile_frame: copy outside the screen");
                m.copies.push_back(c);
            }
            auto count = r.get<std::uint16_t>();
            if (r.failed()) break;
            if (count > kMaxTiles || count + copies == 0) return malformed("tile_frame: tile count out of range");
            m.tiles.reserve(count);
            for (int i = 0; i < count && !r.failed(); ++i) {
                Tile t;
                t.x = r.get<std::uint16_t>();
                t.y = r.get<std::uint16_t>();
                t.w = r.get<std::uint16_t>();
                t.h = r.get<std::uint16_t>();
                auto enc = r.get<std::uint8_t>();
                auto len = r.get<std::uint32_t>();
                if (r.failed()) break;
                if (enc < static_cast<std::uint8_t>(TileEncoding::jpeg) ||
                    enc > static_cast<std::uint8_t>(TileEncoding::palette_compact))
                    return malformed("tile_frame: unknown tile encoding");
                if (!inside(t.x, t.y, t.w, t.h, m.width, m.height))
                    return malformed("tile_frame: tile outside the screen");
                if (len == 0) return malformed("tile_frame: empty tile");
                t.encoding = static_cast<TileEncoding>(enc);
                t.data = r.bytes(len);
                m.tiles.push_back(std::move(t));
            }
            out = std::move(m);
            break;
        }
        case MsgType::session_ended: {
            SessionEnded m;
            auto reason = r.get<std::uint8_t>();
            m.message = r.str();
            if (!r.failed() && reason > 3) return malformed("session_ended: unknown reason");
            m.reason = static_cast<EndReason>(reason);
            out = std::move(m);
            break;
        }
        case MsgType::error: {
            ErrorMsg m;
            auto code = r.get<std::uint16_t>();
            m.message = r.str();
            if (!r.failed() && (code < 1 || code > 9)) return malformed("error: unknown code");
            m.code = static_cast<ErrorCode>(code);
            out = std::move(m);
            break;
        }
        case MsgType::clipboard:
        case MsgType::clipboard_data: {
            auto flags = r.get<std::uint8_t>();
            auto len = r.get<std::uint32_t>();
            if (r.failed()) break;
            if (flags > 3) return malformed("clipboard: unknown flags");
            const bool more = (flags & 1) != 0, png = (flags & 2) != 0;
            if (png && len > kMaxClipboardImageBytes)
                return Error<ErrorCode>{ErrorCode::too_large, "clipboard image exceeds 8 MiB"};
            if (!png && len > kMaxClipboardBytes)
                return Error<ErrorCode>{ErrorCode::too_large, "clipboard text exceeds 1 MiB"};
            auto b = r.bytes(len);
            if (r.failed()) break;
            std::string text(b.begin(), b.end());
            if (!png && !valid_utf8(text)) return malformed("clipboard: text is not valid UTF-8");
            if (bytes[0] == static_cast<std::uint8_t>(MsgType::clipboard))
                out = Clipboard{std::move(text), more, png};
            else
                out = ClipboardData{std::move(text), more, png};
            break;
        }
        case MsgType::ping:
        case MsgType::pong: {
            auto id = r.get<std::uint32_t>();
            auto t = r.get<std::uint64_t>();
            if (bytes[0] == static_cast<std::uint8_t>(MsgType::ping))
                out = Ping{id, t};
            else
                out = Pong{id, t};
            break;
        }
        case MsgType::key_char: {
            KeyChar m;
            auto down = r.get<std::uint8_t>();
            m.codepoint = r.get<std::uint32_t>();
            m.code = r.get<std::uint16_t>();
            if (!r.failed() && down > 1) return malformed("key_char: down must be 0 or 1");
            if (!r.failed() && m.code > kMaxKeyCode) return malformed("key_char: code out of range");
            if (!r.failed() && !valid_codepoint(m.codepoint))
                return malformed("key_char: not a printable Unicode character");
            m.down = down == 1;
            out = m;
            break;
        }
        case MsgType::relative_pointer: {
            RelativePointer m;
            m.dx = r.get<std::int16_t>();
            m.dy = r.get<std::int16_t>();
            m.buttons = r.get<std::uint8_t>();
            if (!r.failed() && (m.dx < -kMaxRelativeMotion || m.dy < -kMaxRelativeMotion))
                return malformed("relative_pointer: motion out of range (|dx|, |dy| <= 32767)");
            if (!r.failed() && m.buttons > 7) return malformed("relative_pointer: unknown button bits");
            out = m;
            break;
        }
        case MsgType::pointer_mode: {
            auto relative = r.get<std::uint8_t>();
            if (!r.failed() && relative > 1) return malformed("pointer_mode: relative must be 0 or 1");
            out = PointerMode{relative == 1};
            break;
        }
        case MsgType::cursor_shape: {
            CursorShape m;
            m.id = r.get<std::uint32_t>();
            m.hot_x = r.get<std::uint16_t>();
            m.hot_y = r.get<std::uint16_t>();
            m.width = r.get<std::uint16_t>();
            m.height = r.get<std::uint16_t>();
            if (r.failed()) break;
            if (m.width > kMaxCursorDim || m.height > kMaxCursorDim || (m.width == 0) != (m.height == 0))
                return malformed("cursor_shape: size out of range");
            if (m.width && (m.hot_x >= m.width || m.hot_y >= m.height))
                return malformed("cursor_shape: hotspot outside the shape");
            m.rgba = r.bytes(static_cast<std::size_t>(m.width) * m.height * 4);
            out = std::move(m);
            break;
        }
        case MsgType::shadow_notice: {
            ShadowNotice m;
            m.count = r.get<std::uint16_t>();
            auto n = r.get<std::uint8_t>();
            if (r.failed()) break;
            if (n > kMaxShadowNames || n > m.count)
                return malformed("shadow_notice: more names than watchers or than 16");
            for (int i = 0; i < n && !r.failed(); ++i) {
                auto name = r.str();
                if (r.failed()) break;
                if (name.empty() || name.size() > kMaxShadowNameBytes)
                    return malformed("shadow_notice: name must be 1..128 bytes");
                if (!valid_utf8(name)) return malformed("shadow_notice: name is not valid UTF-8");
                m.names.push_back(std::move(name));
            }
            out = std::move(m);
            break;
        }
        default: return malformed("unknown message type");
    }
    if (r.failed()) return malformed("message truncated or field too long");
    if (!r.at_end()) return malformed("trailing bytes after message");
    return out;
}

}  // namespace portico::protocol

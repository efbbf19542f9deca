#include "x11_source.hpp"

#include "x11_connection.hpp"

#include <xcb/damage.h>
#include <xcb/shm.h>
#include <xcb/xcb.h>
#include <xcb/xfixes.h>

#include <poll.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace portico::capture {

namespace {

template <typename T>
struct FreeDeleter {
    void operator()(T* p) const { std::free(p); }
};
template <typename T>
using Reply = std::unique_ptr<T, FreeDeleter<T>>;

}  // namespace

// A request failed while the connection is fine: capture() reports it as temporary.
struct TemporaryError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct X11FrameSource::Impl {
    xcb_connection_t* conn = nullptr;
    xcb_window_t root = 0;
    Frame frame;
    int shmid = -1;
    std::uint8_t* shm_addr = nullptr;
    xcb_shm_seg_t shmseg = 0;
    xcb_damage_damage_t damage = 0;
    xcb_xfixes_region_t region = 0;
    std::uint8_t damage_event_base = 0;
    bool full = true;      // next capture returns the whole screen (first capture, invalidate())
    bool pending = false;  // a DamageNotify arrived that capture() has not consumed yet

    ~Impl() {
        // Server-side resources die with the connection; only the local mapping needs freeing.
        if (conn) xcb_disconnect(conn);
        if (shm_addr) shmdt(shm_addr);
        if (shmid >= 0) shmctl(shmid, IPC_RMID, nullptr);
    }

    // One segment big enough for the whole screen; marked for removal as soon as the server has
    // attached it, so it cannot leak even if we are killed.
    void attach_shm(const std::string& display) {
        std::size_t bytes = static_cast<std::size_t>(frame.width) * frame.height * 4;
        shmid = shmget(IPC_PRIVATE, bytes, IPC_CREAT | 0600);
        if (shmid < 0) throw std::runtime_error(std::string("shmget failed: ") + std::strerror(errno));
        void* addr = shmat(shmid, nullptr, 0);
        if (addr == reinterpret_cast<void*>(-1))
            throw std::runtime_error(std::string("shmat failed: ") + std::strerror(errno));
        shm_addr = static_cast<std::uint8_t*>(addr);
        shmseg = xcb_generate_id(conn);
        xcb_generic_error_t* err = xcb_request_check(conn, xcb_shm_attach_checked(conn, shmseg, shmid, 0));
        shmctl(shmid, IPC_RMID, nullptr);
        shmid = -1;
        if (err) {
            std::free(err);
            throw std::runtime_error("MIT-SHM attach refused by " + display + " (is the server on another host?)");
        }
    }

    void detach_shm() {
        if (shmseg) xcb_shm_detach(conn, shmseg);
        shmseg = 0;
        if (shm_addr) shmdt(shm_addr);
        shm_addr = nullptr;
    }

    void check_connection() {
        if (int err = xcb_connection_has_error(conn))
            throw std::runtime_error("X connection lost (xcb error " + std::to_string(err) + ")");
    }

    // Consumes queued events; returns true if any of them was a DamageNotify.
    bool drain_events() {
        bool damaged = false;
        while (xcb_generic_event_t* ev = xcb_poll_for_event(conn)) {
            if ((ev->response_type & 0x7f) == damage_event_base + XCB_DAMAGE_NOTIFY) damaged = true;
            std::free(ev);
        }
        check_connection();
        return damaged;
    }

    // Moves the server's accumulated damage into our region and returns its rectangles.
    DamageRegion take_damage() {
        xcb_damage_subtract(conn, damage, XCB_NONE, region);
        Reply<xcb_xfixes_fetch_region_reply_t> reply(
            xcb_xfixes_fetch_region_reply(conn, xcb_xfixes_fetch_region(conn, region), nullptr));
        if (!reply) {
            check_connection();
            throw TemporaryError("XFixesFetchRegion failed");
        }
        DamageRegion out;
        const xcb_rectangle_t* r = xcb_xfixes_fetch_region_rectangles(reply.get());
        int n = xcb_xfixes_fetch_region_rectangles_length(reply.get());
        // simplify() is cubic in the rectangle count; a very fragmented region (e.g. a busy
        // terminal) is cheaper to read as one box than to optimise.
        constexpr int kMaxRects = 256;
        if (n > kMaxRects) {
            Rect box;
            for (int i = 0; i < n; ++i) box = box.united(Rect{r[i].x, r[i].y, r[i].width, r[i].height});
            out.add(box);
            return out;
        }
        for (int i = 0; i < n; ++i) out.add(Rect{r[i].x, r[i].y, r[i].width, r[i].height});
        return out;
    }

    // Reads every rectangle with MIT-SHM into disjoint parts of the segment (the rectangles are
    // disjoint and inside the screen, so they fit), pipelining the requests, then copies rows.
    void read_rects(const std::vector<Rect>& rects) {
        std::vector<xcb_shm_get_image_cookie_t> cookies;
        std::vector<std::size_t> offsets;
        std::size_t offset = 0;
        for (const Rect& r : rects) {
            offsets.push_back(offset);
            cookies.push_back(xcb_shm_get_image(conn, root, static_cast<int16_t>(r.x), static_cast<int16_t>(r.y),
                                                static_cast<uint16_t>(r.w), static_cast<uint16_t>(r.h), ~0u,
                                                XCB_IMAGE_FORMAT_Z_PIXMAP, shmseg, static_cast<uint32_t>(offset)));
            offset += static_cast<std::size_t>(r.w) * r.h * 4;
        }
        bool failed = false;
        for (std::size_t i = 0; i < rects.size(); ++i) {
            xcb_generic_error_t* err = nullptr;
            Reply<xcb_shm_get_image_reply_t> reply(xcb_shm_get_image_reply(conn, cookies[i], &err));
            if (!reply) {
                std::free(err);
                failed = true;
                continue;
            }
            const Rect& r = rects[i];
            const std::uint8_t* src = shm_addr + offsets[i];
            const std::size_t row_bytes = static_cast<std::size_t>(r.w) * 4;
            for (int y = 0; y < r.h; ++y) std::memcpy(frame.at(r.x, r.y + y), src + y * row_bytes, row_bytes);
        }
        if (failed) {
            check_connection();
            throw TemporaryError("MIT-SHM GetImage failed");
        }
    }
};

X11FrameSource::X11FrameSource(const std::string& display, const std::string& xauthority)
    : impl_(std::make_unique<Impl>()) {
    Impl& s = *impl_;
    int screen_number = 0;
    s.conn = connect_x11(display, xauthority, &screen_number);

    const xcb_setup_t* setup = xcb_get_setup(s.conn);
    xcb_screen_iterator_t it = xcb_setup_roots_iterator(setup);
    for (int i = 0; i < screen_number && it.rem; ++i) xcb_screen_next(&it);
    if (!it.rem) throw std::runtime_error("X display " + display + " has no screen " + std::to_string(screen_number));
    xcb_screen_t* screen = it.data;
    s.root = screen->root;

    // The frame is BGRX: we need a 24/32-bit depth stored as 32 bits per pixel, little-endian.
    bool bpp32 = false;
    for (auto f = xcb_setup_pixmap_formats_iterator(setup); f.rem; xcb_format_next(&f))
        if (f.data->depth == screen->root_depth && f.data->bits_per_pixel == 32) bpp32 = true;
    if ((screen->root_depth != 24 && screen->root_depth != 32) || !bpp32 ||
        setup->image_byte_order != XCB_IMAGE_ORDER_LSB_FIRST)
        throw std::runtime_error("X display " + display + " is not a 24-bit little-endian 32bpp screen");
    s.frame = Frame(screen->width_in_pixels, screen->height_in_pixels);

    // Extensions: each must be version-negotiated before its requests are accepted.
    for (xcb_extension_t* ext : {&xcb_shm_id, &xcb_damage_id, &xcb_xfixes_id}) xcb_prefetch_extension_data(s.conn, ext);
    if (!xcb_get_extension_data(s.conn, &xcb_shm_id)->present)
        throw std::runtime_error("X display " + display + " lacks MIT-SHM");
    const xcb_query_extension_reply_t* dmg = xcb_get_extension_data(s.conn, &xcb_damage_id);
    if (!dmg->present) throw std::runtime_error("X display " + display + " lacks DAMAGE");
    if (!xcb_get_extension_data(s.conn, &xcb_xfixes_id)->present)
        throw std::runtime_error("X display " + display + " lacks XFIXES");
    s.damage_event_base = dmg->first_event;
    Reply<xcb_shm_query_version_reply_t> shm_ver(
        xcb_shm_query_version_reply(s.conn, xcb_shm_query_version(s.conn), nullptr));
    Reply<xcb_xfixes_query_version_reply_t> fixes_ver(
        xcb_xfixes_query_version_reply(s.conn, xcb_xfixes_query_version(s.conn, 4, 0), nullptr));
    Reply<xcb_damage_query_version_reply_t> dmg_ver(
        xcb_damage_query_version_reply(s.conn, xcb_damage_query_version(s.conn, 1, 1), nullptr));
    if (!shm_ver || !fixes_ver || !dmg_ver) throw std::runtime_error("X extension version query failed on " + display);

    s.attach_shm(display);

    s.damage = xcb_generate_id(s.conn);
    s.region = xcb_generate_id(s.conn);
    xcb_xfixes_create_region(s.conn, s.region, 0, nullptr);
    xcb_generic_error_t* err = xcb_request_check(
        s.conn, xcb_damage_create_checked(s.conn, s.damage, s.root, XCB_DAMAGE_REPORT_LEVEL_NON_EMPTY));
    if (err) {
        std::free(err);
        throw std::runtime_error("DAMAGE create failed on " + display);
    }
}

X11FrameSource::~X11FrameSource() = default;

int X11FrameSource::width() const { return impl_->frame.width; }
int X11FrameSource::height() const { return impl_->frame.height; }
void X11FrameSource::invalidate() { impl_->full = true; }

bool X11FrameSource::follow_root_size() {
    Impl& s = *impl_;
    Reply<xcb_get_geometry_reply_t> geo(xcb_get_geometry_reply(s.conn, xcb_get_geometry(s.conn, s.root), nullptr));
    if (!geo) {
        s.check_connection();
        throw std::runtime_error("GetGeometry of the root window failed");
    }
    if (geo->width == s.frame.width && geo->height == s.frame.height) return false;
    s.detach_shm();
    s.frame = Frame(geo->width, geo->height);
    s.attach_shm("the X display");
    // Damage from before the change refers to the old screen; the full capture replaces it.
    xcb_damage_subtract(s.conn, s.damage, XCB_NONE, XCB_NONE);
    s.full = true;
    return true;
}

CaptureResult X11FrameSource::capture(std::chrono::milliseconds timeout) {
    try {
        auto c = capture_or_throw(timeout);
        return c ? CaptureResult::got(std::move(*c)) : CaptureResult::nothing_new();
    } catch (const TemporaryError& e) {
        return CaptureResult::temporary_error(e.what());
    } catch (const std::exception& e) {
        return CaptureResult::permanent_error(e.what());
    }
}

std::optional<Capture> X11FrameSource::capture_or_throw(std::chrono::milliseconds timeout) {
    Impl& s = *impl_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    s.check_connection();
    for (;;) {
        if (s.drain_events()) s.pending = true;
        if (s.full || s.pending) {
            // NON_EMPTY reports once per empty->non-empty transition; subtracting re-arms it, and
            // anything drawn after the subtract is reported again for the next capture.
            DamageRegion damage = s.take_damage();
            s.pending = false;
            if (s.full) {
                damage.clear();
                damage.add(s.frame.bounds());
                s.full = false;
            }
            damage.clip(s.frame.bounds());
            if (!damage.empty()) {
                damage.simplify(32);
                s.read_rects(damage.rects());
                Capture c;
                c.frame = &s.frame;
                c.damage = std::move(damage);
                c.time = std::chrono::steady_clock::now();
                return c;
            }
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return std::nullopt;
        pollfd pfd{xcb_get_file_descriptor(s.conn), POLLIN, 0};
        int rc = ::poll(&pfd, 1, static_cast<int>(left.count()));
        if (rc < 0 && errno != EINTR)
            throw std::runtime_error(std::string("poll on X connection: ") + std::strerror(errno));
        if (rc > 0 && (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) && !(pfd.revents & POLLIN))
            throw std::runtime_error("X connection lost");
    }
}

}  // namespace portico::capture

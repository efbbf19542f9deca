#include "session-host/x11/screen_sizer.hpp"

#include "capture/x11/x11_connection.hpp"

#include <sys/uio.h>
#include <xcb/randr.h>
#include <xcb/xcb.h>
#include <xcb/xcbext.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <vector>

namespace portico::host {

namespace {

template <typename T>
struct FreeDeleter {
    void operator()(T* p) const { std::free(p); }
};
template <typename T>
using Reply = std::unique_ptr<T, FreeDeleter<T>>;

std::string x_error(xcb_generic_error_t* e) {
    std::string s = "X error " + std::to_string(e->error_code) + " (request " + std::to_string(e->major_code) + "." +
                    std::to_string(e->minor_code) + ")";
    std::free(e);
    return s;
}

// RandR wants a physical size. Apps that compute DPI from it (rather than from Xft.dpi) must get
// the session's DPI, or a resize would silently change their font size.
std::uint32_t mm(int px, int dpi) { return static_cast<std::uint32_t>(std::max(1, (px * 254 + dpi * 5) / (dpi * 10))); }

// The names of the monitors set_monitors makes (PORTICO-0, PORTICO-1, ...): the ones it replaces.
constexpr const char* kMonitorPrefix = "PORTICO-";

// RRSetMonitor, sent by hand: libxcb-randr 1.15's xcb_randr_set_monitor miscounts the request
// (the connection closes with XCB_CONN_CLOSED_REQ_LEN_EXCEED before anything reaches the server).
xcb_void_cookie_t send_set_monitor(xcb_connection_t* c, xcb_window_t root, const xcb_randr_monitor_info_t& info,
                                   const xcb_randr_output_t* outputs) {
    static const xcb_protocol_request_t request{3, &xcb_randr_id, XCB_RANDR_SET_MONITOR, 1};
    struct {
        std::uint8_t major, minor;
        std::uint16_t length;
        xcb_window_t window;
    } head{0, 0, 0, root};  // xcb fills in the opcodes and the length
    iovec parts[5];         // xcb_send_request wants two spare entries before the request's own
    parts[2] = {&head, sizeof head};
    parts[3] = {const_cast<xcb_randr_monitor_info_t*>(&info), sizeof info};
    parts[4] = {const_cast<xcb_randr_output_t*>(outputs), sizeof(xcb_randr_output_t) * info.nOutput};
    return {xcb_send_request(c, XCB_REQUEST_CHECKED, parts + 2, &request)};
}

xcb_atom_t atom(xcb_connection_t* c, const std::string& name) {
    Reply<xcb_intern_atom_reply_t> r(xcb_intern_atom_reply(
        c, xcb_intern_atom(c, 0, static_cast<std::uint16_t>(name.size()), name.c_str()), nullptr));
    return r ? r->atom : XCB_ATOM_NONE;
}

std::string atom_name(xcb_connection_t* c, xcb_atom_t a) {
    Reply<xcb_get_atom_name_reply_t> r(xcb_get_atom_name_reply(c, xcb_get_atom_name(c, a), nullptr));
    if (!r) return {};
    return {xcb_get_atom_name_name(r.get()), static_cast<std::size_t>(xcb_get_atom_name_name_length(r.get()))};
}

}  // namespace

ScreenSizer::ScreenSizer(const std::string& display, const std::string& xauthority, int dpi) : dpi_(std::max(1, dpi)) {
    int screen_number = 0;
    conn_ = capture::connect_x11(display, xauthority, &screen_number);
    const xcb_screen_t* screen = nullptr;
    try {
        screen = &capture::screen_of(conn_, screen_number, display);
    } catch (...) {
        xcb_disconnect(conn_);
        throw;
    }
    root_ = screen->root;
    // Asks for 1.5 (monitors); 1.2 (sizes and modes) is what a session cannot do without.
    Reply<xcb_randr_query_version_reply_t> ver(
        xcb_randr_query_version_reply(conn_, xcb_randr_query_version(conn_, 1, 5), nullptr));
    if (!ver || ver->major_version < 1 || (ver->major_version == 1 && ver->minor_version < 2)) {
        xcb_disconnect(conn_);
        throw std::runtime_error("display " + display + " lacks RandR 1.2");
    }
    has_monitors_ = ver->major_version > 1 || ver->minor_version >= 5;
    Reply<xcb_randr_get_screen_size_range_reply_t> range(
        xcb_randr_get_screen_size_range_reply(conn_, xcb_randr_get_screen_size_range(conn_, root_), nullptr));
    if (!range) {
        xcb_disconnect(conn_);
        throw std::runtime_error("RandR size range query failed on " + display);
    }
    max_width_ = range->max_width;
    max_height_ = range->max_height;
}

ScreenSizer::~ScreenSizer() {
    if (conn_) xcb_disconnect(conn_);
}

bool ScreenSizer::set_size(int width, int height, std::string& why) {
    width = std::clamp(width, 1, max_width_);
    height = std::clamp(height, 1, max_height_);
    Reply<xcb_randr_get_screen_resources_current_reply_t> res(xcb_randr_get_screen_resources_current_reply(
        conn_, xcb_randr_get_screen_resources_current(conn_, root_), nullptr));
    if (!res) {
        why = "RandR screen resources query failed";
        return false;
    }
    if (xcb_randr_get_screen_resources_current_crtcs_length(res.get()) < 1 ||
        xcb_randr_get_screen_resources_current_outputs_length(res.get()) < 1) {
        why = "the screen has no CRTC or output";
        return false;
    }
    const xcb_randr_crtc_t crtc = xcb_randr_get_screen_resources_current_crtcs(res.get())[0];
    const xcb_randr_output_t output = xcb_randr_get_screen_resources_current_outputs(res.get())[0];

    // Reuse a mode of this size if the server has one (ours from an earlier resize, or Xvfb's own).
    xcb_randr_mode_t mode = 0;
    const xcb_randr_mode_info_t* modes = xcb_randr_get_screen_resources_current_modes(res.get());
    for (int i = 0; i < xcb_randr_get_screen_resources_current_modes_length(res.get()); ++i)
        if (modes[i].width == width && modes[i].height == height) mode = modes[i].id;
    if (!mode) {
        const std::string name = std::to_string(width) + "x" + std::to_string(height) + "-portico";
        xcb_randr_mode_info_t info{};
        info.width = static_cast<std::uint16_t>(width);
        info.height = static_cast<std::uint16_t>(height);
        info.dot_clock = static_cast<std::uint32_t>(width) * height * 60;
        info.hsync_start = info.width;
        info.hsync_end = info.width;
        info.htotal = info.width;
        info.vsync_start = info.height;
        info.vsync_end = info.height;
        info.vtotal = info.height;
        info.name_len = static_cast<std::uint16_t>(name.size());
        xcb_generic_error_t* err = nullptr;
        Reply<xcb_randr_create_mode_reply_t> created(xcb_randr_create_mode_reply(
            conn_, xcb_randr_create_mode(conn_, root_, info, static_cast<std::uint32_t>(name.size()), name.c_str()),
            &err));
        if (!created) {
            why = "RandR CreateMode: " + (err ? x_error(err) : std::string("no reply"));
            return false;
        }
        mode = created->mode;
        if (auto* e = xcb_request_check(conn_, xcb_randr_add_output_mode_checked(conn_, output, mode))) {
            why = "RandR AddOutputMode: " + x_error(e);
            return false;
        }
    }

    Reply<xcb_randr_get_crtc_info_reply_t> ci(
        xcb_randr_get_crtc_info_reply(conn_, xcb_randr_get_crtc_info(conn_, crtc, res->config_timestamp), nullptr));
    if (!ci) {
        why = "RandR CRTC query failed";
        return false;
    }
    // The CRTC must fit in the screen at every step: grow the screen first, shrink it last.
    const int grow_w = std::max<int>(width, ci->width), grow_h = std::max<int>(height, ci->height);
    if (auto* e = xcb_request_check(conn_, xcb_randr_set_screen_size_checked(conn_, root_, grow_w, grow_h,
                                                                             mm(grow_w, dpi_), mm(grow_h, dpi_)))) {
        why = "RandR SetScreenSize: " + x_error(e);
        return false;
    }
    xcb_generic_error_t* err = nullptr;
    Reply<xcb_randr_set_crtc_config_reply_t> set(
        xcb_randr_set_crtc_config_reply(conn_,
                                        xcb_randr_set_crtc_config(conn_, crtc, XCB_CURRENT_TIME, res->config_timestamp,
                                                                  0, 0, mode, XCB_RANDR_ROTATION_ROTATE_0, 1, &output),
                                        &err));
    if (!set || set->status != XCB_RANDR_SET_CONFIG_SUCCESS) {
        why = "RandR SetCrtcConfig: " + (err ? x_error(err) : "status " + std::to_string(set ? set->status : -1));
        return false;
    }
    if (grow_w != width || grow_h != height) {
        if (auto* e = xcb_request_check(conn_, xcb_randr_set_screen_size_checked(conn_, root_, width, height,
                                                                                 mm(width, dpi_), mm(height, dpi_)))) {
            why = "RandR SetScreenSize: " + x_error(e);
            return false;
        }
    }
    return true;
}

bool ScreenSizer::set_monitors(const std::vector<protocol::MonitorRect>& monitors, int primary, std::string& why) {
    if (!has_monitors_) {
        if (monitors.empty()) return true;
        why = "the display lacks RandR 1.5 (monitors)";
        return false;
    }
    // Away with the monitors of the last layout first: a name set again would otherwise keep its
    // output while another monitor asks for it.
    Reply<xcb_randr_get_monitors_reply_t> now(
        xcb_randr_get_monitors_reply(conn_, xcb_randr_get_monitors(conn_, root_, 0), nullptr));
    if (!now) {
        why = "RandR GetMonitors failed";
        return false;
    }
    for (auto it = xcb_randr_get_monitors_monitors_iterator(now.get()); it.rem; xcb_randr_monitor_info_next(&it)) {
        if (it.data->automatic || atom_name(conn_, it.data->name).rfind(kMonitorPrefix, 0) != 0) continue;
        if (auto* e = xcb_request_check(conn_, xcb_randr_delete_monitor_checked(conn_, root_, it.data->name))) {
            why = "RandR DeleteMonitor: " + x_error(e);
            return false;
        }
    }
    if (monitors.empty()) return true;

    Reply<xcb_randr_get_screen_resources_current_reply_t> res(xcb_randr_get_screen_resources_current_reply(
        conn_, xcb_randr_get_screen_resources_current(conn_, root_), nullptr));
    if (!res || xcb_randr_get_screen_resources_current_outputs_length(res.get()) < 1) {
        why = "the screen has no output";
        return false;
    }
    const xcb_randr_output_t output = xcb_randr_get_screen_resources_current_outputs(res.get())[0];
    for (std::size_t i = 0; i < monitors.size(); ++i) {
        const auto& m = monitors[i];
        xcb_randr_monitor_info_t info{};
        info.name = atom(conn_, kMonitorPrefix + std::to_string(i));
        if (info.name == XCB_ATOM_NONE) {
            why = "cannot name a monitor (InternAtom failed)";
            return false;
        }
        info.primary = static_cast<int>(i) == primary ? 1 : 0;
        // The screen's one output belongs to the first monitor, so the server drops the output's
        // own whole-screen monitor and the session sees exactly the client's layout.
        info.nOutput = i == 0 ? 1 : 0;
        info.x = static_cast<std::int16_t>(m.x);
        info.y = static_cast<std::int16_t>(m.y);
        info.width = m.w;
        info.height = m.h;
        info.width_in_millimeters = mm(m.w, dpi_);
        info.height_in_millimeters = mm(m.h, dpi_);
        if (auto* e = xcb_request_check(conn_, send_set_monitor(conn_, root_, info, &output))) {
            why = "RandR SetMonitor: " + x_error(e);
            return false;
        }
        if (xcb_connection_has_error(conn_)) {
            why = "the X connection closed while setting a monitor";
            return false;
        }
    }
    return true;
}

}  // namespace portico::host

#include "x11_connection.hpp"

#include <xcb/xcb.h>
#include <xcb/xfixes.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace portico::capture {

namespace {

constexpr const char* kCookieName = "MIT-MAGIC-COOKIE-1";

struct Reader {
    const std::vector<std::uint8_t>& buf;
    std::size_t pos = 0;

    bool at_end() const { return pos >= buf.size(); }
    std::uint16_t u16() {
        if (pos + 2 > buf.size()) throw std::runtime_error("truncated Xauthority entry");
        std::uint16_t v = static_cast<std::uint16_t>(buf[pos] << 8 | buf[pos + 1]);
        pos += 2;
        return v;
    }
    std::vector<std::uint8_t> counted() {
        std::size_t n = u16();
        if (pos + n > buf.size()) throw std::runtime_error("truncated Xauthority entry");
        std::vector<std::uint8_t> out(buf.begin() + static_cast<long>(pos), buf.begin() + static_cast<long>(pos + n));
        pos += n;
        return out;
    }
    std::string counted_string() {
        auto v = counted();
        return {v.begin(), v.end()};
    }
};

// ":12.0" -> "12"; "host:12" -> "12"
std::string display_number(const std::string& display) {
    auto colon = display.rfind(':');
    std::string rest = colon == std::string::npos ? display : display.substr(colon + 1);
    return rest.substr(0, rest.find('.'));
}

}  // namespace

std::vector<XauthEntry> read_xauthority(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read Xauthority file " + path);
    std::vector<std::uint8_t> buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Reader r{buf};
    std::vector<XauthEntry> entries;
    while (!r.at_end()) {
        XauthEntry e;
        e.family = r.u16();
        e.address = r.counted_string();
        e.number = r.counted_string();
        e.name = r.counted_string();
        e.data = r.counted();
        entries.push_back(std::move(e));
    }
    return entries;
}

std::optional<XauthEntry> find_cookie(const std::vector<XauthEntry>& entries, const std::string& number) {
    for (const auto& e : entries)
        if (e.name == kCookieName && (e.number.empty() || e.number == number)) return e;
    return std::nullopt;
}

xcb_connection_t* connect_x11(const std::string& display, const std::string& xauthority, int* screen_number) {
    int screen = 0;
    xcb_connection_t* conn = nullptr;
    if (xauthority.empty()) {
        conn = xcb_connect(display.c_str(), &screen);
    } else {
        auto cookie = find_cookie(read_xauthority(xauthority), display_number(display));
        if (!cookie) throw std::runtime_error("no MIT-MAGIC-COOKIE-1 for " + display + " in " + xauthority);
        xcb_auth_info_t auth{};
        auth.namelen = static_cast<int>(cookie->name.size());
        auth.name = cookie->name.data();
        auth.datalen = static_cast<int>(cookie->data.size());
        auth.data = reinterpret_cast<char*>(cookie->data.data());
        conn = xcb_connect_to_display_with_auth_info(display.c_str(), &auth, &screen);
    }
    if (int err = xcb_connection_has_error(conn)) {
        xcb_disconnect(conn);
        throw std::runtime_error("cannot connect to X display " + display + " (xcb error " + std::to_string(err) + ")");
    }
    if (screen_number) *screen_number = screen;
    return conn;
}

const xcb_screen_t& screen_of(xcb_connection_t* conn, int screen_number, const std::string& display) {
    xcb_screen_iterator_t it = xcb_setup_roots_iterator(xcb_get_setup(conn));
    for (int i = 0; i < screen_number && it.rem; ++i) xcb_screen_next(&it);
    if (!it.rem) throw std::runtime_error("X display " + display + " has no screen " + std::to_string(screen_number));
    return *it.data;
}

std::uint8_t init_xfixes(xcb_connection_t* conn, const std::string& display) {
    const xcb_query_extension_reply_t* ext = xcb_get_extension_data(conn, &xcb_xfixes_id);
    if (!ext || !ext->present) throw std::runtime_error("X display " + display + " lacks XFIXES");
    auto* ver = xcb_xfixes_query_version_reply(conn, xcb_xfixes_query_version(conn, 5, 0), nullptr);
    if (!ver) throw std::runtime_error("XFIXES version query failed on " + display);
    std::free(ver);
    return ext->first_event;
}

}  // namespace portico::capture

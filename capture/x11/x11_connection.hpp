#pragma once
// Opening an authenticated xcb connection to one of our private X servers: the MIT-MAGIC-COOKIE-1
// is taken from a given Xauthority file (not $XAUTHORITY), so the host never depends on its own
// environment. Used at start-up by X11FrameSource and by session-host's display/input code.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

struct xcb_connection_t;
struct xcb_screen_t;

namespace portico::capture {

struct XauthEntry {
    std::uint16_t family = 0;
    std::string address, number, name;
    std::vector<std::uint8_t> data;
};

// Parses an Xauthority file (entries of: big-endian u16 family, then u16-length-prefixed address,
// display number, auth name and auth data). Throws std::runtime_error if unreadable/malformed.
std::vector<XauthEntry> read_xauthority(const std::string& path);

// The MIT-MAGIC-COOKIE-1 entry for display number `number` (an entry with an empty number
// matches any display, as in libXau), if any.
std::optional<XauthEntry> find_cookie(const std::vector<XauthEntry>& entries, const std::string& number);

// Connects to `display` (":N" or ":N.S") with the cookie from `xauthority` (empty: libxcb's usual
// $XAUTHORITY lookup). Returns a working connection and its screen number; throws
// std::runtime_error (connection refused, no cookie, ...) otherwise.
xcb_connection_t* connect_x11(const std::string& display, const std::string& xauthority, int* screen_number);

// Screen `screen_number` of the connection (valid as long as the connection); throws
// std::runtime_error naming `display` if there is no such screen.
const xcb_screen_t& screen_of(xcb_connection_t* conn, int screen_number, const std::string& display);

// Initialises XFIXES (version 5) on the connection and returns its first event code; throws
// std::runtime_error naming `display` if the server lacks it.
std::uint8_t init_xfixes(xcb_connection_t* conn, const std::string& display);

}  // namespace portico::capture

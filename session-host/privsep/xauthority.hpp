#pragma once
// X authority files: one FamilyWild MIT-MAGIC-COOKIE-1 entry with an empty display number, which
// libXau matches for any display, so a file can be written before Xvfb has chosen its number.
// The host writes its own copy (for Xvfb and its capture) and the helper the session user's.

#include <string>
#include <sys/types.h>

namespace portico::host::privsep {

constexpr std::size_t kCookieBytes = 16;

std::string random_cookie();  // kCookieBytes random bytes; throws std::runtime_error
// Creates `path` (O_EXCL | O_NOFOLLOW, 0600) holding `cookie`; with `owner` >= 0 it is chowned to
// owner:group. Throws std::runtime_error saying what failed.
void write_xauthority_file(const std::string& path, const std::string& cookie, uid_t owner = static_cast<uid_t>(-1),
                           gid_t group = static_cast<gid_t>(-1));

}  // namespace portico::host::privsep

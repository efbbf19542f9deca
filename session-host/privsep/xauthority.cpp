#include "session-host/privsep/xauthority.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace portico::host::privsep {

namespace {

void put_counted(std::string& out, const std::string& s) {
    out.push_back(static_cast<char>(s.size() >> 8));
    out.push_back(static_cast<char>(s.size() & 0xff));
    out += s;
}

}  // namespace

std::string random_cookie() {
    std::string cookie(kCookieBytes, '\0');
    std::size_t got = 0;
    while (got < cookie.size()) {
        ssize_t n = ::getrandom(cookie.data() + got, cookie.size() - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error(std::string("getrandom: ") + std::strerror(errno));
        }
        got += static_cast<std::size_t>(n);
    }
    return cookie;
}

void write_xauthority_file(const std::string& path, const std::string& cookie, uid_t owner, gid_t group) {
    std::string entry = "\xff\xff";  // FamilyWild
    put_counted(entry, "");
    put_counted(entry, "");
    put_counted(entry, "MIT-MAGIC-COOKIE-1");
    put_counted(entry, cookie);
    ::unlink(path.c_str());
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
    bool ok = ::write(fd, entry.data(), entry.size()) == static_cast<ssize_t>(entry.size());
    if (ok && owner != static_cast<uid_t>(-1)) ok = ::fchown(fd, owner, group) == 0;
    ::close(fd);
    if (!ok) throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
}

}  // namespace portico::host::privsep

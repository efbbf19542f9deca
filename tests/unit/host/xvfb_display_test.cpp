// XvfbDisplay: a private X server that demands its own cookie and dies with its owner.
#include "session-host/x11/x_display.hpp"

#include "tests/support/x_test_util.hpp"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

using namespace portico;
using namespace std::chrono_literals;

TEST_CASE("xvfb: starts on a free display with a private cookie file", "[xvfb]") {
    test::TempDir dir;
    host::XvfbDisplay d(640, 480, dir.path);
    REQUIRE(d.display().size() > 1);
    CHECK(d.display()[0] == ':');
    CHECK(d.running());
    CHECK(test::proc_exists(d.pid()));
    struct stat st {};
    REQUIRE(::stat(d.xauthority().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);

    test::XConn x(d.display(), d.xauthority());
    CHECK(x.screen->width_in_pixels == 640);
    CHECK(x.screen->height_in_pixels == 480);
    CHECK(x.screen->root_depth == 24);
}

TEST_CASE("xvfb: connections without the cookie are refused", "[xvfb]") {
    test::TempDir dir;
    host::XvfbDisplay d(320, 240, dir.path);

    // A wrong cookie.
    char wrong[16] = {'n', 'o', 't', ' ', 't', 'h', 'e', ' ', 'c', 'o', 'o', 'k', 'i', 'e', '!', '!'};
    char name[] = "MIT-MAGIC-COOKIE-1";
    xcb_auth_info_t auth{static_cast<int>(sizeof name - 1), name, 16, wrong};
    xcb_connection_t* c = xcb_connect_to_display_with_auth_info(d.display().c_str(), &auth, nullptr);
    CHECK(xcb_connection_has_error(c) != 0);
    xcb_disconnect(c);

    // No cookie at all (what any other local user or process would have).
    const char* old = std::getenv("XAUTHORITY");
    std::string saved = old ? old : "";
    ::setenv("XAUTHORITY", "/dev/null", 1);
    c = xcb_connect(d.display().c_str(), nullptr);
    CHECK(xcb_connection_has_error(c) != 0);
    xcb_disconnect(c);

    // libxcb's own lookup ($XAUTHORITY, as apps use it) accepts our wildcard entry.
    ::setenv("XAUTHORITY", d.xauthority().c_str(), 1);
    c = xcb_connect(d.display().c_str(), nullptr);
    CHECK(xcb_connection_has_error(c) == 0);
    xcb_disconnect(c);
    if (old)
        ::setenv("XAUTHORITY", saved.c_str(), 1);
    else
        ::unsetenv("XAUTHORITY");
}

TEST_CASE("xvfb: two displays get different numbers", "[xvfb]") {
    test::TempDir a, b;
    host::XvfbDisplay d1(320, 240, a.path), d2(320, 240, b.path);
    CHECK(d1.display() != d2.display());
    // Each cookie opens only its own server.
    CHECK_THROWS_AS(test::XConn(d1.display(), d2.xauthority()), std::runtime_error);
}

TEST_CASE("xvfb: destroying the display stops and reaps the server", "[xvfb]") {
    test::TempDir dir;
    pid_t pid = -1;
    std::string display;
    {
        host::XvfbDisplay d(320, 240, dir.path);
        pid = d.pid();
        display = d.display();
        REQUIRE(pid > 0);
        REQUIRE(test::proc_exists(pid));
    }
    CHECK_FALSE(test::proc_exists(pid));  // gone and reaped, not a zombie
    CHECK(::kill(pid, 0) != 0);
    xcb_connection_t* c = xcb_connect(display.c_str(), nullptr);
    CHECK(xcb_connection_has_error(c) != 0);
    xcb_disconnect(c);
}

TEST_CASE("xvfb: a bad geometry fails with Xvfb's own message", "[xvfb]") {
    test::TempDir dir;
    try {
        host::XvfbDisplay d(0, 0, dir.path);
        FAIL("Xvfb started with a 0x0 screen");
    } catch (const std::runtime_error& e) {
        std::string what = e.what();
        CHECK(what.find("Xvfb") != std::string::npos);
        INFO(what);
        CHECK(what.size() > 30);
    }
}

TEST_CASE("xvfb: the server dies with a crashed owner (PDEATHSIG)", "[xvfb]") {
    test::TempDir dir;
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_t owner = ::fork();
    REQUIRE(owner >= 0);
    if (owner == 0) {
        // Stand-in for a host process: start a display, report its pid, then hang until killed.
        ::close(fds[0]);
        try {
            host::XvfbDisplay d(320, 240, dir.path);
            pid_t p = d.pid();
            if (::write(fds[1], &p, sizeof p) != sizeof p) ::_exit(2);
            for (;;) ::pause();
        } catch (...) {
            ::_exit(1);
        }
    }
    ::close(fds[1]);
    pid_t xvfb = -1;
    ssize_t n = ::read(fds[0], &xvfb, sizeof xvfb);
    ::close(fds[0]);
    REQUIRE(n == static_cast<ssize_t>(sizeof xvfb));
    REQUIRE(test::proc_alive(xvfb));
    ::kill(owner, SIGKILL);  // no destructor runs
    ::waitpid(owner, nullptr, 0);
    CHECK(test::wait_until([&] { return !test::proc_alive(xvfb); }, 10s));
}

// AppProcess: runs in its own group with the session's X environment; leaves nothing behind.
#include "session-host/app/app_process.hpp"

#include "tests/support/x_test_util.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

using namespace portico;
using namespace std::chrono_literals;

namespace {

std::string file_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

TEST_CASE("app process: gets DISPLAY/XAUTHORITY, inherits the rest, logs output", "[app]") {
    test::TempDir dir;
    const std::string log = dir.path + "/app.log";
    ::setenv("PORTICO_TEST_INHERITED", "yes", 1);
    host::AppProcess p({"sh", "-c", "echo \"d=$DISPLAY a=$XAUTHORITY i=$PORTICO_TEST_INHERITED\"; exit 3"}, ":77",
                       "/some/Xauthority", log);
    REQUIRE(test::wait_until([&] { return p.exited(); }, 10s));
    CHECK(p.exit_status() == 3);
    CHECK(file_text(log).find("d=:77 a=/some/Xauthority i=yes") != std::string::npos);
    CHECK_FALSE(test::proc_exists(p.pid()));  // reaped, no zombie
}

TEST_CASE("app process: runs in its own process group and session", "[app]") {
    test::TempDir dir;
    host::AppProcess p({"sleep", "30"}, ":1", "/dev/null", dir.path + "/app.log");
    REQUIRE(p.pid() > 0);
    CHECK(::getpgid(p.pid()) == p.pid());
    CHECK(::getsid(p.pid()) == p.pid());
    CHECK_FALSE(p.exited());
    p.terminate();
    CHECK(p.exited());
    CHECK_FALSE(test::proc_exists(p.pid()));
}

TEST_CASE("app process: terminate kills the whole group, including children left behind", "[app][timing]") {
    test::TempDir dir;
    pid_t pid = -1;
    {
        // The shell ignores SIGTERM, so SIGKILL after the grace period is needed as well.
        host::AppProcess p({"sh", "-c", "trap '' TERM; sleep 60 & sleep 60 & wait"}, ":1", "/dev/null",
                           dir.path + "/app.log");
        pid = p.pid();
        REQUIRE(test::wait_until([&] { return test::group_members(pid).size() >= 3; }, 10s));
        auto start = std::chrono::steady_clock::now();
        p.terminate(300);
        CHECK(std::chrono::steady_clock::now() - start < 5s);
        CHECK(p.exited());
    }
    CHECK(test::wait_until([&] { return test::group_members(pid).empty(); }, 5s));
    CHECK_FALSE(test::proc_exists(pid));
}

TEST_CASE("app process: the destructor cleans up a running app", "[app]") {
    test::TempDir dir;
    pid_t pid = -1;
    {
        host::AppProcess p({"sh", "-c", "sleep 60 & sleep 60"}, ":1", "/dev/null", dir.path + "/app.log");
        pid = p.pid();
        REQUIRE(test::wait_until([&] { return test::group_members(pid).size() >= 2; }, 10s));
    }
    CHECK(test::wait_until([&] { return test::group_members(pid).empty(); }, 5s));
    CHECK_FALSE(test::proc_exists(pid));
}

TEST_CASE("app process: a missing program is an error, not a child", "[app]") {
    test::TempDir dir;
    CHECK_THROWS_AS(host::AppProcess({"portico-no-such-program"}, ":1", "/dev/null", dir.path + "/app.log"),
                    std::runtime_error);
    CHECK_THROWS_AS(host::AppProcess({}, ":1", "/dev/null", dir.path + "/app.log"), std::runtime_error);
    CHECK_THROWS_AS(host::AppProcess({"sleep", "1"}, ":1", "/dev/null", "/nonexistent/dir/app.log"),
                    std::runtime_error);
}

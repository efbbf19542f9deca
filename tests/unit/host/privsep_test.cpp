// Privilege separation: the helper's wire, what it accepts, the account policy, and (as root)
// a real session started as a created account, its clean environment and its complete end.
#include "session-host/privsep/accounts.hpp"
#include "session-host/privsep/helper_wire.hpp"
#include "session-host/privsep/session_helper.hpp"
#include "session-host/privsep/xauthority.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

using namespace portico::host::privsep;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct Pair {
    int a = -1, b = -1;
    Pair() {
        int p[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) == 0);
        a = p[0], b = p[1];
    }
    ~Pair() { ::close(a), ::close(b); }
};

json start_request(const std::string& user, std::vector<std::string> argv) {
    return {{"op", "start"},
            {"session", "s1"},
            {"user", user},
            {"argv", argv},
            {"env", json::array()},
            {"display", ":5"},
            {"cookie", std::string(32, 'a')}};
}

bool running_as_root_or_required() {
    if (::geteuid() == 0) return true;
    const char* ci = std::getenv("CI");
    if (ci && std::string(ci) == "true") FAIL("this test needs root (CI runs as root)");
    WARN("skipped: needs root");
    return false;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("privsep: names, environment entries and uids the helper accepts", "[privsep]") {
    CHECK(valid_account_name("alice"));
    CHECK(valid_account_name("pt-bob_2"));
    CHECK_FALSE(valid_account_name("Alice"));  // uppercase would let two portal users share an account
    CHECK_FALSE(valid_account_name("-rf"));
    CHECK_FALSE(valid_account_name("a.b"));
    CHECK_FALSE(valid_account_name("../etc"));
    CHECK_FALSE(valid_account_name(std::string(33, 'a')));
    CHECK_FALSE(valid_account_name(""));

    CHECK(allowed_env_entry("GDK_SCALE=2"));
    CHECK(allowed_env_entry("QT_SCALE_FACTOR=1.5"));
    CHECK_FALSE(allowed_env_entry("LD_PRELOAD=/tmp/x.so"));
    CHECK_FALSE(allowed_env_entry("PATH=/tmp"));
    CHECK_FALSE(allowed_env_entry("HOME=/root"));
    CHECK_FALSE(allowed_env_entry("lower=1"));
    CHECK_FALSE(allowed_env_entry("NOEQUALS"));
    CHECK_FALSE(allowed_env_entry("=x"));

    AccountPolicy p;
    p.service_uid = 999;
    CHECK(account_refusal(p, 0) == "it is root");
    CHECK(account_refusal(p, 999) == "it is the session host's own account");
    CHECK(account_refusal(p, 100) == "it is a system account");
    CHECK(account_refusal(p, 65534) == "it is a system account");
    CHECK(account_refusal(p, 1000).empty());
    CHECK(account_refusal(p, 200000).empty());
    p.use_existing = false;
    CHECK_FALSE(account_refusal(p, 1000).empty());
    CHECK(account_refusal(p, 200000).empty());
}

TEST_CASE("privsep: the wire carries one message and one descriptor, and refuses what is malformed", "[privsep]") {
    Pair s;
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    REQUIRE(send_message(s.a, {{"op", "x"}, {"n", 1}}, fd).empty());
    ::close(fd);
    std::string error;
    auto got = receive_message(s.b, error);
    REQUIRE(got);
    CHECK(got->message["op"] == "x");
    CHECK(got->fd >= 0);
    ::close(got->fd);

    const char garbage[] = "{not json";
    REQUIRE(::send(s.a, garbage, sizeof garbage - 1, 0) > 0);
    CHECK_FALSE(receive_message(s.b, error));
    CHECK(error == "malformed message");

    std::string big(kMaxMessage + 10, 'x');
    REQUIRE(::send(s.a, big.data(), big.size(), 0) > 0);
    CHECK_FALSE(receive_message(s.b, error));
    CHECK(error == "message too large");

    ::shutdown(s.a, SHUT_WR);
    CHECK_FALSE(receive_message(s.b, error));
    CHECK(error == "closed");
}

TEST_CASE("privsep: the helper refuses bad requests before it touches any account", "[privsep]") {
    SessionHelper::Options o;
    o.accounts.create = false;
    o.accounts.use_existing = false;
    SessionHelper helper(o, -1, -1);
    auto refusal = [&](const json& req, int fd = -1) {
        int reply_fd = -1;
        json r = helper.handle(req, fd, reply_fd);
        CHECK(reply_fd == -1);
        CHECK(r["ok"] == false);
        return r.value("error", std::string());
    };
    CHECK(refusal({{"op", "format-disk"}}).find("unknown request") != std::string::npos);
    CHECK(refusal({{"op", "start"}}) == "malformed request");
    CHECK(refusal(start_request("alice", {"xterm"})).find("absolute path") != std::string::npos);
    CHECK(refusal(start_request("alice", {})).find("absolute path") != std::string::npos);
    auto bad_session = start_request("alice", {"/usr/bin/xterm"});
    bad_session["session"] = "../../etc";
    CHECK(refusal(bad_session) == "invalid session id");
    auto bad_env = start_request("alice", {"/usr/bin/xterm"});
    bad_env["env"] = {"LD_PRELOAD=/tmp/evil.so"};
    CHECK(refusal(bad_env).find("environment entry not allowed: LD_PRELOAD") != std::string::npos);
    auto bad_cookie = start_request("alice", {"/usr/bin/xterm"});
    bad_cookie["cookie"] = "zz";
    CHECK(refusal(bad_cookie) == "invalid X authority cookie");
    auto bad_display = start_request("alice", {"/usr/bin/xterm"});
    bad_display["display"] = "evil:0";
    CHECK(refusal(bad_display) == "invalid display");
    CHECK(refusal(start_request("alice", {"/usr/bin/xterm"})) == "no log descriptor");
    int log_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    CHECK(refusal(start_request("Root", {"/usr/bin/xterm"}), log_fd).find("not a valid Unix account name") !=
          std::string::npos);
    log_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    CHECK(refusal(start_request("root", {"/usr/bin/xterm"}), log_fd).find("cannot run sessions: it is root") !=
          std::string::npos);
}

TEST_CASE("privsep: a session runs as a created account with a clean environment, and ends whole", "[privsep][root]") {
    if (!running_as_root_or_required()) return;
    const std::string user = "portico-unit-t";
    ::system(("userdel -r -f " + user + " >/dev/null 2>&1").c_str());
    const std::string base = fs::temp_directory_path() / ("portico-privsep-" + std::to_string(::getpid()));
    fs::create_directories(base + "/home");
    ::chmod(base.c_str(), 0755);
    SessionHelper::Options o;
    o.accounts.use_existing = false;
    o.accounts.uid_min = 260000, o.accounts.uid_max = 260099;
    o.accounts.home_base = base + "/home";
    o.runtime_base = base + "/run";
    SessionHelper helper(o, -1, -1);

    const std::string log_path = base + "/app.log";
    int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    // The app reports who it is, then leaves a daemon behind that escapes its process group.
    auto req = start_request(user, {"/bin/sh", "-c", "id -u; id -G; env | sort; setsid sleep 300 & sleep 300"});
    req["env"] = {"GDK_SCALE=2"};
    int pidfd = -1;
    json r = helper.handle(req, log_fd, pidfd);
    INFO(r.dump());
    REQUIRE(r["ok"] == true);
    REQUIRE(pidfd >= 0);
    pidfd = ::dup(pidfd);  // the helper keeps (and closes) its own; the host gets a copy like this
    const passwd* pw = ::getpwnam(user.c_str());
    REQUIRE(pw);
    const uid_t uid = pw->pw_uid;
    CHECK(uid >= 260000);
    CHECK(uid <= 260099);
    CHECK(r["uid"] == uid);
    struct stat home {};
    REQUIRE(::stat(pw->pw_dir, &home) == 0);
    CHECK((home.st_mode & 077) == 0);
    struct stat xa {};
    REQUIRE(::stat((o.runtime_base + "/s1/Xauthority").c_str(), &xa) == 0);
    CHECK(xa.st_uid == uid);
    CHECK((xa.st_mode & 077) == 0);

    std::string out;
    for (int i = 0; i < 100 && out.find("XAUTHORITY=") == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        out = slurp(log_path);
    }
    INFO(out);
    CHECK(out.rfind(std::to_string(uid) + "\n", 0) == 0);
    CHECK(out.find("GDK_SCALE=2") != std::string::npos);
    CHECK(out.find("HOME=" + std::string(pw->pw_dir)) != std::string::npos);
    CHECK(out.find("DISPLAY=:5") != std::string::npos);
    CHECK(out.find("PORTICO") == std::string::npos);  // nothing of the host's environment
    CHECK(out.find("CI=") == std::string::npos);

    auto processes_of = [](uid_t u) {
        int n = 0;
        for (const auto& e : fs::directory_iterator("/proc")) {
            struct stat st {};
            const std::string name = e.path().filename();
            if (name.find_first_not_of("0123456789") == std::string::npos && ::stat(e.path().c_str(), &st) == 0 &&
                st.st_uid == u)
                ++n;
        }
        return n;
    };
    CHECK(processes_of(uid) >= 2);

    int ignored = -1;
    CHECK(helper.handle({{"op", "stop"}, {"session", "s1"}, {"grace_ms", 200}}, -1, ignored)["ok"] == true);
    pollfd p{pidfd, POLLIN, 0};
    CHECK(::poll(&p, 1, 3000) == 1);  // the pidfd says the app has exited
    for (int i = 0; i < 60 && (processes_of(uid) > 0 || fs::exists(o.runtime_base + "/s1")); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        helper.handle({{"op", "stop"}, {"session", "s1"}, {"grace_ms", 200}}, -1, ignored);
        while (::waitpid(-1, nullptr, WNOHANG) > 0) {
        }
    }
    CHECK(processes_of(uid) == 0);  // the escaped daemon too
    CHECK_FALSE(fs::exists(o.runtime_base + "/s1"));
    ::close(pidfd);
    ::system(("userdel -r -f " + user + " >/dev/null 2>&1").c_str());
    fs::remove_all(base);
}

// The helper's own loop (poll on the host's socket and on its signals), in a child as in use:
// creating an account forks useradd, whose SIGCHLD once left the loop blocked in read(), so the
// first session started and every later request went unanswered.
TEST_CASE("privsep: the helper's loop answers every request, also after it created accounts", "[privsep][root]") {
    if (!running_as_root_or_required()) return;
    const std::vector<std::string> users = {"portico-unit-l1", "portico-unit-l2"};
    for (const auto& u : users) ::system(("userdel -r -f " + u + " >/dev/null 2>&1").c_str());
    const std::string base = fs::temp_directory_path() / ("portico-privsep-loop-" + std::to_string(::getpid()));
    fs::create_directories(base + "/home");
    ::chmod(base.c_str(), 0755);
    SessionHelper::Options o;
    o.accounts.use_existing = false;
    o.accounts.uid_min = 260100, o.accounts.uid_max = 260199;
    o.accounts.home_base = base + "/home";
    o.runtime_base = base + "/run";

    Pair s;
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(s.a);
        SessionHelper helper(o, s.b, -1);
        ::_exit(helper.run() < 0 ? 0 : 1);  // ends when the socket closes (no host process to reap)
    }
    // A failed REQUIRE must not leave the helper running (it holds the test's output open).
    struct KillOnExit {
        pid_t pid;
        ~KillOnExit() {
            if (pid > 0 && ::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);
        }
    } helper_guard{child};
    ::close(s.b);
    s.b = -1;
    auto ask = [&](const json& req, bool with_log) {
        int fd = with_log ? ::open("/dev/null", O_WRONLY | O_CLOEXEC) : -1;
        REQUIRE(send_message(s.a, req, fd).empty());
        if (fd >= 0) ::close(fd);
        pollfd p{s.a, POLLIN, 0};
        REQUIRE(::poll(&p, 1, 10000) == 1);  // answered, not left waiting
        std::string error;
        auto got = receive_message(s.a, error);
        REQUIRE(got);
        if (got->fd >= 0) ::close(got->fd);
        return got->message;
    };
    for (std::size_t i = 0; i < users.size(); ++i) {
        auto req = start_request(users[i], {"/bin/sleep", "300"});
        req["session"] = "loop" + std::to_string(i);
        json r = ask(req, true);
        INFO(r.dump());
        CHECK(r["ok"] == true);
        CHECK(r["account"] == users[i]);
    }
    for (std::size_t i = 0; i < users.size(); ++i)
        CHECK(ask({{"op", "stop"}, {"session", "loop" + std::to_string(i)}, {"grace_ms", 100}}, false)["ok"] == true);
    CHECK(ask({{"op", "status"}, {"session", "loop0"}}, false)["ok"] == true);
    ::shutdown(s.a, SHUT_RDWR);
    int st = 0;
    REQUIRE(::waitpid(child, &st, 0) == child);
    helper_guard.pid = -1;
    CHECK(WIFEXITED(st));
    for (const auto& u : users) ::system(("userdel -r -f " + u + " >/dev/null 2>&1").c_str());
    fs::remove_all(base);
}

// GuestAgent against a listening unix socket in place of QEMU's chardev (the guest's side of the
// port is deploy/guest/portico-agent, tested by tests/integration/test_guest_agent.py): requests
// go out whole, one a line, a newer one replaces one not yet written; answers come back a line
// at a time, cut at kMaxLine and with control bytes replaced; a missing or vanished socket is no
// error, and the agent connects once the socket is there.

#include "session-host/vm/guest_agent.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

using portico::host::vm::GuestAgent;
using namespace std::chrono_literals;

namespace {

struct Listener {
    std::string path;
    int fd = -1;
    explicit Listener(std::string p) : path(std::move(p)) {
        ::unlink(path.c_str());
        fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strcpy(addr.sun_path, path.c_str());
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::listen(fd, 1) == 0);
    }
    ~Listener() {
        ::close(fd);
        ::unlink(path.c_str());
    }
    int accept() const { return ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC); }
};

std::string temp_socket(const char* name) {
    return (std::filesystem::temp_directory_path() /
            (std::string("portico-agent-") + name + "-" + std::to_string(::getpid()) + ".sock"))
        .string();
}

// What the guest side read, until `lines` newlines arrived (at most 5 s).
std::string read_lines(int fd, int lines) {
    std::string got;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    while (std::count(got.begin(), got.end(), '\n') < lines && std::chrono::steady_clock::now() < deadline) {
        char buf[256];
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0)
            got.append(buf, static_cast<std::size_t>(n));
        else
            std::this_thread::sleep_for(5ms);
    }
    return got;
}

}  // namespace

TEST_CASE("GuestAgent sends requests as lines and reads answers", "[guest_agent]") {
    Listener qemu(temp_socket("lines"));
    GuestAgent agent(qemu.path);
    CHECK_FALSE(agent.send("layout 1824 768 0 0,0,1024,768 1024,0,800,600"));
    CHECK(agent.poll().empty());
    const int guest = qemu.accept();
    REQUIRE(guest >= 0);
    CHECK(read_lines(guest, 1) == "layout 1824 768 0 0,0,1024,768 1024,0,800,600\n");

    // Two answers in one write, a third split across two.
    const std::string answers = "applied 1824x768 *PORTICO-0;PORTICO-1\nfailed the screen is 800x600\nappl";
    REQUIRE(::write(guest, answers.data(), answers.size()) == static_cast<ssize_t>(answers.size()));
    std::vector<std::string> got;
    for (int i = 0; i < 100 && got.size() < 2; ++i) {
        for (auto& a : agent.poll()) got.push_back(a);
        std::this_thread::sleep_for(5ms);
    }
    REQUIRE(got == std::vector<std::string>{"applied 1824x768 *PORTICO-0;PORTICO-1", "failed the screen is 800x600"});
    REQUIRE(::write(guest, "ied 800x600\n", 12) == 12);
    got.clear();
    for (int i = 0; i < 100 && got.empty(); ++i) {
        got = agent.poll();
        std::this_thread::sleep_for(5ms);
    }
    CHECK(got == std::vector<std::string>{"applied 800x600"});
    ::close(guest);
}

TEST_CASE("GuestAgent keeps only the newest unsent request", "[guest_agent]") {
    const std::string path = temp_socket("newest");
    ::unlink(path.c_str());
    GuestAgent agent(path);
    CHECK_FALSE(agent.send("layout 1 1 0"));
    CHECK(agent.poll().empty());        // no socket yet: no error
    CHECK(agent.send("layout 2 2 0"));  // the older request, never written, gives way
    Listener qemu(path);
    std::this_thread::sleep_for(1100ms);  // the agent tries to connect at most once a second
    CHECK(agent.poll().empty());
    const int guest = qemu.accept();
    REQUIRE(guest >= 0);
    CHECK(read_lines(guest, 1) == "layout 2 2 0\n");
    ::close(guest);
}

TEST_CASE("GuestAgent treats the guest's answers as untrusted", "[guest_agent]") {
    Listener qemu(temp_socket("untrusted"));
    GuestAgent agent(qemu.path);
    agent.poll();
    const int guest = qemu.accept();
    REQUIRE(guest >= 0);
    std::string answer = "failed \x1b[31mred\r\x01";
    answer += std::string(GuestAgent::kMaxLine * 2, 'x') + "\n";
    for (std::size_t off = 0; off < answer.size();) {
        const ssize_t n = ::write(guest, answer.data() + off, answer.size() - off);
        REQUIRE(n > 0);
        off += static_cast<std::size_t>(n);
    }
    std::vector<std::string> got;
    for (int i = 0; i < 200 && got.empty(); ++i) {
        got = agent.poll();
        std::this_thread::sleep_for(5ms);
    }
    REQUIRE(got.size() == 1);
    CHECK(got[0].size() == GuestAgent::kMaxLine);
    CHECK(got[0].rfind("failed ?[31mred??xxx", 0) == 0);

    // The guest side goes away (QEMU ended): polling is quiet, sending is no error.
    ::close(guest);
    agent.send("layout 3 3 0");
    for (int i = 0; i < 5; ++i) CHECK(agent.poll().empty());
}

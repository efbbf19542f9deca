#pragma once
// Helpers for tests that run real X servers and processes: private temp dirs, polling with
// generous deadlines (the test machine is small and shared), and /proc inspection.

#include "capture/x11/x11_connection.hpp"

#include <xcb/xcb.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace portico::test {

struct TempDir {
    std::string path;
    TempDir() {
        static int counter = 0;
        path = "/tmp/portico-host-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

template <typename Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = std::chrono::milliseconds(50)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (pred()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(step);
    }
}

inline bool proc_exists(pid_t pid) { return std::filesystem::exists("/proc/" + std::to_string(pid)); }

// True while pid is a live process (a zombie waiting for its reaper counts as gone).
inline bool proc_alive(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    if (!std::getline(in, stat)) return false;
    auto close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

// Pids of live (non-zombie) processes whose process group is pgid.
inline std::vector<pid_t> group_members(pid_t pgid) {
    std::vector<pid_t> out;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
        const std::string name = e.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream in(e.path() / "stat");
        std::string stat;
        std::getline(in, stat);
        auto close = stat.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(stat.substr(close + 2));
        char state = 0;
        long ppid = 0, pgrp = 0;
        rest >> state >> ppid >> pgrp;
        if (pgrp == pgid && state != 'Z') out.push_back(static_cast<pid_t>(std::stol(name)));
    }
    return out;
}

struct XConn {
    xcb_connection_t* c = nullptr;
    xcb_screen_t* screen = nullptr;
    XConn(const std::string& display, const std::string& xauthority) {
        int n = 0;
        c = capture::connect_x11(display, xauthority, &n);
        screen = xcb_setup_roots_iterator(xcb_get_setup(c)).data;
    }
    ~XConn() { xcb_disconnect(c); }
    void sync() { std::free(xcb_get_input_focus_reply(c, xcb_get_input_focus(c), nullptr)); }
    xcb_atom_t atom(const char* name) {
        auto* r = xcb_intern_atom_reply(c, xcb_intern_atom(c, 0, static_cast<std::uint16_t>(std::strlen(name)), name),
                                        nullptr);
        if (!r) throw std::runtime_error(std::string("cannot intern X atom ") + name);
        const xcb_atom_t a = r->atom;
        std::free(r);
        return a;
    }
};

}  // namespace portico::test

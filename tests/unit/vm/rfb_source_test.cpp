// RfbFrameSource against a scripted RFB server on a unix socket (a fake of QEMU's VNC server for
// this one class): once the server reports a relative pointer (pointer-type-change), positions,
// motion, the wheel and release_all go as QEMU's relative PointerEvents (0x7FFF + d); once it
// reports absolute again, as positions. A screen invalidated in the middle of an update still
// reads that update to its end.

#include "session-host/vm/rfb_source.hpp"

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

using portico::host::vm::RfbClientProtocol;
using portico::host::vm::RfbFrameSource;
using Bytes = std::vector<std::uint8_t>;
using namespace std::chrono_literals;

namespace {

void be16(Bytes& b, std::uint16_t v) {
    b.push_back(v >> 8);
    b.push_back(v & 0xff);
}
void be32(Bytes& b, std::uint32_t v) {
    be16(b, v >> 16);
    be16(b, v & 0xffff);
}

bool read_all(int fd, std::size_t n) {
    std::vector<std::uint8_t> buf(n);
    std::size_t got = 0;
    while (got < n) {
        const ssize_t r = ::read(fd, buf.data() + got, n - got);
        if (r <= 0) return false;
        got += static_cast<std::size_t>(r);
    }
    return true;
}

// A pointer-type-change update: x = 1 absolute, 0 relative.
Bytes mode_update(bool relative) {
    Bytes b{0, 0};
    be16(b, 1);
    be16(b, relative ? 0 : 1);
    be16(b, 0);
    be16(b, 64);
    be16(b, 32);
    be32(b, static_cast<std::uint32_t>(RfbClientProtocol::enc_pointer_type_change));
    return b;
}

// A raw update of the whole 64x32 screen in one colour (B, G, R, X per pixel).
Bytes raw_update(std::uint8_t blue) {
    Bytes b{0, 0};
    be16(b, 1);
    be16(b, 0);
    be16(b, 0);
    be16(b, 64);
    be16(b, 32);
    be32(b, static_cast<std::uint32_t>(RfbClientProtocol::enc_raw));
    for (int i = 0; i < 64 * 32; ++i) b.insert(b.end(), {blue, 0, 0, 0});
    return b;
}

// Accepts one client, does the RFB 3.8 handshake for a 64x32 screen, then records what the client
// sends; send() writes server messages.
class ScriptedServer {
public:
    explicit ScriptedServer(const std::string& path) {
        listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
        REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
        REQUIRE(::listen(listen_fd_, 1) == 0);
        thread_ = std::thread([this] { serve(); });
    }
    ~ScriptedServer() {
        ::shutdown(listen_fd_, SHUT_RDWR);
        if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
        thread_.join();
        if (fd_ >= 0) ::close(fd_);
        ::close(listen_fd_);
    }
    void send(const Bytes& b) {
        while (fd_.load() < 0) std::this_thread::sleep_for(1ms);
        REQUIRE(::write(fd_, b.data(), b.size()) == static_cast<ssize_t>(b.size()));
    }
    // The client's PointerEvents so far, as {mask, x, y}.
    std::vector<std::array<int, 3>> pointer_events() {
        std::lock_guard lk(mu_);
        std::vector<std::array<int, 3>> out;
        std::size_t i = 0;
        auto u16 = [&](std::size_t at) { return in_[at] << 8 | in_[at + 1]; };
        while (i < in_.size()) {
            const std::uint8_t type = in_[i];
            std::size_t len = 0;
            if (type == 0)
                len = 20;  // SetPixelFormat
            else if (type == 2 && i + 4 <= in_.size())
                len = 4 + 4 * u16(i + 2);  // SetEncodings
            else if (type == 3)
                len = 10;  // FramebufferUpdateRequest
            else if (type == 5)
                len = 6;  // PointerEvent
            else if (type == 255)
                len = 12;  // QEMU extended key
            if (len == 0 || i + len > in_.size()) break;
            if (type == 5) out.push_back({in_[i + 1], u16(i + 2), u16(i + 4)});
            i += len;
        }
        return out;
    }

private:
    void serve() {
        const int fd = ::accept(listen_fd_, nullptr, nullptr);
        if (fd < 0) return;
        Bytes hello;
        const char version[] = "RFB 003.008\n";
        hello.insert(hello.end(), version, version + 12);
        if (::write(fd, hello.data(), hello.size()) != 12 || !read_all(fd, 12)) return;
        const std::uint8_t security[] = {1, 1};
        if (::write(fd, security, 2) != 2 || !read_all(fd, 1)) return;
        const std::uint8_t ok[] = {0, 0, 0, 0};
        if (::write(fd, ok, 4) != 4 || !read_all(fd, 1)) return;
        Bytes init;
        be16(init, 64);
        be16(init, 32);
        init.insert(init.end(), {32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0});
        be32(init, 4);
        init.insert(init.end(), {'Q', 'E', 'M', 'U'});
        if (::write(fd, init.data(), init.size()) != static_cast<ssize_t>(init.size())) return;
        fd_ = fd;
        std::uint8_t buf[4096];
        for (;;) {
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n <= 0) return;
            std::lock_guard lk(mu_);
            in_.insert(in_.end(), buf, buf + n);
        }
    }

    int listen_fd_ = -1;
    std::atomic<int> fd_{-1};
    std::thread thread_;
    std::mutex mu_;
    Bytes in_;
};

// A private folder for the server's socket, removed with everything in it.
struct SocketDir {
    std::string path;
    SocketDir() {
        char tmpl[] = "/tmp/portico-rfb-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~SocketDir() { std::filesystem::remove_all(path); }
};

}  // namespace

TEST_CASE("rfb source: relative mode sends 0x7FFF + motion, absolute mode positions", "[rfb]") {
    const SocketDir dir;
    const std::string path = dir.path + "/vnc.sock";
    {
        ScriptedServer server(path);
        RfbFrameSource src(path, 5s);
        CHECK_FALSE(src.pointer_relative());
        server.send(mode_update(true));
        for (int i = 0; i < 100 && !src.pointer_relative(); ++i) src.capture(20ms);
        REQUIRE(src.pointer_relative());

        constexpr int o = RfbClientProtocol::relative_origin;
        src.pointer(30, 20, 0);  // the first position: nothing to move by
        src.pointer(40, 10, 1);  // +10, -10, left button
        src.pointer_relative(-3, 4, 1);
        src.wheel(0, 1);    // a notch down (button 5) where the mouse is: no motion
        src.release_all();  // the left button let go, no motion
        src.capture(20ms);  // the capture thread writes what was queued
        server.send(mode_update(false));
        for (int i = 0; i < 100 && src.pointer_relative(); ++i) src.capture(20ms);
        REQUIRE_FALSE(src.pointer_relative());
        src.pointer_relative(5, -2, 0);  // an absolute guest: the position moves by it (40+5, 10-2)
        src.pointer(12, 13, 0);
        src.capture(20ms);

        const std::vector<std::array<int, 3>> want{
            {0, o, o}, {1, o + 10, o - 10}, {1, o - 3, o + 4}, {1 | 16, o, o},
            {1, o, o}, {0, o, o},           {0, 45, 8},        {0, 12, 13},
        };
        std::vector<std::array<int, 3>> got;
        for (int i = 0; i < 100 && (got = server.pointer_events()).size() < want.size(); ++i)
            std::this_thread::sleep_for(20ms);
        CHECK(got == want);
    }
}

// A keyframe asked for (invalidate) while an update was half read: the capture must still read the
// rest, or the update never ends and nothing from the server is read again (a VM desktop froze on
// its boot screen this way when a viewer's resize came in the middle of an update).
TEST_CASE("rfb source: an invalidated screen still reads a half-read update to its end", "[rfb]") {
    const SocketDir dir;
    const std::string path = dir.path + "/vnc.sock";
    {
        ScriptedServer server(path);
        RfbFrameSource src(path, 5s);
        server.send(raw_update(0x10));
        auto first = src.capture(1s);
        for (int i = 0; i < 50 && first.status() != portico::capture::CaptureResult::Status::frame; ++i)
            first = src.capture(20ms);
        REQUIRE(first.status() == portico::capture::CaptureResult::Status::frame);

        const Bytes second = raw_update(0x20);
        const std::size_t half = second.size() / 2;
        server.send(Bytes(second.begin(), second.begin() + static_cast<std::ptrdiff_t>(half)));
        CHECK(src.capture(50ms).status() == portico::capture::CaptureResult::Status::no_change);
        src.invalidate();
        server.send(Bytes(second.begin() + static_cast<std::ptrdiff_t>(half), second.end()));
        server.send(mode_update(true));

        bool got_frame = false;
        std::uint8_t blue = 0;
        for (int i = 0; i < 100 && !(got_frame && src.pointer_relative()); ++i) {
            auto c = src.capture(20ms);
            if (c.status() == portico::capture::CaptureResult::Status::frame) {
                got_frame = true;
                blue = c->frame->at(0, 0)[0];
            }
        }
        CHECK(got_frame);
        CHECK(blue == 0x20);            // the second update, whole
        CHECK(src.pointer_relative());  // and what came after it
    }
}

#include "session-host/vm/rfb_source.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace portico::host::vm {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t max_queued_input = 64 * 1024;  // bounded: a stuck capture thread drops input

int remaining_ms(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left <= 0 ? 0 : static_cast<int>(left);
}

void append_ext_key(std::vector<std::uint8_t>& o, bool down, std::uint16_t xt) {
    const std::uint8_t msg[12] = {255,
                                  0,
                                  0,
                                  static_cast<std::uint8_t>(down ? 1 : 0),
                                  0,
                                  0,
                                  0,
                                  0,
                                  0,
                                  0,
                                  static_cast<std::uint8_t>(xt >> 8),
                                  static_cast<std::uint8_t>(xt)};
    o.insert(o.end(), msg, msg + 12);
}

void append_pointer(std::vector<std::uint8_t>& o, std::uint8_t mask, int x, int y) {
    const std::uint8_t msg[6] = {5,
                                 mask,
                                 static_cast<std::uint8_t>(x >> 8),
                                 static_cast<std::uint8_t>(x),
                                 static_cast<std::uint8_t>(y >> 8),
                                 static_cast<std::uint8_t>(y)};
    o.insert(o.end(), msg, msg + 6);
}

}  // namespace

RfbFrameSource::RfbFrameSource(const std::string& socket_path, std::chrono::milliseconds timeout) {
    sockaddr_un addr{};
    if (socket_path.size() >= sizeof(addr.sun_path))
        throw std::runtime_error("VNC socket path too long: " + socket_path);
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) break;
        const int err = errno;
        ::close(fd_);
        fd_ = -1;
        if (Clock::now() >= deadline)
            throw std::runtime_error("cannot connect to VNC socket " + socket_path + ": " + std::strerror(err));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) {
        ::close(fd_);
        throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
    }
    try {
        while (!proto_.ready()) {
            if (Clock::now() >= deadline) throw std::runtime_error("RFB handshake with " + socket_path + " timed out");
            pump(deadline, false);
        }
    } catch (...) {
        ::close(fd_);
        ::close(wake_fd_);
        throw;
    }
    std::lock_guard lock(input_mutex_);
    cur_w_ = proto_.frame().width;
    cur_h_ = proto_.frame().height;
}

RfbFrameSource::~RfbFrameSource() {
    if (fd_ >= 0) ::close(fd_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

void RfbFrameSource::write_all(const std::vector<std::uint8_t>& bytes) {
    std::size_t done = 0;
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (done < bytes.size()) {
        const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            // QEMU reads its socket continuously; a full buffer for 5 s means it is wedged.
            if (Clock::now() >= deadline) throw std::runtime_error("VNC server stopped reading");
            pollfd p{fd_, POLLOUT, 0};
            ::poll(&p, 1, 50);
            continue;
        }
        throw std::runtime_error(std::string("VNC connection lost: ") + std::strerror(errno));
    }
}

void RfbFrameSource::read_available() {
    std::uint8_t buf[256 * 1024];
    for (;;) {
        const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
        if (n > 0) {
            if (!proto_.feed(buf, static_cast<std::size_t>(n)))
                throw std::runtime_error("VNC protocol error: " + proto_.error());
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        throw std::runtime_error(n == 0 ? "VNC server closed the connection"
                                        : std::string("VNC read: ") + std::strerror(errno));
    }
    if (proto_.has_output()) write_all(proto_.take_output());
    relative_ = proto_.pointer_relative();
}

void RfbFrameSource::flush_input() {
    std::vector<std::uint8_t> pending;
    {
        std::lock_guard lock(input_mutex_);
        pending.swap(input_);
    }
    std::uint64_t drain;
    (void)!::read(wake_fd_, &drain, sizeof(drain));
    if (!pending.empty() && proto_.ready()) write_all(pending);
}

// Reads server data until `deadline`, or (until_first_update) until a complete update with damage.
void RfbFrameSource::pump(Clock::time_point deadline, bool until_update) {
    for (;;) {
        if (proto_.has_output()) write_all(proto_.take_output());
        pollfd p[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        const int r = ::poll(p, 2, remaining_ms(deadline));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
        if (p[1].revents) flush_input();
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) read_available();
        if (!until_update) return;
        if (!proto_.in_update() && !proto_.damage().empty()) return;
        if (!proto_.update_requested() && proto_.ready()) proto_.request_update(true);
        if (r == 0 || Clock::now() >= deadline) return;
    }
}

capture::CaptureResult RfbFrameSource::capture(std::chrono::milliseconds timeout) {
    try {
        auto c = capture_or_throw(timeout);
        return c ? capture::CaptureResult::got(std::move(*c)) : capture::CaptureResult::nothing_new();
    } catch (const std::exception& e) {
        return capture::CaptureResult::permanent_error(*e.what() ? e.what() : "display lost");
    }
}

std::optional<capture::Capture> RfbFrameSource::capture_or_throw(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    flush_input();
    if (!proto_.update_requested()) proto_.request_update(true);
    // An invalidated screen is whole in the frame already, so it needs no wait for damage; but an
    // update half read must still be read to its end, or it never ends and the screen freezes.
    if (!(invalidated_ && have_first_update_) || proto_.in_update()) pump(deadline, true);
    if (proto_.in_update() || (proto_.damage().empty() && !(invalidated_ && have_first_update_))) return std::nullopt;
    if (!have_first_update_) {
        // The first update answers our full request: everything is new.
        have_first_update_ = true;
        proto_.damage_all();
    }
    if (invalidated_) proto_.damage_all();
    invalidated_ = false;
    {
        std::lock_guard lock(input_mutex_);
        cur_w_ = proto_.frame().width;
        cur_h_ = proto_.frame().height;
    }
    capture::Capture c;
    c.frame = &proto_.frame();
    c.damage = proto_.take_damage();
    c.damage.clip(proto_.frame().bounds());
    c.time = Clock::now();
    return c;
}

void RfbFrameSource::invalidate() { invalidated_ = true; }

bool RfbFrameSource::request_size(int width, int height) {
    if (!proto_.request_size(width, height)) return false;
    write_all(proto_.take_output());
    return true;
}

void RfbFrameSource::key(std::uint16_t evdev_code, bool down) {
    const std::uint16_t xt = evdev_to_xt(evdev_code);
    if (xt == 0) return;
    {
        std::lock_guard lock(input_mutex_);
        if (input_.size() > max_queued_input) return;
        if (down)
            keys_down_.insert(evdev_code);
        else
            keys_down_.erase(evdev_code);
        append_ext_key(input_, down, xt);
    }
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
}

void RfbFrameSource::pointer(int x, int y, std::uint8_t buttons) {
    {
        std::lock_guard lock(input_mutex_);
        if (input_.size() > max_queued_input) return;
        x = std::max(0, std::min(x, cur_w_ - 1));
        y = std::max(0, std::min(y, cur_h_ - 1));
        buttons_ = buttons & 0x7;
        if (relative_) {
            // Moves by the difference to the previous position; the first one has none to go by.
            const bool known = have_position_;
            append_pointer(input_, buttons_, relative_coordinate(known ? x - last_x_ : 0),
                           relative_coordinate(known ? y - last_y_ : 0));
        } else {
            append_pointer(input_, buttons_, x, y);
        }
        last_x_ = x;
        last_y_ = y;
        have_position_ = true;
    }
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
}

void RfbFrameSource::pointer_relative(int dx, int dy, std::uint8_t buttons) {
    {
        std::lock_guard lock(input_mutex_);
        if (input_.size() > max_queued_input) return;
        buttons_ = buttons & 0x7;
        if (relative_) {
            // last_x_/last_y_ stay the client's last absolute position: a Pointer after this (a
            // client that released its capture) moves by its difference to that, not by a jump.
            append_pointer(input_, buttons_, relative_coordinate(dx), relative_coordinate(dy));
        } else {
            // Absolute guest (the mode is switching, or a client that captured too early): move
            // the absolute position by the motion.
            last_x_ = std::max(0, std::min(last_x_ + dx, cur_w_ - 1));
            last_y_ = std::max(0, std::min(last_y_ + dy, cur_h_ - 1));
            have_position_ = true;
            append_pointer(input_, buttons_, last_x_, last_y_);
        }
    }
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
}

void RfbFrameSource::append_still(std::uint8_t mask) {
    if (relative_)
        append_pointer(input_, mask, RfbClientProtocol::relative_origin, RfbClientProtocol::relative_origin);
    else
        append_pointer(input_, mask, last_x_, last_y_);
}

void RfbFrameSource::wheel(int dx, int dy) {
    {
        std::lock_guard lock(input_mutex_);
        if (input_.size() > max_queued_input) return;
        auto notches = [&](int count, std::uint8_t bit) {
            for (int i = 0; i < std::min(count, 16); ++i) {
                append_still(static_cast<std::uint8_t>(buttons_ | bit));
                append_still(buttons_);
            }
        };
        // RFB buttons 4/5 scroll up/down, 6/7 left/right (same numbering as X11).
        if (dy < 0) notches(-dy, 1 << 3);
        if (dy > 0) notches(dy, 1 << 4);
        if (dx < 0) notches(-dx, 1 << 5);
        if (dx > 0) notches(dx, 1 << 6);
    }
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
}

void RfbFrameSource::release_all() {
    {
        std::lock_guard lock(input_mutex_);
        for (std::uint16_t k : keys_down_) append_ext_key(input_, false, evdev_to_xt(k));
        keys_down_.clear();
        if (buttons_ != 0) {
            buttons_ = 0;
            append_still(0);
        }
    }
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
}

}  // namespace portico::host::vm

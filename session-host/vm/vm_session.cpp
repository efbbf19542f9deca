#include "session-host/vm/vm_session.hpp"

#include "common/log.hpp"
#include "session-host/vm/guest_agent.hpp"
#include "session-host/vm/rfb_source.hpp"
#include "session-host/vm/vm_desktops.hpp"

#include <algorithm>

namespace portico::host {

using namespace std::chrono_literals;

VmSession::VmSession(std::unique_ptr<DesktopVm> vm, std::unique_ptr<vm::RfbFrameSource> rfb)
    : vm_(std::move(vm)),
      rfb_(std::move(rfb)),
      asked_width_(rfb_->width()),
      asked_height_(rfb_->height()),
      agent_(std::make_unique<vm::GuestAgent>(vm_->instance().agent_socket())) {}

VmSession::~VmSession() = default;

std::shared_ptr<StreamSession> VmSession::start(std::string id, std::unique_ptr<DesktopVm> vm,
                                                StreamSession::EndedFn on_ended, StreamSession::Options stream) {
    std::unique_ptr<vm::RfbFrameSource> rfb;
    try {
        rfb = std::make_unique<vm::RfbFrameSource>(vm->instance().vnc_socket(), 10s);
    } catch (const std::exception& e) {
        std::string why = e.what();
        if (auto exit = vm->instance().poll_exit()) why = exit->describe();
        throw std::runtime_error("cannot connect to the VM's display: " + why);
    }
    const int w = rfb->width(), h = rfb->height();
    std::shared_ptr<VmSession> s(new VmSession(std::move(vm), std::move(rfb)));
    auto session = StreamSession::start(id, s, s, std::move(on_ended), stream);
    log::info("session ", id, ": VM desktop (", s->vm_->from_spare() ? "from a spare" : "fresh boot", ", pool ",
              s->vm_->pool(), ", pid ", s->vm_->instance().pid(), ", ", s->vm_->runtime_dir(), ") streaming at ", w,
              "x", h);
    return session;
}

void VmSession::key(std::uint16_t code, bool down) {
    std::lock_guard lk(input_mu_);
    if (rfb_) rfb_->key(code, down);
}

void VmSession::pointer(int x, int y, std::uint8_t buttons) {
    std::lock_guard lk(input_mu_);
    if (rfb_) rfb_->pointer(x, y, buttons);
}

bool VmSession::pointer_relative(int dx, int dy, std::uint8_t buttons) {
    std::lock_guard lk(input_mu_);
    if (rfb_) rfb_->pointer_relative(dx, dy, buttons);
    return true;  // taken in either mode: an absolute guest moves its position by it
}

void VmSession::wheel(int dx, int dy) {
    std::lock_guard lk(input_mu_);
    if (rfb_) rfb_->wheel(dx, dy);
}

void VmSession::release_all() {
    std::lock_guard lk(input_mu_);
    if (rfb_) rfb_->release_all();
}

capture::FrameSource& VmSession::frame_source() { return *rfb_; }

void VmSession::change_size(int width, int height) {
    // As app sessions: even, at most 4K; at least 640x480, below which a desktop is unusable.
    width = std::clamp(width & ~1, 640, 3840);
    height = std::clamp(height & ~1, 480, 2160);
    asked_width_ = width;
    asked_height_ = height;
    size_pending_ = width != rfb_->width() || height != rfb_->height();
    request_size();
}

void VmSession::request_size() {
    if (!size_pending_) return;
    // A viewer that connects to a spare at once asks before QEMU's first update said whether it
    // takes sizes: the request waits for that answer (poll() calls this again).
    if (!rfb_->size_support_known()) return;
    size_pending_ = false;
    try {
        if (!rfb_->request_size(asked_width_, asked_height_))
            log::info("VM desktop (pool ", vm_->pool(), "): the VNC server takes no size requests; the guest keeps ",
                      rfb_->width(), "x", rfb_->height());
    } catch (const std::exception& e) {
        // The connection broke: the next capture reports it and the session ends with its reason.
        log::warn("VM desktop (pool ", vm_->pool(), "): size request failed: ", e.what());
    }
}

void VmSession::set_monitors(const std::vector<protocol::MonitorRect>& monitors, int primary) {
    // Cut to the size asked for: the guest takes it when its display driver applies it, and the
    // agent waits for that before it lays the monitors out.
    const auto fitted = protocol::fit_monitor_layout(asked_width_, asked_height_, monitors, primary);
    // One monitor, and the guest was never sent a layout: nothing to undo, nothing to send.
    if (fitted.monitors.empty() && layout_sent_.empty()) return;
    std::string request = "layout " + std::to_string(asked_width_) + " " + std::to_string(asked_height_) + " " +
                          std::to_string(fitted.primary);
    for (const auto& m : fitted.monitors)
        request += " " + std::to_string(m.x) + "," + std::to_string(m.y) + "," + std::to_string(m.w) + "," +
                   std::to_string(m.h);
    if (request == layout_sent_) return;
    log::info("VM desktop (pool ", vm_->pool(), "): to the guest's agent: ", request);
    if (!agent_->send(request)) ++answers_due_;  // a request replaced unwritten gets no answer
    layout_sent_ = std::move(request);
    layout_sent_at_ = std::chrono::steady_clock::now();
}

void VmSession::read_agent() {
    for (const auto& answer : agent_->poll()) {
        // One answer a request is logged; a guest that talks unasked is not (it could fill the log).
        if (answers_due_ == 0) continue;
        --answers_due_;
        if (answer.rfind("applied ", 0) == 0)
            log::info("VM desktop (pool ", vm_->pool(), "): the guest laid out its monitors: ", answer.substr(8));
        else
            log::warn("VM desktop (pool ", vm_->pool(), "): the guest's agent answered: ", answer);
    }
    // The agent waits up to 30 s for the guest's resolution; a guest that runs none never answers.
    if (answers_due_ > 0 && !agent_silence_logged_ && std::chrono::steady_clock::now() - layout_sent_at_ > 60s) {
        agent_silence_logged_ = true;
        log::warn("VM desktop (pool ", vm_->pool(),
                  "): the guest's agent did not answer the monitor layout in 60 s; "
                  "the guest keeps one monitor (an image of your own needs deploy/guest/portico-agent: "
                  "deploy/guest/README.md)");
    }
}

std::optional<SessionEnding> VmSession::poll(ViewerChannel& viewers, const std::string* display_lost) {
    request_size();
    read_agent();
    if (const int status = rfb_->size_request_status(); status != size_status_logged_ && status > 0) {
        size_status_logged_ = status;
        if (status == 4)
            log::info("VM desktop (pool ", vm_->pool(), "): the size request went to the guest's display driver");
        else
            log::warn("VM desktop (pool ", vm_->pool(), "): the VM's display cannot change the guest's resolution (",
                      status == 3 ? "standard VGA; the image's \"display\": \"virtio\" can"
                                  : "status " + std::to_string(status),
                      "); the guest keeps ", rfb_->width(), "x", rfb_->height());
    }
    // Every viewer learns the guest's pointer mode on attach and whenever QEMU reports a switch.
    const bool relative = rfb_->pointer_relative();
    if (mode_resend_.exchange(false) || mode_sent_ != relative) {
        if (mode_sent_ != relative)
            log::info("VM desktop (pool ", vm_->pool(), "): the guest's pointer is ",
                      relative ? "relative (no tablet: viewers capture the pointer)" : "absolute (tablet)");
        mode_sent_ = relative;
        viewers.broadcast(
            std::make_shared<const std::vector<std::uint8_t>>(protocol::encode(protocol::PointerMode{relative})));
    }
    auto& vm = vm_->instance();
    auto exit = vm.poll_exit();
    if (!exit && display_lost) exit = vm.wait_exit(2s);  // the display went first; QEMU follows
    if (exit) {
        if (!exit->crashed)
            return SessionEnding{protocol::EndReason::app_exited, "the desktop was shut down (the VM powered off)"};
        return SessionEnding{protocol::EndReason::error, "the desktop's VM stopped unexpectedly: " + exit->describe()};
    }
    if (display_lost) return SessionEnding{protocol::EndReason::error, "lost the desktop's display: " + *display_lost};
    return std::nullopt;
}

void VmSession::teardown() {
    {
        std::lock_guard lk(input_mu_);
        rfb_.reset();
    }
    agent_.reset();
    vm_.reset();  // stops QEMU and cleans the session's files
}

}  // namespace portico::host

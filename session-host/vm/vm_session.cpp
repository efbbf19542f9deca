#include "session-host/vm/vm_session.hpp"

#include "common/log.hpp"
#include "session-host/vm/rfb_source.hpp"
#include "session-host/vm/vm_desktops.hpp"

namespace portico::host {

using namespace std::chrono_literals;

// The VM's display as the capture loop sees it. A lost VNC connection (QEMU died, the guest
// powered off) is remembered instead of thrown, so poll() can end the session with what happened
// to the VM rather than with a socket error.
class VmSession::GuardedSource final : public capture::FrameSource {
public:
    explicit GuardedSource(vm::RfbFrameSource& rfb) : rfb_(rfb) {}
    int width() const override { return rfb_.width(); }
    int height() const override { return rfb_.height(); }
    std::optional<capture::Capture> capture(std::chrono::milliseconds timeout) override {
        if (!lost_.empty()) return std::nullopt;
        try {
            return rfb_.capture(timeout);
        } catch (const std::exception& e) {
            lost_ = e.what();
            if (lost_.empty()) lost_ = "display lost";
            return std::nullopt;
        }
    }
    void invalidate() override { rfb_.invalidate(); }
    const std::string& lost() const { return lost_; }

private:
    vm::RfbFrameSource& rfb_;
    std::string lost_;
};

VmSession::VmSession(std::string id, int width, int height, std::unique_ptr<DesktopVm> vm,
                     std::unique_ptr<vm::RfbFrameSource> rfb, EndedFn on_ended)
    : StreamSession(std::move(id), width, height, std::move(on_ended)), vm_(std::move(vm)), rfb_(std::move(rfb)),
      source_(std::make_unique<GuardedSource>(*rfb_)) {}

VmSession::~VmSession() = default;

std::shared_ptr<VmSession> VmSession::start(std::string id, std::unique_ptr<DesktopVm> vm, EndedFn on_ended) {
    std::unique_ptr<vm::RfbFrameSource> rfb;
    try {
        rfb = std::make_unique<vm::RfbFrameSource>(vm->instance().vnc_socket(), 10s);
    } catch (const std::exception& e) {
        std::string why = e.what();
        if (auto exit = vm->instance().poll_exit()) why = exit->describe();
        throw std::runtime_error("cannot connect to the VM's display: " + why);
    }
    const int w = rfb->width(), h = rfb->height();
    std::shared_ptr<VmSession> s(new VmSession(id, w, h, std::move(vm), std::move(rfb), std::move(on_ended)));
    s->start_streaming();
    log::info("session ", id, ": VM desktop (", s->vm_->from_spare() ? "from a spare" : "fresh boot", ", pool ",
              s->vm_->pool(), ", pid ", s->vm_->instance().pid(), ", ", s->vm_->runtime_dir(), ") streaming at ", w, "x", h);
    return s;
}

void VmSession::key(std::uint16_t code, bool down) {
    if (down) input_arrived();
    std::lock_guard lk(input_mu_);
    if (rfb_) rfb_->key(code, down);
}

void VmSession::pointer(int x, int y, std::uint8_t buttons) {
    std::lock_guard lk(input_mu_);
    if (buttons != last_buttons_) input_arrived();
    last_buttons_ = buttons;
    if (rfb_) rfb_->pointer(x, y, buttons);
}

void VmSession::wheel(int dx, int dy) {
    input_arrived();
    std::lock_guard lk(input_mu_);
    if (rfb_) rfb_->wheel(dx, dy);
}

void VmSession::release_input() {
    std::lock_guard lk(input_mu_);
    if (rfb_) rfb_->release_all();
}

capture::FrameSource& VmSession::frame_source() { return *source_; }

std::optional<StreamSession::Ending> VmSession::poll() {
    auto& vm = vm_->instance();
    auto exit = vm.poll_exit();
    if (!exit && !source_->lost().empty()) exit = vm.wait_exit(2s);  // the display went first; QEMU follows
    if (exit) {
        if (!exit->crashed)
            return Ending{protocol::EndReason::app_exited, "the desktop was shut down (the VM powered off)"};
        return Ending{protocol::EndReason::error, "the desktop's VM stopped unexpectedly: " + exit->describe()};
    }
    if (!source_->lost().empty())
        return Ending{protocol::EndReason::error, "lost the desktop's display: " + source_->lost()};
    return std::nullopt;
}

void VmSession::teardown() {
    {
        std::lock_guard lk(input_mu_);
        rfb_.reset();
    }
    source_.reset();
    vm_.reset();  // stops QEMU and cleans the session's files
}

}  // namespace portico::host

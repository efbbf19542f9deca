#pragma once
// VmSession: a desktop running in its own VM, streamed to the viewers attached to it. The screen
// is read from QEMU's VNC server (RfbFrameSource); keys go to the guest as scancodes (its own
// layout applies) and the pointer as absolute coordinates (usb-tablet). The guest's resolution
// changes reach the viewers as Resize (StreamSession follows the frame size); a client's
// ResizeRequest is ignored: the guest decides its resolution. start() blocks (session worker);
// afterwards the capture thread owns the VM and tears it down. Input methods are called from
// network threads and never block.

#include "session-host/stream/stream_session.hpp"

#include <memory>
#include <mutex>
#include <string>

namespace portico::host {

namespace vm { class RfbFrameSource; }
class DesktopVm;

class VmSession final : public StreamSession {
public:
    // Connects to the VM's display (the RFB handshake, at most 10 s). Throws std::runtime_error
    // saying what failed; the VM is released (stopped, files cleaned) in that case.
    static std::shared_ptr<VmSession> start(std::string id, std::unique_ptr<DesktopVm> vm, EndedFn on_ended);
    ~VmSession() override;

    void key(std::uint16_t evdev_code, bool down) override;
    void pointer(int x, int y, std::uint8_t buttons) override;
    void wheel(int dx, int dy) override;

private:
    class GuardedSource;
    VmSession(std::string id, int width, int height, std::unique_ptr<DesktopVm> vm,
              std::unique_ptr<vm::RfbFrameSource> rfb, EndedFn on_ended);

    // StreamSession hooks (capture thread)
    capture::FrameSource& frame_source() override;
    std::optional<Ending> poll() override;
    void release_input() override;
    void teardown() override;

    std::unique_ptr<DesktopVm> vm_;
    std::uint8_t last_buttons_ = 0;  // input_mu_: a button change is input that may show
    std::mutex input_mu_;  // rfb_ takes input from network threads and is torn down by the capture thread
    std::unique_ptr<vm::RfbFrameSource> rfb_;
    std::unique_ptr<GuardedSource> source_;
};

}  // namespace portico::host

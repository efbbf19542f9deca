#pragma once
// VmSession: a desktop running in its own VM — the screen and the input a StreamSession streams
// (session_parts.hpp). The screen is read from QEMU's VNC server (RfbFrameSource); keys go to the guest as scancodes (its own
// layout applies) and the pointer as absolute coordinates (usb-tablet), or as relative motion while
// the guest has only a relative mouse (no tablet driver: firmware, an installer, a rescue console),
// which the viewers are told with PointerMode so that they capture the pointer. A client's
// ResizeRequest becomes an RFB SetDesktopSize, which QEMU hands to the display device: with
// virtio-vga the guest's driver learns the size as its monitor's preferred mode, and a guest that
// applies it (a desktop environment does; our desktop image's session script does) changes its
// resolution; standard VGA refuses (logged once). The guest's resolution changes reach the viewers
// as Resize (StreamSession follows the frame size). A client spanning several monitors sends
// their layout too, which RFB cannot carry: it goes to the guest's agent (vm::GuestAgent,
// deploy/guest/portico-agent), which makes it the guest's RandR monitors; its answer is logged.
// start() blocks (session worker);
// afterwards the capture thread owns the VM and tears it down. Input methods are called from
// network threads and never block.

#include "session-host/stream/session_parts.hpp"
#include "session-host/stream/stream_session.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace portico::host {

namespace vm {
class GuestAgent;
class RfbFrameSource;
}  // namespace vm
class DesktopVm;

class VmSession final : public SessionScreen, public SessionInput {
public:
    // Connects to the VM's display (the RFB handshake, at most 10 s). Throws std::runtime_error
    // saying what failed; the VM is released (stopped, files cleaned) in that case.
    static std::shared_ptr<StreamSession> start(std::string id, std::unique_ptr<DesktopVm> vm,
                                                StreamSession::EndedFn on_ended, StreamSession::Options stream = {});
    ~VmSession() override;

    // SessionInput (network threads)
    void key(std::uint16_t evdev_code, bool down) override;
    void pointer(int x, int y, std::uint8_t buttons) override;
    bool pointer_relative(int dx, int dy, std::uint8_t buttons) override;
    void wheel(int dx, int dy) override;
    void release_all() override;

    // SessionScreen (capture thread)
    capture::FrameSource& frame_source() override;
    // With display_lost (the VNC connection broke: QEMU died, the guest powered off), the ending
    // says what happened to the VM rather than what the socket saw.
    std::optional<SessionEnding> poll(ViewerChannel& viewers, const std::string* display_lost) override;
    void viewer_attached() override { mode_resend_ = true; }
    void change_size(int width, int height) override;
    void set_monitors(const std::vector<protocol::MonitorRect>& monitors, int primary) override;
    void teardown() override;

private:
    VmSession(std::unique_ptr<DesktopVm> vm, std::unique_ptr<vm::RfbFrameSource> rfb);
    void request_size();
    void read_agent();

    std::unique_ptr<DesktopVm> vm_;
    std::mutex input_mu_;  // rfb_ takes input from network threads and is torn down by the capture thread
    std::unique_ptr<vm::RfbFrameSource> rfb_;
    // PointerMode: what the viewers were last told (capture thread), and a viewer attached (any thread).
    std::optional<bool> mode_sent_;
    std::atomic<bool> mode_resend_{false};
    int size_status_logged_ = -1;  // the last answer to a resize request that was logged (capture thread)
    // The monitor layout (capture thread): the size last asked for, the request last sent to the
    // guest's agent (empty: none yet, so the guest holds no layout) and when, the answers still expected.
    int asked_width_ = 0, asked_height_ = 0;
    bool size_pending_ = false;  // asked_ not yet sent: the server has not said if it takes sizes
    std::unique_ptr<vm::GuestAgent> agent_;
    std::string layout_sent_;
    std::chrono::steady_clock::time_point layout_sent_at_{};
    int answers_due_ = 0;
    bool agent_silence_logged_ = false;
};

}  // namespace portico::host

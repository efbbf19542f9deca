#pragma once
// ClipboardBridge: text copy and paste between an app session's X display and its viewer. It owns
// CLIPBOARD and PRIMARY with the text the client sent (answering SelectionRequests for TARGETS,
// UTF8_STRING, TEXT and STRING), and watches (XFIXES) who else takes either selection to fetch
// the text an app copied (xterm sets PRIMARY when text is selected, CLIPBOARD on explicit copy).
// set_text() is called from network threads, poll() from the session's capture thread; one mutex.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace portico::host {

class ClipboardBridge {
public:
    // Connects to the display; throws std::runtime_error if it is unreachable or lacks XFIXES.
    ClipboardBridge(const std::string& display, const std::string& xauthority);
    ~ClipboardBridge();
    ClipboardBridge(const ClipboardBridge&) = delete;
    ClipboardBridge& operator=(const ClipboardBridge&) = delete;

    // The session's CLIPBOARD and PRIMARY now hold `text` (UTF-8). Only queues X requests.
    void set_text(std::string text);

    // Handles pending X events without waiting for new ones (a conversion in progress costs a
    // round trip or two to the local X server). Returns text an app copied, once per change, and
    // never the text that came from set_text().
    std::optional<std::string> poll();

    // How long a fetched text may be; longer copies are cut at a character boundary.
    static constexpr std::size_t kMaxText = 1024 * 1024;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace portico::host

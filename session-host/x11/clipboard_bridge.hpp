#pragma once
// ClipboardBridge: copy and paste between an app session's X display and its viewer. It owns
// CLIPBOARD and PRIMARY with the text the client sent (answering SelectionRequests for TARGETS,
// UTF8_STRING, TEXT and STRING), or CLIPBOARD alone with an image the client sent (TARGETS and
// image/png), and watches (XFIXES) who else takes either selection to fetch what an app copied
// (xterm sets PRIMARY when text is selected, CLIPBOARD on explicit copy). From CLIPBOARD it asks
// TARGETS first and fetches image/png only when the owner offers no text: an app offering both
// (a spreadsheet's cells, a rendered document) means its text, which pastes anywhere.
// set_text()/set_image() are called from network threads, poll() from the session's capture
// thread; one mutex.

#include "protocol/display.hpp"

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
    // The session's CLIPBOARD now holds this PNG image (as image/png); PRIMARY keeps its text.
    void set_image(std::string png);

    // What an app copied: UTF-8 text, or with png the bytes of a PNG file.
    struct Copied {
        std::string data;
        bool png = false;
    };
    // Handles pending X events without waiting for new ones (a conversion in progress costs a
    // round trip or two to the local X server). Returns what an app copied, once per change, and
    // never what came from set_text() or set_image().
    std::optional<Copied> poll();

    // How long a fetched text may be; longer copies are cut at a character boundary.
    static constexpr std::size_t kMaxText = protocol::kMaxClipboardBytes;
    // How large an image may be either way; a larger one is dropped (a cut PNG is no picture).
    static constexpr std::size_t kMaxImage = protocol::kMaxClipboardImageBytes;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace portico::host

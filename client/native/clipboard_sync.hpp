#pragma once
// Clipboard contents both ways between the local desktop and the session: local text (or a PNG
// image) becomes Clipboard messages (chunks of at most kClipboardChunkBytes, text chunks each
// valid UTF-8, all but the last with `more`, image chunks with `png`), and the session's
// ClipboardData chunks are joined into what to put on the local clipboard. Each side's content is
// remembered so that what came from the session is not sent back to it, and the same local
// content is sent once. Pure; window thread.

#include "protocol/display.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portico::client {

// text (or with png the bytes of an image) as Clipboard messages (empty: one empty message).
std::vector<protocol::Clipboard> clipboard_messages(std::string_view data, bool png = false);

// What the session copied: UTF-8 text, or with png the bytes of a PNG file.
struct ClipboardContent {
    std::string data;
    bool png = false;
};

class ClipboardSync {
public:
    // The local clipboard holds text: the messages to send (none if the session has it already).
    std::vector<protocol::Clipboard> local(const std::string& text);
    // The local clipboard holds a PNG image: the same for it (none if too large or not a PNG).
    std::vector<protocol::Clipboard> local_image(const std::string& png);
    // A ClipboardData chunk: the whole content once its last chunk is here (too long or invalid
    // content, or a transfer mixing text and image chunks, is dropped).
    std::optional<ClipboardContent> remote(const protocol::ClipboardData& chunk);

private:
    std::string known_;      // the text both sides have
    std::string known_png_;  // the image both sides have
    std::string incoming_;
    bool incoming_png_ = false;
    bool dropped_ = false;
};

}  // namespace portico::client

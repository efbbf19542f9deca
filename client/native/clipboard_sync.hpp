#pragma once
// Clipboard text both ways between the local desktop and the session: local text becomes
// Clipboard messages (chunks of at most kClipboardChunkBytes, each valid UTF-8, all but the last
// with `more`), and the session's ClipboardData chunks are joined into the text to put on the
// local clipboard. Each side's text is remembered so that text that came from the session is not
// sent back to it, and the same local text is sent once. Pure; window thread.

#include "protocol/display.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portico::client {

// text as Clipboard messages (empty text: one empty message).
std::vector<protocol::Clipboard> clipboard_messages(std::string_view text);

class ClipboardSync {
public:
    // The local clipboard holds text: the messages to send (none if the session has it already).
    std::vector<protocol::Clipboard> local(const std::string& text);
    // A ClipboardData chunk: the whole text once its last chunk is here (too long or invalid
    // text is dropped).
    std::optional<std::string> remote(const protocol::ClipboardData& chunk);

private:
    std::string known_;  // the text both sides have
    std::string incoming_;
    bool overflow_ = false;
};

}  // namespace portico::client

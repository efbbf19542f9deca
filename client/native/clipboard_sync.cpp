#include "client/native/clipboard_sync.hpp"

#include <algorithm>

namespace portico::client {

std::vector<protocol::Clipboard> clipboard_messages(std::string_view text) {
    std::vector<protocol::Clipboard> out;
    std::size_t pos = 0;
    do {
        std::size_t end = std::min(text.size(), pos + protocol::kClipboardChunkBytes);
        // Back up to the start of a character so every chunk is valid UTF-8 on its own.
        while (end < text.size() && end > pos && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
        out.push_back({std::string(text.substr(pos, end - pos)), end < text.size()});
        pos = end;
    } while (pos < text.size());
    return out;
}

std::vector<protocol::Clipboard> ClipboardSync::local(const std::string& text) {
    if (text == known_ || text.size() > protocol::kMaxClipboardBytes || !protocol::valid_utf8(text)) return {};
    known_ = text;
    return clipboard_messages(text);
}

std::optional<std::string> ClipboardSync::remote(const protocol::ClipboardData& chunk) {
    if (incoming_.size() + chunk.text.size() > protocol::kMaxClipboardBytes) overflow_ = true;
    if (!overflow_) incoming_ += chunk.text;
    if (chunk.more) return std::nullopt;
    std::optional<std::string> whole;
    if (!overflow_ && protocol::valid_utf8(incoming_)) {
        known_ = incoming_;
        whole = incoming_;
    }
    incoming_.clear();
    overflow_ = false;
    return whole;
}

}  // namespace portico::client

#include "client/native/clipboard_sync.hpp"

#include <algorithm>

namespace portico::client {

std::vector<protocol::Clipboard> clipboard_messages(std::string_view data, bool png) {
    std::vector<protocol::Clipboard> out;
    std::size_t pos = 0;
    do {
        std::size_t end = std::min(data.size(), pos + protocol::kClipboardChunkBytes);
        // Back up to the start of a character so every text chunk is valid UTF-8 on its own.
        while (!png && end < data.size() && end > pos && (static_cast<unsigned char>(data[end]) & 0xC0) == 0x80) --end;
        out.push_back({std::string(data.substr(pos, end - pos)), end < data.size(), png});
        pos = end;
    } while (pos < data.size());
    return out;
}

std::vector<protocol::Clipboard> ClipboardSync::local(const std::string& text) {
    if (text == known_ || text.size() > protocol::kMaxClipboardBytes || !protocol::valid_utf8(text)) return {};
    known_ = text;
    return clipboard_messages(text);
}

std::vector<protocol::Clipboard> ClipboardSync::local_image(const std::string& png) {
    if (png == known_png_ || png.size() > protocol::kMaxClipboardImageBytes || !protocol::looks_like_png(png))
        return {};
    known_png_ = png;
    return clipboard_messages(png, true);
}

std::optional<ClipboardContent> ClipboardSync::remote(const protocol::ClipboardData& chunk) {
    if (incoming_.empty() && !dropped_) incoming_png_ = chunk.png;  // a transfer's first chunk
    const std::size_t max = incoming_png_ ? protocol::kMaxClipboardImageBytes : protocol::kMaxClipboardBytes;
    if (chunk.png != incoming_png_ || incoming_.size() + chunk.text.size() > max) dropped_ = true;
    if (!dropped_) incoming_ += chunk.text;
    if (chunk.more) return std::nullopt;
    std::optional<ClipboardContent> whole;
    if (!dropped_ && incoming_png_ && protocol::looks_like_png(incoming_)) {
        known_png_ = incoming_;
        whole = ClipboardContent{incoming_, true};
    } else if (!dropped_ && !incoming_png_ && protocol::valid_utf8(incoming_)) {
        known_ = incoming_;
        whole = ClipboardContent{incoming_, false};
    }
    incoming_.clear();
    dropped_ = false;
    return whole;
}

}  // namespace portico::client

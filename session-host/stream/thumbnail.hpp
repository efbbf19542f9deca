#pragma once
// Thumbnails of a session's screen for the portal (control message thumbnail_request): the frame
// shrunk to fit a box, keeping its aspect, and compressed as a small JPEG. Pure: the caller
// (StreamSession's capture thread) chooses which frame.

#include "capture/frame.hpp"
#include "common/result.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace portico::host {

struct ThumbnailSize {
    int width = 0, height = 0;
};

// The largest size within max_width x max_height with the frame's aspect (at least 1x1); a frame
// smaller than the box keeps its own size (thumbnails never enlarge).
ThumbnailSize thumbnail_size(int frame_width, int frame_height, int max_width, int max_height);

// The frame fitted into max_width x max_height (libyuv box filter) as a 4:2:0 JPEG of `quality`,
// lowered step by step while the JPEG is over max_bytes. Errors: an empty or malformed frame, a
// box outside 1..8192, or no quality small enough.
Result<std::vector<std::uint8_t>, std::string> make_thumbnail(const capture::Frame& frame, int max_width,
                                                              int max_height, int quality, std::size_t max_bytes);

}  // namespace portico::host

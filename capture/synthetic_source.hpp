#pragma once
// SyntheticFrameSource: a deterministic moving pattern (text-like glyph rows plus a moving block)
// for tests and benchmarks that need frames without an X server.

#include "capture/frame_source.hpp"

namespace portico::capture {

class SyntheticFrameSource final : public FrameSource {
public:
    SyntheticFrameSource(int width, int height);
    int width() const override { return frame_.width; }
    int height() const override { return frame_.height; }
    // Each call advances the pattern one step and reports the changed area as damage.
    CaptureResult capture(std::chrono::milliseconds timeout) override;  // always a frame
    void invalidate() override { full_ = true; }

private:
    Frame frame_;
    int step_ = 0;
    bool full_ = true;
};

}  // namespace portico::capture

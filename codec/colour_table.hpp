#pragma once
// ColourTable: the distinct colours of a rectangle in first-seen order, up to 256 (a palette), for
// the lossless tile encoders. Open addressing over 1024 slots; gives up at the 257th colour, which
// is how the encoders tell text and flat UI from photo-like content.

#include <array>
#include <cstdint>

namespace portico::codec {

class ColourTable {
public:
    ColourTable() { slots_.fill(kEmpty); }
    // Index of the colour (0xRRGGBB) in first-seen order, or -1 once more than 256 colours were seen.
    int index_of(std::uint32_t rgb) {
        std::uint32_t h = (rgb * 2654435761u) >> (32 - kBits);
        for (;;) {
            auto& slot = slots_[h];
            if (slot == kEmpty) {
                if (count_ == 256) return -1;
                slot = rgb;
                indices_[h] = static_cast<std::uint8_t>(count_);
                colours_[static_cast<std::size_t>(count_)] = rgb;
                return count_++;
            }
            if (slot == rgb) return indices_[h];
            h = (h + 1) & (kSlots - 1);
        }
    }
    int count() const { return count_; }
    std::uint32_t colour(int i) const { return colours_[static_cast<std::size_t>(i)]; }

private:
    static constexpr int kBits = 10;
    static constexpr std::uint32_t kSlots = 1u << kBits;
    static constexpr std::uint32_t kEmpty = 0xffffffffu;  // not an RGB value (top byte set)
    std::array<std::uint32_t, kSlots> slots_;
    std::array<std::uint8_t, kSlots> indices_{};
    std::array<std::uint32_t, 256> colours_{};
    int count_ = 0;
};

}  // namespace portico::codec

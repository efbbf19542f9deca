#include "codec/palette_tile.hpp"

#include "codec/colour_table.hpp"
#include "codec/palette_format.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace portico::codec {

// Tiles are at most 256 x 256 (64 KiB of indices): the best compression costs little at that size,
// and a typed character's tile is a few dozen bytes where every one saved shows in the text figure.
struct PaletteTileEncoder::Deflater {
    z_stream z{};
    Deflater() {
        if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, -15 /* raw deflate */, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            throw std::runtime_error("zlib: cannot start a deflate stream");
    }
    ~Deflater() { deflateEnd(&z); }
    Deflater(const Deflater&) = delete;
    Deflater& operator=(const Deflater&) = delete;

    // Appends the deflated `in` to out.
    void deflate_to(const std::vector<std::uint8_t>& in, std::vector<std::uint8_t>& out) {
        if (deflateReset(&z) != Z_OK) throw std::runtime_error("zlib: deflateReset failed");
        const std::size_t start = out.size();
        out.resize(start + deflateBound(&z, static_cast<uLong>(in.size())));
        z.next_in = const_cast<Bytef*>(in.data());
        z.avail_in = static_cast<uInt>(in.size());
        z.next_out = out.data() + start;
        z.avail_out = static_cast<uInt>(out.size() - start);
        if (deflate(&z, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("zlib: deflate did not finish");
        out.resize(out.size() - z.avail_out);
    }
};

PaletteTileEncoder::PaletteTileEncoder(Form form) : form_(form), deflater_(std::make_unique<Deflater>()) {}
PaletteTileEncoder::~PaletteTileEncoder() = default;

std::optional<std::vector<std::uint8_t>> PaletteTileEncoder::encode(const capture::Frame& frame,
                                                                    const capture::Rect& r) {
    if (r.empty() || !frame.bounds().contains(r)) throw std::invalid_argument("palette tile outside the frame");
    ColourTable table;
    indices_.resize(static_cast<std::size_t>(r.w) * static_cast<std::size_t>(r.h));
    for (int y = 0; y < r.h; ++y) {
        const std::uint8_t* row = frame.row(r.y + y) + static_cast<std::size_t>(r.x) * 4;
        std::uint8_t* out = indices_.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(r.w);
        for (int x = 0; x < r.w; ++x) {
            const std::uint8_t* p = row + static_cast<std::size_t>(x) * 4;
            const int i =
                table.index_of(static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[1]) << 8 | p[0]);
            if (i < 0) return {};  // photo-like: more than 256 colours
            out[x] = static_cast<std::uint8_t>(i);
        }
    }

    const int colours = table.count();
    std::vector<std::uint8_t> out;
    out.reserve(2 + static_cast<std::size_t>(colours) * 3 + indices_.size() / 4);
    if (form_ == Form::compact) {
        write_compact(table, r, out);
        return out;
    }
    out.push_back(static_cast<std::uint8_t>(colours - 1));
    for (int i = 0; i < colours; ++i) {
        const std::uint32_t c = table.colour(i);
        out.insert(out.end(), {static_cast<std::uint8_t>(c >> 16), static_cast<std::uint8_t>(c >> 8),
                               static_cast<std::uint8_t>(c)});
    }
    if (colours == 1) return out;  // a solid fill
    pack_indices(colours, r);

    // Deflate unless storing is smaller (a handful of bytes of indices does not compress).
    const std::size_t head = out.size();
    out.push_back(palette::deflated);
    deflater_->deflate_to(packed_, out);
    if (out.size() - head - 1 >= packed_.size()) {
        out.resize(head);
        out.push_back(palette::stored);
        out.insert(out.end(), packed_.begin(), packed_.end());
    }
    return out;
}

// Packs indices_ (one byte per pixel) into packed_: rows at the palette's depth, first pixel in the
// high bits (as PNG does), each row padded to a byte.
void PaletteTileEncoder::pack_indices(int colours, const capture::Rect& r) {
    const int bits = palette::bits_per_index(colours);
    const std::size_t stride = palette::row_bytes(r.w, bits);
    packed_.assign(stride * static_cast<std::size_t>(r.h), 0);
    for (int y = 0; y < r.h; ++y) {
        const std::uint8_t* in = indices_.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(r.w);
        std::uint8_t* row = packed_.data() + static_cast<std::size_t>(y) * stride;
        if (bits == 8) {
            std::copy(in, in + r.w, row);
            continue;
        }
        const int per_byte = 8 / bits;
        for (int x = 0; x < r.w; ++x)
            row[x / per_byte] |= static_cast<std::uint8_t>(in[x] << (8 - bits * (x % per_byte + 1)));
    }
}

// The compact form: the palette sorted (so its deltas are small: an antialiased glyph's greys step
// a few levels at a time), the indices renumbered to match, and one deflate over both.
void PaletteTileEncoder::write_compact(const ColourTable& table, const capture::Rect& r,
                                       std::vector<std::uint8_t>& out) {
    const int colours = table.count();
    std::array<std::uint32_t, 256> sorted{};
    bool grey = true;
    for (int i = 0; i < colours; ++i) {
        const std::uint32_t c = table.colour(i);
        sorted[static_cast<std::size_t>(i)] = c << 8 | static_cast<std::uint32_t>(i);  // colour, then its old index
        grey = grey && (c >> 16 & 0xff) == (c & 0xff) && (c >> 8 & 0xff) == (c & 0xff);
    }
    std::sort(sorted.begin(), sorted.begin() + colours);
    std::array<std::uint8_t, 256> renumber{};
    body_.clear();
    std::uint32_t previous = 0;
    for (int i = 0; i < colours; ++i) {
        const std::uint32_t c = sorted[static_cast<std::size_t>(i)] >> 8;
        renumber[sorted[static_cast<std::size_t>(i)] & 0xff] = static_cast<std::uint8_t>(i);
        auto delta = [&](int shift) { return static_cast<std::uint8_t>((c >> shift) - (previous >> shift)); };
        if (grey)
            body_.push_back(delta(0));
        else
            body_.insert(body_.end(), {delta(16), delta(8), delta(0)});
        previous = c;
    }
    if (colours > 1) {
        for (auto& i : indices_) i = renumber[i];
        pack_indices(colours, r);
        body_.insert(body_.end(), packed_.begin(), packed_.end());
    }
    out.push_back(static_cast<std::uint8_t>(colours - 1));
    const std::size_t form_at = out.size();
    out.push_back(grey ? palette::form_grey : 0);
    // Deflate unless storing is smaller (a solid fill or a few pixels do not compress).
    deflater_->deflate_to(body_, out);
    if (out.size() - form_at - 1 >= body_.size()) {
        out.resize(form_at + 1);
        out.insert(out.end(), body_.begin(), body_.end());
    } else {
        out[form_at] |= palette::form_deflated;
    }
}

}  // namespace portico::codec

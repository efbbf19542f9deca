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
    if (form_ != Form::classic) {
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

// Packs indices_ (one byte per pixel) into packed_: lines of indices at the palette's depth, first
// index in the high bits (as PNG does), each line padded to a byte. The lines are the rows, or with
// a `band` the columns of each band of that many rows, top band first (the last may be shorter).
void PaletteTileEncoder::pack_indices(int colours, const capture::Rect& r, int band) {
    const int bits = palette::bits_per_index(colours);
    const int per_byte = 8 / bits;
    const auto w = static_cast<std::size_t>(r.w);
    packed_.clear();
    if (band == 0 && bits == 8) {
        packed_.assign(indices_.begin(), indices_.end());
        return;
    }
    // One line: `length` indices from `in`, `step` apart.
    auto pack_line = [&](const std::uint8_t* in, int length, std::size_t step) {
        const std::size_t at = packed_.size();
        packed_.resize(at + palette::row_bytes(length, bits), 0);
        std::uint8_t* line = packed_.data() + at;
        for (int i = 0; i < length; ++i)
            line[i / per_byte] |=
                static_cast<std::uint8_t>(in[static_cast<std::size_t>(i) * step] << (8 - bits * (i % per_byte + 1)));
    };
    if (band == 0) {
        for (int y = 0; y < r.h; ++y) pack_line(indices_.data() + static_cast<std::size_t>(y) * w, r.w, 1);
        return;
    }
    for (int top = 0; top < r.h; top += band)
        for (int x = 0; x < r.w; ++x)
            pack_line(indices_.data() + static_cast<std::size_t>(top) * w + static_cast<std::size_t>(x),
                      std::min(band, r.h - top), w);
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
    const std::size_t palette_bytes = body_.size();
    if (colours > 1) {
        for (auto& i : indices_) i = renumber[i];
        pack_indices(colours, r);
        body_.insert(body_.end(), packed_.begin(), packed_.end());
    }
    best_.clear();
    deflater_->deflate_to(body_, best_);
    int band = 0;  // the rows, unless columns in bands deflate smaller
    if (colours > 1 && colours <= kColumnsMaxColours && form_ == Form::compact_columns && r.h <= kColumnsMaxHeight) {
        // Bands of a whole strip, half of it, a third, a quarter: one of them is likely the text's
        // line height when the strip is a few new lines.
        int tried = 0;
        for (int parts = 1; parts <= 4; ++parts) {
            const int rows = (r.h + parts - 1) / parts;
            if (rows == tried || (parts > 1 && rows < kMinBandRows)) continue;
            tried = rows;
            columns_.assign(body_.begin(), body_.begin() + static_cast<std::ptrdiff_t>(palette_bytes));
            pack_indices(colours, r, rows);
            columns_.insert(columns_.end(), packed_.begin(), packed_.end());
            candidate_.clear();
            deflater_->deflate_to(columns_, candidate_);
            if (candidate_.size() + 1 < best_.size()) {  // + the band byte
                best_.swap(candidate_);
                band = rows;
            }
        }
    }
    out.push_back(static_cast<std::uint8_t>(colours - 1));
    const std::uint8_t grey_bit = grey ? palette::form_grey : 0;
    // Deflate unless storing is smaller (a solid fill or a few pixels do not compress).
    if (best_.size() + (band ? 1 : 0) >= body_.size()) {
        out.push_back(grey_bit);
        out.insert(out.end(), body_.begin(), body_.end());
    } else if (band == 0) {
        out.push_back(grey_bit | palette::form_deflated);
        out.insert(out.end(), best_.begin(), best_.end());
    } else {
        out.insert(out.end(), {static_cast<std::uint8_t>(grey_bit | palette::form_deflated | palette::form_columns),
                               static_cast<std::uint8_t>(band)});
        out.insert(out.end(), best_.begin(), best_.end());
    }
}

}  // namespace portico::codec

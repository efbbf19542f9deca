#include "codec/palette_decoder.hpp"

#include "codec/palette_format.hpp"

#include <zlib.h>

#include <array>
#include <cstring>
#include <stdexcept>

namespace portico::codec {

struct PaletteDecoder::Inflater {
    z_stream z{};
    Inflater() {
        if (inflateInit2(&z, -15 /* raw deflate */) != Z_OK) throw std::runtime_error("zlib: cannot start inflate");
    }
    ~Inflater() { inflateEnd(&z); }
    Inflater(const Inflater&) = delete;
    Inflater& operator=(const Inflater&) = delete;
};

PaletteDecoder::PaletteDecoder() : inflater_(std::make_unique<Inflater>()) {}
PaletteDecoder::~PaletteDecoder() = default;

bool PaletteDecoder::fail(std::string why) {
    error_ = "palette tile: " + std::move(why);
    return false;
}

// Inflates `in` into packed_, which must come out exactly `size` bytes with the stream ending at the
// input's last byte.
bool PaletteDecoder::inflate_exact(std::span<const std::uint8_t> in, std::size_t size) {
    z_stream& z = inflater_->z;
    if (inflateReset(&z) != Z_OK) return fail("zlib inflateReset failed");
    packed_.resize(size + 1);  // one spare byte: more output than `size` is an error, not a cut
    z.next_in = const_cast<Bytef*>(in.data());
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = packed_.data();
    z.avail_out = static_cast<uInt>(packed_.size());
    const int rc = inflate(&z, Z_FINISH);
    if (rc != Z_STREAM_END) return fail(rc == Z_DATA_ERROR ? "corrupt deflate data" : "deflate data cut short");
    if (z.avail_in != 0) return fail("bytes after the deflate data");
    if (packed_.size() - z.avail_out != size) return fail("the deflate data does not fill the tile");
    packed_.resize(size);
    return true;
}

bool PaletteDecoder::decode_into(std::span<const std::uint8_t> tile, capture::Frame& target, int x, int y, int w,
                                 int h) {
    if (w <= 0 || h <= 0 || x < 0 || y < 0 || x + w > target.width || y + h > target.height)
        return fail("lies outside the screen");
    if (tile.empty()) return fail("empty");
    const int colours = tile[0] + 1;
    const std::size_t palette_end = 1 + static_cast<std::size_t>(colours) * 3;
    if (tile.size() < palette_end) return fail("the palette is cut short");
    std::array<std::uint32_t, 256> bgrx{};
    for (int i = 0; i < colours; ++i) {
        const std::uint8_t* c = tile.data() + 1 + i * 3;
        bgrx[static_cast<std::size_t>(i)] =
            static_cast<std::uint32_t>(c[0]) << 16 | static_cast<std::uint32_t>(c[1]) << 8 | c[2] | 0xff000000u;
    }
    if (colours == 1) {
        if (tile.size() != palette_end) return fail("bytes after a solid fill");
        return paint(bgrx.data(), 1, target, x, y, w, h);
    }

    if (tile.size() < palette_end + 1) return fail("no packing byte");
    const std::size_t size = palette::row_bytes(w, palette::bits_per_index(colours)) * static_cast<std::size_t>(h);
    const auto body = tile.subspan(palette_end + 1);
    switch (tile[palette_end]) {
        case palette::stored:
            if (body.size() != size) return fail("the stored indices are not " + std::to_string(size) + " bytes");
            packed_.assign(body.begin(), body.end());
            break;
        case palette::deflated:
            if (!inflate_exact(body, size)) return false;
            break;
        default: return fail("unknown packing " + std::to_string(tile[palette_end]));
    }
    return paint(bgrx.data(), colours, target, x, y, w, h);
}

bool PaletteDecoder::decode_compact_into(std::span<const std::uint8_t> tile, capture::Frame& target, int x, int y,
                                         int w, int h) {
    if (w <= 0 || h <= 0 || x < 0 || y < 0 || x + w > target.width || y + h > target.height)
        return fail("lies outside the screen");
    if (tile.empty()) return fail("empty");
    if (tile.size() < 2) return fail("no form byte");
    const int colours = tile[0] + 1;
    const std::uint8_t form = tile[1];
    if (form & ~palette::form_known) return fail("unknown form bits " + std::to_string(form));
    const bool grey = form & palette::form_grey;
    int band = 0;  // rows per band of columns; 0: rows
    if (form & palette::form_columns) {
        if (tile.size() < 3) return fail("no band byte");
        band = tile[2];
        if (band == 0) return fail("a band of 0 rows");
    }
    const std::size_t palette_bytes = static_cast<std::size_t>(colours) * (grey ? 1 : 3);
    const std::size_t size = palette_bytes + (colours > 1 ? index_bytes(colours, w, h, band) : 0);
    const auto body = tile.subspan(band ? 3 : 2);
    if (form & palette::form_deflated) {
        if (!inflate_exact(body, size)) return false;
    } else {
        if (body.size() != size) return fail("the stored body is not " + std::to_string(size) + " bytes");
        packed_.assign(body.begin(), body.end());
    }
    // The palette's deltas; the indices then start packed_'s palette_bytes.
    std::array<std::uint32_t, 256> bgrx{};
    std::uint8_t r = 0, g = 0, b = 0;
    for (int i = 0; i < colours; ++i) {
        if (grey) {
            r = g = b = static_cast<std::uint8_t>(r + packed_[static_cast<std::size_t>(i)]);
        } else {
            const std::uint8_t* d = packed_.data() + static_cast<std::size_t>(i) * 3;
            r = static_cast<std::uint8_t>(r + d[0]);
            g = static_cast<std::uint8_t>(g + d[1]);
            b = static_cast<std::uint8_t>(b + d[2]);
        }
        bgrx[static_cast<std::size_t>(i)] =
            static_cast<std::uint32_t>(r) << 16 | static_cast<std::uint32_t>(g) << 8 | b | 0xff000000u;
    }
    packed_.erase(packed_.begin(), packed_.begin() + static_cast<std::ptrdiff_t>(palette_bytes));
    return paint(bgrx.data(), colours, target, x, y, w, h, band);
}

// Bytes of w x h indices at the palette's depth: rows, or columns in bands of `band` rows.
std::size_t PaletteDecoder::index_bytes(int colours, int w, int h, int band) {
    const int bits = palette::bits_per_index(colours);
    if (band == 0) return palette::row_bytes(w, bits) * static_cast<std::size_t>(h);
    const int full = h / band, rest = h % band;
    return static_cast<std::size_t>(w) *
           (palette::row_bytes(band, bits) * static_cast<std::size_t>(full) + palette::row_bytes(rest, bits));
}

bool PaletteDecoder::paint(const std::uint32_t* bgrx, int colours, capture::Frame& target, int x, int y, int w, int h,
                           int band) {
    if (colours == 1) {
        for (int row = 0; row < h; ++row)
            for (int col = 0; col < w; ++col) std::memcpy(target.at(x + col, y + row), &bgrx[0], 4);
        return true;
    }
    const int bits = palette::bits_per_index(colours);
    const int per_byte = 8 / bits;
    const unsigned mask = (1u << bits) - 1;
    // Where pixel (row, col)'s index starts: its line (a row, or a column of its band) and place in it.
    const std::size_t row_stride = palette::row_bytes(w, bits);
    const std::size_t full_band = band ? static_cast<std::size_t>(w) * palette::row_bytes(band, bits) : 0;
    auto index = [&](int row, int col) {
        std::size_t line = 0;
        int at = col;
        if (band == 0) {
            line = static_cast<std::size_t>(row) * row_stride;
        } else {
            const int top = row - row % band;
            line = static_cast<std::size_t>(row / band) * full_band +
                   static_cast<std::size_t>(col) * palette::row_bytes(std::min(band, h - top), bits);
            at = row - top;
        }
        return (packed_[line + static_cast<std::size_t>(at / per_byte)] >> (8 - bits * (at % per_byte + 1))) & mask;
    };
    if (colours < (1 << bits))  // otherwise every index the bits can hold is a colour
        for (int row = 0; row < h; ++row)
            for (int col = 0; col < w; ++col)
                if (index(row, col) >= static_cast<unsigned>(colours)) return fail("an index beyond the palette");
    for (int row = 0; row < h; ++row) {
        std::uint8_t* out = target.at(x, y + row);
        for (int col = 0; col < w; ++col) std::memcpy(out + col * 4, &bgrx[index(row, col)], 4);
    }
    return true;
}

}  // namespace portico::codec

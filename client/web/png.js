// A PNG decoder for the display's small lossless tiles (typing echoes, menus), on the page's own
// thread, synchronously. ImageDecoder and createImageBitmap decode on other threads and answer
// with a task; on a busy CPU each of those hops waits to be scheduled, which made a one-tile typing
// echo take 5-28 ms from arrival to decoded where the decode itself is well under 1 ms (bench/web,
// input-to-photon breakdown). Here it is a few loops over a small tile.
//
// Covers what the host's encoder writes (codec/png_tile.cpp: libpng's simplified API): colour type
// 3 (palette, 1/2/4/8 bits) and 2 (RGB, 8 bits), not interlaced. Anything else (or a malformed
// file) returns null, and the caller falls back to the browser's decoder.

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const MAX_PIXELS = 1 << 20; // tiles are at most 256x256 (protocol); anything larger goes to the browser

/** Chunks of a PNG as {type, data} views, or null when the container is malformed. */
function chunks(bytes) {
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = [];
  for (let at = 8; at + 12 <= bytes.length;) {
    const len = view.getUint32(at);
    if (at + 12 + len > bytes.length) return null;
    const type = String.fromCharCode(bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]);
    out.push({ type, data: bytes.subarray(at + 8, at + 8 + len) });
    if (type === 'IEND') return out;
    at += 12 + len; // the CRC is not checked: TLS already guards the bytes
  }
  return null;
}

// Inflate (RFC 1950/1951) written out here, synchronous: DecompressionStream would do it too, but
// several of its streams at once took 28 ms for a frame of eight small tiles (bench/web), and a tile
// is a few hundred bytes. The decoder is puff's (zlib's reference inflater): canonical Huffman
// codes decoded bit by bit.
const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
  4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

class Malformed extends Error {}

/** A canonical Huffman code from code lengths: how many codes of each length, symbols in code order. */
function huffman(lengths) {
  const counts = new Uint16Array(16);
  for (const l of lengths) counts[l]++;
  counts[0] = 0;
  const offsets = new Uint16Array(16);
  for (let l = 1; l < 16; l++) offsets[l] = offsets[l - 1] + counts[l - 1];
  const symbols = new Uint16Array(lengths.length);
  lengths.forEach((l, sym) => { if (l) symbols[offsets[l]++] = sym; });
  return { counts, symbols };
}

let fixedCodes = null;
function fixed() {
  if (!fixedCodes) {
    const lit = new Uint8Array(288);
    lit.fill(8, 0, 144); lit.fill(9, 144, 256); lit.fill(7, 256, 280); lit.fill(8, 280, 288);
    fixedCodes = { lit: huffman(lit), dist: huffman(new Uint8Array(30).fill(5)) };
  }
  return fixedCodes;
}

/** The zlib stream `src` inflated into exactly `size` bytes; throws Malformed otherwise. */
export function inflate(src, size) {
  if (src.length < 2 || (src[0] & 0x0f) !== 8 || ((src[0] << 8) | src[1]) % 31 !== 0 || src[1] & 0x20) throw new Malformed();
  const out = new Uint8Array(size);
  let pos = 2;
  let op = 0;
  let buf = 0;
  let cnt = 0;
  const bits = (n) => {
    while (cnt < n) {
      if (pos >= src.length) throw new Malformed();
      buf |= src[pos++] << cnt;
      cnt += 8;
    }
    const v = buf & ((1 << n) - 1);
    buf >>>= n;
    cnt -= n;
    return v;
  };
  const decode = (h) => {
    let code = 0;
    let first = 0;
    let index = 0;
    for (let len = 1; len < 16; len++) {
      code |= bits(1);
      const count = h.counts[len];
      if (code - first < count) return h.symbols[index + code - first];
      index += count;
      first = (first + count) << 1;
      code <<= 1;
    }
    throw new Malformed();
  };
  for (let last = 0; !last;) {
    last = bits(1);
    const type = bits(2);
    if (type === 0) {
      buf = 0; cnt = 0; // to the byte boundary
      if (pos + 4 > src.length) throw new Malformed();
      const len = src[pos] | (src[pos + 1] << 8);
      if ((len ^ (src[pos + 2] | (src[pos + 3] << 8))) !== 0xffff || pos + 4 + len > src.length || op + len > size) throw new Malformed();
      out.set(src.subarray(pos + 4, pos + 4 + len), op);
      pos += 4 + len;
      op += len;
      continue;
    }
    let codes;
    if (type === 1) {
      codes = fixed();
    } else if (type === 2) {
      const nlen = bits(5) + 257;
      const ndist = bits(5) + 1;
      const ncode = bits(4) + 4;
      const cl = new Uint8Array(19);
      for (let i = 0; i < ncode; i++) cl[CODE_LENGTH_ORDER[i]] = bits(3);
      const clCode = huffman(cl);
      const lengths = new Uint8Array(nlen + ndist);
      for (let i = 0; i < nlen + ndist;) {
        const sym = decode(clCode);
        if (sym < 16) { lengths[i++] = sym; continue; }
        let len = 0;
        let rep;
        if (sym === 16) {
          if (i === 0) throw new Malformed();
          len = lengths[i - 1];
          rep = 3 + bits(2);
        } else {
          rep = sym === 17 ? 3 + bits(3) : 11 + bits(7);
        }
        if (i + rep > nlen + ndist) throw new Malformed();
        lengths.fill(len, i, i + rep);
        i += rep;
      }
      codes = { lit: huffman(lengths.subarray(0, nlen)), dist: huffman(lengths.subarray(nlen)) };
    } else {
      throw new Malformed();
    }
    for (;;) {
      const sym = decode(codes.lit);
      if (sym < 256) {
        if (op >= size) throw new Malformed();
        out[op++] = sym;
      } else if (sym === 256) {
        break;
      } else {
        const li = sym - 257;
        if (li >= 29) throw new Malformed();
        const len = LENGTH_BASE[li] + bits(LENGTH_EXTRA[li]);
        const di = decode(codes.dist);
        if (di >= 30) throw new Malformed();
        const dist = DIST_BASE[di] + bits(DIST_EXTRA[di]);
        if (dist > op || op + len > size) throw new Malformed();
        for (let k = 0; k < len; k++, op++) out[op] = out[op - dist];
      }
    }
  }
  if (op !== size) throw new Malformed();
  return out;
}

function concat(parts) {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Undoes the per-row filters in place; false when a row's filter type is invalid. */
function unfilter(raw, rowBytes, height, bpp) {
  let prev = null;
  for (let y = 0; y < height; y++) {
    const start = y * (rowBytes + 1);
    const filter = raw[start];
    const row = raw.subarray(start + 1, start + 1 + rowBytes);
    switch (filter) {
      case 0: break;
      case 1: for (let i = bpp; i < rowBytes; i++) row[i] = (row[i] + row[i - bpp]) & 0xff; break;
      case 2: if (prev) for (let i = 0; i < rowBytes; i++) row[i] = (row[i] + prev[i]) & 0xff; break;
      case 3:
        for (let i = 0; i < rowBytes; i++) {
          const a = i >= bpp ? row[i - bpp] : 0;
          const b = prev ? prev[i] : 0;
          row[i] = (row[i] + ((a + b) >> 1)) & 0xff;
        }
        break;
      case 4:
        for (let i = 0; i < rowBytes; i++) {
          const a = i >= bpp ? row[i - bpp] : 0;
          const b = prev ? prev[i] : 0;
          const c = prev && i >= bpp ? prev[i - bpp] : 0;
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          row[i] = (row[i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)) & 0xff;
        }
        break;
      default: return false;
    }
    prev = row;
  }
  return true;
}

/**
 * Decodes a PNG tile to an ImageData (opaque RGBA), or returns null when it is not a kind this
 * decoder covers or is malformed (the caller then uses the browser's decoder, which reports errors).
 */
export function decodePng(bytes) {
  const list = chunks(bytes);
  const ihdr = list?.[0]?.type === 'IHDR' && list[0].data.length === 13 ? list[0].data : null;
  if (!ihdr) return null;
  const view = new DataView(ihdr.buffer, ihdr.byteOffset, 13);
  const width = view.getUint32(0);
  const height = view.getUint32(4);
  const [depth, colour, compression, filterMethod, interlace] = ihdr.subarray(8, 13);
  if (!width || !height || width * height > MAX_PIXELS || compression || filterMethod || interlace) return null;
  const palette = list.find((c) => c.type === 'PLTE')?.data;
  if (list.some((c) => c.type === 'tRNS')) return null; // transparency: never written for tiles
  let channels;
  if (colour === 3 && [1, 2, 4, 8].includes(depth) && palette && palette.length % 3 === 0) channels = 1;
  else if (colour === 2 && depth === 8) channels = 3;
  else return null;
  const rowBytes = Math.ceil((width * channels * depth) / 8);
  let raw;
  try {
    raw = inflate(concat(list.filter((c) => c.type === 'IDAT').map((c) => c.data)), height * (rowBytes + 1));
  } catch (e) {
    if (e instanceof Malformed) return null;
    throw e;
  }
  if (!unfilter(raw, rowBytes, height, Math.max(1, (channels * depth) >> 3))) return null;
  const image = new ImageData(width, height);
  // Pixels are written as 32-bit words 0xAABBGGRR: the RGBA byte order on a little-endian CPU
  // (every platform a browser runs on today).
  const px = new Uint32Array(image.data.buffer);
  if (colour === 2) {
    for (let y = 0, o = 0; y < height; y++) {
      const row = y * (rowBytes + 1) + 1;
      for (let x = 0; x < width; x++, o++) {
        const i = row + x * 3;
        px[o] = 0xff000000 | (raw[i + 2] << 16) | (raw[i + 1] << 8) | raw[i];
      }
    }
    return image;
  }
  const colours = new Uint32Array(256).fill(0xff000000); // an index past the palette: black, as browsers do
  for (let i = 0; i < palette.length / 3; i++) {
    colours[i] = 0xff000000 | (palette[i * 3 + 2] << 16) | (palette[i * 3 + 1] << 8) | palette[i * 3];
  }
  const perByte = 8 / depth;
  const mask = (1 << depth) - 1;
  for (let y = 0, o = 0; y < height; y++) {
    const row = y * (rowBytes + 1) + 1;
    for (let x = 0; x < width; x++, o++) {
      const b = raw[row + Math.floor(x / perByte)];
      const shift = 8 - depth * ((x % perByte) + 1);
      px[o] = colours[(b >> shift) & mask];
    }
  }
  return image;
}

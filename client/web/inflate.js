// Inflate (RFC 1950/1951) written out, synchronous, for the display's small lossless tiles (PNG
// tiles: png.js; palette tiles: palette.js): DecompressionStream would do it too, but
// several of its streams at once took 28 ms for a frame of eight small tiles (bench/web), and a tile
// is a few hundred bytes. The decoder is puff's (zlib's reference inflater): canonical Huffman
// codes decoded bit by bit.
const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
  4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

export class Malformed extends Error {}

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
  return inflateFrom(src, 2, size).out; // the Adler-32 after the data is not checked: TLS guards the bytes
}

/** Raw deflate data (RFC 1951) inflated into exactly `size` bytes, ending at src's last byte; throws Malformed otherwise. */
export function inflateRaw(src, size) {
  const { out, end } = inflateFrom(src, 0, size);
  if (end !== src.length) throw new Malformed();
  return out;
}

/** Inflates the deflate data at src[start...] into exactly `size` bytes: the bytes and where the data ended. */
function inflateFrom(src, start, size) {
  const out = new Uint8Array(size);
  let pos = start;
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
  return { out, end: pos };
}

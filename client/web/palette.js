// Palette tiles (TileEncoding 3, and the compact form 4 since version 4, its indices also in
// columns since version 5; docs/protocol.md "Palette tiles"; the host's encoder is
// codec/palette_tile.cpp): a rectangle of at most 256 colours as the colours and packed indices,
// stored or raw-deflated. Decoded here on the page's thread, synchronously, like png.js: a typed
// character's tile is a few dozen bytes.

import { inflateRaw, Malformed } from './inflate.js';

const STORED = 0;
const DEFLATED = 1;

/** Bits per index for a palette of `colours` entries (0: a solid fill). */
export function bitsPerIndex(colours) {
  return colours <= 1 ? 0 : colours <= 2 ? 1 : colours <= 4 ? 2 : colours <= 16 ? 4 : 8;
}

/**
 * Decodes a w x h palette tile to an ImageData (opaque RGBA). Throws an Error saying what is wrong
 * when the tile is malformed: cut short, bytes left over, an unknown packing, an index beyond the
 * palette.
 */
export function decodePalette(bytes, w, h) {
  const fail = (why) => { throw new Error(`palette tile ${w}x${h}: ${why}`); };
  if (bytes.length < 1) fail('empty');
  const count = bytes[0] + 1;
  const paletteEnd = 1 + count * 3;
  if (bytes.length < paletteEnd) fail('the palette is cut short');
  // Pixels are written as 32-bit words 0xAABBGGRR: the RGBA byte order on a little-endian CPU.
  const colours = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    colours[i] = 0xff000000 | (bytes[1 + i * 3 + 2] << 16) | (bytes[1 + i * 3 + 1] << 8) | bytes[1 + i * 3];
  }
  const image = new ImageData(w, h);
  const px = new Uint32Array(image.data.buffer);
  if (count === 1) {
    if (bytes.length !== paletteEnd) fail('bytes after a solid fill');
    px.fill(colours[0]);
    return image;
  }
  if (bytes.length < paletteEnd + 1) fail('no packing byte');
  const depth = bitsPerIndex(count);
  const rowBytes = Math.ceil((w * depth) / 8);
  const body = bytes.subarray(paletteEnd + 1);
  let packed;
  if (bytes[paletteEnd] === STORED) {
    if (body.length !== rowBytes * h) fail(`the stored indices are not ${rowBytes * h} bytes`);
    packed = body;
  } else if (bytes[paletteEnd] === DEFLATED) {
    try {
      packed = inflateRaw(body, rowBytes * h);
    } catch (e) {
      if (e instanceof Malformed) fail('corrupt or cut-short deflate data');
      throw e;
    }
  } else {
    fail(`unknown packing ${bytes[paletteEnd]}`);
  }
  paintIndices(px, colours, count, packed, 0, w, h, fail);
  return image;
}

// Form bits of a compact tile (docs/protocol.md "Palette tiles"): 1 grey palette, 2 deflated body,
// 4 the indices in columns in bands, a band byte after the form (since version 5).
const FORM_GREY = 1;
const FORM_DEFLATED = 2;
const FORM_COLUMNS = 4;

/**
 * Decodes a w x h compact palette tile (TileEncoding 4, since version 4): the sorted palette as
 * per-channel deltas (one byte per colour when grey) followed by the indices (in rows, or since
 * version 5 in columns in bands of rows), stored or deflated as one body. Throws as decodePalette
 * does, and on unknown form bits or a band of 0 rows.
 */
export function decodePaletteCompact(bytes, w, h) {
  const fail = (why) => { throw new Error(`palette tile ${w}x${h}: ${why}`); };
  if (bytes.length < 1) fail('empty');
  if (bytes.length < 2) fail('no form byte');
  const count = bytes[0] + 1;
  const form = bytes[1];
  if (form & ~(FORM_GREY | FORM_DEFLATED | FORM_COLUMNS)) fail(`unknown form bits ${form}`);
  const grey = (form & FORM_GREY) !== 0;
  let band = 0; // rows per band of columns; 0: rows
  if (form & FORM_COLUMNS) {
    if (bytes.length < 3) fail('no band byte');
    band = bytes[2];
    if (band === 0) fail('a band of 0 rows');
  }
  const paletteBytes = count * (grey ? 1 : 3);
  const size = paletteBytes + (count > 1 ? indexBytes(bitsPerIndex(count), w, h, band) : 0);
  const body = bytes.subarray(band ? 3 : 2);
  let unpacked;
  if (form & FORM_DEFLATED) {
    try {
      unpacked = inflateRaw(body, size);
    } catch (e) {
      if (e instanceof Malformed) fail('corrupt or cut-short deflate data');
      throw e;
    }
  } else {
    if (body.length !== size) fail(`the stored body is not ${size} bytes`);
    unpacked = body;
  }
  const colours = new Uint32Array(count);
  let r = 0, g = 0, b = 0;
  for (let i = 0; i < count; i++) {
    if (grey) {
      r = g = b = (r + unpacked[i]) & 0xff;
    } else {
      r = (r + unpacked[i * 3]) & 0xff;
      g = (g + unpacked[i * 3 + 1]) & 0xff;
      b = (b + unpacked[i * 3 + 2]) & 0xff;
    }
    colours[i] = (0xff000000 | (b << 16) | (g << 8) | r) >>> 0;
  }
  const image = new ImageData(w, h);
  const px = new Uint32Array(image.data.buffer);
  if (count === 1) {
    px.fill(colours[0]);
    return image;
  }
  paintIndices(px, colours, count, unpacked, paletteBytes, w, h, fail, band);
  return image;
}

/** Bytes of w x h indices at `depth` bits: rows, or columns in bands of `band` rows. */
function indexBytes(depth, w, h, band) {
  const lineBytes = (n) => Math.ceil((n * depth) / 8);
  if (band === 0) return lineBytes(w) * h;
  return w * (lineBytes(band) * Math.floor(h / band) + lineBytes(h % band));
}

// Paints the packed indices at packed[offset ...] (h rows at the palette's depth, or with a band
// columns in bands of that many rows) as colours, failing on an index beyond the palette.
function paintIndices(px, colours, count, packed, offset, w, h, fail, band = 0) {
  const depth = bitsPerIndex(count);
  const lineBytes = (n) => Math.ceil((n * depth) / 8);
  const perByte = 8 / depth;
  const mask = (1 << depth) - 1;
  const fullBand = band ? w * lineBytes(band) : 0;
  for (let y = 0, o = 0; y < h; y++) {
    // Row y's line start and step: a row, or its band's columns.
    const top = band ? y - (y % band) : 0;
    const at = band ? y - top : 0;
    const start = band ? offset + (top / band) * fullBand : offset + y * lineBytes(w);
    const column = band ? lineBytes(Math.min(band, h - top)) : 0;
    for (let x = 0; x < w; x++, o++) {
      const i = band ? at : x;
      const index = (packed[start + x * column + Math.floor(i / perByte)] >> (8 - depth * ((i % perByte) + 1))) & mask;
      if (index >= count) fail('an index beyond the palette');
      px[o] = colours[index];
    }
  }
}

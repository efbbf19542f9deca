// Palette tiles (TileEncoding 3, docs/protocol.md "Palette tiles"; the host's encoder is
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
  const perByte = 8 / depth;
  const mask = (1 << depth) - 1;
  for (let y = 0, o = 0; y < h; y++) {
    const row = y * rowBytes;
    for (let x = 0; x < w; x++, o++) {
      const index = (packed[row + Math.floor(x / perByte)] >> (8 - depth * ((x % perByte) + 1))) & mask;
      if (index >= count) fail('an index beyond the palette');
      px[o] = colours[index];
    }
  }
  return image;
}

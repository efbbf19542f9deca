// A PNG decoder for the display's small lossless tiles (typing echoes, menus), on the page's own
// thread, synchronously. ImageDecoder and createImageBitmap decode on other threads and answer
// with a task; on a busy CPU each of those hops waits to be scheduled, which made a one-tile typing
// echo take 5-28 ms from arrival to decoded where the decode itself is well under 1 ms (bench/web,
// input-to-photon breakdown). Here it is a few loops over a small tile.
//
// Covers what the host's encoder writes (codec/png_tile.cpp: libpng's simplified API): colour type
// 3 (palette, 1/2/4/8 bits) and 2 (RGB, 8 bits), not interlaced. Anything else (or a malformed
// file) returns null, and the caller falls back to the browser's decoder.

import { inflate, Malformed } from './inflate.js';

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

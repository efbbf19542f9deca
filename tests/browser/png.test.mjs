// Checks client/web/png.js (the display's own PNG tile decoder) in Node, no browser: its inflate
// against Node's zlib, and decodePng against PNGs of every kind the host writes (palette at 1, 2, 4
// and 8 bits, RGB at 8 bits) with each of the five row filters; kinds it does not cover and broken
// files must give null (the client then lets the browser decode them).
// Run: node --test tests/browser/png.test.mjs

import test from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';

import { inflate } from '../../client/web/inflate.js';
import { decodePng } from '../../client/web/png.js';

// The browser's ImageData, as far as png.js uses it.
globalThis.ImageData ??= class {
  constructor(width, height) {
    this.width = width;
    this.height = height;
    this.data = new Uint8ClampedArray(width * height * 4);
  }
};

// A deterministic pseudo-random source, so a failure can be reproduced.
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  Buffer.from(data).copy(out, 8);
  out.writeUInt32BE(zlib.crc32 ? zlib.crc32(out.subarray(4, 8 + data.length)) : 0, 8 + data.length);
  return out;
}

/** A PNG of `rows` (arrays of bytes, unfiltered) filtered with `filter(y)` per row. */
function png({ width, height, depth, colour, rows, palette, filter, extra = [], interlace = 0 }) {
  const bpp = Math.max(1, ((colour === 2 ? 3 : 1) * depth) >> 3);
  const raw = [];
  rows.forEach((row, y) => {
    const f = filter(y);
    const prev = y > 0 ? rows[y - 1] : null;
    raw.push(f);
    row.forEach((v, i) => {
      const a = i >= bpp ? row[i - bpp] : 0;
      const b = prev ? prev[i] : 0;
      const c = prev && i >= bpp ? prev[i - bpp] : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a
        : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const predictor = [0, a, b, (a + b) >> 1, paeth][f];
      raw.push((v - predictor) & 0xff);
    });
  });
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([depth, colour, 0, 0, interlace], 8);
  return new Uint8Array(Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    ...(palette ? [chunk('PLTE', palette)] : []), ...extra.map(([t, d]) => chunk(t, d)),
    chunk('IDAT', zlib.deflateSync(Buffer.from(raw))), chunk('IEND', []),
  ]));
}

/** A palette image: indices per pixel packed at `depth` bits, and the RGBA it must decode to. */
function paletteCase(width, height, depth, random) {
  const colours = 1 << Math.min(depth, 6);
  const palette = Array.from({ length: colours * 3 }, () => Math.floor(random() * 256));
  const index = Array.from({ length: width * height }, () => Math.floor(random() * colours));
  const rowBytes = Math.ceil((width * depth) / 8);
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = new Array(rowBytes).fill(0);
    for (let x = 0; x < width; x++) row[(x * depth) >> 3] |= index[y * width + x] << (8 - depth - ((x * depth) & 7));
    rows.push(row);
  }
  const rgba = index.flatMap((i) => [palette[i * 3], palette[i * 3 + 1], palette[i * 3 + 2], 255]);
  return { rows, palette, rgba };
}

test('inflate matches zlib for stored, fixed and dynamic blocks', () => {
  const random = rng(1);
  for (let i = 0; i < 400; i++) {
    const n = Math.floor(random() * 4000);
    const data = new Uint8Array(n);
    // Repeats (what LZ77 finds in screen rows) mixed with noise of a varying alphabet.
    const alphabet = 1 + Math.floor(random() * 255);
    for (let j = 0; j < n; j++) {
      data[j] = j && random() < 0.7 ? data[j - 1 - Math.floor(random() * Math.min(j, 300))] : Math.floor(random() * alphabet);
    }
    const z = zlib.deflateSync(data, { level: i % 10, strategy: i % 3 === 0 ? zlib.constants.Z_FIXED : zlib.constants.Z_DEFAULT_STRATEGY });
    assert.deepEqual(inflate(z, n), data, `stream ${i}`);
  }
});

test('inflate refuses broken streams with Malformed, never another error', () => {
  const random = rng(2);
  const data = new Uint8Array(2000).map((_, i) => (i * 7) % 13);
  const z = zlib.deflateSync(data);
  for (let i = 0; i < 500; i++) {
    const broken = Uint8Array.from(z);
    broken[2 + Math.floor(random() * (broken.length - 2))] ^= 1 << (i % 8);
    try {
      inflate(broken, data.length);
    } catch (e) {
      assert.equal(e.constructor.name, 'Malformed', `stream ${i}: ${e}`);
    }
  }
  assert.throws(() => inflate(z, data.length - 1)); // more output than expected
  assert.throws(() => inflate(z.subarray(0, z.length - 9), data.length)); // cut short
});

test('palette PNGs at 1, 2, 4 and 8 bits, every row filter', () => {
  const random = rng(3);
  for (const depth of [1, 2, 4, 8]) {
    for (const [width, height] of [[1, 1], [7, 3], [64, 16], [256, 19]]) {
      const { rows, palette, rgba } = paletteCase(width, height, depth, random);
      const file = png({ width, height, depth, colour: 3, rows, palette, filter: (y) => y % 5 });
      const image = decodePng(file);
      assert.ok(image, `${depth} bits ${width}x${height}`);
      assert.equal(image.width, width);
      assert.equal(image.height, height);
      assert.deepEqual([...image.data], rgba, `${depth} bits ${width}x${height}`);
    }
  }
});

test('RGB PNGs at 8 bits, every row filter, ancillary chunks skipped', () => {
  const random = rng(4);
  const width = 33;
  const height = 10;
  const pixels = Array.from({ length: width * height * 3 }, () => Math.floor(random() * 256));
  const rows = Array.from({ length: height }, (_, y) => pixels.slice(y * width * 3, (y + 1) * width * 3));
  const rgba = [];
  for (let i = 0; i < width * height; i++) rgba.push(pixels[i * 3], pixels[i * 3 + 1], pixels[i * 3 + 2], 255);
  for (let f = 0; f < 5; f++) {
    const file = png({ width, height, depth: 8, colour: 2, rows, filter: () => f, extra: [['sRGB', [0]], ['gAMA', [0, 0, 0xb1, 0x8f]]] });
    assert.deepEqual([...decodePng(file).data], rgba, `filter ${f}`);
  }
});

test('kinds png.js does not cover, and broken files, give null', () => {
  const random = rng(5);
  const { rows, palette } = paletteCase(8, 4, 8, random);
  const ok = { width: 8, height: 4, depth: 8, colour: 3, rows, palette, filter: () => 0 };
  assert.ok(decodePng(png(ok)));
  assert.equal(decodePng(png({ ...ok, interlace: 1 })), null);
  assert.equal(decodePng(png({ ...ok, extra: [['tRNS', [0]]] })), null);
  assert.equal(decodePng(png({ ...ok, palette: undefined })), null);
  const grey = png({ width: 8, height: 4, depth: 8, colour: 0, rows, filter: () => 0 });
  assert.equal(decodePng(grey), null);
  const rgba = png({ width: 2, height: 4, depth: 8, colour: 6, rows, filter: () => 0 });
  assert.equal(decodePng(rgba), null);
  const bad = png(ok);
  assert.equal(decodePng(bad.subarray(0, bad.length - 20)), null); // cut inside IDAT/IEND
  assert.equal(decodePng(new Uint8Array(10)), null);
  // Row filter 7 does not exist.
  assert.equal(decodePng(png({ ...ok, filter: (y) => (y === 2 ? 7 : 0) })), null);
});

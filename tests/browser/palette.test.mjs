// Checks client/web/palette.js (the display's palette tile decoder, both forms) and inflate.js's raw
// deflate in Node, no browser: the golden vectors the C++ decoder reads too (protocol/vectors/
// palette_tiles.json: every bit depth, stored and deflated, classic and compact, and malformed tiles
// with the error they must give), every truncation of a good tile, and raw deflate against Node's zlib.
// Run: node --test tests/browser/palette.test.mjs

import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import zlib from 'node:zlib';

import { inflateRaw } from '../../client/web/inflate.js';
import { bitsPerIndex, decodePalette, decodePaletteCompact } from '../../client/web/palette.js';

// The browser's ImageData, as far as palette.js uses it.
globalThis.ImageData ??= class {
  constructor(width, height) {
    this.width = width;
    this.height = height;
    this.data = new Uint8ClampedArray(width * height * 4);
  }
};

const {
  tiles, malformed, compact_tiles: compactTiles, compact_malformed: compactMalformed, column_tiles: columnTiles,
} = JSON.parse(readFileSync(new URL('../../protocol/vectors/palette_tiles.json', import.meta.url)));
const bytes = (hex) => Uint8Array.from(Buffer.from(hex, 'hex'));
const rgbHex = (image) => {
  const out = [];
  for (let i = 0; i < image.data.length; i += 4) out.push(image.data[i], image.data[i + 1], image.data[i + 2]);
  return Buffer.from(out).toString('hex');
};

test('the vectors cover every bit depth and both packings', () => {
  const depths = new Set(tiles.map((v) => bitsPerIndex(bytes(v.data)[0] + 1)));
  assert.deepEqual([...depths].sort(), [0, 1, 2, 4, 8]);
  const packings = new Set(tiles.filter((v) => bytes(v.data)[0] > 0).map((v) => bytes(v.data)[1 + (bytes(v.data)[0] + 1) * 3]));
  assert.deepEqual([...packings].sort(), [0, 1]);
});

for (const v of tiles) {
  test(`vector: ${v.name} decodes to the recorded pixels`, () => {
    const image = decodePalette(bytes(v.data), v.w, v.h);
    assert.equal(image.width, v.w);
    assert.equal(image.height, v.h);
    assert.equal(rgbHex(image), v.rgb);
    assert.ok(image.data.every((b, i) => i % 4 !== 3 || b === 255), 'opaque');
  });
}

for (const v of malformed) {
  test(`vector: ${v.name} is refused (${v.error})`, () => {
    assert.throws(() => decodePalette(bytes(v.data), v.w, v.h), (e) => e.message.includes(v.error));
  });
}

test('every truncation of a deflated tile, and one byte more, is refused', () => {
  const v = tiles.find((t) => t.name.includes('8 bits'));
  const data = bytes(v.data);
  for (let n = 0; n < data.length; n++) assert.throws(() => decodePalette(data.subarray(0, n), v.w, v.h), `cut to ${n}`);
  assert.throws(() => decodePalette(Uint8Array.from([...data, 0]), v.w, v.h));
  assert.throws(() => decodePalette(data, v.w - 1, v.h));
});

test('the compact vectors cover every bit depth, grey and colour palettes, stored and deflated', () => {
  const depths = new Set(compactTiles.map((v) => bitsPerIndex(bytes(v.data)[0] + 1)));
  assert.deepEqual([...depths].sort(), [0, 1, 2, 4, 8]);
  const forms = new Set(compactTiles.map((v) => bytes(v.data)[1]));
  assert.deepEqual([...forms].sort(), [0, 1, 2, 3]);
});

for (const v of compactTiles) {
  test(`compact vector: ${v.name} decodes to the recorded pixels`, () => {
    const image = decodePaletteCompact(bytes(v.data), v.w, v.h);
    assert.equal(image.width, v.w);
    assert.equal(image.height, v.h);
    assert.equal(rgbHex(image), v.rgb);
    assert.ok(image.data.every((b, i) => i % 4 !== 3 || b === 255), 'opaque');
  });
}

for (const v of compactMalformed) {
  test(`compact vector: ${v.name} is refused (${v.error})`, () => {
    assert.throws(() => decodePaletteCompact(bytes(v.data), v.w, v.h), (e) => e.message.includes(v.error));
  });
}

test('every truncation of a deflated compact tile, and one byte more, is refused', () => {
  const v = compactTiles.find((t) => t.name.includes('antialiased'));
  const data = bytes(v.data);
  for (let n = 0; n < data.length; n++) {
    assert.throws(() => decodePaletteCompact(data.subarray(0, n), v.w, v.h), `cut to ${n}`);
  }
  assert.throws(() => decodePaletteCompact(Uint8Array.from([...data, 0]), v.w, v.h));
  assert.throws(() => decodePaletteCompact(data, v.w - 1, v.h));
});

test('the column vectors carry form bit 2 at 1 and 4 bits a pixel', () => {
  assert.ok(columnTiles.every((v) => bytes(v.data)[1] & 4), 'form bit 2 (columns)');
  const depths = new Set(columnTiles.map((v) => bitsPerIndex(bytes(v.data)[0] + 1)));
  assert.deepEqual([...depths].sort(), [1, 4]);
});

for (const v of columnTiles) {
  test(`column vector: ${v.name} decodes to the recorded pixels`, () => {
    const image = decodePaletteCompact(bytes(v.data), v.w, v.h);
    assert.equal(rgbHex(image), v.rgb);
  });
}

test('a column tile read at the wrong size is refused', () => {
  const v = columnTiles[0];
  const data = bytes(v.data);
  assert.throws(() => decodePaletteCompact(data, v.w - 1, v.h)); // a column fewer
  assert.throws(() => decodePaletteCompact(data, v.w, v.h + 8)); // each column a byte longer
});

test('inflateRaw matches Node zlib on stored, fixed and dynamic blocks', () => {
  let s = 7;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  for (const size of [1, 10, 300, 5000, 65536]) {
    const src = Uint8Array.from({ length: size }, (_, i) => (i % 97 < 60 ? 0 : Math.floor(next() * 4)));
    for (const level of [0, 1, 9]) {
      const packed = zlib.deflateRawSync(src, { level });
      assert.deepEqual(inflateRaw(packed, size), src, `size ${size}, level ${level}`);
      assert.throws(() => inflateRaw(packed, size + 1));
      assert.throws(() => inflateRaw(Uint8Array.from([...packed, 0]), size));
    }
  }
});

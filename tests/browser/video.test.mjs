// client/web/video.js in Node: the decoder configuration from a keyframe's SPS and the choice
// between converting a decoded frame whole and drawing its dirty rectangles.
// Run: node --test tests/browser/video.test.mjs

import test from 'node:test';
import assert from 'node:assert/strict';

import { codecFromAnnexB, decoderConfig, wholeFrameSize } from '../../client/web/video.js';

const sps = (profile, constraints, level) => new Uint8Array([0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x67, profile, constraints, level, 0xac]);

test('the codec string comes from the first SPS of the access unit', () => {
  assert.equal(codecFromAnnexB(sps(0x64, 0x00, 0x28)), 'avc1.640028');
  assert.equal(codecFromAnnexB(sps(0x42, 0xe0, 0x1f)), 'avc1.42e01f');
  assert.equal(codecFromAnnexB(new Uint8Array([0, 0, 1, 0x65, 1, 2, 3, 4])), null); // no SPS
});

test('a keyframe without an SPS is configured as Constrained Baseline 3.1, for low latency', () => {
  assert.deepEqual(decoderConfig({ data: new Uint8Array([0, 0, 1, 0x65, 0, 0, 0]), codedWidth: 1920, codedHeight: 1088 }),
    { codec: 'avc1.42e01f', codedWidth: 1920, codedHeight: 1088, optimizeForLatency: true });
  assert.equal(decoderConfig({ data: sps(0x4d, 0x40, 0x33), codedWidth: 64, codedHeight: 64 }).codec, 'avc1.4d4033');
});

const frame = (w, h) => ({ visibleRect: { x: 0, y: 0, width: w, height: h }, displayWidth: w, displayHeight: h });

test('whole frames and frames changing half the screen or more are converted, small changes drawn', () => {
  const e = (dirty, extra = {}) => ({ width: 100, height: 100, reduced: false, dirty, ...extra });
  assert.deepEqual(wholeFrameSize(e([]), frame(100, 100)), { width: 100, height: 100 });
  assert.deepEqual(wholeFrameSize(e([{ x: 0, y: 0, w: 100, h: 50 }]), frame(100, 100)), { width: 100, height: 100 });
  assert.equal(wholeFrameSize(e([{ x: 0, y: 0, w: 100, h: 49 }]), frame(100, 100)), null);
  // A reduced picture is converted at its own size whatever changed, then scaled up.
  assert.deepEqual(wholeFrameSize(e([{ x: 0, y: 0, w: 2, h: 2 }], { reduced: true }), frame(50, 50)), { width: 50, height: 50 });
  // A frame whose visible area is not the screen (a size change in flight) is drawn.
  assert.equal(wholeFrameSize(e([]), frame(96, 100)), null);
  assert.equal(wholeFrameSize(e([]), { displayWidth: 100, displayHeight: 100 }), null);
});

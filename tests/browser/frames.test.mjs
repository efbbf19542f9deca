// client/web/frames.js in Node, with a fake WebCodecs VideoDecoder: frames paint and are
// acknowledged strictly in arrival order, a frame that cannot be decoded is still acknowledged
// (with no paint time) and asks for a keyframe once, and a browser without a decoder ends the
// stream.
// Run: node --test tests/browser/frames.test.mjs

import test from 'node:test';
import assert from 'node:assert/strict';

import { decodeMessage } from '../../client/web/protocol.js';
import { FramePainter } from '../../client/web/frames.js';
import { StreamStats } from '../../client/web/stats.js';

class FakeDecoder {
  static last = null;
  constructor({ output, error }) {
    this.output = output;
    this.error = error;
    this.state = 'unconfigured';
    this.configs = [];
    this.chunks = [];
    FakeDecoder.last = this;
  }
  configure(c) { this.configs.push(c); this.state = 'configured'; }
  decode(chunk) { this.chunks.push(chunk); }
  close() { this.state = 'closed'; }
}
class FakeChunk {
  constructor(init) { Object.assign(this, init); }
}
const fakeFrame = (timestamp, w, h) => ({ timestamp, visibleRect: { x: 0, y: 0, width: w, height: h }, displayWidth: w, displayHeight: h, closed: false, close() { this.closed = true; } });

function harness({ decoder = true } = {}) {
  if (decoder) {
    globalThis.VideoDecoder = FakeDecoder;
    globalThis.EncodedVideoChunk = FakeChunk;
  } else {
    delete globalThis.VideoDecoder;
  }
  const draws = [];
  const ctx = { drawImage: (...a) => draws.push(a), putImageData() {}, save() {}, restore() {}, beginPath() {}, rect() {}, clip() {} };
  const canvas = { width: 0, height: 0, getContext: () => ctx };
  const sent = [];
  const log = [];
  const stats = new StreamStats();
  const painter = new FramePainter(canvas, {
    send: (b) => sent.push(decodeMessage(b)),
    stats,
    onCanvasSize: (w, h) => log.push(['size', w, h]),
    onFirstPaint: () => log.push(['first']),
    onFatal: (end) => log.push(['fatal', end.reason]),
  });
  return { canvas, painter, sent, log, draws, stats };
}

const video = (frameId, keyframe, extra = {}) => ({ frameId, keyframe, width: 64, height: 48, codedWidth: 64, codedHeight: 48, dirty: [], data: new Uint8Array([0, 0, 1, 0x65]), ...extra });
const copiesOnly = (frameId) => ({ frameId, width: 64, height: 48, copies: [{ x: 0, y: 8, w: 64, h: 40, dx: 0, dy: 0 }], tiles: [] });

test('a tile frame behind a video frame waits for it; both are acknowledged in arrival order', () => {
  const h = harness();
  h.painter.videoFrame(video(1, true), 0);
  const d = FakeDecoder.last;
  assert.equal(d.configs[0].codec, 'avc1.42e01f');
  assert.equal(d.configs[0].optimizeForLatency, true);
  assert.deepEqual([d.chunks[0].type, d.chunks[0].timestamp], ['key', 1]);
  h.painter.tileFrame(copiesOnly(2), 1);
  assert.deepEqual(h.sent, []); // the copies wait behind the undecoded video frame
  const f = fakeFrame(1, 64, 48);
  d.output(f);
  assert.deepEqual(h.sent.map((m) => [m.type, m.frameId, m.paintUs > 0]), [['frame_ack', 1, true], ['frame_ack', 2, true]]);
  assert.equal(f.closed, true);
  assert.equal(h.draws[0][0], f); // the whole frame, then the copy from the canvas itself
  assert.equal(h.draws[1][0], h.canvas);
  assert.deepEqual(h.log, [['size', 64, 48], ['first']]);
  assert.equal(h.stats.frames, 2);
  assert.equal(h.painter.painted, 2);
  h.painter.close();
});

test('a same-size keyframe keeps the decoder configuration', () => {
  const h = harness();
  h.painter.videoFrame(video(1, true), 0);
  h.painter.videoFrame(video(2, true), 0);
  assert.equal(FakeDecoder.last.configs.length, 1);
  h.painter.videoFrame(video(3, true, { codedWidth: 128, codedHeight: 96, width: 128, height: 96 }), 0);
  assert.equal(FakeDecoder.last.configs.length, 2);
  h.painter.close();
  assert.equal(FakeDecoder.last.state, 'closed');
});

test('a delta before any keyframe is acknowledged unpainted and asks for a keyframe once', () => {
  const h = harness();
  h.painter.videoFrame(video(1, false), 0);
  h.painter.videoFrame(video(2, false), 0);
  assert.deepEqual(h.sent, [
    { type: 'keyframe_request' }, { type: 'frame_ack', frameId: 1 }, { type: 'frame_ack', frameId: 2 },
  ]);
  h.painter.close();
});

test('decoder errors repair with a keyframe; too many in a row end the stream', () => {
  const h = harness();
  const warn = console.warn;
  console.warn = () => {};
  try {
    for (let i = 1; i <= 4; i++) {
      h.painter.videoFrame(video(i, true), 0);
      FakeDecoder.last.error(new Error('broken'));
    }
  } finally {
    console.warn = warn;
  }
  assert.deepEqual(h.log, [['fatal', 'unsupported']]);
  assert.deepEqual(h.sent.filter((m) => m.type === 'keyframe_request').length, 3); // a keyframe resets the request
  assert.deepEqual(h.sent.filter((m) => m.type === 'frame_ack').map((m) => [m.frameId, m.paintUs]), [[1, undefined], [2, undefined], [3, undefined]]);
});

test('a browser without WebCodecs ends the stream at the first keyframe', () => {
  const h = harness({ decoder: false });
  h.painter.videoFrame(video(1, true), 0);
  assert.deepEqual(h.log, [['fatal', 'unsupported']]);
  assert.deepEqual(h.sent, []);
});

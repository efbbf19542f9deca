// client/web/resize.js in Node: a ResizeRequest goes out only when it changes something, with
// sizes rounded as the host takes them; the readability rule (CSS pixels and scale 1 on a phone).
// Run: node --test tests/browser/resize.test.mjs

import test from 'node:test';
import assert from 'node:assert/strict';

import { decodeMessage } from '../../client/web/protocol.js';
import { ResizeRequests, screenDim, needsAsking, launchScale, sessionPixelRatio, touchFirst } from '../../client/web/resize.js';

test('screen dimensions are whole, even and within 64..8192', () => {
  assert.equal(screenDim(1921.7), 1920);
  assert.equal(screenDim(1081), 1080);
  assert.equal(screenDim(10), 64);
  assert.equal(screenDim(100000), 8192);
});

test('a size is asked unless it was asked already or (before any ask) the host has it', () => {
  const s = (width, height) => ({ width, height });
  assert.equal(needsAsking(s(800, 600), null, null), true);
  assert.equal(needsAsking(s(800, 600), null, s(800, 600)), false);
  assert.equal(needsAsking(s(800, 600), s(800, 600), s(1024, 768)), false);
  // Once asked, the announcement alone does not stop a new ask (the host may have been resized back).
  assert.equal(needsAsking(s(800, 600), s(1024, 768), s(800, 600)), true);
});

function harness() {
  const sent = [];
  let live = false;
  const r = new ResizeRequests({ send: (b) => sent.push(decodeMessage(b)), live: () => live });
  return { r, sent, setLive: (v) => { live = v; } };
}

test('the wanted size waits until live and is sent once', () => {
  const { r, sent, setLive } = harness();
  r.want(1001, 701);
  assert.equal(sent.length, 0); // not connected yet
  setLive(true);
  r.announced(640, 480);
  r.sendIfNeeded();
  assert.deepEqual(sent, [{ type: 'resize_request', width: 1000, height: 700 }]);
  r.want(1000.5, 700.9); // the same after rounding
  r.sendIfNeeded();
  assert.equal(sent.length, 1);
  r.resized({ width: 1000, height: 700 });
  assert.deepEqual(r.snapshot(), { screenWidth: 1000, screenHeight: 700, resizes: 1 });
  r.want(0, 700); // not a size
  assert.equal(sent.length, 1);
});

test('nothing is asked when the host already has the wanted size', () => {
  const { r, sent, setLive } = harness();
  setLive(true);
  r.announced(800, 600);
  r.want(800, 600);
  assert.equal(sent.length, 0);
  assert.deepEqual(r.snapshot(), { screenWidth: 800, screenHeight: 600, resizes: 0 });
});

test('readability rule: device pixels and scale = DPR with a mouse, CSS pixels and scale 1 on a touch-first screen', () => {
  assert.equal(sessionPixelRatio(2, false), 2);
  assert.equal(sessionPixelRatio(3, true), 1);
  assert.equal(sessionPixelRatio(Number.NaN, false), 1);
  assert.equal(launchScale(1.100000023841858, false), 1.1);
  assert.equal(launchScale(6, false), 4);
  assert.equal(launchScale(0.5, false), 1);
  assert.equal(launchScale(3, true), 1);
  assert.equal(touchFirst((q) => ({ matches: q === '(pointer: coarse)' })), true);
  assert.equal(touchFirst((q) => ({ matches: q === '(any-pointer: coarse)' })), false); // a laptop with a touch screen
  assert.equal(touchFirst(undefined), false);
});

test('larger(): the host\'s screen is still larger than the size asked', () => {
  const r = new ResizeRequests({ send: () => {}, live: () => true });
  assert.equal(r.larger(), false);
  r.announced(1920, 1080);
  r.want(390, 796);
  assert.equal(r.larger(), true);
  r.resized({ width: 390, height: 796 });
  assert.equal(r.larger(), false);
});

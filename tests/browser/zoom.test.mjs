// client/web/zoom.js in Node: the pinch-zoom view's arithmetic (zoom around the fingers, pan,
// clamping to 1x..4x and to the canvas's box) and the transform it becomes.
// Run: node --test tests/browser/zoom.test.mjs

import test from 'node:test';
import assert from 'node:assert/strict';

import { IDENTITY, clampView, pinchView, zoomAround, viewTransform, readableZoom, MAX_ZOOM } from '../../client/web/zoom.js';

const W = 400;
const H = 300;

test('spreading two fingers zooms around the point between them', () => {
  // Fingers around (100, 60) move apart from 50 to 100 px: twice the size, (100, 60) stays put.
  const v = pinchView(IDENTITY, { x: 100, y: 60, distance: 50 }, { x: 100, y: 60, distance: 100 }, W, H);
  assert.deepEqual(v, { scale: 2, tx: -100, ty: -60 });
  // The picture point under the fingers is the one that was there: (100 - tx) / scale.
  assert.equal((100 - v.tx) / v.scale, 100);
});

test('moving the fingers together pans a zoomed view, and the view never leaves the box', () => {
  const start = { scale: 2, tx: -100, ty: -60 };
  const v = pinchView(start, { x: 200, y: 150, distance: 80 }, { x: 150, y: 130, distance: 80 }, W, H);
  assert.deepEqual(v, { scale: 2, tx: -150, ty: -80 });
  // Dragged far right/down: the picture's top-left corner stops at the box's.
  assert.deepEqual(pinchView(start, { x: 0, y: 0, distance: 80 }, { x: 900, y: 900, distance: 80 }, W, H), { scale: 2, tx: 0, ty: 0 });
  // Far left/up: its bottom-right corner stops at the box's (400 - 800, 300 - 600).
  assert.deepEqual(pinchView(start, { x: 0, y: 0, distance: 80 }, { x: -900, y: -900, distance: 80 }, W, H), { scale: 2, tx: -400, ty: -300 });
});

test('the scale stays within 1x..4x', () => {
  assert.equal(pinchView(IDENTITY, { x: 0, y: 0, distance: 10 }, { x: 0, y: 0, distance: 1000 }, W, H).scale, MAX_ZOOM);
  assert.deepEqual(pinchView({ scale: 3, tx: -50, ty: -50 }, { x: 0, y: 0, distance: 100 }, { x: 0, y: 0, distance: 5 }, W, H), IDENTITY);
  assert.deepEqual(clampView({ scale: 0.5, tx: 20, ty: -20 }, W, H), IDENTITY);
  // Fingers that start on top of each other do not divide by zero.
  assert.ok(Number.isFinite(pinchView(IDENTITY, { x: 0, y: 0, distance: 0 }, { x: 0, y: 0, distance: 3 }, W, H).scale));
});

test('zoomAround keeps the given point where it is', () => {
  const v = zoomAround(IDENTITY, 3, 200, 150, W, H);
  assert.deepEqual(v, { scale: 3, tx: -400, ty: -300 });
  assert.equal((200 - v.tx) / v.scale, 200);
});

test('the transform is empty when not zoomed, translate then scale otherwise', () => {
  assert.equal(viewTransform(IDENTITY), '');
  assert.equal(viewTransform({ scale: 2, tx: -100, ty: -60.5 }), 'translate(-100px, -60.5px) scale(2)');
});

test('the readable zoom shows one session pixel per CSS pixel, within 1x..4x', () => {
  assert.equal(readableZoom(390, 1170), 3); // a 1170-px-wide session fitted into 390 CSS px
  assert.equal(readableZoom(390, 1920), 4);
  assert.equal(readableZoom(800, 640), 1);
  assert.equal(readableZoom(0, 640), 1);
});

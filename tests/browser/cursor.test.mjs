// client/web/cursor.js in Node: the CSS cursor at the scale the session's pixels are shown at.
// Run: node --test tests/browser/cursor.test.mjs

import test from 'node:test';
import assert from 'node:assert/strict';

import { CursorView, cursorKey, cursorResolution, cursorStyle } from '../../client/web/cursor.js';

test('the resolution is canvas pixels per CSS pixel, the device pixel ratio before layout', () => {
  assert.equal(cursorResolution(1920, 960, 1), 2);
  assert.equal(cursorResolution(1280, 1920, 2), 1280 / 1920);
  assert.equal(cursorResolution(1920, 0, 1.5), 1.5);
  assert.equal(cursorResolution(0, 100, undefined), 1);
});

test('image-set carries the resolution; hotspots are whole CSS pixels inside the image', () => {
  const s = cursorStyle({ url: 'blob:x', hotX: 5, hotY: 9 }, 2);
  assert.equal(s.plain, 'url(blob:x) 5 9, default');
  assert.equal(s.imageSet, 'image-set(url(blob:x) 2x) 2 4, default');
  assert.equal(s.scale, 2);
  assert.equal(cursorStyle({ url: 'u', hotX: 0, hotY: 0 }, 2 / 3).scale, 0.6667);
});

test('the same id with another size or hotspot is another shape', () => {
  const m = { id: 3, width: 16, height: 16, hotX: 1, hotY: 2 };
  assert.notEqual(cursorKey(m), cursorKey({ ...m, hotX: 0 }));
  assert.notEqual(cursorKey(m), cursorKey({ ...m, width: 32 }));
  assert.equal(cursorKey(m), cursorKey({ ...m }));
});

test('a hidden pointer hides the CSS cursor; the figures follow the last shape', () => {
  const canvas = { width: 640, height: 480, style: {}, dataset: {}, getBoundingClientRect: () => ({ width: 640, height: 480 }) };
  const view = new CursorView(canvas);
  view.apply();
  assert.equal(canvas.style.cursor, ''); // no shape yet: the page's own
  view.shape({ id: 7, width: 0, height: 0, hotX: 0, hotY: 0 });
  assert.equal(canvas.style.cursor, 'none');
  assert.equal(canvas.dataset.cursorId, '7');
  assert.deepEqual(view.snapshot(), { cursorId: 7, cursor: { id: 7, width: 0, height: 0, hotX: 0, hotY: 0 }, cursorScale: null, cursorShapes: 1 });
  view.close();
  view.shape({ id: 8, width: 0, height: 0, hotX: 0, hotY: 0 });
  assert.equal(canvas.dataset.cursorId, '7'); // closed: nothing shown any more
});

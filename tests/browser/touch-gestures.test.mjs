// client/web/input.js touch gestures in Node, over fake pointer events: a tap clicks, a finger
// held still right-clicks (button 3 down and up where it was pressed), a drag drags, two fingers
// moving together scroll, two fingers spreading zoom the view (zoom.js) and a tap on the zoomed
// view lands on the session pixel under the finger; text and keys from the on-screen keyboard.
// Run: node --test tests/browser/touch-gestures.test.mjs

import test, { mock } from 'node:test';
import assert from 'node:assert/strict';
import { setMaxListeners } from 'node:events';

import { decodeMessage } from '../../client/web/protocol.js';
import { InputForwarder, LONG_PRESS_MS, TYPE_EVENT, twoFingerGesture, fingerPair } from '../../client/web/input.js';

class FakeEvent extends Event {
  constructor(type, fields = {}) {
    super(type, { cancelable: true });
    for (const [k, v] of Object.entries(fields)) Object.defineProperty(this, k, { value: v });
  }
}

// A 640x480 session on a canvas laid out at 320x240 CSS px at (10, 20); its bounding rectangle
// follows the CSS transform the zoom sets, as a browser's does.
function harness() {
  globalThis.window ??= new EventTarget();
  globalThis.document ??= Object.assign(new EventTarget(), { hidden: false });
  const canvas = Object.assign(new EventTarget(), {
    width: 640, height: 480, style: {}, focus() {},
    classList: { toggle() {} },
    getBoundingClientRect() {
      const m = /translate\((-?[\d.]+)px, (-?[\d.]+)px\) scale\(([\d.]+)\)/.exec(this.style.transform ?? '');
      const [tx, ty, s] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 1];
      return { left: 10 + tx, top: 20 + ty, width: 320 * s, height: 240 * s };
    },
  });
  const sent = [];
  const input = new InputForwarder(canvas, {
    send: (b) => sent.push(decodeMessage(b)), live: () => true, backlog: () => 0,
    onShortcut: () => false, onKeyPress: () => {}, onPaste: () => {},
  });
  const events = new AbortController();
  setMaxListeners(20, events.signal); // one per event type the forwarder listens to, over Node's warning at 10
  input.attach(events.signal);
  // A touch at CSS px (x, y) of the page.
  const touch = (type, id, x, y) => canvas.dispatchEvent(new FakeEvent(type, { pointerType: 'touch', pointerId: id, clientX: x, clientY: y, buttons: type === 'pointerup' ? 0 : 1 }));
  const pointers = () => sent.filter((m) => m.type === 'pointer').map((m) => [m.x, m.y, m.buttons]);
  return { canvas, input, sent, touch, pointers, stop: () => { input.close(); events.abort(); } };
}

test('a tap clicks button 1 where the finger was', () => {
  const h = harness();
  try {
    h.touch('pointerdown', 1, 110, 70); // CSS (100, 50) in the canvas = session (200, 100)
    h.touch('pointerup', 1, 110, 70);
    assert.deepEqual(h.pointers(), [[200, 100, 0], [200, 100, 1], [200, 100, 0]]);
  } finally {
    h.stop();
  }
});

test('a finger held still for the long-press time right-clicks, and its lifting clicks nothing more', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  const h = harness();
  try {
    h.touch('pointerdown', 1, 110, 70);
    mock.timers.tick(LONG_PRESS_MS - 1);
    h.touch('pointermove', 1, 112, 71); // within the slop: still a press
    assert.deepEqual(h.pointers(), [[200, 100, 0]]);
    mock.timers.tick(1);
    assert.deepEqual(h.pointers(), [[200, 100, 0], [200, 100, 4], [200, 100, 0]]); // protocol bit 4 = X button 3
    h.touch('pointermove', 1, 150, 120);
    h.touch('pointerup', 1, 150, 120);
    assert.equal(h.pointers().length, 3);
  } finally {
    h.stop();
    mock.timers.reset();
  }
});

test('a finger that moves drags with button 1 and never right-clicks', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  const h = harness();
  try {
    h.touch('pointerdown', 1, 110, 70);
    h.touch('pointermove', 1, 130, 70);
    mock.timers.tick(LONG_PRESS_MS * 2);
    h.touch('pointerup', 1, 130, 70);
    assert.deepEqual(h.pointers(), [[200, 100, 0], [200, 100, 1], [240, 100, 1], [240, 100, 0]]);
  } finally {
    h.stop();
    mock.timers.reset();
  }
});

test('two fingers tell a scroll from a pinch by what changes first', () => {
  const at = (x1, y1, x2, y2) => fingerPair({ clientX: x1, clientY: y1 }, { clientX: x2, clientY: y2 });
  const from = at(100, 100, 160, 100);
  assert.equal(twoFingerGesture(from, at(101, 103, 161, 103)), null);
  assert.equal(twoFingerGesture(from, at(100, 90, 160, 90)), 'scroll');
  assert.equal(twoFingerGesture(from, at(90, 100, 170, 100)), 'pinch');
});

test('two fingers moving up scroll without a click or a zoom', () => {
  const h = harness();
  try {
    h.touch('pointerdown', 1, 100, 200);
    h.touch('pointerdown', 2, 160, 200);
    for (let i = 1; i <= 10; i++) {
      h.touch('pointermove', 1, 100, 200 - i * 12);
      h.touch('pointermove', 2, 160, 200 - i * 12);
    }
    h.touch('pointerup', 1, 100, 80);
    h.touch('pointerup', 2, 160, 80);
    const wheel = h.sent.filter((m) => m.type === 'wheel').reduce((s, m) => s + m.dy, 0);
    assert.equal(wheel, 3); // 120 px at 40 px a notch
    assert.ok(!h.pointers().some(([, , b]) => b !== 0));
    assert.equal(h.canvas.style.transform ?? '', '');
  } finally {
    h.stop();
  }
});

test('a pinch zooms the view around the fingers, and a tap then hits the pixel under the finger', () => {
  const h = harness();
  try {
    // Fingers around CSS (170, 140) = canvas (160, 120) = session (320, 240), 40 px apart, spread to 80.
    h.touch('pointerdown', 1, 150, 140);
    h.touch('pointerdown', 2, 190, 140);
    h.touch('pointermove', 1, 140, 140); // 60 apart: the pinch starts here
    h.touch('pointermove', 2, 200, 140);
    h.touch('pointermove', 1, 110, 140); // 120 apart: twice the size
    h.touch('pointermove', 2, 230, 140);
    h.touch('pointerup', 1, 110, 140);
    h.touch('pointerup', 2, 230, 140);
    assert.match(h.canvas.style.transform, /scale\(2\)$/);
    assert.ok(!h.sent.some((m) => m.type === 'wheel' || (m.type === 'pointer' && m.buttons)));
    // The point between the fingers kept its session pixel.
    h.sent.length = 0;
    h.touch('pointerdown', 1, 170, 140);
    h.touch('pointerup', 1, 170, 140);
    assert.deepEqual(h.pointers().at(-1), [320, 240, 0]);
    // 20 CSS px to the right on a 2x view is 10 canvas px: 20 session px.
    h.touch('pointerdown', 1, 190, 140);
    h.touch('pointerup', 1, 190, 140);
    assert.deepEqual(h.pointers().at(-2), [340, 240, 1]);
  } finally {
    h.stop();
  }
});

test('text from the on-screen keyboard goes as characters, line breaks as Enter, Ctrl+letter as keys', () => {
  const h = harness();
  try {
    const type = (detail) => h.canvas.dispatchEvent(new CustomEvent(TYPE_EVENT, { detail }));
    type({ text: 'hé\n', modifiers: [] });
    type({ backspaces: 1 });
    type({ text: 'c', modifiers: [29] });
    type({ text: 'C', modifiers: [29] });
    type({ keys: [56, 15] });
    const what = h.sent.map((m) => (m.type === 'key_char' ? `${m.down ? '+' : '-'}${String.fromCodePoint(m.codePoint)}/${m.code}` : `${m.down ? '+' : '-'}${m.code}`));
    assert.deepEqual(what, [
      '+h/35', '-h/35', '+é/0', '-é/0', '+28', '-28', // é has no US key: no physical code
      '+14', '-14',
      '+29', '+46', '-46', '-29',
      '+29', '+42', '+46', '-46', '-42', '-29',
      '+56', '+15', '-15', '-56',
    ]);
  } finally {
    h.stop();
  }
});

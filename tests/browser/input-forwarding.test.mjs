// client/web/input.js in Node: pointer coordinates and buttons, wheel notches, and the keyboard
// forwarded over fake events (characters as KeyChar, held keys released on blur, the paste
// shortcut waiting for the clipboard text).
// Run: node --test tests/browser/input-forwarding.test.mjs

import test from 'node:test';
import assert from 'node:assert/strict';
import { setMaxListeners } from 'node:events';

import { decodeMessage } from '../../client/web/protocol.js';
import { InputForwarder, RelativeMotion, WheelNotches, protocolButtons, sessionPixel } from '../../client/web/input.js';

test('DOM buttons become protocol buttons (middle and right swap)', () => {
  assert.equal(protocolButtons(0), 0);
  assert.equal(protocolButtons(1), 1);
  assert.equal(protocolButtons(2), 4); // right
  assert.equal(protocolButtons(4), 2); // middle
  assert.equal(protocolButtons(7), 7);
});

test('client coordinates map to session pixels inside the screen', () => {
  const rect = { left: 10, top: 20, width: 320, height: 240 };
  assert.deepEqual(sessionPixel(rect, 10, 20, 640, 480), { x: 0, y: 0 });
  assert.deepEqual(sessionPixel(rect, 170, 140, 640, 480), { x: 320, y: 240 });
  assert.deepEqual(sessionPixel(rect, 1000, -5, 640, 480), { x: 639, y: 0 });
  assert.equal(sessionPixel({ left: 0, top: 0, width: 0, height: 10 }, 1, 1, 640, 480), null);
});

test('wheel deltas add up to whole notches of 100 px, 3 lines or a page', () => {
  const w = new WheelNotches();
  assert.equal(w.add(0, 60, 0), null);
  assert.deepEqual(w.add(0, 60, 0), { dx: 0, dy: 1 }); // 120 px: one notch, 20 kept
  assert.deepEqual(w.add(0, 3, 1), { dx: 0, dy: 1 }); // 3 lines = 100 px
  assert.deepEqual(w.add(-1, 0, 2), { dx: -1, dy: 0 });
  w.reset();
  assert.equal(w.add(0, 90, 0), null); // the 20 px were forgotten
  assert.deepEqual(w.add(0, 1e9, 0), { dx: 0, dy: 0x7fff });
});

class FakeEvent extends Event {
  constructor(type, fields = {}) {
    super(type, { cancelable: true });
    for (const [k, v] of Object.entries(fields)) Object.defineProperty(this, k, { value: v });
  }
}
const key = (type, code, k, mods = {}) => new FakeEvent(type, { code, key: k, ctrlKey: false, altKey: false, metaKey: false, shiftKey: false, ...mods });

function harness(extra = {}) {
  globalThis.window ??= new EventTarget();
  globalThis.document ??= Object.assign(new EventTarget(), { hidden: false });
  const canvas = Object.assign(new EventTarget(), { width: 640, height: 480, focus() {}, getBoundingClientRect: () => ({ left: 0, top: 0, width: 640, height: 480 }) });
  const sent = [];
  const pasted = [];
  const state = { live: true, presses: 0 };
  const input = new InputForwarder(canvas, {
    send: (b) => sent.push(decodeMessage(b)),
    live: () => state.live,
    backlog: () => 0,
    onShortcut: (e) => e.code === 'F11',
    onKeyPress: () => state.presses++,
    onPaste: (t) => pasted.push(t),
    ...extra,
  });
  const events = new AbortController();
  setMaxListeners(20, events.signal); // one per event type the forwarder listens to, over Node's warning at 10
  input.attach(events.signal);
  return { canvas, input, sent, pasted, state, stop: () => { input.close(); events.abort(); } };
}

test('characters go as KeyChar, other keys by code, and blur lets go of all of them', () => {
  const h = harness();
  try {
    const a = key('keydown', 'KeyA', 'a');
    h.canvas.dispatchEvent(a);
    assert.equal(a.defaultPrevented, true);
    h.canvas.dispatchEvent(key('keydown', 'ControlLeft', 'Control', { ctrlKey: true }));
    h.canvas.dispatchEvent(key('keydown', 'F11', 'F11')); // the portal's shortcut
    assert.deepEqual(h.sent, [
      { type: 'key_char', down: true, codePoint: 97, code: 30 },
      { type: 'key', down: true, code: 29 },
    ]);
    assert.equal(h.state.presses, 2);
    h.canvas.dispatchEvent(new FakeEvent('blur'));
    assert.deepEqual(h.sent.slice(2), [
      { type: 'key_char', down: false, codePoint: 97, code: 30 },
      { type: 'key', down: false, code: 29 },
    ]);
    h.canvas.dispatchEvent(new FakeEvent('blur')); // nothing held any more
    assert.equal(h.sent.length, 4);
  } finally {
    h.stop();
  }
});

test('nothing goes while not live, and a combo goes down in order and up in reverse', () => {
  const h = harness();
  try {
    h.state.live = false;
    h.canvas.dispatchEvent(key('keydown', 'KeyB', 'b'));
    assert.equal(h.input.keyCombo([29, 56, 111]), false);
    assert.equal(h.sent.length, 0);
    h.state.live = true;
    assert.equal(h.input.keyCombo([29, 56, 111]), true);
    assert.deepEqual(h.sent.map((m) => [m.down, m.code]), [[true, 29], [true, 56], [true, 111], [false, 111], [false, 56], [false, 29]]);
  } finally {
    h.stop();
  }
});

test('the paste shortcut waits for the paste event, whose text goes first', () => {
  const h = harness();
  try {
    h.canvas.dispatchEvent(key('keydown', 'ControlLeft', 'Control', { ctrlKey: true }));
    const v = key('keydown', 'KeyV', 'v', { ctrlKey: true });
    h.canvas.dispatchEvent(v);
    assert.equal(v.defaultPrevented, false); // the browser runs its paste
    h.canvas.dispatchEvent(key('keyup', 'KeyV', 'v', { ctrlKey: true })); // released before the paste event
    assert.deepEqual(h.sent.map((m) => m.type), ['key']);
    h.canvas.dispatchEvent(new FakeEvent('paste', { clipboardData: { getData: () => 'local text' } }));
    assert.deepEqual(h.pasted, ['local text']);
    assert.deepEqual(h.sent.slice(1), [{ type: 'key', down: true, code: 47 }, { type: 'key', down: false, code: 47 }]);
  } finally {
    h.stop();
  }
});

// --- Relative pointer (a session whose PointerMode is relative: Pointer Lock) -------------------

function relativeHarness() {
  const modes = [];
  const h = harness({ onPointerMode: (s) => modes.push(s) });
  const frames = [];
  globalThis.requestAnimationFrame = (f) => frames.push(f);
  globalThis.cancelAnimationFrame = () => {};
  // Pointer Lock as the browser grants it: requestPointerLock() locks and says so.
  h.canvas.requestPointerLock = () => {
    document.pointerLockElement = h.canvas;
    document.dispatchEvent(new FakeEvent('pointerlockchange'));
  };
  document.exitPointerLock = () => {
    document.pointerLockElement = null;
    document.dispatchEvent(new FakeEvent('pointerlockchange'));
  };
  const runFrames = () => { for (const f of frames.splice(0)) f(); };
  return { ...h, modes, runFrames, stopAll: () => { h.stop(); document.pointerLockElement = null; } };
}
const mouse = (type, fields = {}) => new FakeEvent(type, { pointerType: 'mouse', clientX: 5, clientY: 5, buttons: 0, movementX: 0, movementY: 0, ...fields });

test('RelativeMotion sums motion and keeps what one message cannot carry', () => {
  const m = new RelativeMotion();
  assert.equal(m.pending, false);
  m.add(3, -2);
  m.add(4.4, 1);
  assert.deepEqual(m.take(), [7, -1]);
  assert.equal(m.pending, false);
  m.add(40000, -5);
  assert.deepEqual(m.take(), [32767, -5]);
  assert.deepEqual(m.take(), [40000 - 32767, 0]);
});

test('relative mode: a click captures (and is not sent), motion goes once per frame, buttons at once, unlock releases', () => {
  const h = relativeHarness();
  try {
    h.input.setPointerMode(true);
    assert.deepEqual(h.modes, ['released']);
    h.canvas.dispatchEvent(mouse('pointermove', { movementX: 50 })); // not captured: stays local
    h.canvas.dispatchEvent(mouse('pointerdown', { buttons: 1 }));   // captures
    h.canvas.dispatchEvent(mouse('pointerup'));
    assert.deepEqual(h.modes, ['released', 'captured']);
    assert.deepEqual(h.sent, []);

    for (let i = 0; i < 5; i++) h.canvas.dispatchEvent(mouse('pointermove', { movementX: 4, movementY: -1 }));
    assert.deepEqual(h.sent, []); // gathered until the next animation frame
    h.runFrames();
    assert.deepEqual(h.sent, [{ type: 'relative_pointer', dx: 20, dy: -5, buttons: 0 }]);

    h.canvas.dispatchEvent(mouse('pointermove', { movementX: 2, movementY: 3 }));
    h.canvas.dispatchEvent(mouse('pointerdown', { buttons: 2 })); // right button: protocol bit 4
    assert.deepEqual(h.sent[1], { type: 'relative_pointer', dx: 2, dy: 3, buttons: 4 });
    h.runFrames(); // nothing left to send
    assert.equal(h.sent.length, 2);

    document.exitPointerLock(); // Escape, as the browser does it: the held button is let go
    assert.deepEqual(h.sent[2], { type: 'relative_pointer', dx: 0, dy: 0, buttons: 0 });
    assert.equal(h.modes.at(-1), 'released');

    h.canvas.dispatchEvent(mouse('pointerdown', { buttons: 1 })); // captures again
    h.input.setPointerMode(false); // the guest's tablet driver loaded: the lock is given back
    assert.equal(document.pointerLockElement, null);
    assert.equal(h.modes.at(-1), 'absolute');
    h.canvas.dispatchEvent(mouse('pointermove', { clientX: 10, clientY: 20 }));
    assert.deepEqual(h.sent.at(-1), { type: 'pointer', x: 10, y: 20, buttons: 0 });
  } finally {
    h.stopAll();
  }
});

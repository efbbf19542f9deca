// client/web/soft_keyboard.js in Node: the phone keyboard's text field turned into what to type
// (the value's difference after each change, nothing during an IME composition and the committed
// text at its end, Android's 229 key events left to the text path, real named keys as keys, the
// field kept at its sentinel so Backspace on an "empty" field is not lost).
// Run: node --test tests/browser/soft-keyboard.test.mjs

import test from 'node:test';
import assert from 'node:assert/strict';

import { SoftKeyboard, SENTINEL, diffText, namedKeyCode } from '../../client/web/soft_keyboard.js';

class FakeEvent extends Event {
  constructor(type, fields = {}) {
    super(type, { cancelable: true });
    for (const [k, v] of Object.entries(fields)) Object.defineProperty(this, k, { value: v });
  }
}

function harness(latched = []) {
  const field = Object.assign(new EventTarget(), { value: '', setSelectionRange() {} });
  const out = [];
  let mods = [...latched];
  const kb = new SoftKeyboard(field, {
    emit: (d) => out.push(d),
    modifiers: () => { const m = mods; mods = []; return m; },
  });
  kb.attach(new AbortController().signal);
  // The browser changes the value, then fires input (as a keyboard or IME does).
  const input = (value, fields = {}) => {
    field.value = value;
    field.dispatchEvent(new FakeEvent('input', { isComposing: false, ...fields }));
  };
  const event = (type, fields = {}) => {
    const e = new FakeEvent(type, fields);
    field.dispatchEvent(e);
    return e;
  };
  return { field, out, input, event };
}

test('diffText: removed characters at the end become backspaces, added ones text', () => {
  assert.deepEqual(diffText('abc', 'abcd'), { backspaces: 0, text: 'd' });
  assert.deepEqual(diffText('abc', 'ab'), { backspaces: 1, text: '' });
  assert.deepEqual(diffText('__teh', '__the '), { backspaces: 2, text: 'he ' }); // autocorrect
  assert.deepEqual(diffText('__', '__😀'), { backspaces: 0, text: '😀' }); // one code point, not two halves
  assert.deepEqual(diffText('_😀', '_'), { backspaces: 1, text: '' });
});

test('the field starts at the sentinel; typed text is sent and the field put back', () => {
  const h = harness();
  assert.equal(h.field.value, SENTINEL);
  h.input(`${SENTINEL}a`);
  h.input(`${SENTINEL}b`);
  assert.deepEqual(h.out, [{ text: 'a', modifiers: [] }, { text: 'b', modifiers: [] }]);
  assert.equal(h.field.value, SENTINEL);
  // Backspace on the "empty" field deletes a sentinel character: one Backspace.
  h.input(SENTINEL.slice(1), { inputType: 'deleteContentBackward' });
  assert.deepEqual(h.out.at(-1), { backspaces: 1 });
  assert.equal(h.field.value, SENTINEL);
  // A soft keyboard's Enter puts a line break into the text: sent as text, input.js makes it Enter.
  h.input(`${SENTINEL}\n`, { inputType: 'insertLineBreak' });
  assert.deepEqual(h.out.at(-1), { text: '\n', modifiers: [] });
});

test('an IME composition sends only the committed text, at compositionend', () => {
  const h = harness();
  h.event('compositionstart');
  h.input(`${SENTINEL}ni`, { isComposing: true });
  h.input(`${SENTINEL}nih`, { isComposing: true });
  h.input(`${SENTINEL}你好`, { isComposing: true });
  assert.deepEqual(h.out, []);
  h.event('compositionend', { data: '你好' });
  assert.deepEqual(h.out, [{ text: '你好', modifiers: [] }]);
  assert.equal(h.field.value, SENTINEL);
  // Chrome fires a last input after compositionend (isComposing false): nothing new to send.
  h.input(SENTINEL);
  assert.equal(h.out.length, 1);
});

test('Android key events (229, "Unidentified") go by the text; real named keys go as keys', () => {
  const h = harness([29]);
  const k229 = h.event('keydown', { key: 'Unidentified', keyCode: 229, isComposing: false });
  assert.equal(k229.defaultPrevented, false);
  assert.equal(namedKeyCode({ key: 'Backspace', keyCode: 229 }), undefined);
  const enter = h.event('keydown', { key: 'Enter', keyCode: 13, isComposing: false, ctrlKey: false, altKey: false, shiftKey: false });
  assert.equal(enter.defaultPrevented, true); // no line break in the field: the key went
  assert.deepEqual(h.out, [{ keys: [29, 28] }]); // with the latched Ctrl, which is used up
  const up = h.event('keydown', { key: 'ArrowUp', keyCode: 38, isComposing: false, shiftKey: true });
  assert.equal(up.defaultPrevented, true);
  assert.deepEqual(h.out.at(-1), { keys: [42, 103] });
  // A hardware keyboard's Ctrl+C on the field: the character with Ctrl, not text.
  const c = h.event('keydown', { key: 'c', keyCode: 67, isComposing: false, ctrlKey: true });
  assert.equal(c.defaultPrevented, true);
  assert.deepEqual(h.out.at(-1), { text: 'c', modifiers: [29] });
  // A plain letter is left to the field.
  const a = h.event('keydown', { key: 'a', keyCode: 65, isComposing: false });
  assert.equal(a.defaultPrevented, false);
  assert.equal(h.out.length, 3);
});

test('a latched modifier applies to the next text only', () => {
  const h = harness([56]);
  h.input(`${SENTINEL}x`);
  h.input(`${SENTINEL}y`);
  assert.deepEqual(h.out, [{ text: 'x', modifiers: [56] }, { text: 'y', modifiers: [] }]);
});

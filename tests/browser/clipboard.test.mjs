// client/web/clipboard.js in Node: long texts from the host are put together, nothing echoes
// back, and nothing is sent while not live.
// Run: node --test tests/browser/clipboard.test.mjs

import test from 'node:test';
import assert from 'node:assert/strict';

import { decodeMessage, CLIPBOARD_CHUNK_BYTES, MAX_CLIPBOARD_BYTES } from '../../client/web/protocol.js';
import { ClipboardSync } from '../../client/web/clipboard.js';

function harness(live = true) {
  const sent = [];
  const copied = [];
  const state = { live };
  const c = new ClipboardSync({ send: (b) => sent.push(decodeMessage(b)), live: () => state.live, onClipboard: (t) => copied.push(t) });
  return { c, sent, copied, state };
}

test('pieces from the host make one text, reported once', () => {
  const { c, copied } = harness();
  c.received({ text: 'hello ', more: true });
  c.received({ text: 'wörld', more: false });
  assert.deepEqual(copied, ['hello wörld']);
  c.received({ text: 'next', more: false });
  assert.deepEqual(copied, ['hello wörld', 'next']);
  assert.deepEqual(c.snapshot(), { clipboardReceived: 2, clipboardSent: 0 });
});

test('text the session just copied is not sent back', () => {
  const { c, sent } = harness();
  c.received({ text: 'from host', more: false });
  assert.equal(c.send('from host'), true);
  assert.equal(sent.length, 0);
  c.pasted('from host'); // pasting it into the canvas again: still no echo
  assert.equal(sent.length, 0);
  assert.equal(c.send('local'), true);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].type, 'clipboard');
  assert.equal(c.send('local'), true); // already the session's
  assert.equal(sent.length, 1);
  assert.deepEqual(c.snapshot(), { clipboardReceived: 1, clipboardSent: 1 });
});

test('a long text goes in pieces; nothing goes while not live or over 1 MiB', () => {
  const { c, sent, state } = harness(false);
  assert.equal(c.send('x'), false);
  assert.equal(c.send(42), false);
  assert.equal(sent.length, 0);
  state.live = true;
  assert.equal(c.send('y'.repeat(CLIPBOARD_CHUNK_BYTES + 1)), true);
  assert.equal(sent.length, 2);
  const warn = console.warn;
  console.warn = () => {};
  try {
    assert.equal(c.send('z'.repeat(MAX_CLIPBOARD_BYTES + 1)), false);
  } finally {
    console.warn = warn;
  }
  assert.equal(sent.length, 2);
});

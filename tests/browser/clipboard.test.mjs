// client/web/clipboard.js in Node: long texts from the host are put together, nothing echoes
// back, and nothing is sent while not live.
// Run: node --test tests/browser/clipboard.test.mjs

import test from 'node:test';
import assert from 'node:assert/strict';

import { decodeMessage, CLIPBOARD_CHUNK_BYTES, MAX_CLIPBOARD_BYTES, MAX_CLIPBOARD_IMAGE_BYTES } from '../../client/web/protocol.js';
import { ClipboardSync } from '../../client/web/clipboard.js';

function harness(live = true) {
  const sent = [];
  const copied = [];
  const images = [];
  const state = { live };
  const c = new ClipboardSync({
    send: (b) => sent.push(decodeMessage(b)), live: () => state.live, onClipboard: (t) => copied.push(t),
    onClipboardImage: (png) => images.push(png),
  });
  return { c, sent, copied, images, state };
}

const pngOf = (n) => {
  const b = new Uint8Array(n).fill(0x80);
  b.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return b;
};

test('an image goes in png-flagged pieces, comes back whole, and is not echoed', () => {
  const { c, sent, images, copied } = harness();
  const png = pngOf(CLIPBOARD_CHUNK_BYTES + 10);
  assert.equal(c.sendImage(png), true);
  assert.equal(sent.length, 2);
  assert.deepEqual(sent.map((m) => [m.type, m.more, m.png.length]), [['clipboard', true, CLIPBOARD_CHUNK_BYTES], ['clipboard', false, 10]]);
  assert.equal(c.sendImage(pngOf(CLIPBOARD_CHUNK_BYTES + 10)), true); // the same bytes: the session has it
  assert.equal(sent.length, 2);

  const back = pngOf(100);
  c.received({ png: back.subarray(0, 40), more: true });
  c.received({ png: back.subarray(40), more: false });
  assert.equal(images.length, 1);
  assert.deepEqual(images[0], back);
  assert.deepEqual(copied, []);
  assert.equal(c.sendImage(pngOf(100)), true); // what the session copied is not sent back
  assert.equal(sent.length, 2);
  c.received({ png: new Uint8Array([1, 2, 3]), more: false }); // not a PNG file: not offered
  assert.equal(images.length, 1);
});

test('an image over 8 MiB or not a PNG file is not sent', () => {
  const { c, sent } = harness();
  const warn = console.warn;
  console.warn = () => {};
  try {
    assert.equal(c.sendImage(pngOf(MAX_CLIPBOARD_IMAGE_BYTES + 1)), false);
    assert.equal(c.sendImage(new Uint8Array([0x47, 0x49, 0x46])), false);
    assert.equal(c.sendImage('not bytes'), false);
  } finally {
    console.warn = warn;
  }
  assert.equal(sent.length, 0);
});

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

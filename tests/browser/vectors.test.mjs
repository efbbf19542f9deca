// The display protocol's golden vectors (protocol/vectors/display.json), shared with the C++ tests
// (tests/unit/protocol/vectors_test.cpp): the web client's codec (client/web/protocol.js) must
// decode each vector's bytes to its meaning, and encode the client's messages to exactly its bytes.
// Run: node --test tests/browser/vectors.test.mjs

import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import {
  decodeMessage, encodeHello, encodeKey, encodePointer, encodeWheel, encodeFrameAck, encodeKeyframeRequest,
  encodeLogoff, encodeResizeRequest, encodeClipboard, encodeClipboardImage, encodePing, encodeKeyChar,
  encodeRelativePointer,
} from '../../client/web/protocol.js';

const { vectors } = JSON.parse(readFileSync(new URL('../../protocol/vectors/display.json', import.meta.url)));
const hex = (bytes) => Buffer.from(bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes).toString('hex');
const fromHex = (s) => new Uint8Array(Buffer.from(s, 'hex')).buffer;

// The decoder's names (camelCase) as the vectors (and docs/protocol.md) spell them.
const WIRE_NAMES = {
  frameId: 'frame_id', paintUs: 'paint_us', captureTimeUs: 'capture_time_us', codedWidth: 'coded_width',
  codedHeight: 'coded_height', clientTime: 'client_time', codePoint: 'codepoint', hotX: 'hot_x', hotY: 'hot_y',
  sessionId: 'session_id',
};
const DERIVED = new Set(['reasonName', 'codeName']); // conveniences the decoder adds, not on the wire

function meaning(value) {
  if (value instanceof Uint8Array) return hex(value);
  if (Array.isArray(value)) return value.map(meaning);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([k]) => !DERIVED.has(k))
      .map(([k, v]) => [WIRE_NAMES[k] ?? k, meaning(v)]));
  }
  return value;
}

// The client's encoders, from a vector's meaning.
const ENCODERS = {
  hello: (m) => encodeHello(m.ticket, m.version),
  key: (m) => encodeKey(m.down, m.code),
  pointer: (m) => encodePointer(m.x, m.y, m.buttons),
  wheel: (m) => encodeWheel(m.dx, m.dy),
  relative_pointer: (m) => encodeRelativePointer(m.dx, m.dy, m.buttons),
  frame_ack: (m) => encodeFrameAck(m.frame_id, m.paint_us ?? 0),
  keyframe_request: () => encodeKeyframeRequest(),
  logoff: () => encodeLogoff(),
  resize_request: (m) => encodeResizeRequest(m.width, m.height),
  ping: (m) => encodePing(m.id, m.client_time),
  key_char: (m) => encodeKeyChar(m.down, m.codepoint, m.code),
  // encodeClipboard splits a text into chunks and flags all but the last as "more": a vector's short
  // text is one chunk, so only vectors without "more" describe what it sends.
  clipboard: (m) => {
    if (m.more) return null;
    const chunks = m.png ? encodeClipboardImage(new Uint8Array(fromHex(m.png))) : encodeClipboard(m.text);
    assert.equal(chunks.length, 1);
    return chunks[0];
  },
};

test('golden vectors: every message type has one', () => {
  const types = new Set(vectors.map((v) => v.message.type));
  assert.ok(vectors.length >= 25);
  for (const t of ['hello', 'key', 'pointer', 'wheel', 'frame_ack', 'keyframe_request', 'logoff', 'resize_request',
    'clipboard', 'ping', 'key_char', 'server_hello', 'video_frame', 'tile_frame', 'resize', 'session_ended', 'error',
    'clipboard_data', 'cursor_shape', 'pong', 'shadow_notice', 'relative_pointer', 'pointer_mode']) {
    assert.ok(types.has(t), `no vector of ${t}`);
  }
});

for (const v of vectors) {
  test(`golden vector decodes to its meaning: ${v.name}`, () => {
    assert.deepEqual(meaning(decodeMessage(fromHex(v.hex))), v.message);
  });
  const encode = ENCODERS[v.message.type];
  if (encode && encode(v.message) !== null) {
    test(`golden vector encodes to its bytes: ${v.name}`, () => {
      assert.equal(hex(encode(v.message)), v.hex);
    });
  }
}

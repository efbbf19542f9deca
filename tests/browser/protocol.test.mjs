// Unit tests of the web client's display-protocol codec (client/web/protocol.js), no browser.
// Run: node --test tests/browser/protocol.test.mjs

import test from 'node:test';
import assert from 'node:assert/strict';

import {
  decodeMessage, ProtocolError, MAX_MESSAGE_BYTES,
  encodeHello, encodeKey, encodePointer, encodeWheel, encodeFrameAck, encodeKeyframeRequest,
  encodeLogoff, encodeResizeRequest, encodeClipboard, encodeClipboardImage, encodePing, encodeKeyChar,
  encodeRelativePointer,
  CLIPBOARD_CHUNK_BYTES,
} from '../../client/web/protocol.js';

/** Little-endian message builder for hand-made host messages. */
class Bytes {
  constructor(type) { this.out = [type]; }
  u8(v) { this.out.push(v & 0xff); return this; }
  u16(v) { return this.u8(v).u8(v >> 8); }
  u32(v) { return this.u16(v & 0xffff).u16(v >>> 16); }
  u64(v) { const b = BigInt(v); return this.u32(Number(b & 0xffffffffn)).u32(Number(b >> 32n)); }
  raw(arr) { this.out.push(...arr); return this; }
  str(s) { const b = new TextEncoder().encode(s); return this.u16(b.length).raw(b); }
  buffer() { return new Uint8Array(this.out).buffer; }
}

const hex = (buf) => Buffer.from(buf).toString('hex');

function throwsProtocol(input, pattern, code = 'malformed') {
  assert.throws(() => decodeMessage(input), (e) => {
    assert.ok(e instanceof ProtocolError, `expected ProtocolError, got ${e}`);
    assert.equal(e.code, code);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

const truncate = (buf, n) => buf.slice(0, buf.byteLength - n);
const append = (buf, ...extra) => new Uint8Array([...new Uint8Array(buf), ...extra]).buffer;

// --- client messages: exact bytes and round trips --------------------------------------------

test('Hello encodes version 5 and the ticket as a u16-length string', () => {
  const buf = encodeHello('ab.cd');
  assert.equal(hex(buf), '01' + '0500' + '0500' + Buffer.from('ab.cd').toString('hex'));
  assert.deepEqual(decodeMessage(buf), { type: 'hello', version: 5, ticket: 'ab.cd' });
});

test('Hello round-trips a long UTF-8 ticket and rejects one over 4096 bytes', () => {
  const ticket = 'é'.repeat(2048); // 4096 bytes
  assert.equal(decodeMessage(encodeHello(ticket)).ticket, ticket);
  assert.throws(() => encodeHello('x'.repeat(4097)), RangeError);
});

test('Key round trips', () => {
  assert.equal(hex(encodeKey(true, 30)), '02011e00');
  assert.deepEqual(decodeMessage(encodeKey(true, 30)), { type: 'key', down: true, code: 30 });
  assert.deepEqual(decodeMessage(encodeKey(false, 767)), { type: 'key', down: false, code: 767 });
  assert.throws(() => encodeKey(true, 0), RangeError);
  assert.throws(() => encodeKey(true, 768), RangeError);
});

test('Pointer round trips', () => {
  assert.equal(hex(encodePointer(0x102, 0x304, 5)), '03' + '0201' + '0403' + '05');
  assert.deepEqual(decodeMessage(encodePointer(1279, 799, 7)), { type: 'pointer', x: 1279, y: 799, buttons: 7 });
  assert.throws(() => encodePointer(-1, 0, 0), RangeError);
  assert.throws(() => encodePointer(0, 0, 8), RangeError);
});

test('Wheel round trips signed notches', () => {
  assert.equal(hex(encodeWheel(-1, 2)), '04' + 'ffff' + '0200');
  assert.deepEqual(decodeMessage(encodeWheel(-32768, 32767)), { type: 'wheel', dx: -32768, dy: 32767 });
  assert.throws(() => encodeWheel(0, 40000), RangeError);
});

test('FrameAck round trips the full u32 range', () => {
  assert.equal(hex(encodeFrameAck(0x01020304)), '05' + '04030201');
  assert.deepEqual(decodeMessage(encodeFrameAck(0xffffffff)), { type: 'frame_ack', frameId: 0xffffffff });
});

test('KeyframeRequest and Logoff are a bare type byte', () => {
  assert.equal(hex(encodeKeyframeRequest()), '06');
  assert.equal(hex(encodeLogoff()), '07');
  assert.deepEqual(decodeMessage(encodeKeyframeRequest()), { type: 'keyframe_request' });
  assert.deepEqual(decodeMessage(encodeLogoff()), { type: 'logoff' });
});

// --- host messages -----------------------------------------------------------------------------

const serverHello = () => new Bytes(0x81).u16(1).u16(1280).u16(800).str('s-42').buffer();

const videoFrame = () => new Bytes(0x82).u32(7).u8(1).u16(1280).u16(800).u64(1_700_000_000_123_456n).u16(0)
  .raw([0, 0, 0, 1, 0x67, 0x42, 0xe0, 0x1f]).buffer();

const tileFrame = () => new Bytes(0x83).u32(9).u16(1280).u16(800).u16(1)
  .u16(0).u16(16).u16(1280).u16(784).u16(0).u16(0)
  .u16(2)
  .u16(0).u16(0).u16(64).u16(64).u8(1).u32(3).raw([0xff, 0xd8, 0xff])
  .u16(1216).u16(736).u16(64).u16(64).u8(2).u32(2).raw([0xaa, 0xbb])
  .buffer();

test('ServerHello decodes', () => {
  assert.deepEqual(decodeMessage(serverHello()),
    { type: 'server_hello', version: 1, width: 1280, height: 800, sessionId: 's-42' });
});

test('VideoFrame decodes its header and keeps the rest as the access unit', () => {
  const m = decodeMessage(videoFrame());
  assert.equal(m.type, 'video_frame');
  assert.equal(m.frameId, 7);
  assert.equal(m.keyframe, true);
  assert.equal(m.width, 1280);
  assert.equal(m.height, 800);
  assert.equal(m.captureTimeUs, 1_700_000_000_123_456);
  assert.ok(m.data instanceof Uint8Array);
  assert.deepEqual([...m.data], [0, 0, 0, 1, 0x67, 0x42, 0xe0, 0x1f]);
  assert.deepEqual(m.dirty, []);
});

test('VideoFrame with flags 0 is a delta frame with its dirty rectangles', () => {
  const buf = new Bytes(0x82).u32(8).u8(0).u16(16).u16(16).u64(0).u16(2)
    .u16(0).u16(0).u16(8).u16(8).u16(8).u16(8).u16(8).u16(8).raw([1]).buffer();
  const m = decodeMessage(buf);
  assert.equal(m.keyframe, false);
  assert.deepEqual(m.dirty, [{ x: 0, y: 0, w: 8, h: 8 }, { x: 8, y: 8, w: 8, h: 8 }]);
  assert.deepEqual([...m.data], [1]);
});

test('TileFrame with a copy and two tiles decodes them in order', () => {
  const m = decodeMessage(tileFrame());
  assert.equal(m.type, 'tile_frame');
  assert.equal(m.frameId, 9);
  assert.equal(m.width, 1280);
  assert.equal(m.height, 800);
  assert.deepEqual(m.copies, [{ x: 0, y: 16, w: 1280, h: 784, dx: 0, dy: 0 }]);
  assert.equal(m.tiles.length, 2);
  assert.deepEqual({ ...m.tiles[0], data: [...m.tiles[0].data] },
    { x: 0, y: 0, w: 64, h: 64, encoding: 1, data: [0xff, 0xd8, 0xff] });
  assert.deepEqual({ ...m.tiles[1], data: [...m.tiles[1].data] },
    { x: 1216, y: 736, w: 64, h: 64, encoding: 2, data: [0xaa, 0xbb] });
});

test('TileFrame with copies only (a pure scroll) decodes', () => {
  const m = decodeMessage(new Bytes(0x83).u32(3).u16(64).u16(64).u16(1).u16(0).u16(8).u16(64).u16(56).u16(0).u16(0)
    .u16(0).buffer());
  assert.equal(m.copies.length, 1);
  assert.equal(m.tiles.length, 0);
});

test('SessionEnded decodes reason and message', () => {
  const m = decodeMessage(new Bytes(0x85).u8(0).str('xterm exited').buffer());
  assert.deepEqual(m, { type: 'session_ended', reason: 0, reasonName: 'app_exited', message: 'xterm exited' });
  assert.equal(decodeMessage(new Bytes(0x85).u8(3).str('').buffer()).reasonName, 'error');
});

test('Error decodes code and message', () => {
  const m = decodeMessage(new Bytes(0x86).u16(4).str('ticket expired').buffer());
  assert.deepEqual(m, { type: 'error', code: 4, codeName: 'ticket_expired', message: 'ticket expired' });
});

test('decodeMessage accepts a Uint8Array view at an offset', () => {
  const inner = new Uint8Array(serverHello());
  const outer = new Uint8Array(inner.length + 3);
  outer.set(inner, 3);
  assert.equal(decodeMessage(outer.subarray(3)).sessionId, 's-42');
});

test('FrameAck carries the paint time of a video frame only when there is one', () => {
  assert.equal(hex(encodeFrameAck(7, 0)), '05' + '07000000');
  assert.equal(hex(encodeFrameAck(7, 8500)), '05' + '07000000' + '34210000');
  assert.deepEqual(decodeMessage(encodeFrameAck(7, 8500)), { type: 'frame_ack', frameId: 7, paintUs: 8500 });
  assert.throws(() => decodeMessage(new Bytes(0x05).u32(7).u16(1).buffer()), ProtocolError);
});

test('a reduced-resolution VideoFrame carries its coded size, which must lie within the screen', () => {
  const frame = (cw, ch) => new Bytes(0x82).u32(9).u8(2).u16(1920).u16(1040).u64(0).u16(cw).u16(ch).u16(1)
    .u16(0).u16(0).u16(64).u16(64).raw([1, 2]).buffer();
  const m = decodeMessage(frame(960, 520));
  assert.equal(m.keyframe, false);
  assert.equal(m.width, 1920);
  assert.equal(m.codedWidth, 960);
  assert.equal(m.codedHeight, 520);
  assert.deepEqual(m.dirty, [{ x: 0, y: 0, w: 64, h: 64 }]);
  assert.deepEqual([...m.data], [1, 2]);
  assert.throws(() => decodeMessage(frame(1922, 520)), ProtocolError);
  assert.throws(() => decodeMessage(frame(960, 0)), ProtocolError);
  const full = decodeMessage(videoFrame());
  assert.equal(full.codedWidth, full.width);
  assert.throws(() => decodeMessage(new Bytes(0x82).u32(9).u8(4).u16(16).u16(16).u64(0).u16(0).raw([1]).buffer()), ProtocolError);
});

// --- malformed input -------------------------------------------------------------------------

test('every truncation of every message throws', () => {
  const messages = [serverHello(), videoFrame(), tileFrame(),
    new Bytes(0x85).u8(1).str('bye').buffer(), new Bytes(0x86).u16(3).str('bad').buffer(),
    encodeHello('t'), encodeKey(true, 1), encodePointer(1, 2, 3), encodeWheel(1, 1), encodeFrameAck(1)];
  for (const full of messages) {
    const type = new Uint8Array(full)[0];
    // A VideoFrame's payload is "the rest", so only prefixes without header + 1 byte are short.
    const shortest = type === 0x82 ? 21 : full.byteLength;
    for (let len = 0; len < shortest; len++) {
      assert.throws(() => decodeMessage(full.slice(0, len)), ProtocolError,
        `type 0x${type.toString(16)} cut to ${len} of ${full.byteLength} bytes`);
    }
  }
  throwsProtocol(new ArrayBuffer(0), /empty/);
  throwsProtocol(truncate(serverHello(), 1), /truncated/);
});

test('VideoFrame without payload throws', () => {
  throwsProtocol(new Bytes(0x82).u32(1).u8(1).u16(16).u16(16).u64(0).u16(0).buffer(), /no H.264 data/);
});

test('a tile running past the end throws', () => {
  const buf = new Bytes(0x83).u32(1).u16(64).u16(64).u16(0).u16(1)
    .u16(0).u16(0).u16(16).u16(16).u8(1).u32(100).raw([1, 2, 3]).buffer();
  throwsProtocol(buf, /truncated at tile 0 data/);
});

test('a tile count larger than the tiles present throws', () => {
  const one = (b) => b.u16(0).u16(0).u16(8).u16(8).u8(1).u32(1).raw([0xff]);
  throwsProtocol(one(new Bytes(0x83).u32(1).u16(64).u16(64).u16(0).u16(2)).buffer(), /truncated/);
});

test('out-of-range counts and fields throw', () => {
  throwsProtocol(new Bytes(0x83).u32(1).u16(64).u16(64).u16(0).u16(0).buffer(), /tile count 0/);
  throwsProtocol(new Bytes(0x83).u32(1).u16(64).u16(64).u16(0).u16(4097).buffer(), /tile count 4097/);
  throwsProtocol(new Bytes(0x83).u32(1).u16(64).u16(64).u16(4097).buffer(), /4097 copies/);
  throwsProtocol(new Bytes(0x83).u32(1).u16(64).u16(64).u16(0).u16(1)
    .u16(60).u16(0).u16(8).u16(8).u8(1).u32(1).raw([0]).buffer(), /outside/);
  throwsProtocol(new Bytes(0x83).u32(1).u16(64).u16(64).u16(0).u16(1)
    .u16(0).u16(0).u16(8).u16(8).u8(5).u32(1).raw([0]).buffer(), /unknown encoding 5/);
  throwsProtocol(new Bytes(0x83).u32(1).u16(64).u16(64).u16(0).u16(1)
    .u16(0).u16(0).u16(8).u16(8).u8(0).u32(1).raw([0]).buffer(), /unknown encoding 0/);
  throwsProtocol(new Bytes(0x83).u32(1).u16(64).u16(64).u16(1)
    .u16(0).u16(60).u16(8).u16(8).u16(0).u16(0).u16(0).buffer(), /copy 0 reaches outside/);
  throwsProtocol(new Bytes(0x83).u32(1).u16(64).u16(64).u16(1)
    .u16(0).u16(0).u16(8).u16(8).u16(60).u16(0).u16(0).buffer(), /copy 0 reaches outside/);
  throwsProtocol(new Bytes(0x82).u32(1).u8(0).u16(16).u16(16).u64(0).u16(1)
    .u16(8).u16(8).u16(16).u16(8).raw([1]).buffer(), /dirty rectangle 0/);
  throwsProtocol(new Bytes(0x81).u16(1).u16(0).u16(800).str('s').buffer(), /screen size/);
  throwsProtocol(new Bytes(0x81).u16(1).u16(8193).u16(800).str('s').buffer(), /screen size/);
  throwsProtocol(new Bytes(0x82).u32(1).u8(4).u16(16).u16(16).u64(0).raw([1]).buffer(), /flags/);
  throwsProtocol(new Bytes(0x85).u8(4).str('').buffer(), /reason/);
  throwsProtocol(new Bytes(0x86).u16(10).str('').buffer(), /error code/);
  throwsProtocol(new Bytes(0x02).u8(2).u16(30).buffer(), /down/);
  throwsProtocol(new Bytes(0x02).u8(1).u16(768).buffer(), /key code/);
  throwsProtocol(new Bytes(0x03).u16(0).u16(0).u8(8).buffer(), /button/);
});

test('a string over 4096 bytes throws even when the bytes are there', () => {
  const b = new Bytes(0x86).u16(8).u16(4097).raw(new Array(4097).fill(0x41));
  throwsProtocol(b.buffer(), /limit 4096/);
});

test('invalid UTF-8 in a string throws', () => {
  throwsProtocol(new Bytes(0x86).u16(8).u16(2).raw([0xc3, 0x28]).buffer(), /UTF-8/);
});

test('trailing bytes throw', () => {
  throwsProtocol(append(serverHello(), 0), /trailing/);
  throwsProtocol(append(tileFrame(), 1, 2), /trailing/);
  throwsProtocol(append(encodeLogoff(), 0), /trailing/);
  throwsProtocol(append(new Bytes(0x86).u16(1).str('x').buffer(), 0), /trailing/);
});

test('unknown message types throw', () => {
  for (const type of [0x00, 0x0d, 0x80, 0x8c, 0xff]) {
    throwsProtocol(new Uint8Array([type, 0, 0, 0]).buffer, /unknown message type/);
  }
});

test('messages over 16 MiB throw too_large; non-binary input throws', () => {
  const big = new Uint8Array(MAX_MESSAGE_BYTES + 1);
  big[0] = 0x82;
  throwsProtocol(big, /16 MiB/, 'too_large');
  throwsProtocol('hello', /binary/);
});

test('ResizeRequest encodes two u16 and checks the 64..8192 bounds', () => {
  assert.equal(hex(encodeResizeRequest(0x0102, 0x0304)), '0802010403');
  assert.deepEqual(decodeMessage(encodeResizeRequest(1920, 1080)), { type: 'resize_request', width: 1920, height: 1080 });
  assert.throws(() => encodeResizeRequest(63, 600), RangeError);
  assert.throws(() => encodeResizeRequest(800, 8193), RangeError);
  assert.throws(() => encodeResizeRequest(800.5, 600), RangeError);
  throwsProtocol(new Bytes(0x08).u16(10).u16(600).buffer(), /out of range/);
});

test('Resize decodes and refuses a zero size, truncation and trailing bytes', () => {
  const resize = () => new Bytes(0x84).u16(1366).u16(768).buffer();
  assert.deepEqual(decodeMessage(resize()), { type: 'resize', width: 1366, height: 768 });
  throwsProtocol(new Bytes(0x84).u16(0).u16(768).buffer(), /bad screen size/);
  throwsProtocol(truncate(resize(), 1), /truncated/);
  throwsProtocol(append(resize(), 0), /trailing/);
});

// --- clipboard, ping, key_char, cursor (issue 6) ---------------------------------------------

test('clipboard text is encoded with the spec layout and round trips', () => {
  const [one] = encodeClipboard('ab');
  assert.equal(hex(one), '09000200000061 62'.replace(' ', ''));
  const m = decodeMessage(encodeClipboard('h\u00e9llo \u20ac')[0]);
  assert.deepEqual(m, { type: 'clipboard', more: false, text: 'h\u00e9llo \u20ac' });
  const data = new Bytes(0x87).u8(0).u32(3).raw([0x61, 0x62, 0x63]).buffer();
  assert.deepEqual(decodeMessage(data), { type: 'clipboard_data', more: false, text: 'abc' });
});

test('a clipboard image (PNG) is flagged bit 1, carried raw and round trips', () => {
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0x00]);
  const [one] = encodeClipboardImage(png);
  assert.equal(hex(one), '09020a000000' + '89504e470d0a1a0aff00');
  const data = new Bytes(0x87).u8(3).u32(2).raw([0xff, 0xfe]).buffer(); // not UTF-8: fine for an image
  assert.deepEqual(decodeMessage(data), { type: 'clipboard_data', more: true, png: new Uint8Array([0xff, 0xfe]) });
  assert.throws(() => encodeClipboardImage(new Uint8Array([1, 2, 3])), RangeError);
  assert.throws(() => encodeClipboardImage('png'), TypeError);
});

test('long clipboard text is split into pieces that never cut a character', () => {
  const text = '\u20ac'.repeat(CLIPBOARD_CHUNK_BYTES); // 3 bytes each: 180000 bytes
  const pieces = encodeClipboard(text);
  assert.equal(pieces.length, 3); // 60000 bytes (20000 characters) per piece
  let joined = '';
  pieces.forEach((p, i) => {
    const m = decodeMessage(p);
    assert.equal(m.more, i < pieces.length - 1);
    assert.ok(p.byteLength <= CLIPBOARD_CHUNK_BYTES + 6);
    joined += m.text;
  });
  assert.equal(joined, text);
  const odd = encodeClipboard(`a${'\u20ac'.repeat(CLIPBOARD_CHUNK_BYTES / 3)}`); // boundaries fall inside characters
  assert.equal(odd.length, 2);
  assert.equal(odd.map((p) => decodeMessage(p).text).join(''), `a${'\u20ac'.repeat(CLIPBOARD_CHUNK_BYTES / 3)}`);
  assert.throws(() => encodeClipboard('x'.repeat(1024 * 1024 + 1)), RangeError);
  assert.equal(encodeClipboard('').length, 1);
});

test('bad clipboard messages are refused', () => {
  throwsProtocol(new Bytes(0x87).u8(0).u32(2).raw([0xc3, 0x28]).buffer(), /UTF-8/);
  throwsProtocol(new Bytes(0x87).u8(4).u32(0).buffer(), /flags/);
  throwsProtocol(new Bytes(0x87).u8(2).u32(8 * 1024 * 1024 + 1).buffer(), /exceeds 8 MiB/, 'too_large');
  throwsProtocol(new Bytes(0x87).u8(0).u32(1024 * 1024 + 1).buffer(), /exceeds/, 'too_large');
  throwsProtocol(new Bytes(0x87).u8(0).u32(5).raw([0x61]).buffer(), /truncated/);
  throwsProtocol(append(new Bytes(0x87).u8(0).u32(1).raw([0x61]).buffer(), 0), /trailing/);
});

test('ping and pong carry id and client time', () => {
  const p = encodePing(7, 123456789);
  assert.equal(hex(p), '0a0700000015cd5b0700000000');
  assert.deepEqual(decodeMessage(p), { type: 'ping', id: 7, clientTime: 123456789 });
  const pong = new Bytes(0x89).u32(7).u64(42).buffer();
  assert.deepEqual(decodeMessage(pong), { type: 'pong', id: 7, clientTime: 42 });
  throwsProtocol(truncate(pong, 1), /truncated/);
});

test('key_char carries a printable code point', () => {
  assert.equal(hex(encodeKeyChar(true, 0x20ac, 18)), '0b01ac2000001200');
  assert.deepEqual(decodeMessage(encodeKeyChar(false, 0x40)), { type: 'key_char', down: false, codePoint: 0x40, code: 0 });
  assert.throws(() => encodeKeyChar(true, 0x41, 768), RangeError);
  throwsProtocol(new Bytes(0x0b).u8(1).u32(0x41).u16(768).buffer(), /out of range/);
  assert.throws(() => encodeKeyChar(true, 0x0a), RangeError);
  assert.throws(() => encodeKeyChar(true, 0xd800), RangeError);
  throwsProtocol(new Bytes(0x0b).u8(1).u32(0x0a).u16(0).buffer(), /cannot be typed/);
  throwsProtocol(new Bytes(0x0b).u8(1).u32(0x110000).u16(0).buffer(), /cannot be typed/);
  throwsProtocol(new Bytes(0x0b).u8(1).u32(0x41).buffer(), /truncated/);
});

test('cursor shapes are bounds-checked', () => {
  const ok = new Bytes(0x88).u32(9).u16(1).u16(1).u16(2).u16(2).raw(new Array(16).fill(255)).buffer();
  const m = decodeMessage(ok);
  assert.equal(m.type, 'cursor_shape');
  assert.equal(m.id, 9);
  assert.equal(m.rgba.length, 16);
  assert.equal(decodeMessage(new Bytes(0x88).u32(1).u16(0).u16(0).u16(0).u16(0).buffer()).width, 0);
  throwsProtocol(new Bytes(0x88).u32(1).u16(0).u16(0).u16(257).u16(1).buffer(), /out of range/);
  throwsProtocol(new Bytes(0x88).u32(1).u16(2).u16(0).u16(2).u16(2).raw(new Array(16).fill(0)).buffer(), /hotspot/);
  throwsProtocol(truncate(ok, 1), /truncated/);
  throwsProtocol(append(ok, 0), /trailing/);
});

// --- ShadowNotice (0x8A): who is watching the session -------------------------------------------

test('shadow_notice decodes the same bytes the host encodes, and refuses what it would', () => {
  // The C++ encoder's bytes for ShadowNotice{2, {"hd"}} (tests/unit/protocol/display_test.cpp).
  assert.deepEqual(decodeMessage(new Uint8Array([0x8a, 2, 0, 1, 2, 0, 0x68, 0x64])),
    { type: 'shadow_notice', count: 2, names: ['hd'] });
  const two = new Bytes(0x8a).u16(3).u8(2).str('helpdesk').str('Zoë').buffer();
  assert.deepEqual(decodeMessage(two), { type: 'shadow_notice', count: 3, names: ['helpdesk', 'Zoë'] });
  assert.deepEqual(decodeMessage(new Bytes(0x8a).u16(0).u8(0).buffer()), { type: 'shadow_notice', count: 0, names: [] });

  for (let n = 1; n < two.byteLength; n++) throwsProtocol(truncate(two, n), /shadow_notice/);
  throwsProtocol(append(two, 0), /trailing/);
  throwsProtocol(new Bytes(0x8a).u16(0).u8(1).str('x').buffer(), /names for 0 watcher/);
  throwsProtocol(new Bytes(0x8a).u16(40).u8(17).buffer(), /at most 16/);
  throwsProtocol(new Bytes(0x8a).u16(1).u8(1).u16(0).buffer(), /name 0 is 0 bytes/);
  throwsProtocol(new Bytes(0x8a).u16(1).u8(1).str('a'.repeat(129)).buffer(), /name 0 is 129 bytes/);
  throwsProtocol(new Bytes(0x8a).u16(1).u8(1).u16(1).u8(0xff).buffer(), /not valid UTF-8/);
});

// --- RelativePointer (0x0C) and PointerMode (0x8B): a session whose pointer is relative ----------

test('relative_pointer encodes the bytes the host decodes; pointer_mode decodes and refuses bad values', () => {
  // The C++ encoder's bytes for RelativePointer{-2, 300, 5} (tests/unit/protocol/display_test.cpp).
  assert.equal(hex(encodeRelativePointer(-2, 300, 5)), '0cfeff2c0105');
  assert.deepEqual(decodeMessage(encodeRelativePointer(-32767, 32767, 7)),
    { type: 'relative_pointer', dx: -32767, dy: 32767, buttons: 7 });
  assert.throws(() => encodeRelativePointer(-32768, 0, 0), RangeError);
  assert.throws(() => encodeRelativePointer(0, 1.5, 0), RangeError);
  assert.throws(() => encodeRelativePointer(0, 0, 8), RangeError);
  throwsProtocol(new Uint8Array([0x0c, 0x00, 0x80, 0, 0, 0]), /out of range/);

  assert.deepEqual(decodeMessage(new Uint8Array([0x8b, 1])), { type: 'pointer_mode', relative: true });
  assert.deepEqual(decodeMessage(new Uint8Array([0x8b, 0])), { type: 'pointer_mode', relative: false });
  throwsProtocol(new Uint8Array([0x8b, 2]), /relative must be 0 or 1/);
  throwsProtocol(new Uint8Array([0x8b]), /truncated/);
  throwsProtocol(new Uint8Array([0x8b, 1, 0]), /trailing/);
});

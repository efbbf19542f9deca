// Display channel messages (docs/protocol.md, version 5): encoders for what the client sends and
// one bounds-checked decoder for every message type. Malformed input throws a ProtocolError and
// never returns a half-read message. Pure: no browser globals, so Node tests can import it.

export const PROTOCOL_VERSION = 5;
// WebSocket close code: an administrator disconnected this viewer; the session keeps running, and
// the client does not reconnect by itself (docs/protocol.md, "Closing").
export const CLOSE_DISCONNECTED_BY_ADMIN = 4001;
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
export const MAX_STRING_BYTES = 4096;
export const MAX_SCREEN_DIM = 8192;
export const MAX_TILES = 4096;
export const MAX_COPIES = 4096;
export const MAX_DIRTY_RECTS = 4096;
export const MIN_RESIZE_DIM = 64;
export const MAX_KEY_CODE = 767;
export const MAX_CLIPBOARD_BYTES = 1024 * 1024; // the whole clipboard text, UTF-8
export const MAX_CLIPBOARD_IMAGE_BYTES = 8 * 1024 * 1024; // one PNG image on the clipboard, in all
export const CLIPBOARD_CHUNK_BYTES = 60000; // one Clipboard message (the gateway takes 64 KiB from clients)
export const MAX_CURSOR_DIM = 256;
export const MAX_SHADOW_NAMES = 16; // names one ShadowNotice lists
export const MAX_SHADOW_NAME_BYTES = 128; // UTF-8 bytes of one of them
export const MAX_RELATIVE_MOTION = 32767; // |dx|, |dy| of one RelativePointer (QEMU carries 0x7FFF + d)

export const MsgType = Object.freeze({
  HELLO: 0x01,
  KEY: 0x02,
  POINTER: 0x03,
  WHEEL: 0x04,
  FRAME_ACK: 0x05,
  KEYFRAME_REQUEST: 0x06,
  LOGOFF: 0x07,
  RESIZE_REQUEST: 0x08,
  CLIPBOARD: 0x09,
  PING: 0x0a,
  KEY_CHAR: 0x0b,
  RELATIVE_POINTER: 0x0c,
  SERVER_HELLO: 0x81,
  VIDEO_FRAME: 0x82,
  TILE_FRAME: 0x83,
  RESIZE: 0x84,
  SESSION_ENDED: 0x85,
  ERROR: 0x86,
  CLIPBOARD_DATA: 0x87,
  CURSOR_SHAPE: 0x88,
  PONG: 0x89,
  SHADOW_NOTICE: 0x8a,
  POINTER_MODE: 0x8b,
});

export const ERROR_CODES = Object.freeze({
  1: 'malformed',
  2: 'unsupported_version',
  3: 'ticket_invalid',
  4: 'ticket_expired',
  5: 'ticket_replayed',
  6: 'session_not_found',
  7: 'too_large',
  8: 'internal',
  9: 'expected_hello',
});

export const END_REASONS = Object.freeze({
  0: 'app_exited',
  1: 'logged_off',
  2: 'host_shutdown',
  3: 'error',
});

export const TILE_JPEG = 1;
export const TILE_PNG = 2;
export const TILE_PALETTE = 3; // docs/protocol.md "Palette tiles"
export const TILE_PALETTE_COMPACT = 4; // the same, compact palette (since version 4)

/** Thrown for any message that breaks docs/protocol.md; `code` is 'malformed' or 'too_large'. */
export class ProtocolError extends Error {
  constructor(message, code = 'malformed') {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
  }
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

// ---------------------------------------------------------------------------------------------
// Encoding (client -> host)

class Writer {
  constructor(type, bodyBytes) {
    this.buf = new ArrayBuffer(1 + bodyBytes);
    this.view = new DataView(this.buf);
    this.bytes = new Uint8Array(this.buf);
    this.view.setUint8(0, type);
    this.pos = 1;
  }
  u8(v) { this.view.setUint8(this.pos, v); this.pos += 1; return this; }
  u16(v) { this.view.setUint16(this.pos, v, true); this.pos += 2; return this; }
  i16(v) { this.view.setInt16(this.pos, v, true); this.pos += 2; return this; }
  u32(v) { this.view.setUint32(this.pos, v, true); this.pos += 4; return this; }
  raw(b) { this.bytes.set(b, this.pos); this.pos += b.length; return this; }
}

function checkInt(name, v, min, max) {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${v}`);
  }
}

export function encodeHello(ticket, version = PROTOCOL_VERSION) {
  if (typeof ticket !== 'string') throw new TypeError('ticket must be a string');
  const t = utf8Encoder.encode(ticket);
  checkInt('ticket length', t.length, 0, MAX_STRING_BYTES);
  checkInt('version', version, 0, 0xffff);
  return new Writer(MsgType.HELLO, 2 + 2 + t.length).u16(version).u16(t.length).raw(t).buf;
}

export function encodeKey(down, code) {
  checkInt('key code', code, 1, MAX_KEY_CODE);
  return new Writer(MsgType.KEY, 3).u8(down ? 1 : 0).u16(code).buf;
}

export function encodePointer(x, y, buttons) {
  checkInt('x', x, 0, 0xffff);
  checkInt('y', y, 0, 0xffff);
  checkInt('buttons', buttons, 0, 7);
  return new Writer(MsgType.POINTER, 5).u16(x).u16(y).u8(buttons).buf;
}

export function encodeWheel(dx, dy) {
  checkInt('dx', dx, -0x8000, 0x7fff);
  checkInt('dy', dy, -0x8000, 0x7fff);
  return new Writer(MsgType.WHEEL, 4).i16(dx).i16(dy).buf;
}

/** Pointer motion while the session's pointer is relative (PointerMode): device pixels, buttons as in Pointer. */
export function encodeRelativePointer(dx, dy, buttons) {
  checkInt('dx', dx, -MAX_RELATIVE_MOTION, MAX_RELATIVE_MOTION);
  checkInt('dy', dy, -MAX_RELATIVE_MOTION, MAX_RELATIVE_MOTION);
  checkInt('buttons', buttons, 0, 7);
  return new Writer(MsgType.RELATIVE_POINTER, 5).i16(dx).i16(dy).u8(buttons).buf;
}

/**
 * paintUs: microseconds from the frame's arrival to painted (the host paces frames to the client
 * and shrinks full-motion video for a client that cannot paint it in time); 0 = not reported.
 */
export function encodeFrameAck(frameId, paintUs = 0) {
  checkInt('frame id', frameId, 0, 0xffffffff);
  const us = Math.min(0xffffffff, Math.max(0, Math.round(paintUs)));
  if (us === 0) return new Writer(MsgType.FRAME_ACK, 4).u32(frameId).buf;
  return new Writer(MsgType.FRAME_ACK, 8).u32(frameId).u32(us).buf;
}

export function encodeKeyframeRequest() {
  return new Writer(MsgType.KEYFRAME_REQUEST, 0).buf;
}

export function encodeLogoff() {
  return new Writer(MsgType.LOGOFF, 0).buf;
}

/** Asks the host for a screen of width x height device pixels (each 64..8192). */
export function encodeResizeRequest(width, height) {
  checkInt('width', width, MIN_RESIZE_DIM, MAX_SCREEN_DIM);
  checkInt('height', height, MIN_RESIZE_DIM, MAX_SCREEN_DIM);
  return new Writer(MsgType.RESIZE_REQUEST, 4).u16(width).u16(height).buf;
}

/** True for a code point KeyChar may carry: a Unicode scalar value that is not a control character. */
export function isTypableCodePoint(cp) {
  return Number.isInteger(cp) && cp >= 0x20 && cp !== 0x7f && !(cp >= 0x80 && cp < 0xa0)
    && !(cp >= 0xd800 && cp <= 0xdfff) && cp <= 0x10ffff;
}

/**
 * A character the client's layout produced (KeyboardEvent.key), typed by the host via keysym;
 * `code` is the physical key's evdev code (0 if unknown) for sessions that cannot type characters.
 */
export function encodeKeyChar(down, codePoint, code = 0) {
  if (!isTypableCodePoint(codePoint)) throw new RangeError(`code point ${codePoint} cannot be typed`);
  checkInt('key code', code, 0, MAX_KEY_CODE);
  return new Writer(MsgType.KEY_CHAR, 7).u8(down ? 1 : 0).u32(codePoint).u16(code).buf;
}

export function encodePing(id, clientTime) {
  checkInt('ping id', id, 0, 0xffffffff);
  checkInt('client time', clientTime, 0, Number.MAX_SAFE_INTEGER);
  const w = new Writer(MsgType.PING, 12).u32(id);
  w.view.setBigUint64(w.pos, BigInt(clientTime), true);
  return w.buf;
}

/**
 * The client's clipboard text as Clipboard messages: pieces of at most CLIPBOARD_CHUNK_BYTES of
 * UTF-8, never splitting a character, all but the last flagged "more". Text over 1 MiB throws.
 */
export function encodeClipboard(text) {
  if (typeof text !== 'string') throw new TypeError('clipboard text must be a string');
  const all = utf8Encoder.encode(text.toWellFormed ? text.toWellFormed() : text);
  if (all.length > MAX_CLIPBOARD_BYTES) throw new RangeError(`clipboard text is ${all.length} bytes, limit ${MAX_CLIPBOARD_BYTES}`);
  const out = [];
  let pos = 0;
  do {
    let end = Math.min(all.length, pos + CLIPBOARD_CHUNK_BYTES);
    while (end < all.length && (all[end] & 0xc0) === 0x80) end--; // not inside a character
    const piece = all.subarray(pos, end);
    out.push(new Writer(MsgType.CLIPBOARD, 5 + piece.length).u8(end < all.length ? 1 : 0).u32(piece.length).raw(piece).buf);
    pos = end;
  } while (pos < all.length);
  return out;
}

/**
 * A PNG image for the session's clipboard (its file bytes, a Uint8Array) as Clipboard messages
 * flagged "png" (bit 1): raw pieces of at most CLIPBOARD_CHUNK_BYTES, all but the last flagged
 * "more". An image over 8 MiB, or bytes that are not a PNG file, throw.
 */
export function encodeClipboardImage(png) {
  if (!(png instanceof Uint8Array)) throw new TypeError('clipboard image must be a Uint8Array');
  if (png.length > MAX_CLIPBOARD_IMAGE_BYTES) throw new RangeError(`clipboard image is ${png.length} bytes, limit ${MAX_CLIPBOARD_IMAGE_BYTES}`);
  if (!isPng(png)) throw new RangeError('clipboard image is not a PNG file');
  const out = [];
  let pos = 0;
  do {
    const end = Math.min(png.length, pos + CLIPBOARD_CHUNK_BYTES);
    const piece = png.subarray(pos, end);
    out.push(new Writer(MsgType.CLIPBOARD, 5 + piece.length).u8(end < png.length ? 3 : 2).u32(piece.length).raw(piece).buf);
    pos = end;
  } while (pos < png.length);
  return out;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** True when `bytes` start with the PNG file signature. */
export function isPng(bytes) {
  return bytes.length >= PNG_SIGNATURE.length && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

// ---------------------------------------------------------------------------------------------
// Decoding (any message; the client only expects host -> client ones)

class Reader {
  constructor(bytes, what) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 1; // byte 0 is the type
    this.what = what;
  }
  need(n, field) {
    if (this.bytes.length - this.pos < n) {
      throw new ProtocolError(`${this.what}: truncated at ${field} (need ${n} bytes at offset ${this.pos}, message is ${this.bytes.length})`);
    }
  }
  u8(field) { this.need(1, field); const v = this.view.getUint8(this.pos); this.pos += 1; return v; }
  u16(field) { this.need(2, field); const v = this.view.getUint16(this.pos, true); this.pos += 2; return v; }
  i16(field) { this.need(2, field); const v = this.view.getInt16(this.pos, true); this.pos += 2; return v; }
  u32(field) { this.need(4, field); const v = this.view.getUint32(this.pos, true); this.pos += 4; return v; }
  u64(field) { this.need(8, field); const v = this.view.getBigUint64(this.pos, true); this.pos += 8; return v; }
  take(n, field) {
    this.need(n, field);
    const v = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  rest() { const v = this.bytes.subarray(this.pos); this.pos = this.bytes.length; return v; }
  atEnd() { return this.pos === this.bytes.length; }
  str(field) {
    const n = this.u16(`${field} length`);
    if (n > MAX_STRING_BYTES) throw new ProtocolError(`${this.what}: ${field} is ${n} bytes, limit ${MAX_STRING_BYTES}`);
    const b = this.take(n, field);
    try {
      return utf8Decoder.decode(b);
    } catch {
      throw new ProtocolError(`${this.what}: ${field} is not valid UTF-8`);
    }
  }
  fail(why) { throw new ProtocolError(`${this.what}: ${why}`); }
  end() {
    const left = this.bytes.length - this.pos;
    if (left !== 0) this.fail(`${left} trailing byte(s) after the message`);
  }
}

const validDim = (v) => v >= 1 && v <= MAX_SCREEN_DIM;
/** A non-empty rectangle lying inside a width x height screen. */
const inside = (r, width, height) => r.w > 0 && r.h > 0 && r.x + r.w <= width && r.y + r.h <= height;

function clipboardDecoder(type) {
  return (r) => {
    const flags = r.u8('flags');
    const length = r.u32('length');
    if (flags > 3) r.fail(`unknown flags 0x${flags.toString(16)}`);
    const more = (flags & 1) !== 0;
    if (flags & 2) { // a piece of a PNG image: raw bytes, copied out of the message
      if (length > MAX_CLIPBOARD_IMAGE_BYTES) throw new ProtocolError(`${r.what}: image of ${length} bytes exceeds 8 MiB`, 'too_large');
      return { type, more, png: r.take(length, 'image').slice() };
    }
    if (length > MAX_CLIPBOARD_BYTES) throw new ProtocolError(`${r.what}: text of ${length} bytes exceeds 1 MiB`, 'too_large');
    const b = r.take(length, 'text');
    let text;
    try {
      text = utf8Decoder.decode(b);
    } catch {
      r.fail('text is not valid UTF-8');
    }
    return { type, more, text };
  };
}

function pingDecoder(type) {
  return (r) => ({ type, id: r.u32('id'), clientTime: Number(r.u64('client_time')) });
}

const decoders = {
  [MsgType.HELLO]: (r) => ({ type: 'hello', version: r.u16('version'), ticket: r.str('ticket') }),

  [MsgType.KEY]: (r) => {
    const down = r.u8('down');
    const code = r.u16('code');
    if (down > 1) r.fail(`down must be 0 or 1, got ${down}`);
    if (code < 1 || code > MAX_KEY_CODE) r.fail(`key code ${code} out of range 1..${MAX_KEY_CODE}`);
    return { type: 'key', down: down === 1, code };
  },

  [MsgType.POINTER]: (r) => {
    const m = { type: 'pointer', x: r.u16('x'), y: r.u16('y'), buttons: r.u8('buttons') };
    if (m.buttons > 7) r.fail(`unknown button bits ${m.buttons}`);
    return m;
  },

  [MsgType.WHEEL]: (r) => ({ type: 'wheel', dx: r.i16('dx'), dy: r.i16('dy') }),
  [MsgType.RELATIVE_POINTER]: (r) => {
    const m = { type: 'relative_pointer', dx: r.i16('dx'), dy: r.i16('dy'), buttons: r.u8('buttons') };
    if (m.dx < -MAX_RELATIVE_MOTION || m.dy < -MAX_RELATIVE_MOTION) r.fail(`motion ${m.dx},${m.dy} out of range (|d| <= ${MAX_RELATIVE_MOTION})`);
    if (m.buttons > 7) r.fail(`unknown button bits ${m.buttons}`);
    return m;
  },
  // How the session takes the pointer: relative (capture it, send RelativePointer) or absolute.
  [MsgType.POINTER_MODE]: (r) => {
    const relative = r.u8('relative');
    if (relative > 1) r.fail(`relative must be 0 or 1, got ${relative}`);
    return { type: 'pointer_mode', relative: relative === 1 };
  },
  [MsgType.FRAME_ACK]: (r) => {
    const m = { type: 'frame_ack', frameId: r.u32('frame_id') };
    if (!r.atEnd()) m.paintUs = r.u32('paint_us');
    return m;
  },
  [MsgType.KEYFRAME_REQUEST]: () => ({ type: 'keyframe_request' }),
  [MsgType.LOGOFF]: () => ({ type: 'logoff' }),

  [MsgType.RESIZE_REQUEST]: (r) => {
    const m = { type: 'resize_request', width: r.u16('width'), height: r.u16('height') };
    const ok = (v) => v >= MIN_RESIZE_DIM && v <= MAX_SCREEN_DIM;
    if (!ok(m.width) || !ok(m.height)) r.fail(`size ${m.width}x${m.height} out of range`);
    return m;
  },

  [MsgType.RESIZE]: (r) => {
    const m = { type: 'resize', width: r.u16('width'), height: r.u16('height') };
    if (!validDim(m.width) || !validDim(m.height)) r.fail(`bad screen size ${m.width}x${m.height}`);
    return m;
  },

  [MsgType.SERVER_HELLO]: (r) => {
    const m = { type: 'server_hello', version: r.u16('version'), width: r.u16('width'), height: r.u16('height') };
    m.sessionId = r.str('session_id');
    if (!validDim(m.width) || !validDim(m.height)) r.fail(`bad screen size ${m.width}x${m.height}`);
    return m;
  },

  [MsgType.VIDEO_FRAME]: (r) => {
    const frameId = r.u32('frame_id');
    const flags = r.u8('flags');
    const width = r.u16('width');
    const height = r.u16('height');
    const captureTimeUs = Number(r.u64('capture_time_us'));
    if (flags > 3) r.fail(`unknown flags 0x${flags.toString(16)}`);
    if (!validDim(width) || !validDim(height)) r.fail(`bad frame size ${width}x${height}`);
    // Reduced-resolution motion: the picture is smaller than the screen and is scaled up.
    let codedWidth = width;
    let codedHeight = height;
    if (flags & 2) {
      codedWidth = r.u16('coded_width');
      codedHeight = r.u16('coded_height');
      if (!validDim(codedWidth) || !validDim(codedHeight) || codedWidth > width || codedHeight > height) {
        r.fail(`coded size ${codedWidth}x${codedHeight} must lie within the ${width}x${height} screen`);
      }
    }
    const dirtyCount = r.u16('dirty count');
    if (dirtyCount > MAX_DIRTY_RECTS) r.fail(`${dirtyCount} dirty rectangles (at most ${MAX_DIRTY_RECTS})`);
    const dirty = [];
    for (let i = 0; i < dirtyCount; i++) {
      const d = { x: r.u16(`dirty ${i} x`), y: r.u16(`dirty ${i} y`), w: r.u16(`dirty ${i} w`), h: r.u16(`dirty ${i} h`) };
      if (!inside(d, width, height)) r.fail(`dirty rectangle ${i} lies outside the ${width}x${height} screen`);
      dirty.push(d);
    }
    const data = r.rest();
    if (data.length === 0) r.fail('no H.264 data');
    return { type: 'video_frame', frameId, keyframe: (flags & 1) === 1, width, height, codedWidth, codedHeight, captureTimeUs, dirty, data };
  },

  [MsgType.TILE_FRAME]: (r) => {
    const frameId = r.u32('frame_id');
    const width = r.u16('width');
    const height = r.u16('height');
    if (!validDim(width) || !validDim(height)) r.fail(`bad screen size ${width}x${height}`);
    const copyCount = r.u16('copy count');
    if (copyCount > MAX_COPIES) r.fail(`${copyCount} copies (at most ${MAX_COPIES})`);
    const copies = [];
    for (let i = 0; i < copyCount; i++) {
      const c = { x: r.u16(`copy ${i} x`), y: r.u16(`copy ${i} y`), w: r.u16(`copy ${i} w`), h: r.u16(`copy ${i} h`),
        dx: r.u16(`copy ${i} dx`), dy: r.u16(`copy ${i} dy`) };
      if (!inside(c, width, height) || !inside({ x: c.dx, y: c.dy, w: c.w, h: c.h }, width, height)) {
        r.fail(`copy ${i} reaches outside the ${width}x${height} screen`);
      }
      copies.push(c);
    }
    const count = r.u16('count');
    if (count > MAX_TILES || count + copyCount === 0) r.fail(`tile count ${count} out of range (1..${MAX_TILES} without copies)`);
    const tiles = [];
    for (let i = 0; i < count; i++) {
      const t = { x: r.u16(`tile ${i} x`), y: r.u16(`tile ${i} y`), w: r.u16(`tile ${i} w`), h: r.u16(`tile ${i} h`) };
      t.encoding = r.u8(`tile ${i} encoding`);
      const length = r.u32(`tile ${i} length`);
      if (t.encoding < TILE_JPEG || t.encoding > TILE_PALETTE_COMPACT) r.fail(`tile ${i}: unknown encoding ${t.encoding}`);
      if (!inside(t, width, height)) {
        r.fail(`tile ${i} (${t.x},${t.y} ${t.w}x${t.h}) lies outside the ${width}x${height} screen`);
      }
      if (length === 0) r.fail(`tile ${i} is empty`);
      t.data = r.take(length, `tile ${i} data`);
      tiles.push(t);
    }
    return { type: 'tile_frame', frameId, width, height, copies, tiles };
  },

  [MsgType.CLIPBOARD]: clipboardDecoder('clipboard'),
  [MsgType.CLIPBOARD_DATA]: clipboardDecoder('clipboard_data'),
  [MsgType.PING]: pingDecoder('ping'),
  [MsgType.PONG]: pingDecoder('pong'),

  [MsgType.KEY_CHAR]: (r) => {
    const down = r.u8('down');
    const codePoint = r.u32('codepoint');
    const code = r.u16('code');
    if (down > 1) r.fail(`down must be 0 or 1, got ${down}`);
    if (!isTypableCodePoint(codePoint)) r.fail(`code point ${codePoint} cannot be typed`);
    if (code > MAX_KEY_CODE) r.fail(`key code ${code} out of range 0..${MAX_KEY_CODE}`);
    return { type: 'key_char', down: down === 1, codePoint, code };
  },

  [MsgType.CURSOR_SHAPE]: (r) => {
    const m = { type: 'cursor_shape', id: r.u32('id'), hotX: r.u16('hot_x'), hotY: r.u16('hot_y'), width: r.u16('width'), height: r.u16('height') };
    if (m.width > MAX_CURSOR_DIM || m.height > MAX_CURSOR_DIM || (m.width === 0) !== (m.height === 0)) {
      r.fail(`cursor size ${m.width}x${m.height} out of range`);
    }
    if (m.width && (m.hotX >= m.width || m.hotY >= m.height)) r.fail(`hotspot ${m.hotX},${m.hotY} outside the ${m.width}x${m.height} shape`);
    m.rgba = r.take(m.width * m.height * 4, 'rgba');
    return m;
  },

  // Who is watching the session (view-only viewers): count 0 = nobody any more.
  [MsgType.SHADOW_NOTICE]: (r) => {
    const count = r.u16('count');
    const n = r.u8('name count');
    if (n > MAX_SHADOW_NAMES || n > count) r.fail(`${n} names for ${count} watcher(s) (at most ${MAX_SHADOW_NAMES})`);
    const names = [];
    for (let i = 0; i < n; i++) {
      const len = r.u16(`name ${i} length`);
      if (len === 0 || len > MAX_SHADOW_NAME_BYTES) r.fail(`name ${i} is ${len} bytes (1..${MAX_SHADOW_NAME_BYTES})`);
      const bytes = r.take(len, `name ${i}`);
      try {
        names.push(utf8Decoder.decode(bytes));
      } catch {
        r.fail(`name ${i} is not valid UTF-8`);
      }
    }
    return { type: 'shadow_notice', count, names };
  },

  [MsgType.SESSION_ENDED]: (r) => {
    const reason = r.u8('reason');
    const message = r.str('message');
    if (!(reason in END_REASONS)) r.fail(`unknown reason ${reason}`);
    return { type: 'session_ended', reason, reasonName: END_REASONS[reason], message };
  },

  [MsgType.ERROR]: (r) => {
    const code = r.u16('code');
    const message = r.str('message');
    if (!(code in ERROR_CODES)) r.fail(`unknown error code ${code}`);
    return { type: 'error', code, codeName: ERROR_CODES[code], message };
  },
};

const typeNames = Object.fromEntries(
  Object.entries(MsgType).map(([k, v]) => [v, k.toLowerCase()]),
);

/**
 * Decodes one display-channel message (an ArrayBuffer or a Uint8Array). Byte payloads
 * (`data`) are views into the input, not copies. Throws ProtocolError on malformed input.
 */
export function decodeMessage(input) {
  let bytes;
  if (input instanceof ArrayBuffer) bytes = new Uint8Array(input);
  else if (input instanceof Uint8Array) bytes = input;
  else throw new ProtocolError('a display message must be binary (ArrayBuffer or Uint8Array)');

  if (bytes.length === 0) throw new ProtocolError('empty message');
  if (bytes.length > MAX_MESSAGE_BYTES) {
    throw new ProtocolError(`message of ${bytes.length} bytes exceeds 16 MiB`, 'too_large');
  }
  const type = bytes[0];
  const decode = decoders[type];
  if (!decode) throw new ProtocolError(`unknown message type 0x${type.toString(16).padStart(2, '0')}`);
  const r = new Reader(bytes, typeNames[type]);
  const msg = decode(r);
  r.end();
  return msg;
}

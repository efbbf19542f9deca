// The display client: one WebSocket to a session (docs/protocol.md), H.264 through WebCodecs,
// PNG tiles through png.js, JPEG tiles (and PNGs png.js does not cover) through ImageDecoder
// (createImageBitmap where that is missing), all painted on
// one canvas strictly in arrival order, and keyboard/pointer/wheel input from that canvas sent
// back to the host.

import {
  PROTOCOL_VERSION, ProtocolError, TILE_PNG, decodeMessage,
  encodeHello, encodeKey, encodePointer, encodeWheel, encodeFrameAck, encodeKeyframeRequest,
  encodeLogoff, encodeResizeRequest, encodeClipboard, encodePing, encodeKeyChar, isTypableCodePoint,
  MIN_RESIZE_DIM, MAX_SCREEN_DIM,
} from './protocol.js';
import { evdevCode } from './keymap.js';
import { decodePng } from './png.js';

const FALLBACK_CODEC = 'avc1.42e01f'; // Constrained Baseline, level 3.1
const LOGOFF_TIMEOUT_MS = 3000;
const MAX_DECODE_FAILURES = 3; // in a row, without a frame decoded in between
const WHEEL_PIXELS_PER_NOTCH = 100;
const WHEEL_LINES_PER_NOTCH = 3;
const POINTER_BACKLOG_BYTES = 64 * 1024; // drop plain moves while this much is unsent
const STATS_SAMPLES = 30; // decode/paint/latency figures are medians over this many frames
const RATE_WINDOW_MS = 1000; // fps and bitrate are measured over the last second
const PING_INTERVAL_MS = 2000;
const RTT_SAMPLES = 5; // the RTT shown is the median of the last few pongs
const PASTE_WAIT_MS = 150; // how long a paste shortcut waits for the browser's paste event
const INPUT_TO_PHOTON_MAX_MS = 1000; // a paint later than this after a key is not its echo
const TOUCH_SLOP_PX = 8; // a finger moving less than this is a tap, not a drag
const TOUCH_PIXELS_PER_NOTCH = 40; // two-finger scroll distance per wheel notch
const CURSOR_CACHE = 64; // cursor shapes kept as data URLs, by id
const IMAGE_POOL = 4; // converted-frame buffers kept for reuse (as many as frames may be in flight)

/**
 * What the banner tells the user about who is watching their session (a ShadowNotice), or null
 * when nobody is: "Your session is being viewed by hd-bob", "… by hd-bob and carol",
 * "… by hd-bob, carol and 3 more". A name the host lists twice (one person, two windows) is said once.
 */
export function shadowBannerText(notice) {
  const count = notice?.count ?? 0;
  if (!(count > 0)) return null;
  const names = Array.isArray(notice.names) ? notice.names : [];
  const who = [...new Set(names)];
  const more = count - names.length; // watchers the notice did not name (it lists at most 16)
  if (who.length === 0) return `Your session is being viewed by ${count === 1 ? 'someone' : `${count} people`}`;
  if (more > 0) who.push(`${more} more`);
  const list = who.length === 1 ? who[0] : `${who.slice(0, -1).join(', ')} and ${who[who.length - 1]}`;
  return `Your session is being viewed by ${list}`;
}

/** Counters for tests and diagnostics, shared by all sessions of the page. */
export function displayStats() {
  globalThis.__portico ??= { videoFrames: 0, reducedVideoFrames: 0, tileFrames: 0, decodeErrors: 0, keyframeRequests: 0,
    pngTilesHere: 0, tilesByBrowser: 0 };
  return globalThis.__portico;
}

/** The display WebSocket URL for the broker's gateway path (same host as the page). */
export function displayUrl(gatewayPath, loc = globalThis.location) {
  if (/^wss?:\/\//.test(gatewayPath)) return gatewayPath;
  const scheme = loc.protocol === 'http:' ? 'ws:' : 'wss:';
  return `${scheme}//${loc.host}${gatewayPath}`;
}

/** The WebCodecs codec string ("avc1.PPCCLL") from the first SPS of an Annex B access unit. */
export function codecFromAnnexB(data) {
  for (let i = 0; i + 6 < data.length; i++) {
    if (data[i] !== 0 || data[i + 1] !== 0 || data[i + 2] !== 1) continue;
    if ((data[i + 3] & 0x1f) === 7) {
      const hex = (b) => b.toString(16).padStart(2, '0');
      return `avc1.${hex(data[i + 4])}${hex(data[i + 5])}${hex(data[i + 6])}`;
    }
    i += 2;
  }
  return null;
}

// DOM MouseEvent.buttons: 1 left, 2 right, 4 middle. Protocol: 1 left, 2 middle, 4 right.
const protocolButtons = (b) => (b & 1) | (b & 4 ? 2 : 0) | (b & 2 ? 4 : 0);
const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
const now = () => performance.now();

/** Median and 95th percentile of a list of numbers (null when empty). */
export function summarize(values) {
  if (values.length === 0) return { median: null, p95: null };
  const v = [...values].sort((a, b) => a - b);
  const at = (q) => v[Math.min(v.length - 1, Math.floor(q * v.length))];
  return { median: v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2, p95: at(0.95) };
}

// Tiles decode with WebCodecs' ImageDecoder where the page has it (secure contexts in current
// Chromium and Firefox): it takes the bytes directly, while createImageBitmap(Blob) first hands the
// Blob to the browser process and back, which made a small PNG tile take ~4x as long (bench/web).
let imageDecoderWorks = typeof ImageDecoder === 'function';

/**
 * Decodes one PNG/JPEG tile: PNG tiles of the kinds the host writes to an ImageData on this thread
 * (png.js: no hop to a decoder thread, which is most of a typing echo's time on a busy CPU),
 * anything else to something drawImage takes and close() frees (VideoFrame or ImageBitmap).
 */
export async function decodeTile(t) {
  if (t.encoding === TILE_PNG) {
    let image = null;
    try {
      image = decodePng(t.data); // null: not a kind png.js covers, or malformed
    } catch (e) {
      console.warn('PNG tile: decoding here failed, the browser decodes it:', e);
    }
    if (image && image.width === t.w && image.height === t.h) {
      displayStats().pngTilesHere++;
      return image;
    }
  }
  displayStats().tilesByBrowser++;
  return decodeWithBrowser(t);
}

function decodeWithBrowser(t) {
  const type = t.encoding === TILE_PNG ? 'image/png' : 'image/jpeg';
  if (imageDecoderWorks) {
    let d;
    try {
      d = new ImageDecoder({ data: t.data, type });
    } catch (e) {
      // Not for this type here (NotSupportedError): the Blob path works everywhere.
      if (e?.name !== 'NotSupportedError') return Promise.reject(e);
      imageDecoderWorks = false;
    }
    if (d) {
      return d.decode().then((r) => r.image, (e) => {
        if (e?.name !== 'NotSupportedError') throw e; // a broken tile
        imageDecoderWorks = false;
        return createImageBitmap(new Blob([t.data], { type }));
      }).finally(() => d.close());
    }
  }
  return createImageBitmap(new Blob([t.data], { type }));
}

let videoCropWorks = true;
let rgbaCopyWorks = true;

/**
 * Draws the dirty rectangles of a decoded H.264 frame (session pixels) on a 2D context. Drawing a
 * VideoFrame converts it from YUV to RGB, and Chromium converts the frame's whole visible area on
 * every drawImage even when a small source rectangle is asked for (20 dirty rows of a 1920x1040
 * frame took 400 ms, one took 20 ms; bench/web). So each rectangle is drawn from a VideoFrame
 * cropped to it (visibleRect: a view, no copy), which converts only that area; when the
 * rectangles cover most of the screen, one clipped draw of the whole frame is cheaper.
 * Returns 'crops' or 'clip' (what was done, for tests).
 */
export function drawVideoRects(ctx, frame, dirty, width, height) {
  const vr = frame.visibleRect;
  const area = dirty.reduce((sum, d) => sum + d.w * d.h, 0);
  if (videoCropWorks && vr && frame.displayWidth === width && frame.displayHeight === height
      && area < (width * height) / 2) {
    try {
      for (const d of dirty) {
        const x = clamp(d.x, 0, width);
        const y = clamp(d.y, 0, height);
        const w = Math.min(d.w, width - x);
        const h = Math.min(d.h, height - y);
        if (w <= 0 || h <= 0) continue;
        // A crop must start on a chroma sample: even coordinates, one pixel more where needed.
        const ax = (vr.x + x) & ~1;
        const ay = (vr.y + y) & ~1;
        const ox = vr.x + x - ax;
        const oy = vr.y + y - ay;
        const crop = new VideoFrame(frame, { visibleRect: { x: ax, y: ay, width: w + ox, height: h + oy } });
        try {
          ctx.drawImage(crop, ox, oy, w, h, x, y, w, h);
        } finally {
          crop.close();
        }
      }
      return 'crops';
    } catch (err) {
      // A browser that cannot crop frames: the clipped whole-frame draw from now on.
      console.warn('VideoFrame crop failed, drawing whole frames clipped:', err);
      videoCropWorks = false;
    }
  }
  ctx.save();
  ctx.beginPath();
  for (const d of dirty) ctx.rect(d.x, d.y, d.w, d.h);
  ctx.clip();
  ctx.drawImage(frame, 0, 0, width, height);
  ctx.restore();
  return 'clip';
}

/**
 * The character a key event produced, as a code point to send with KeyChar, or undefined when the
 * key should go by its physical code instead: named keys (Enter, arrows …), shortcuts with
 * Ctrl/Alt/Meta (but not AltGr, which only selects characters), and anything not typable.
 */
export function producedChar(e) {
  if (typeof e.key !== 'string' || e.key.length === 0 || e.key.length > 2) return undefined;
  const cp = e.key.codePointAt(0);
  if (String.fromCodePoint(cp) !== e.key) return undefined; // more than one character
  const altGraph = typeof e.getModifierState === 'function' && e.getModifierState('AltGraph');
  if ((e.ctrlKey || e.altKey || e.metaKey) && !altGraph) return undefined;
  return isTypableCodePoint(cp) ? cp : undefined;
}

/** True for the key combinations with which browsers paste (the paste event follows). */
export function isPasteShortcut(e) {
  const v = e.code === 'KeyV' || e.key === 'v' || e.key === 'V';
  return ((e.ctrlKey || e.metaKey) && !e.altKey && v) || (e.shiftKey && !e.ctrlKey && e.code === 'Insert');
}

/** A bounded list of recent samples. */
class Samples {
  #max;
  values = [];
  constructor(max = STATS_SAMPLES) { this.#max = max; }
  push(v) {
    this.values.push(v);
    if (this.values.length > this.#max) this.values.shift();
  }
}

const END_MESSAGES = {
  0: 'The application was closed.',
  1: 'You logged off.',
  2: 'The session host is shutting down, so the session ended.',
  3: 'The session ended because of an error on the session host.',
};
const END_REASON_NAMES = { 0: 'app_exited', 1: 'logged_off', 2: 'host_shutdown', 3: 'error' };

/**
 * One display session on one canvas. Callbacks:
 *   onStatus(text)  progress for the status line;
 *   onEnd({reason, message, error, confirmed})  called exactly once when the session is over
 *     (reason: app_exited | logged_off | host_shutdown | error | refused | connection_lost |
 *     protocol | unsupported; confirmed is false for a logoff the host never acknowledged;
 *     wasConnected tells whether the host had accepted the ticket, i.e. a drop worth reconnecting);
 *   onSize(width, height)  the session's screen size became known or changed;
 *   onShortcut(event)  sees every key event first; returning true keeps it from the session;
 *   onClipboard(text)  text was copied in the session (the portal puts it on the local clipboard);
 *   onShadow(text, notice)  who watches the session changed: the banner text (null: nobody any
 *     more) and the ShadowNotice; a new connection starts with nobody until the host says otherwise.
 */
export class DisplayClient {
  #canvas;
  #ctx;
  #onStatus;
  #onEnd;
  #onSize;
  #onShortcut;
  #sessionId = null;
  #ws = null;
  #opened = false;
  #ready = false; // ServerHello received: input may flow
  #ended = false;
  #loggingOff = false;
  #logoffTimer = 0;
  #events = null; // AbortController of the input listeners

  #decoder = null;
  #decoderConfig = null;
  #decodeFailures = 0;
  #keyframeRequested = false;
  #painted = 0;
  #queue = []; // frames in arrival order; painted and acknowledged strictly in that order

  // Dynamic resize: the size the portal wants (device pixels), the last one asked of the host, and
  // the host's screen size as announced by ServerHello / Resize.
  #wanted = null;
  #asked = null;
  #announced = null;
  #resizes = 0;

  #heldKeys = new Set();
  #pointer = { x: -1, y: -1, buttons: 0 };
  #wheel = { x: 0, y: 0 };

  // Stats for the overlay: arrival times and sizes of recent messages, recent paint times.
  #arrivals = []; // [time, bytes] within RATE_WINDOW_MS
  #paints = []; // times of paints within RATE_WINDOW_MS
  #frames = 0;
  #bytes = 0;
  #decodeMs = new Samples();
  #lastVideoReduced = false;
  #tileDecodeMs = new Samples();
  #tilePaintMs = new Samples();
  #videoPaintMs = new Samples();
  #arrivalToPaintMs = new Samples();
  #videoArrivalToPaintMs = new Samples();
  #tileArrivalToPaintMs = new Samples();
  #lastKind = null;

  // Round trips and input-to-photon: pings in flight by id, the last key press not yet seen painted.
  #pingTimer = 0;
  #nextPingId = 1;
  #pings = new Map();
  #rttMs = new Samples(RTT_SAMPLES);
  #inputToPhotonMs = new Samples();
  #keyPressedAt = 0;

  // Characters sent with KeyChar, by the physical key that produced them (the release sends the
  // same character even if the modifiers changed meanwhile).
  #heldChars = new Map();
  #pendingPaste = null; // a paste shortcut waiting for the browser's paste event

  // Clipboard: the last text either way (no echo), pieces of a long text from the host.
  #lastClipboard = null;
  #lastLocalRead = null; // the local clipboard as last read or written, so focus only syncs changes
  #clipboardIn = '';
  #clipboardReceived = 0;
  #clipboardSent = 0;
  #onClipboard;

  // Who is watching (view-only viewers), as the host last said; null: nobody.
  #onShadow;
  #shadow = null;

  // Client-drawn cursor.
  #cursorUrls = new Map();
  #cursorId = null;
  #cursorShapes = 0;
  #cursorSeq = 0;
  #cursor = null; // { id, width, height, hotX, hotY } of the last shape
  #cursorShown = null; // { url, hotX, hotY } of the shape on the canvas (null: none or hidden)
  #cursorScale = null; // cursor-image pixels per CSS pixel as last applied (image-set resolution)
  #resizeObserver = null;
  #scaleCanvas = null; // holds a reduced-resolution picture while it is scaled up
  #imagePool = []; // RGBA buffers for converted video frames, reused (8 MB each at 1080p)

  // Touch: fingers on the canvas and what they are doing (tap, drag or two-finger scroll).
  #touches = new Map();
  #touchMode = null; // null | 'pending' | 'drag' | 'scroll'
  #touchStart = null;
  #touchScrollY = 0;

  constructor(canvas, {
    onStatus = () => {}, onEnd = () => {}, onSize = () => {}, onShortcut = () => false, onClipboard = () => {},
    onShadow = () => {},
  } = {}) {
    this.#canvas = canvas;
    this.#onClipboard = onClipboard;
    this.#onShadow = onShadow;
    this.#ctx = canvas.getContext('2d', { alpha: false });
    this.#onStatus = onStatus;
    this.#onEnd = onEnd;
    this.#onSize = onSize;
    this.#onShortcut = onShortcut;
    displayStats();
  }

  /** The session id the host announced in ServerHello (null before). */
  get sessionId() { return this.#sessionId; }

  /** Who is watching the session ({ count, names, text }), or null when nobody is. */
  get shadow() { return this.#shadow; }

  /** True while the host has accepted the ticket and input flows. */
  get connected() { return this.#ready && !this.#ended; }

  /** A snapshot of the figures the stats overlay shows. */
  stats() {
    const t = now();
    this.#trim(t);
    const bytes = this.#arrivals.reduce((sum, [, n]) => sum + n, 0);
    return {
      fps: this.#paints.length * (1000 / RATE_WINDOW_MS),
      kbps: (bytes * 8) / RATE_WINDOW_MS,
      frames: this.#frames,
      bytes: this.#bytes,
      lastKind: this.#lastKind,
      lastVideoReduced: this.#lastVideoReduced,
      width: this.#canvas.width,
      height: this.#canvas.height,
      screenWidth: this.#announced?.width ?? 0,
      screenHeight: this.#announced?.height ?? 0,
      resizes: this.#resizes,
      decodeMs: summarize(this.#decodeMs.values),
      tileDecodeMs: summarize(this.#tileDecodeMs.values),
      tilePaintMs: summarize(this.#tilePaintMs.values),
      videoPaintMs: summarize(this.#videoPaintMs.values),
      arrivalToPaintMs: summarize(this.#arrivalToPaintMs.values),
      videoArrivalToPaintMs: summarize(this.#videoArrivalToPaintMs.values),
      tileArrivalToPaintMs: summarize(this.#tileArrivalToPaintMs.values),
      rttMs: summarize(this.#rttMs.values).median,
      inputToPhotonMs: summarize(this.#inputToPhotonMs.values),
      cursorId: this.#cursorId,
      cursor: this.#cursor,
      cursorScale: this.#cursorScale,
      cursorShapes: this.#cursorShapes,
      clipboardReceived: this.#clipboardReceived,
      clipboardSent: this.#clipboardSent,
    };
  }

  #trim(t) {
    while (this.#arrivals.length && t - this.#arrivals[0][0] > RATE_WINDOW_MS) this.#arrivals.shift();
    while (this.#paints.length && t - this.#paints[0] > RATE_WINDOW_MS) this.#paints.shift();
  }

  /**
   * Presses keys the browser would swallow (Ctrl+Alt+Del, Ctrl+W …): every evdev code goes down in
   * order, then up in reverse order.
   */
  sendKeyCombo(codes) {
    if (!this.#ready || this.#loggingOff) return false;
    for (const c of codes) this.#send(encodeKey(true, c));
    for (const c of [...codes].reverse()) this.#send(encodeKey(false, c));
    return true;
  }

  /**
   * Makes `text` the session's clipboard (CLIPBOARD and PRIMARY on the host). Skipped when it is
   * what the session already has. False when not connected or the text is over 1 MiB.
   */
  sendClipboard(text) {
    if (!this.#ready || this.#loggingOff || typeof text !== 'string') return false;
    if (text === this.#lastClipboard) return true;
    let pieces;
    try {
      pieces = encodeClipboard(text);
    } catch (e) {
      console.warn('clipboard not sent:', e.message);
      return false;
    }
    for (const p of pieces) this.#send(p);
    this.#lastClipboard = text;
    this.#clipboardSent++;
    return true;
  }

  /**
   * Test hook: makes the display connection fail as a network drop would. The socket is closed
   * with an application code the host never sends, and the client handles it exactly like an
   * abnormal close (1006): no Logoff, session kept, onEnd(connection_lost, wasConnected).
   */
  simulateDrop() {
    if (!this.#ws || this.#ended) return;
    const ws = this.#ws;
    ws.onopen = ws.onmessage = ws.onclose = null;
    if (ws.readyState <= WebSocket.OPEN) ws.close(4000, 'simulated drop');
    this.#onClose({ code: 1006, reason: '' });
  }

  /**
   * Asks the host for a screen of width x height device pixels (the portal calls this with its
   * display area, debounced). Sent once connected and only when it differs from what the host
   * has or was last asked; sizes are rounded down to even numbers and kept in 64..8192 as the
   * host would.
   */
  requestSize(width, height) {
    const dim = (v) => Math.max(MIN_RESIZE_DIM, Math.min(MAX_SCREEN_DIM, Math.floor(v))) & ~1;
    if (!(width > 0 && height > 0)) return;
    this.#wanted = { width: dim(width), height: dim(height) };
    this.#sendResizeIfNeeded();
  }

  #sendResizeIfNeeded() {
    const w = this.#wanted;
    if (!w || !this.#ready || this.#loggingOff || this.#ended) return;
    const same = (a) => a && a.width === w.width && a.height === w.height;
    if (same(this.#asked) || (!this.#asked && same(this.#announced))) return;
    this.#asked = { ...w };
    this.#send(encodeResizeRequest(w.width, w.height));
  }

  /** Opens the display channel and presents the ticket. */
  connect({ gatewayPath, ticket, width, height }) {
    if (this.#ws || this.#ended) throw new Error('DisplayClient.connect() may be called once');
    if (width && height) this.#fitCanvas(width, height);
    this.#attachInput();
    this.#onStatus('Connecting to the session…');

    let ws;
    try {
      ws = new WebSocket(displayUrl(gatewayPath));
    } catch (e) {
      this.#finish({ reason: 'connection_lost', error: true, message: `Cannot open the display connection: ${e.message}` });
      return;
    }
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      this.#opened = true;
      this.#send(encodeHello(ticket));
      this.#onStatus('Connected, waiting for the session host…');
    };
    ws.onmessage = (ev) => {
      const n = typeof ev.data === 'string' ? ev.data.length : ev.data.byteLength;
      const t = now();
      this.#arrivals.push([t, n]);
      this.#bytes += n;
      this.#onMessage(ev.data, t);
    };
    ws.onclose = (ev) => this.#onClose(ev);
    this.#ws = ws;
  }

  /** Ends the session (Logoff message); onEnd follows when the host confirms or after a timeout. */
  logoff() {
    if (this.#ended || this.#loggingOff) return;
    if (!this.#ws || this.#ws.readyState !== WebSocket.OPEN) {
      this.#finish({ reason: 'logged_off', error: false, confirmed: false, message: END_MESSAGES[1] });
      return;
    }
    this.#releaseInput();
    this.#send(encodeLogoff());
    this.#loggingOff = true;
    this.#onStatus('Logging off…');
    this.#logoffTimer = setTimeout(() => {
      this.#finish({ reason: 'logged_off', error: false, confirmed: false, message: END_MESSAGES[1] });
    }, LOGOFF_TIMEOUT_MS);
  }

  /** Disconnects without ending the session and without calling onEnd. */
  close() {
    this.#finish(null);
  }

  // -------------------------------------------------------------------------------------------
  // Channel

  #send(buf) {
    if (this.#ws && this.#ws.readyState === WebSocket.OPEN) this.#ws.send(buf);
  }

  #onMessage(data, arrival) {
    if (this.#ended) return;
    if (typeof data === 'string') {
      this.#protocolFailure('the host sent a text message');
      return;
    }
    let msg;
    try {
      msg = decodeMessage(data);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.#protocolFailure(e.message);
      return;
    }
    switch (msg.type) {
      case 'server_hello': return this.#onServerHello(msg);
      case 'video_frame': return this.#onVideoFrame(msg, arrival);
      case 'tile_frame': return this.#onTileFrame(msg, arrival);
      case 'clipboard_data': return this.#onClipboardData(msg);
      case 'cursor_shape': return this.#onCursorShape(msg);
      case 'pong': return this.#onPong(msg);
      case 'shadow_notice': return this.#onShadowNotice(msg);
      case 'resize': return this.#onResize(msg);
      case 'session_ended': return this.#onSessionEnded(msg);
      case 'error': return this.#onError(msg);
      default: return this.#protocolFailure(`unexpected ${msg.type} message from the host`);
    }
  }

  #onServerHello(m) {
    if (m.version !== PROTOCOL_VERSION) {
      this.#protocolFailure(`the host speaks display protocol version ${m.version}, this client ${PROTOCOL_VERSION}`);
      return;
    }
    this.#fitCanvas(m.width, m.height);
    this.#sessionId = m.sessionId ?? null;
    this.#ready = true;
    this.#announced = { width: m.width, height: m.height };
    this.#onStatus(`Connected (${m.width}×${m.height}), waiting for the first frame…`);
    this.#sendResizeIfNeeded();
    this.#ping();
    this.#pingTimer = setInterval(() => this.#ping(), PING_INTERVAL_MS);
  }

  #ping() {
    if (!this.#ready) return;
    const id = this.#nextPingId++ >>> 0;
    const t = Math.round(now() * 1000); // microseconds of this page's clock
    this.#pings.set(id, t);
    if (this.#pings.size > 8) this.#pings.delete(this.#pings.keys().next().value); // lost pongs
    this.#send(encodePing(id, t));
  }

  #onPong(m) {
    const sent = this.#pings.get(m.id);
    if (sent === undefined || sent !== m.clientTime) return; // not ours, or a stale echo
    this.#pings.delete(m.id);
    this.#rttMs.push(now() - sent / 1000);
  }

  #onShadowNotice(m) {
    const text = shadowBannerText(m);
    this.#shadow = text ? { count: m.count, names: m.names, text } : null;
    this.#onShadow(text, m);
  }

  // Text copied in the session; long texts arrive in pieces.
  #onClipboardData(m) {
    this.#clipboardIn += m.text;
    if (m.more) return;
    const text = this.#clipboardIn;
    this.#clipboardIn = '';
    this.#lastClipboard = text;
    this.#lastLocalRead = text; // the portal puts it on the local clipboard
    this.#clipboardReceived++;
    this.#onClipboard(text);
  }

  // The session's pointer shape: drawn by the browser as the canvas's CSS cursor, so moving the
  // pointer costs no frame. Shapes become blob: URLs (the portal's CSP allows blob: images, not
  // data:), kept by id; the newest shape wins even if an older one finishes encoding later.
  #onCursorShape(m) {
    this.#cursorShapes++;
    this.#cursorId = m.id;
    this.#cursor = { id: m.id, width: m.width, height: m.height, hotX: m.hotX, hotY: m.hotY };
    const seq = ++this.#cursorSeq;
    const apply = (url) => {
      if (seq !== this.#cursorSeq || this.#ended) return;
      this.#cursorShown = url ? { url, hotX: m.hotX, hotY: m.hotY } : null;
      this.#applyCursor();
      this.#canvas.dataset.cursorId = String(m.id);
    };
    if (m.width === 0) {
      apply(null);
      return;
    }
    const key = `${m.id}:${m.width}x${m.height}:${m.hotX},${m.hotY}`;
    const cached = this.#cursorUrls.get(key);
    if (cached) {
      apply(cached);
      return;
    }
    const c = document.createElement('canvas');
    c.width = m.width;
    c.height = m.height;
    c.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(m.rgba), m.width, m.height), 0, 0);
    c.toBlob((blob) => {
      if (!blob) return;
      const url = URL.createObjectURL(blob);
      this.#cursorUrls.set(key, url);
      if (this.#cursorUrls.size > CURSOR_CACHE) {
        const [oldKey, oldUrl] = this.#cursorUrls.entries().next().value;
        this.#cursorUrls.delete(oldKey);
        URL.revokeObjectURL(oldUrl);
      }
      apply(url);
    }, 'image/png');
  }

  /**
   * Sets the canvas's CSS cursor to the current shape at the scale the session's pixels are shown
   * at: one cursor pixel covers as much of the page as one canvas pixel (1/devicePixelRatio CSS px
   * at 1:1, more or less in fit mode). A plain url() cursor would take its pixels as CSS pixels,
   * i.e. twice the size and blurry on a HiDPI screen. Called again whenever the canvas's CSS or
   * backing size changes.
   */
  #applyCursor() {
    const c = this.#canvas;
    const shape = this.#cursorShown;
    if (!shape) {
      c.style.cursor = this.#cursor ? 'none' : '';
      this.#cursorScale = null;
      return;
    }
    const rect = c.getBoundingClientRect();
    // Cursor-image pixels per CSS pixel, as image-set() takes it.
    const res = rect.width > 0 && c.width > 0 ? c.width / rect.width : (globalThis.devicePixelRatio || 1);
    const x = Math.round(res * 1e4) / 1e4;
    // CSS hotspots are CSS pixels, and Chromium keeps whole ones; floor keeps them inside the image.
    const hx = Math.floor(shape.hotX / res);
    const hy = Math.floor(shape.hotY / res);
    // Where image-set() cursors are not understood the assignment is ignored and the 1x one stays.
    c.style.cursor = `url(${shape.url}) ${shape.hotX} ${shape.hotY}, default`;
    c.style.cursor = `image-set(url(${shape.url}) ${x}x) ${hx} ${hy}, default`;
    this.#cursorScale = c.style.cursor.startsWith('image-set') ? x : 1;
  }

  // The host's screen changed size. The canvas follows with the next frame (a keyframe of the new
  // size, see #fitCanvas at paint time), so frames already in flight still paint at their size
  // and the canvas is never cleared to an empty picture in between.
  #onResize(m) {
    this.#announced = { width: m.width, height: m.height };
    this.#resizes += 1;
  }

  #onSessionEnded(m) {
    if (this.#loggingOff) {
      this.#finish({ reason: 'logged_off', error: false, confirmed: true, message: END_MESSAGES[1] });
      return;
    }
    const base = END_MESSAGES[m.reason];
    // The host's reason as a second sentence: it may carry parentheses of its own ("exited (status 0)").
    const detail = m.message && !base.includes(m.message) ? m.message : '';
    const message = detail ? `${base} ${detail[0].toUpperCase()}${detail.slice(1)}${/[.!?]$/.test(detail) ? '' : '.'}` : base;
    this.#finish({ reason: END_REASON_NAMES[m.reason], error: m.reason === 3, message });
  }

  #onError(m) {
    const what = this.#ready ? 'The session host reported an error' : 'The session host refused the connection';
    const text = m.message || m.codeName;
    const hint = {
      ticket_expired: ' The launch ticket expired before the connection was made; launch the application again.',
      ticket_replayed: ' The launch ticket was already used; launch the application again.',
      session_not_found: ' The session no longer exists on the host.',
    }[m.codeName] ?? '';
    this.#finish({ reason: this.#ready ? 'error' : 'refused', error: true, code: m.codeName, wasConnected: this.#ready, message: `${what}: ${text} (${m.codeName}).${hint}` });
  }

  #onClose(ev) {
    if (this.#ended) return;
    if (this.#loggingOff) {
      this.#finish({ reason: 'logged_off', error: false, confirmed: true, message: END_MESSAGES[1] });
    } else if (!this.#opened) {
      this.#finish({ reason: 'connection_lost', error: true, message: 'Could not connect to the session: the display gateway refused or could not be reached.' });
    } else {
      const why = ev.reason ? `: ${ev.reason}` : '';
      this.#finish({ reason: 'connection_lost', error: true, wasConnected: this.#ready, code: ev.code, message: `The connection to the session was lost${why} (WebSocket code ${ev.code}).` });
    }
  }

  #protocolFailure(why) {
    console.error('display protocol error:', why);
    this.#finish({ reason: 'protocol', error: true, message: `The session stopped because of a display protocol error: ${why}.` });
  }

  #finish(end) {
    if (this.#ended) return;
    if (!this.#loggingOff) this.#releaseInput();
    this.#ended = true;
    this.#ready = false;
    clearTimeout(this.#logoffTimer);
    clearInterval(this.#pingTimer);
    clearTimeout(this.#pendingPaste?.timer);
    this.#pendingPaste = null;
    this.#events?.abort();
    this.#resizeObserver?.disconnect();
    this.#closeDecoder();
    for (const e of this.#queue) this.#discard(e);
    this.#queue = [];
    if (this.#ws) {
      this.#ws.onopen = this.#ws.onmessage = this.#ws.onclose = null;
      if (this.#ws.readyState <= WebSocket.OPEN) this.#ws.close(1000);
    }
    if (end) this.#onEnd(end);
  }

  // -------------------------------------------------------------------------------------------
  // Frames. Video decodes and tile decodes finish asynchronously and out of step with each other,
  // so each frame waits in #queue until it and every frame before it is ready, then is painted
  // and acknowledged. Frames that cannot be painted are still acknowledged so that the host's
  // flow control never stalls; the KeyframeRequest repairs the picture.

  #onVideoFrame(m, arrival = now()) {
    // A keyframe that lists dirty rectangles (the host switching picture size mid-motion) paints
    // only those, like a delta.
    const entry = { kind: 'video', frameId: m.frameId, width: m.width, height: m.height, reduced: m.codedWidth !== m.width || m.codedHeight !== m.height, dirty: m.dirty, done: false, frame: null, arrival, decodeStart: 0, behind: this.#queue.length };
    if (m.keyframe) {
      this.#keyframeRequested = false;
      if (!this.#configureDecoder(m)) return;
    }
    this.#queue.push(entry);
    if (!this.#decoder) {
      // Waiting for a keyframe after an error: this delta frame cannot be decoded.
      entry.done = true;
      this.#requestKeyframe();
      this.#pump();
      return;
    }
    try {
      entry.decodeStart = now();
      this.#decoder.decode(new EncodedVideoChunk({
        type: m.keyframe ? 'key' : 'delta',
        timestamp: m.frameId, // carried through to the output VideoFrame, which names the frame
        data: m.data,
      }));
    } catch (e) {
      this.#decoderFailed(e);
    }
  }

  /** Creates or reconfigures the decoder for a keyframe; false if the session had to end. */
  #configureDecoder(m) {
    if (typeof VideoDecoder !== 'function') {
      this.#finish({
        reason: 'unsupported', error: true,
        message: 'This browser cannot decode the session video: WebCodecs (VideoDecoder) is missing. Use a current browser over HTTPS.',
      });
      return false;
    }
    const config = {
      codec: codecFromAnnexB(m.data) ?? FALLBACK_CODEC,
      codedWidth: m.codedWidth,
      codedHeight: m.codedHeight,
      optimizeForLatency: true,
      // no description: the stream is Annex B with SPS/PPS in band
    };
    const old = this.#decoderConfig;
    if (this.#decoder && old && old.codec === config.codec && old.codedWidth === config.codedWidth
        && old.codedHeight === config.codedHeight) {
      return true;
    }
    try {
      if (!this.#decoder) {
        const decoder = new VideoDecoder({
          output: (frame) => this.#onDecoded(frame),
          error: (e) => { if (this.#decoder === decoder) this.#decoderFailed(e); },
        });
        this.#decoder = decoder;
      }
      this.#decoder.configure(config);
      this.#decoderConfig = config;
    } catch (e) {
      this.#decoderFailed(e);
    }
    return !this.#ended;
  }

  #onDecoded(frame) {
    const q = this.#queue;
    const i = q.findIndex((e) => e.kind === 'video' && !e.done && !e.frame && e.frameId === frame.timestamp);
    if (i < 0) {
      frame.close();
      return;
    }
    // Output comes in decode order, so earlier frames still waiting were dropped by the decoder.
    for (let j = 0; j < i; j++) if (q[j].kind === 'video' && !q[j].frame) q[j].done = true;
    const e = q[i];
    e.frame = frame;
    e.decoded = now();
    this.#decodeMs.push(e.decoded - e.decodeStart);
    this.#decodeFailures = 0;
    if (this.#convertWhole(e)) return; // painted once converted
    e.done = true;
    this.#pump();
  }

  /**
   * Frames that change most of the screen (keyframes, scrolling, video) are converted to RGBA with
   * VideoFrame.copyTo (a direct YUV->RGBA conversion) and painted with putImageData: for 1920x1040
   * that took 5 ms where drawImage of the VideoFrame took 12 (bench/web, loaded VM). The frame goes
   * back to the decoder as soon as it is copied. False when the frame is to be drawn directly.
   */
  #convertWhole(e) {
    const f = e.frame;
    const vr = f.visibleRect;
    // A reduced-resolution picture is converted whole too (a quarter of the pixels), then scaled
    // up from a small canvas: drawImage of the VideoFrame itself, scaled, took ~9 ms (bench/web).
    const w = e.reduced ? f.displayWidth : e.width;
    const h = e.reduced ? f.displayHeight : e.height;
    if (!rgbaCopyWorks || typeof f.copyTo !== 'function' || !vr || vr.width !== w || vr.height !== h
        || f.displayWidth !== w || f.displayHeight !== h) return false;
    const area = e.dirty.reduce((sum, d) => sum + d.w * d.h, 0);
    if (!e.reduced && e.dirty.length > 0 && area < (e.width * e.height) / 2) return false; // cropped draws are cheaper
    const image = this.#takeImageData(w, h);
    f.copyTo(image.data, { format: 'RGBA', colorSpace: 'srgb' }).then(() => {
      f.close();
      e.frame = null;
      e.image = image;
    }, (err) => {
      // Older browsers cannot convert in copyTo: drawImage from now on.
      console.warn('VideoFrame.copyTo(RGBA) failed, drawing frames instead:', err);
      rgbaCopyWorks = false;
    }).finally(() => {
      e.done = true;
      if (this.#ended) {
        this.#discard(e);
        return;
      }
      this.#pump();
    });
    return true;
  }

  #takeImageData(width, height) {
    const i = this.#imagePool.findIndex((d) => d.width === width && d.height === height);
    return i >= 0 ? this.#imagePool.splice(i, 1)[0] : new ImageData(width, height);
  }

  #giveImageData(image) {
    if (this.#imagePool.length < IMAGE_POOL) this.#imagePool.push(image);
  }

  #decoderFailed(err) {
    displayStats().decodeErrors++;
    console.warn('H.264 decoder error:', err);
    this.#closeDecoder();
    for (const e of this.#queue) if (e.kind === 'video') e.done = true;
    if (++this.#decodeFailures > MAX_DECODE_FAILURES) {
      this.#finish({
        reason: 'unsupported', error: true,
        message: `The session video cannot be decoded in this browser: ${err?.message ?? err}`,
      });
      return;
    }
    this.#requestKeyframe();
    this.#pump();
  }

  #closeDecoder() {
    const d = this.#decoder;
    this.#decoder = null;
    this.#decoderConfig = null;
    if (d && d.state !== 'closed') d.close();
  }

  #requestKeyframe() {
    if (this.#keyframeRequested) return;
    this.#keyframeRequested = true;
    displayStats().keyframeRequests++;
    this.#send(encodeKeyframeRequest());
  }

  #onTileFrame(m, arrival = now()) {
    const entry = { kind: 'tiles', frameId: m.frameId, width: m.width, height: m.height, done: false, copies: m.copies, tiles: m.tiles, bitmaps: null, arrival, behind: this.#queue.length };
    this.#queue.push(entry);
    if (m.tiles.length === 0) {
      // Only copies (a scroll with no new rows): nothing to decode, paint now.
      entry.bitmaps = [];
      entry.done = true;
      entry.decoded = arrival;
      this.#pump();
      return;
    }
    const decodeStart = now();
    // All tiles decode at once (PNG here, png.js; JPEG on the browser's decoder threads); the frame
    // paints when the last is ready, so a TileFrame is one paint, never a partly updated screen.
    Promise.allSettled(m.tiles.map(decodeTile)).then((results) => {
      entry.bitmaps = results.map((r) => (r.status === 'fulfilled' ? r.value : null));
      entry.done = true;
      entry.decoded = now();
      this.#tileDecodeMs.push(entry.decoded - decodeStart);
      if (this.#ended) {
        this.#discard(entry);
        return;
      }
      const failed = results.filter((r) => r.status === 'rejected');
      if (failed.length > 0) {
        displayStats().decodeErrors += failed.length;
        console.warn(`frame ${m.frameId}: ${failed.length} tile(s) failed to decode:`, failed[0].reason);
        this.#requestKeyframe();
      }
      this.#pump();
    });
  }

  #pump() {
    while (this.#queue.length > 0 && this.#queue[0].done) {
      const e = this.#queue.shift();
      this.#paint(e);
      // Each frame reports its arrival-to-painted time: the host sends the next frame when this
      // client is ready for it (pacing), and halves full-motion video for a client that cannot
      // paint it within its budget (software decoding).
      this.#send(encodeFrameAck(e.frameId, e.painted ? Math.max(1, (e.painted - e.arrival) * 1000) : 0));
    }
  }

  #paint(e) {
    const ctx = this.#ctx;
    if (e.image || e.frame) {
      this.#fitCanvas(e.width, e.height);
      const start = now();
      if (e.image) {
        if (e.reduced) this.#paintScaled(e.image, e.dirty, e.width, e.height);
        else if (e.dirty.length === 0) ctx.putImageData(e.image, 0, 0);
        else for (const d of e.dirty) ctx.putImageData(e.image, 0, 0, d.x, d.y, d.w, d.h);
        this.#giveImageData(e.image);
        e.image = null;
      } else {
        // A reduced-resolution picture is scaled up to the screen by these draws.
        if (e.dirty.length === 0) ctx.drawImage(e.frame, 0, 0, this.#canvas.width, this.#canvas.height);
        // Only what changed: elsewhere the canvas may hold lossless pixels the video would blur.
        else drawVideoRects(ctx, e.frame, e.dirty, e.width, e.height);
        e.frame.close();
      }
      this.#videoPaintMs.push(now() - start);
      displayStats().videoFrames++;
      if (e.reduced) displayStats().reducedVideoFrames++;
    } else if (e.bitmaps) {
      this.#fitCanvas(e.width, e.height);
      const start = now();
      // Moved content first (scrolling): the canvas copies what it already shows.
      for (const c of e.copies) ctx.drawImage(this.#canvas, c.x, c.y, c.w, c.h, c.dx, c.dy, c.w, c.h);
      e.bitmaps.forEach((b, i) => {
        if (!b) return;
        const t = e.tiles[i];
        if (b instanceof ImageData) {
          ctx.putImageData(b, t.x, t.y); // decoded here at the tile's size (opaque: same as a draw)
        } else {
          ctx.drawImage(b, t.x, t.y, t.w, t.h);
          b.close();
        }
      });
      this.#tilePaintMs.push(now() - start);
      displayStats().tileFrames++;
    } else {
      return;
    }
    const painted = now();
    e.painted = painted;
    this.#frames++;
    this.#paints.push(painted);
    this.#lastKind = e.kind;
    if (e.kind === 'video') this.#lastVideoReduced = !!e.reduced;
    this.#arrivalToPaintMs.push(painted - e.arrival);
    (e.kind === 'video' ? this.#videoArrivalToPaintMs : this.#tileArrivalToPaintMs).push(painted - e.arrival);
    // Input-to-photon (estimate): the first frame that arrived after a key press is taken as its
    // echo. On an otherwise still screen that is exact; with other motion it is a lower bound.
    if (this.#keyPressedAt && e.arrival > this.#keyPressedAt) {
      const ms = painted - this.#keyPressedAt;
      if (ms <= INPUT_TO_PHOTON_MAX_MS) this.#inputToPhotonMs.push(ms);
      this.#keyPressedAt = 0;
    }
    globalThis.__porticoPaintHook?.({ kind: e.kind, frameId: e.frameId, arrival: e.arrival, decoded: e.decoded, painted, behind: e.behind, reduced: !!e.reduced, tiles: e.tiles?.length ?? 0 });
    if (this.#painted++ === 0) {
      this.#onStatus(`Connected (${this.#canvas.width}×${this.#canvas.height})`);
    }
  }

  /** Paints a reduced-resolution RGBA picture scaled up to the width x height screen, only where dirty. */
  #paintScaled(image, dirty, width, height) {
    let small = this.#scaleCanvas;
    if (!small || small.width !== image.width || small.height !== image.height) {
      small = this.#scaleCanvas = new OffscreenCanvas(image.width, image.height);
    }
    small.getContext('2d').putImageData(image, 0, 0);
    const ctx = this.#ctx;
    if (dirty.length === 0) {
      ctx.drawImage(small, 0, 0, width, height);
      return;
    }
    const sx = image.width / width;
    const sy = image.height / height;
    for (const d of dirty) ctx.drawImage(small, d.x * sx, d.y * sy, d.w * sx, d.h * sy, d.x, d.y, d.w, d.h);
  }

  #discard(e) {
    e.frame?.close();
    e.bitmaps?.forEach((b) => b?.close?.()); // ImageData (png.js) has nothing to free
  }

  #fitCanvas(width, height) {
    // Resizing a canvas clears it, so only when the screen size really changes. The backing store
    // is always the session's pixel size; CSS scaling (fit or 1:1) is the portal's business.
    const c = this.#canvas;
    if (c.width === width && c.height === height) return;
    if (c.width !== width) c.width = width;
    if (c.height !== height) c.height = height;
    this.#onSize(width, height);
    this.#applyCursor(); // the portal has laid the canvas out again: the pixel scale changed
    if (this.#painted > 0 && !this.#loggingOff) this.#onStatus(`Connected (${width}×${height})`);
  }

  // -------------------------------------------------------------------------------------------
  // Input

  #attachInput() {
    this.#events = new AbortController();
    const opts = { signal: this.#events.signal };
    const c = this.#canvas;
    if (typeof ResizeObserver === 'function') {
      // Fit/1:1 toggles, window resizes and zoom change the CSS size: the cursor follows.
      this.#resizeObserver = new ResizeObserver(() => this.#applyCursor());
      this.#resizeObserver.observe(c);
    }
    c.addEventListener('keydown', (e) => this.#onKey(e, true), opts);
    c.addEventListener('keyup', (e) => this.#onKey(e, false), opts);
    for (const type of ['pointerdown', 'pointerup', 'pointermove', 'pointercancel']) {
      c.addEventListener(type, (e) => this.#onPointer(e), opts);
    }
    c.addEventListener('wheel', (e) => this.#onWheel(e), { ...opts, passive: false });
    c.addEventListener('contextmenu', (e) => e.preventDefault(), opts);
    c.addEventListener('paste', (e) => this.#onPaste(e), opts);
    c.addEventListener('focus', () => this.#syncLocalClipboard(), opts);
    c.addEventListener('blur', () => this.#releaseInput(), opts);
    window.addEventListener('blur', () => this.#releaseInput(), opts);
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) this.#releaseInput();
    }, opts);
  }

  #onKey(e, down) {
    if (this.#onShortcut(e)) {
      e.preventDefault();
      return;
    }
    if (e.isComposing || e.key === 'Process') return; // an input method is composing
    // A dead key only prepares a character on this side; the composed character follows. Caps Lock
    // and Num Lock are this keyboard's state, already reflected in the characters sent. (AltGr
    // itself still goes as a key, for sessions that type by physical key; app sessions lift it
    // while they type a character.)
    if (e.key === 'Dead' || e.code === 'CapsLock' || e.code === 'NumLock') {
      e.preventDefault();
      return;
    }
    if (!down && this.#heldChars.has(e.code)) {
      e.preventDefault();
      const held = this.#heldChars.get(e.code);
      this.#heldChars.delete(e.code);
      if (this.#ready && !this.#loggingOff) this.#send(encodeKeyChar(false, held.cp, held.code));
      return;
    }
    const cp = down ? producedChar(e) : undefined;
    if (cp !== undefined) {
      // Sent as the character: the host types it whatever its own layout is.
      e.preventDefault();
      if (!this.#ready || this.#loggingOff) return;
      const held = { cp, code: evdevCode(e.code) ?? 0 };
      this.#heldChars.set(e.code, held);
      this.#keyPressedAt ||= now();
      this.#send(encodeKeyChar(true, held.cp, held.code));
      return;
    }
    const code = evdevCode(e.code);
    if (code === undefined) return;
    if (down && isPasteShortcut(e) && this.#ready && !this.#loggingOff) {
      // Let the browser run its paste (no preventDefault): the paste event brings the local text,
      // which must reach the session before the key that makes the app paste.
      this.#heldKeys.add(code);
      clearTimeout(this.#pendingPaste?.timer);
      this.#pendingPaste = { code, released: false, timer: setTimeout(() => this.#flushPaste(), PASTE_WAIT_MS) };
      return;
    }
    e.preventDefault();
    if (!this.#ready || this.#loggingOff) return;
    if (!down && this.#pendingPaste?.code === code) {
      this.#pendingPaste.released = true;
      return;
    }
    if (down) {
      this.#heldKeys.add(code); // repeats are forwarded as further downs, as X expects
      this.#keyPressedAt ||= now();
      this.#send(encodeKey(true, code));
    } else if (this.#heldKeys.delete(code)) {
      this.#send(encodeKey(false, code));
    }
  }

  // The paste shortcut's key goes out once the clipboard text did (or the browser sent none).
  #flushPaste() {
    const p = this.#pendingPaste;
    if (!p) return;
    clearTimeout(p.timer);
    this.#pendingPaste = null;
    if (!this.#ready || this.#loggingOff) return;
    this.#send(encodeKey(true, p.code));
    if (p.released && this.#heldKeys.delete(p.code)) this.#send(encodeKey(false, p.code));
  }

  #onPaste(e) {
    e.preventDefault();
    const text = e.clipboardData?.getData('text/plain');
    if (text) {
      this.#lastLocalRead = text;
      this.sendClipboard(text);
    }
    this.#flushPaste();
  }

  /**
   * Where the page may read the clipboard without asking (permission granted), the session gets
   * the local clipboard whenever the canvas gains focus, so a paste in the remote app has it.
   */
  async #syncLocalClipboard() {
    try {
      if (!navigator.clipboard?.readText || !navigator.permissions?.query) return;
      const st = await navigator.permissions.query({ name: 'clipboard-read' });
      if (st.state !== 'granted') return;
      const text = await navigator.clipboard.readText();
      // Only a change of the local clipboard since we last looked is news: text sent from the
      // toolbar panel meanwhile must not be overwritten by an older local clipboard.
      if (text && text !== this.#lastLocalRead) {
        this.#lastLocalRead = text;
        this.sendClipboard(text);
      }
    } catch {
      // Not allowed here (no focus, no permission): the paste event and the toolbar remain.
    }
  }

  #onPointer(e) {
    if (e.pointerType === 'touch') {
      this.#onTouch(e);
      return;
    }
    if (e.type === 'pointerdown') {
      this.#canvas.focus();
      this.#capturePointer(e.pointerId);
    }
    if (!this.#ready || this.#loggingOff) return;
    const pos = this.#screenPos(e);
    if (!pos) return;
    const buttons = e.type === 'pointercancel' ? 0 : protocolButtons(e.buttons);
    this.#sendPointer(pos.x, pos.y, buttons);
  }

  // Keeps a drag's events coming when it leaves the canvas. A pointer the browser no longer
  // tracks (lifted already, or synthetic) cannot be captured; that is harmless.
  #capturePointer(id) {
    try {
      this.#canvas.setPointerCapture?.(id);
    } catch {
      // not capturable
    }
  }

  /** The session pixel under a pointer event, or null when the canvas has no size. */
  #screenPos(e) {
    const rect = this.#canvas.getBoundingClientRect();
    if (rect.width === 0 || rect.height === 0) return null;
    const { width, height } = this.#canvas;
    return {
      x: clamp(Math.floor(((e.clientX - rect.left) * width) / rect.width), 0, width - 1),
      y: clamp(Math.floor(((e.clientY - rect.top) * height) / rect.height), 0, height - 1),
    };
  }

  #sendPointer(x, y, buttons) {
    const p = this.#pointer;
    if (p.x === x && p.y === y && p.buttons === buttons) return;
    // Under backlog, skip plain moves; button changes always go out.
    if (buttons === p.buttons && this.#ws.bufferedAmount > POINTER_BACKLOG_BYTES) return;
    Object.assign(p, { x, y, buttons });
    this.#send(encodePointer(x, y, buttons));
  }

  /**
   * Touch: a tap clicks, one finger moving drags with button 1, two fingers scroll (wheel). The
   * press waits until the finger moves or lifts, so a second finger can still turn it into a
   * scroll without a stray click.
   */
  #onTouch(e) {
    e.preventDefault();
    if (e.type === 'pointerdown') {
      this.#canvas.focus();
      this.#capturePointer(e.pointerId);
    }
    if (!this.#ready || this.#loggingOff) return;
    const pos = this.#screenPos(e);
    if (!pos) return;
    const t = this.#touches;
    const centroidY = () => [...t.values()].reduce((s, v) => s + v.clientY, 0) / t.size;
    if (e.type === 'pointerdown') {
      t.set(e.pointerId, { clientX: e.clientX, clientY: e.clientY });
      if (t.size === 1) {
        this.#touchMode = 'pending';
        this.#touchStart = { ...pos, clientX: e.clientX, clientY: e.clientY };
        this.#sendPointer(pos.x, pos.y, 0);
      } else if (t.size === 2) {
        if (this.#touchMode === 'drag') this.#sendPointer(this.#pointer.x, this.#pointer.y, 0);
        this.#touchMode = 'scroll';
        this.#touchScrollY = centroidY();
      }
      return;
    }
    if (!t.has(e.pointerId)) return;
    if (e.type === 'pointermove') {
      t.set(e.pointerId, { clientX: e.clientX, clientY: e.clientY });
      if (this.#touchMode === 'scroll') {
        const y = centroidY();
        // Fingers moving up scroll the content down, as on any touch screen.
        const notches = Math.trunc((this.#touchScrollY - y) / TOUCH_PIXELS_PER_NOTCH);
        if (notches !== 0) {
          this.#touchScrollY -= notches * TOUCH_PIXELS_PER_NOTCH;
          this.#send(encodeWheel(0, clamp(notches, -0x8000, 0x7fff)));
        }
        return;
      }
      const s0 = this.#touchStart;
      if (this.#touchMode === 'pending' && Math.hypot(e.clientX - s0.clientX, e.clientY - s0.clientY) >= TOUCH_SLOP_PX) {
        this.#touchMode = 'drag';
        this.#sendPointer(s0.x, s0.y, 1);
      }
      if (this.#touchMode === 'drag') this.#sendPointer(pos.x, pos.y, 1);
      return;
    }
    // pointerup / pointercancel
    t.delete(e.pointerId);
    if (this.#touchMode === 'pending' && e.type === 'pointerup') {
      const s0 = this.#touchStart;
      this.#sendPointer(s0.x, s0.y, 1);
      this.#sendPointer(s0.x, s0.y, 0);
    } else if (this.#touchMode === 'drag') {
      this.#sendPointer(pos.x, pos.y, 0);
    }
    if (t.size === 0) this.#touchMode = null;
    else if (this.#touchMode !== 'scroll') this.#touchMode = null;
  }

  #onWheel(e) {
    e.preventDefault();
    if (!this.#ready || this.#loggingOff) return;
    // Normalise to pixels: one notch per ~100 px, per 3 lines or per page.
    const unit = e.deltaMode === WheelEvent.DOM_DELTA_LINE ? WHEEL_PIXELS_PER_NOTCH / WHEEL_LINES_PER_NOTCH
      : e.deltaMode === WheelEvent.DOM_DELTA_PAGE ? WHEEL_PIXELS_PER_NOTCH : 1;
    const w = this.#wheel;
    w.x += e.deltaX * unit;
    w.y += e.deltaY * unit;
    const dx = Math.trunc(w.x / WHEEL_PIXELS_PER_NOTCH);
    const dy = Math.trunc(w.y / WHEEL_PIXELS_PER_NOTCH);
    if (dx === 0 && dy === 0) return;
    w.x -= dx * WHEEL_PIXELS_PER_NOTCH;
    w.y -= dy * WHEEL_PIXELS_PER_NOTCH;
    this.#send(encodeWheel(clamp(dx, -0x8000, 0x7fff), clamp(dy, -0x8000, 0x7fff)));
  }

  /** Lets go of every key and button the host still thinks is held (no stuck modifiers). */
  #releaseInput() {
    if (this.#pendingPaste) {
      clearTimeout(this.#pendingPaste.timer);
      this.#pendingPaste = null;
    }
    for (const held of this.#heldChars.values()) this.#send(encodeKeyChar(false, held.cp, held.code));
    this.#heldChars.clear();
    for (const code of this.#heldKeys) this.#send(encodeKey(false, code));
    this.#heldKeys.clear();
    this.#touches.clear();
    this.#touchMode = null;
    const p = this.#pointer;
    if (p.buttons !== 0 && p.x >= 0) {
      p.buttons = 0;
      this.#send(encodePointer(p.x, p.y, 0));
    }
    this.#wheel.x = this.#wheel.y = 0;
  }
}

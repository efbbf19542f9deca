// The display client: one WebSocket to a session (docs/protocol.md), H.264 through WebCodecs,
// JPEG tiles through createImageBitmap, both painted on one canvas strictly in arrival order,
// and keyboard/pointer/wheel input from that canvas sent back to the host.

import {
  PROTOCOL_VERSION, ProtocolError, TILE_PNG, decodeMessage,
  encodeHello, encodeKey, encodePointer, encodeWheel, encodeFrameAck, encodeKeyframeRequest,
  encodeLogoff, encodeResizeRequest, MIN_RESIZE_DIM, MAX_SCREEN_DIM,
} from './protocol.js';
import { evdevCode } from './keymap.js';

const FALLBACK_CODEC = 'avc1.42e01f'; // Constrained Baseline, level 3.1
const LOGOFF_TIMEOUT_MS = 3000;
const MAX_DECODE_FAILURES = 3; // in a row, without a frame decoded in between
const WHEEL_PIXELS_PER_NOTCH = 100;
const WHEEL_LINES_PER_NOTCH = 3;
const POINTER_BACKLOG_BYTES = 64 * 1024; // drop plain moves while this much is unsent
const STATS_SAMPLES = 30; // decode/paint/latency figures are medians over this many frames
const RATE_WINDOW_MS = 1000; // fps and bitrate are measured over the last second

/** Counters for tests and diagnostics, shared by all sessions of the page. */
export function displayStats() {
  globalThis.__portico ??= { videoFrames: 0, tileFrames: 0, decodeErrors: 0, keyframeRequests: 0 };
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
 *   onShortcut(event)  sees every key event first; returning true keeps it from the session.
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
  #tileDecodeMs = new Samples();
  #tilePaintMs = new Samples();
  #arrivalToPaintMs = new Samples();
  #lastKind = null;

  constructor(canvas, { onStatus = () => {}, onEnd = () => {}, onSize = () => {}, onShortcut = () => false } = {}) {
    this.#canvas = canvas;
    this.#ctx = canvas.getContext('2d', { alpha: false });
    this.#onStatus = onStatus;
    this.#onEnd = onEnd;
    this.#onSize = onSize;
    this.#onShortcut = onShortcut;
    displayStats();
  }

  /** The session id the host announced in ServerHello (null before). */
  get sessionId() { return this.#sessionId; }

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
      width: this.#canvas.width,
      height: this.#canvas.height,
      screenWidth: this.#announced?.width ?? 0,
      screenHeight: this.#announced?.height ?? 0,
      resizes: this.#resizes,
      decodeMs: summarize(this.#decodeMs.values),
      tileDecodeMs: summarize(this.#tileDecodeMs.values),
      tilePaintMs: summarize(this.#tilePaintMs.values),
      arrivalToPaintMs: summarize(this.#arrivalToPaintMs.values),
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
      this.#arrivals.push([now(), n]);
      this.#bytes += n;
      this.#onMessage(ev.data);
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

  #onMessage(data) {
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
      case 'video_frame': return this.#onVideoFrame(msg);
      case 'tile_frame': return this.#onTileFrame(msg);
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
    const message = m.message && !base.includes(m.message) ? `${base} (${m.message})` : base;
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
    this.#events?.abort();
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

  #onVideoFrame(m) {
    const entry = { kind: 'video', frameId: m.frameId, width: m.width, height: m.height, dirty: m.keyframe ? [] : m.dirty, done: false, frame: null, arrival: now(), decodeStart: 0 };
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
      codedWidth: m.width,
      codedHeight: m.height,
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
    const i = q.findIndex((e) => e.kind === 'video' && !e.done && e.frameId === frame.timestamp);
    if (i < 0) {
      frame.close();
      return;
    }
    // Output comes in decode order, so earlier frames still waiting were dropped by the decoder.
    for (let j = 0; j < i; j++) if (q[j].kind === 'video') q[j].done = true;
    q[i].frame = frame;
    q[i].done = true;
    this.#decodeMs.push(now() - q[i].decodeStart);
    this.#decodeFailures = 0;
    this.#pump();
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

  #onTileFrame(m) {
    const entry = { kind: 'tiles', frameId: m.frameId, width: m.width, height: m.height, done: false, copies: m.copies, tiles: m.tiles, bitmaps: null, arrival: now() };
    this.#queue.push(entry);
    const decodeStart = now();
    const jobs = m.tiles.map((t) => createImageBitmap(new Blob([t.data], { type: t.encoding === TILE_PNG ? 'image/png' : 'image/jpeg' })));
    Promise.allSettled(jobs).then((results) => {
      entry.bitmaps = results.map((r) => (r.status === 'fulfilled' ? r.value : null));
      entry.done = true;
      this.#tileDecodeMs.push(now() - decodeStart);
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
      this.#send(encodeFrameAck(e.frameId));
    }
  }

  #paint(e) {
    const ctx = this.#ctx;
    if (e.frame) {
      this.#fitCanvas(e.width, e.height);
      if (e.dirty.length === 0) {
        ctx.drawImage(e.frame, 0, 0, this.#canvas.width, this.#canvas.height);
      } else {
        // Only what changed: elsewhere the canvas may hold lossless pixels the video would blur.
        const sx = e.frame.displayWidth / e.width;
        const sy = e.frame.displayHeight / e.height;
        for (const d of e.dirty) ctx.drawImage(e.frame, d.x * sx, d.y * sy, d.w * sx, d.h * sy, d.x, d.y, d.w, d.h);
      }
      e.frame.close();
      displayStats().videoFrames++;
    } else if (e.bitmaps) {
      this.#fitCanvas(e.width, e.height);
      const start = now();
      // Moved content first (scrolling): the canvas copies what it already shows.
      for (const c of e.copies) ctx.drawImage(this.#canvas, c.x, c.y, c.w, c.h, c.dx, c.dy, c.w, c.h);
      e.bitmaps.forEach((b, i) => {
        if (!b) return;
        const t = e.tiles[i];
        ctx.drawImage(b, t.x, t.y, t.w, t.h);
        b.close();
      });
      this.#tilePaintMs.push(now() - start);
      displayStats().tileFrames++;
    } else {
      return;
    }
    const painted = now();
    this.#frames++;
    this.#paints.push(painted);
    this.#lastKind = e.kind;
    this.#arrivalToPaintMs.push(painted - e.arrival);
    if (this.#painted++ === 0) {
      this.#onStatus(`Connected (${this.#canvas.width}×${this.#canvas.height})`);
    }
  }

  #discard(e) {
    e.frame?.close();
    e.bitmaps?.forEach((b) => b?.close());
  }

  #fitCanvas(width, height) {
    // Resizing a canvas clears it, so only when the screen size really changes. The backing store
    // is always the session's pixel size; CSS scaling (fit or 1:1) is the portal's business.
    const c = this.#canvas;
    if (c.width === width && c.height === height) return;
    if (c.width !== width) c.width = width;
    if (c.height !== height) c.height = height;
    this.#onSize(width, height);
  }

  // -------------------------------------------------------------------------------------------
  // Input

  #attachInput() {
    this.#events = new AbortController();
    const opts = { signal: this.#events.signal };
    const c = this.#canvas;
    c.addEventListener('keydown', (e) => this.#onKey(e, true), opts);
    c.addEventListener('keyup', (e) => this.#onKey(e, false), opts);
    for (const type of ['pointerdown', 'pointerup', 'pointermove', 'pointercancel']) {
      c.addEventListener(type, (e) => this.#onPointer(e), opts);
    }
    c.addEventListener('wheel', (e) => this.#onWheel(e), { ...opts, passive: false });
    c.addEventListener('contextmenu', (e) => e.preventDefault(), opts);
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
    const code = evdevCode(e.code);
    if (code === undefined) return;
    e.preventDefault();
    if (!this.#ready || this.#loggingOff) return;
    if (down) {
      this.#heldKeys.add(code); // repeats are forwarded as further downs, as X expects
      this.#send(encodeKey(true, code));
    } else if (this.#heldKeys.delete(code)) {
      this.#send(encodeKey(false, code));
    }
  }

  #onPointer(e) {
    if (e.type === 'pointerdown') {
      this.#canvas.focus();
      this.#canvas.setPointerCapture?.(e.pointerId);
    }
    if (!this.#ready || this.#loggingOff) return;
    const rect = this.#canvas.getBoundingClientRect();
    if (rect.width === 0 || rect.height === 0) return;
    const { width, height } = this.#canvas;
    const x = clamp(Math.floor(((e.clientX - rect.left) * width) / rect.width), 0, width - 1);
    const y = clamp(Math.floor(((e.clientY - rect.top) * height) / rect.height), 0, height - 1);
    const buttons = e.type === 'pointercancel' ? 0 : protocolButtons(e.buttons);
    const p = this.#pointer;
    if (p.x === x && p.y === y && p.buttons === buttons) return;
    // Under backlog, skip plain moves; button changes always go out.
    if (buttons === p.buttons && this.#ws.bufferedAmount > POINTER_BACKLOG_BYTES) return;
    Object.assign(p, { x, y, buttons });
    this.#send(encodePointer(x, y, buttons));
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
    for (const code of this.#heldKeys) this.#send(encodeKey(false, code));
    this.#heldKeys.clear();
    const p = this.#pointer;
    if (p.buttons !== 0 && p.x >= 0) {
      p.buttons = 0;
      this.#send(encodePointer(p.x, p.y, 0));
    }
    this.#wheel.x = this.#wheel.y = 0;
  }
}

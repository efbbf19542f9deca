// The display client: one session on one canvas. DisplayClient composes the modules that each do
// one job and routes the host's messages to them:
//   stream.js     the WebSocket, message decoding and dispatch, what an ending means;
//   frames.js     the paint queue (video.js for H.264 through WebCodecs, tiles.js for PNG/JPEG
//                 tiles), painted strictly in arrival order and acknowledged (pacing);
//   input.js      keyboard, pointer, wheel and touch from the canvas to the host;
//   cursor.js     the session's pointer shape as the canvas's CSS cursor;
//   clipboard.js  the clipboard both ways;
//   resize.js     asking the host for the portal's screen size;
//   zoom.js       the pinch zoom of the view (input.js changes it; reset for another session,
//                 started zoomed on a phone when the session stays too large to read);
//   stats.js      the figures of the stats overlay, round trips, page-wide counters.
// The modules know nothing of each other: each gets the few functions it needs (send, live …)
// from here. This file keeps the session's life (connect, logoff, the one onEnd) and the banner
// of who is watching.

import { PROTOCOL_VERSION, encodeHello, encodeLogoff, encodePing } from './protocol.js';
import {
  DisplayStream, displayUrl, loggedOffEnd, sessionEndedEnd, hostErrorEnd, connectionLostEnd,
  protocolErrorEnd, cannotConnectEnd,
} from './stream.js';
import { FramePainter } from './frames.js';
import { InputForwarder } from './input.js';
import { CursorView } from './cursor.js';
import { ClipboardSync } from './clipboard.js';
import { ResizeRequests, touchFirst } from './resize.js';
import { ViewZoom } from './zoom.js';
import { StreamStats, RoundTrips, displayStats } from './stats.js';
import { now } from './util.js';

const LOGOFF_TIMEOUT_MS = 3000;
const PING_INTERVAL_MS = 2000;
// How long a phone waits for the host to take the screen size it asked before zooming the view
// to a readable level instead (a VM desktop may refuse to resize).
const READABLE_WAIT_MS = 2500;

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
 *   onClipboardImage(png)  an image was copied in the session (its PNG bytes; the same);
 *   onShadow(text, notice)  who watches the session changed: the banner text (null: nobody any
 *     more) and the ShadowNotice; a new connection starts with nobody until the host says otherwise;
 *   onPointerMode(state)  'absolute', or for a session whose pointer is relative (a VM guest
 *     without a tablet driver) 'released' (show "click to capture the mouse") or 'captured'.
 */
export class DisplayClient {
  #canvas;
  #onStatus;
  #onEnd;
  #onSize;
  #onShadow;

  #ticket = null; // presented when the socket opens
  #sessionId = null;
  #ready = false; // ServerHello received: input may flow
  #ended = false;
  #loggingOff = false;
  #logoffTimer = 0;
  #pingTimer = 0;
  #readableTimer = 0;
  #events = null; // AbortController of the canvas and page listeners
  #shadow = null; // who is watching (view-only viewers), as the host last said; null: nobody

  #stream;
  #stats = new StreamStats();
  #roundTrips = new RoundTrips();
  #frames;
  #input;
  #cursor;
  #clipboard;
  #resize;

  constructor(canvas, {
    onStatus = () => {}, onEnd = () => {}, onSize = () => {}, onShortcut = () => false, onClipboard = () => {},
    onClipboardImage = () => {}, onShadow = () => {}, onPointerMode = () => {},
  } = {}) {
    this.#canvas = canvas;
    this.#onStatus = onStatus;
    this.#onEnd = onEnd;
    this.#onSize = onSize;
    this.#onShadow = onShadow;
    const send = (buf) => this.#stream.send(buf);
    const live = () => this.#ready && !this.#loggingOff;
    this.#stream = new DisplayStream({
      handlers: {
        server_hello: (m) => this.#onServerHello(m),
        video_frame: (m, arrival) => this.#frames.videoFrame(m, arrival),
        tile_frame: (m, arrival) => this.#frames.tileFrame(m, arrival),
        clipboard_data: (m) => this.#clipboard.received(m),
        cursor_shape: (m) => this.#cursor.shape(m),
        pong: (m) => this.#onPong(m),
        shadow_notice: (m) => this.#onShadowNotice(m),
        pointer_mode: (m) => this.#input.setPointerMode(m.relative),
        resize: (m) => this.#resize.resized(m),
        session_ended: (m) => this.#onSessionEnded(m),
        error: (m) => this.#finish(hostErrorEnd(m, this.#ready)),
      },
      onArrival: (t, bytes) => this.#stats.arrived(t, bytes),
      onOpen: () => {
        send(encodeHello(this.#ticket));
        this.#onStatus('Connected, waiting for the session host…');
      },
      onClose: (ev) => this.#onClose(ev),
      onProtocolError: (why) => this.#protocolFailure(why),
    });
    this.#frames = new FramePainter(canvas, {
      send,
      stats: this.#stats,
      onCanvasSize: (width, height) => {
        this.#onSize(width, height);
        this.#cursor.apply(); // the portal has laid the canvas out again: the pixel scale changed
        if (this.#frames.painted > 0 && !this.#loggingOff) this.#onStatus(`Connected (${width}×${height})`);
      },
      onFirstPaint: () => this.#onStatus(`Connected (${canvas.width}×${canvas.height})`),
      onFatal: (end) => this.#finish(end),
    });
    this.#cursor = new CursorView(canvas);
    this.#clipboard = new ClipboardSync({ send, live, onClipboard, onClipboardImage });
    this.#input = new InputForwarder(canvas, {
      send, live,
      backlog: () => this.#stream.buffered,
      onShortcut,
      onKeyPress: () => this.#stats.keyPressed(now()),
      onPaste: (text) => this.#clipboard.pasted(text),
      onPointerMode,
    });
    this.#resize = new ResizeRequests({ send, live: () => live() && !this.#ended });
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
    const s = this.#stats.snapshot(now());
    const r = this.#resize.snapshot();
    return {
      fps: s.fps,
      kbps: s.kbps,
      frames: s.frames,
      bytes: s.bytes,
      lastKind: s.lastKind,
      lastVideoReduced: s.lastVideoReduced,
      width: this.#canvas.width,
      height: this.#canvas.height,
      screenWidth: r.screenWidth,
      screenHeight: r.screenHeight,
      resizes: r.resizes,
      decodeMs: s.decodeMs,
      tileDecodeMs: s.tileDecodeMs,
      tilePaintMs: s.tilePaintMs,
      videoPaintMs: s.videoPaintMs,
      arrivalToPaintMs: s.arrivalToPaintMs,
      videoArrivalToPaintMs: s.videoArrivalToPaintMs,
      tileArrivalToPaintMs: s.tileArrivalToPaintMs,
      rttMs: s.rttMs,
      inputToPhotonMs: s.inputToPhotonMs,
      ...this.#cursor.snapshot(),
      ...this.#clipboard.snapshot(),
    };
  }

  /**
   * Presses keys the browser would swallow (Ctrl+Alt+Del, Ctrl+W …): every evdev code goes down in
   * order, then up in reverse order.
   */
  sendKeyCombo(codes) {
    return this.#input.keyCombo(codes);
  }

  /**
   * Makes `text` the session's clipboard (CLIPBOARD and PRIMARY on the host). Skipped when it is
   * what the session already has. False when not connected or the text is over 1 MiB.
   */
  sendClipboard(text) {
    return this.#clipboard.send(text);
  }

  /**
   * Test hook: makes the display connection fail as a network drop would. The socket is closed
   * with an application code the host never sends, and the client handles it exactly like an
   * abnormal close (1006): no Logoff, session kept, onEnd(connection_lost, wasConnected).
   */
  simulateDrop() {
    if (!this.#stream.started || this.#ended) return;
    this.#stream.close(4000, 'simulated drop');
    this.#onClose({ code: 1006, reason: '' });
  }

  /**
   * Asks the host for a screen of width x height device pixels (the portal calls this with its
   * display area, debounced). Sent once connected and only when it differs from what the host
   * has or was last asked; sizes are rounded down to even numbers and kept in 64..8192 as the
   * host would.
   */
  requestSize(width, height) {
    this.#resize.want(width, height);
  }

  /** Opens the display channel and presents the ticket. */
  connect({ gatewayPath, ticket, width, height }) {
    if (this.#stream.started || this.#ended) throw new Error('DisplayClient.connect() may be called once');
    if (width && height) this.#frames.fit(width, height);
    this.#events = new AbortController();
    this.#cursor.observe();
    this.#input.attach(this.#events.signal);
    this.#clipboard.attach(this.#canvas, this.#events.signal);
    this.#onStatus('Connecting to the session…');
    this.#ticket = ticket;
    try {
      this.#stream.open(displayUrl(gatewayPath));
    } catch (e) {
      this.#finish(cannotConnectEnd(e));
    }
  }

  /** Ends the session (Logoff message); onEnd follows when the host confirms or after a timeout. */
  logoff() {
    if (this.#ended || this.#loggingOff) return;
    if (!this.#stream.isOpen) {
      this.#finish(loggedOffEnd(false));
      return;
    }
    this.#input.release();
    this.#stream.send(encodeLogoff());
    this.#loggingOff = true;
    this.#onStatus('Logging off…');
    this.#logoffTimer = setTimeout(() => this.#finish(loggedOffEnd(false)), LOGOFF_TIMEOUT_MS);
  }

  /** Disconnects without ending the session and without calling onEnd. */
  close() {
    this.#finish(null);
  }

  #onServerHello(m) {
    if (m.version !== PROTOCOL_VERSION) {
      this.#protocolFailure(`the host speaks display protocol version ${m.version}, this client ${PROTOCOL_VERSION}`);
      return;
    }
    this.#frames.fit(m.width, m.height);
    this.#sessionId = m.sessionId ?? null;
    this.#ready = true;
    this.#resize.announced(m.width, m.height);
    this.#onStatus(`Connected (${m.width}×${m.height}), waiting for the first frame…`);
    this.#resize.sendIfNeeded();
    const zoom = ViewZoom.of(this.#canvas);
    zoom.forSession(this.#sessionId);
    if (touchFirst()) {
      this.#readableTimer = setTimeout(() => {
        if (this.connected && this.#resize.larger()) zoom.zoomToReadable();
      }, READABLE_WAIT_MS);
    }
    this.#ping();
    this.#pingTimer = setInterval(() => this.#ping(), PING_INTERVAL_MS);
  }

  #ping() {
    if (!this.#ready) return;
    const p = this.#roundTrips.ping(now());
    this.#stream.send(encodePing(p.id, p.time));
  }

  #onPong(m) {
    const ms = this.#roundTrips.pong(m, now());
    if (ms !== null) this.#stats.roundTrip(ms);
  }

  #onShadowNotice(m) {
    const text = shadowBannerText(m);
    this.#shadow = text ? { count: m.count, names: m.names, text } : null;
    this.#onShadow(text, m);
  }

  #onSessionEnded(m) {
    this.#finish(this.#loggingOff ? loggedOffEnd(true) : sessionEndedEnd(m));
  }

  #onClose(ev) {
    if (this.#ended) return;
    if (this.#loggingOff) this.#finish(loggedOffEnd(true));
    else this.#finish(connectionLostEnd(ev, { opened: this.#stream.opened, wasConnected: this.#ready }));
  }

  #protocolFailure(why) {
    console.error('display protocol error:', why);
    this.#finish(protocolErrorEnd(why));
  }

  #finish(end) {
    if (this.#ended) return;
    if (!this.#loggingOff) this.#input.release();
    this.#ended = true;
    this.#ready = false;
    clearTimeout(this.#logoffTimer);
    clearInterval(this.#pingTimer);
    clearTimeout(this.#readableTimer);
    this.#input.close();
    this.#events?.abort();
    this.#cursor.close();
    this.#frames.close();
    this.#stream.close(1000);
    if (end) this.#onEnd(end);
  }
}

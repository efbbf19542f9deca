// The display channel: one WebSocket to the session (docs/protocol.md) through the broker's
// gateway, every binary message decoded once (protocol.js) and handed to the handler for its type,
// and what the way a stream ends means for the user (the onEnd outcomes).

import { CLOSE_DISCONNECTED_BY_ADMIN, ProtocolError, decodeMessage } from './protocol.js';
import { now } from './util.js';

/** The display WebSocket URL for the broker's gateway path (same host as the page). */
export function displayUrl(gatewayPath, loc = globalThis.location) {
  if (/^wss?:\/\//.test(gatewayPath)) return gatewayPath;
  const scheme = loc.protocol === 'http:' ? 'ws:' : 'wss:';
  return `${scheme}//${loc.host}${gatewayPath}`;
}

/**
 * One WebSocket. Needs:
 *   handlers  { [message type]: (message, arrival) => void } for every type the client takes
 *     (protocol.js names them: server_hello, video_frame …); any other type is a protocol error;
 *   onArrival(time, bytes)  every message, before it is decoded;
 *   onOpen()  the socket is open (the client presents its ticket);
 *   onClose(event)  the socket closed by itself ({code, reason});
 *   onProtocolError(why)  the host sent something this client cannot read.
 */
export class DisplayStream {
  #ws = null;
  #opened = false;
  #closed = false;
  #handlers;
  #onArrival;
  #onOpen;
  #onClose;
  #onProtocolError;

  constructor({ handlers, onArrival, onOpen, onClose, onProtocolError }) {
    this.#handlers = handlers;
    this.#onArrival = onArrival;
    this.#onOpen = onOpen;
    this.#onClose = onClose;
    this.#onProtocolError = onProtocolError;
  }

  /** True once open() made a socket. */
  get started() { return this.#ws !== null; }

  /** True once the socket has opened (the gateway was reached). */
  get opened() { return this.#opened; }

  /** True while messages can be sent. */
  get isOpen() { return this.#ws !== null && this.#ws.readyState === WebSocket.OPEN; }

  /** Bytes queued on the socket and not sent yet. */
  get buffered() { return this.#ws?.bufferedAmount ?? 0; }

  /** Opens the socket to `url`; throws what the WebSocket constructor throws (a malformed URL). */
  open(url) {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      this.#opened = true;
      this.#onOpen();
    };
    ws.onmessage = (ev) => {
      const n = typeof ev.data === 'string' ? ev.data.length : ev.data.byteLength;
      const t = now();
      this.#onArrival(t, n);
      this.#dispatch(ev.data, t);
    };
    ws.onclose = (ev) => this.#onClose(ev);
    this.#ws = ws;
  }

  /** Sends one message if the socket is open (dropped otherwise: the session is over). */
  send(buf) {
    if (this.#ws && this.#ws.readyState === WebSocket.OPEN) this.#ws.send(buf);
  }

  /** Closes the socket with `code` without reporting anything more (no handler runs after this). */
  close(code = 1000, reason = undefined) {
    this.#closed = true;
    const ws = this.#ws;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    if (ws.readyState <= WebSocket.OPEN) ws.close(code, reason);
  }

  #dispatch(data, arrival) {
    if (this.#closed) return;
    if (typeof data === 'string') {
      this.#onProtocolError('the host sent a text message');
      return;
    }
    let msg;
    try {
      msg = decodeMessage(data);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.#onProtocolError(e.message);
      return;
    }
    const handle = Object.hasOwn(this.#handlers, msg.type) ? this.#handlers[msg.type] : null;
    if (!handle) {
      this.#onProtocolError(`unexpected ${msg.type} message from the host`);
      return;
    }
    handle(msg, arrival);
  }
}

// ---------------------------------------------------------------------------------------------
// How a stream ended, as DisplayClient's onEnd reports it: {reason, error, message, …}.

const END_MESSAGES = {
  0: 'The application was closed.',
  1: 'You logged off.',
  2: 'The session host is shutting down, so the session ended.',
  3: 'The session ended because of an error on the session host.',
};
const END_REASON_NAMES = { 0: 'app_exited', 1: 'logged_off', 2: 'host_shutdown', 3: 'error' };

/** The user logged off; confirmed is false when the host never acknowledged it. */
export function loggedOffEnd(confirmed) {
  return { reason: 'logged_off', error: false, confirmed, message: END_MESSAGES[1] };
}

/** A SessionEnded message the user did not ask for. */
export function sessionEndedEnd(m) {
  const base = END_MESSAGES[m.reason];
  // The host's reason as a second sentence ("it exited with status 2"); none for a clean exit.
  const detail = m.message && !base.includes(m.message) ? m.message : '';
  const message = detail ? `${base} ${detail[0].toUpperCase()}${detail.slice(1)}${/[.!?]$/.test(detail) ? '' : '.'}` : base;
  return { reason: END_REASON_NAMES[m.reason], error: m.reason === 3, message };
}

/** An Error message: a refusal before ServerHello (wasConnected false), an error after. */
export function hostErrorEnd(m, wasConnected) {
  const what = wasConnected ? 'The session host reported an error' : 'The session host refused the connection';
  const text = m.message || m.codeName;
  const hint = {
    ticket_expired: ' The launch ticket expired before the connection was made; launch the application again.',
    ticket_replayed: ' The launch ticket was already used; launch the application again.',
    session_not_found: ' The session no longer exists on the host.',
  }[m.codeName] ?? '';
  return { reason: wasConnected ? 'error' : 'refused', error: true, code: m.codeName, wasConnected, message: `${what}: ${text} (${m.codeName}).${hint}` };
}

/** The socket closed without a SessionEnded: never opened, or dropped (wasConnected: after ServerHello). */
export function connectionLostEnd(ev, { opened, wasConnected }) {
  if (opened && ev.code === CLOSE_DISCONNECTED_BY_ADMIN) {
    // Not a network drop: reconnecting by itself would undo what the administrator did.
    return { reason: 'disconnected_by_admin', error: false, wasConnected, code: ev.code, message: 'An administrator disconnected you. The session keeps running: reconnect from the list below when you are ready.' };
  }
  if (!opened) {
    return { reason: 'connection_lost', error: true, message: 'Could not connect to the session: the display gateway refused or could not be reached.' };
  }
  const why = ev.reason ? `: ${ev.reason}` : '';
  return { reason: 'connection_lost', error: true, wasConnected, code: ev.code, message: `The connection to the session was lost${why} (WebSocket code ${ev.code}).` };
}

/** The host sent something this client cannot read. */
export function protocolErrorEnd(why) {
  return { reason: 'protocol', error: true, message: `The session stopped because of a display protocol error: ${why}.` };
}

/** The socket could not even be made. */
export function cannotConnectEnd(e) {
  return { reason: 'connection_lost', error: true, message: `Cannot open the display connection: ${e.message}` };
}

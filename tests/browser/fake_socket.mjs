// The browser's WebSocket, as far as the display modules use it, for their Node tests (display,
// shadow, stream): records what is sent (raw bytes) and how it was closed; the test opens it,
// delivers server messages and drops it.

export class FakeSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static last = null; // the socket the code under test opened most recently

  constructor(url) {
    if (url === 'bad') throw new SyntaxError('bad url'); // as the browser's does for a malformed URL
    this.url = url;
    this.readyState = FakeSocket.CONNECTING;
    this.sent = [];
    this.closedWith = null;
    this.bufferedAmount = 0;
    FakeSocket.last = this;
  }

  send(buf) { this.sent.push(buf); }
  close(code, reason) {
    this.closedWith = { code, reason };
    this.readyState = FakeSocket.CLOSED;
  }
  open() {
    this.readyState = FakeSocket.OPEN;
    this.onopen?.();
  }
  /** A server message: an array of byte values becomes an ArrayBuffer; anything else (text, buffers) goes as is. */
  deliver(data) { this.onmessage?.({ data: Array.isArray(data) ? new Uint8Array(data).buffer : data }); }
  /** The connection ends without a close from this side (a network drop or the server closing). */
  drop(code) {
    this.readyState = FakeSocket.CLOSED;
    this.onclose?.({ code, reason: '' });
  }
}

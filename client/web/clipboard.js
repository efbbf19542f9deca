// The clipboard both ways: text copied in the session (ClipboardData, long texts in pieces) goes to
// the portal, and local text (the toolbar panel, a paste into the canvas, the local clipboard when
// the canvas gains focus) goes to the session. The last text either way is remembered so nothing
// echoes back and forth.

import { encodeClipboard } from './protocol.js';

/**
 * Needs:
 *   send(bytes)  the display channel;
 *   live()  true while input may flow (connected, not logging off);
 *   onClipboard(text)  text was copied in the session.
 */
export class ClipboardSync {
  #send;
  #live;
  #onClipboard;
  #last = null; // the session's clipboard as last sent or received
  #lastLocalRead = null; // the local clipboard as last read or written, so focus only syncs changes
  #incoming = ''; // pieces of a long text from the host
  #received = 0;
  #sent = 0;

  constructor({ send, live, onClipboard }) {
    this.#send = send;
    this.#live = live;
    this.#onClipboard = onClipboard;
  }

  /** The local clipboard is synced whenever `canvas` gains focus, until `signal` aborts. */
  attach(canvas, signal) {
    canvas.addEventListener('focus', () => this.#syncLocal(), { signal });
  }

  /**
   * Makes `text` the session's clipboard (CLIPBOARD and PRIMARY on the host). Skipped when it is
   * what the session already has. False when not live or the text is over 1 MiB.
   */
  send(text) {
    if (!this.#live() || typeof text !== 'string') return false;
    if (text === this.#last) return true;
    let pieces;
    try {
      pieces = encodeClipboard(text);
    } catch (e) {
      console.warn('clipboard not sent:', e.message);
      return false;
    }
    for (const p of pieces) this.#send(p);
    this.#last = text;
    this.#sent++;
    return true;
  }

  /** Text the browser's paste event brought (read from the local clipboard). */
  pasted(text) {
    this.#lastLocalRead = text;
    this.send(text);
  }

  /** A ClipboardData message (one piece of a text copied in the session). */
  received(m) {
    this.#incoming += m.text;
    if (m.more) return;
    const text = this.#incoming;
    this.#incoming = '';
    this.#last = text;
    this.#lastLocalRead = text; // the portal puts it on the local clipboard
    this.#received++;
    this.#onClipboard(text);
  }

  /** The figures the stats overlay shows. */
  snapshot() {
    return { clipboardReceived: this.#received, clipboardSent: this.#sent };
  }

  /**
   * Where the page may read the clipboard without asking (permission granted), the session gets
   * the local clipboard whenever the canvas gains focus, so a paste in the remote app has it.
   */
  async #syncLocal() {
    try {
      if (!navigator.clipboard?.readText || !navigator.permissions?.query) return;
      const st = await navigator.permissions.query({ name: 'clipboard-read' });
      if (st.state !== 'granted') return;
      const text = await navigator.clipboard.readText();
      // Only a change of the local clipboard since we last looked is news: text sent from the
      // toolbar panel meanwhile must not be overwritten by an older local clipboard.
      if (text && text !== this.#lastLocalRead) {
        this.#lastLocalRead = text;
        this.send(text);
      }
    } catch {
      // Not allowed here (no focus, no permission): the paste event and the toolbar remain.
    }
  }
}

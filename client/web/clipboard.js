// The clipboard both ways: text copied in the session (ClipboardData, long texts in pieces) goes to
// the portal, and local text (the toolbar panel, a paste into the canvas, the local clipboard when
// the canvas gains focus) goes to the session. Images too, as PNG, where the browser lets the page
// read and write them (navigator.clipboard.read/write with ClipboardItem, e.g. Chromium on HTTPS
// with the clipboard permissions); elsewhere an image copied in the session is reported, not
// placed. The last text and image either way are remembered so nothing echoes back and forth.

import { encodeClipboard, encodeClipboardImage, isPng } from './protocol.js';

const sameBytes = (a, b) => a !== null && b !== null && a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * Needs:
 *   send(bytes)  the display channel;
 *   live()  true while input may flow (connected, not logging off);
 *   onClipboard(text)  text was copied in the session;
 *   onClipboardImage(png)  an image was copied in the session (its PNG file, a Uint8Array).
 */
export class ClipboardSync {
  #send;
  #live;
  #onClipboard;
  #onClipboardImage;
  #last = null; // the session's clipboard text as last sent or received
  #lastImage = null; // ... and its image
  #lastLocalRead = null; // the local clipboard as last read or written, so focus only syncs changes
  #lastLocalImage = null;
  #incoming = ''; // pieces of a long text from the host
  #incomingImage = []; // pieces of an image from the host
  #received = 0;
  #sent = 0;

  constructor({ send, live, onClipboard, onClipboardImage = () => {} }) {
    this.#send = send;
    this.#live = live;
    this.#onClipboard = onClipboard;
    this.#onClipboardImage = onClipboardImage;
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

  /**
   * Makes the PNG image `png` (Uint8Array) the session's CLIPBOARD. Skipped when the session has
   * it already. False when not live, over 8 MiB or not a PNG file.
   */
  sendImage(png) {
    if (!this.#live() || !(png instanceof Uint8Array)) return false;
    if (sameBytes(png, this.#lastImage)) return true;
    let pieces;
    try {
      pieces = encodeClipboardImage(png);
    } catch (e) {
      console.warn('clipboard image not sent:', e.message);
      return false;
    }
    for (const p of pieces) this.#send(p);
    this.#lastImage = png;
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
    if (m.png) return this.#receivedImage(m);
    this.#incoming += m.text;
    if (m.more) return;
    const text = this.#incoming;
    this.#incoming = '';
    this.#last = text;
    this.#lastLocalRead = text; // the portal puts it on the local clipboard
    this.#received++;
    this.#onClipboard(text);
  }

  #receivedImage(m) {
    this.#incomingImage.push(m.png);
    if (m.more) return;
    const png = new Uint8Array(this.#incomingImage.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of this.#incomingImage) {
      png.set(p, at);
      at += p.length;
    }
    this.#incomingImage = [];
    if (!isPng(png)) return; // the host checks; a broken one is no picture to offer
    this.#lastImage = png;
    this.#lastLocalImage = png;
    this.#received++;
    this.#onClipboardImage(png);
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
      if (await this.#syncLocalImage()) return;
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

  /**
   * The local clipboard's image, when it holds image/png and no text (text wins, as on the host:
   * what offers both is meant as text). True when the clipboard held such an image.
   */
  async #syncLocalImage() {
    if (!navigator.clipboard?.read) return false;
    const items = await navigator.clipboard.read();
    const item = items.find((i) => i.types.includes('image/png'));
    if (!item || items.some((i) => i.types.includes('text/plain'))) return false;
    const png = new Uint8Array(await (await item.getType('image/png')).arrayBuffer());
    if (!sameBytes(png, this.#lastLocalImage)) {
      this.#lastLocalImage = png;
      this.sendImage(png);
    }
    return true;
  }
}

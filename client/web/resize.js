// Dynamic resize: the screen size the portal wants for the session (its display area in device
// pixels) against what the host has (ServerHello, Resize) and what it was last asked, so that a
// ResizeRequest goes out only when it would change something.

import { encodeResizeRequest, MIN_RESIZE_DIM, MAX_SCREEN_DIM } from './protocol.js';

/** A wanted screen dimension as the host would take it: whole, even, within 64..8192. */
export function screenDim(v) {
  return Math.max(MIN_RESIZE_DIM, Math.min(MAX_SCREEN_DIM, Math.floor(v))) & ~1;
}

/**
 * Whether to ask for `wanted` ({width, height}): not when it is what was last asked, nor (before
 * any ask) what the host announced.
 */
export function needsAsking(wanted, asked, announced) {
  const same = (a) => a && a.width === wanted.width && a.height === wanted.height;
  return !(same(asked) || (!asked && same(announced)));
}

/**
 * Needs send(bytes), the display channel, and live(), true while requests may go out (connected,
 * not logging off, not ended).
 */
export class ResizeRequests {
  #send;
  #live;
  #wanted = null;
  #asked = null;
  #announced = null; // the host's screen size as announced by ServerHello / Resize
  #resizes = 0;

  constructor({ send, live }) {
    this.#send = send;
    this.#live = live;
  }

  /** The portal wants a width x height screen (any positive numbers; rounded as the host would). */
  want(width, height) {
    if (!(width > 0 && height > 0)) return;
    this.#wanted = { width: screenDim(width), height: screenDim(height) };
    this.sendIfNeeded();
  }

  /** The host's screen size, from ServerHello. */
  announced(width, height) {
    this.#announced = { width, height };
  }

  /** A Resize message: the host's screen changed size. */
  resized(m) {
    this.#announced = { width: m.width, height: m.height };
    this.#resizes += 1;
  }

  /** Sends the wanted size if live and the host neither has it nor was asked for it already. */
  sendIfNeeded() {
    const w = this.#wanted;
    if (!w || !this.#live()) return;
    if (!needsAsking(w, this.#asked, this.#announced)) return;
    this.#asked = { ...w };
    this.#send(encodeResizeRequest(w.width, w.height));
  }

  /** The figures the stats overlay shows. */
  snapshot() {
    return { screenWidth: this.#announced?.width ?? 0, screenHeight: this.#announced?.height ?? 0, resizes: this.#resizes };
  }
}

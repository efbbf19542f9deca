// Dynamic resize: the screen size the portal wants for the session (its display area at
// sessionPixelRatio) against what the host has (ServerHello, Resize) and what it was last asked,
// so that a ResizeRequest goes out only when it would change something; and the rule for how many
// session pixels a CSS pixel gets, which decides how large the session's text is.
//
// Readability rule. On a mouse screen the session gets one pixel per device pixel and a DPI of 96
// x devicePixelRatio (launch `scale`): sharp, and text as large as a local app's. A session keeps
// the DPI it started with, though, so a phone (devicePixelRatio 3) reconnecting to a session
// started on a desktop (96 DPI) at device pixels would get a 1170-pixel-wide 96-DPI screen shrunk
// into 390 CSS px: ~4 px text. So on a touch-first screen (primary pointer coarse: phones and
// tablets) sessions are sized in CSS pixels and started at scale 1: a 390x804 screen at 96 DPI
// whoever started it, text at its desktop size in CSS px (softer on a 3x screen, and a ninth of
// the pixels to send). Pinch zoom (zoom.js) enlarges it further; where the session cannot follow
// the size (a VM desktop that refuses), display.js starts the view zoomed to one session pixel
// per CSS px (readableZoom).

import { encodeResizeRequest, MIN_RESIZE_DIM, MAX_SCREEN_DIM } from './protocol.js';

/** True on a touch-first screen (the primary pointer is coarse: a phone or a tablet). */
export function touchFirst(matchMedia = globalThis.matchMedia) {
  return typeof matchMedia === 'function' && matchMedia('(pointer: coarse)').matches;
}

/** Session pixels per CSS pixel: the device pixel ratio, or 1 on a touch-first screen (see above). */
export function sessionPixelRatio(dpr = globalThis.devicePixelRatio, touch = touchFirst()) {
  const d = Number.isFinite(dpr) && dpr > 0 ? dpr : 1;
  return touch ? 1 : d;
}

/**
 * The scale a new session is started at (POST launch `scale`): sessionPixelRatio, so the session's
 * DPI makes text as large as a local app's, in 1..4 as the broker takes it. Rounded to 1/100: a
 * zoomed page reports ratios like 1.100000023841858.
 */
export function launchScale(dpr = globalThis.devicePixelRatio, touch = touchFirst()) {
  return Math.round(Math.min(4, Math.max(1, sessionPixelRatio(dpr, touch))) * 100) / 100;
}

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

  /** True when a size was asked (or wanted) and the host's screen is still larger than that. */
  larger() {
    const w = this.#wanted;
    const a = this.#announced;
    return Boolean(w && a && (a.width > w.width || a.height > w.height));
  }

  /** The figures the stats overlay shows. */
  snapshot() {
    return { screenWidth: this.#announced?.width ?? 0, screenHeight: this.#announced?.height ?? 0, resizes: this.#resizes };
  }
}

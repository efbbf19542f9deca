// Client-side zoom of the session view (pinch on a touch screen): the canvas keeps the size the
// portal laid it out at and gets a CSS transform on top, translate(tx, ty) scale(s) from its
// top-left corner. The session does not see it: input.js maps pointer positions through the
// canvas's getBoundingClientRect, which includes the transform, so a tap on a zoomed view lands on
// the session pixel under the finger.

import { clamp } from './util.js';

export const MIN_ZOOM = 1;
export const MAX_ZOOM = 4;

/** The view not zoomed. */
export const IDENTITY = Object.freeze({ scale: 1, tx: 0, ty: 0 });

/**
 * `view` kept inside the canvas's laid-out box of width x height CSS px: the scale within 1..4 and
 * the zoomed picture covering the whole box (no black edge can be panned into sight).
 */
export function clampView(view, width, height) {
  const scale = clamp(view.scale, MIN_ZOOM, MAX_ZOOM);
  return {
    scale,
    tx: clamp(view.tx, width - width * scale, 0),
    ty: clamp(view.ty, height - height * scale, 0),
  };
}

/**
 * The view while two fingers pinch: `start` is the view when the pinch began, `from` and `to` the
 * fingers' midpoint and distance then and now ({x, y, distance}, x and y relative to the box's
 * untransformed top-left corner). The picture point that was under the first midpoint stays under
 * the fingers: spreading them zooms around it, moving them together pans.
 */
export function pinchView(start, from, to, width, height) {
  const scale = clamp(start.scale * (to.distance / Math.max(1, from.distance)), MIN_ZOOM, MAX_ZOOM);
  // The picture point under the first midpoint, in unzoomed CSS px of the box.
  const px = (from.x - start.tx) / start.scale;
  const py = (from.y - start.ty) / start.scale;
  return clampView({ scale, tx: to.x - px * scale, ty: to.y - py * scale }, width, height);
}

/** `view` zoomed to `scale` around the point (x, y) of the box (a start at a readable zoom). */
export function zoomAround(view, scale, x, y, width, height) {
  const px = (x - view.tx) / view.scale;
  const py = (y - view.ty) / view.scale;
  return clampView({ scale, tx: x - px * scale, ty: y - py * scale }, width, height);
}

/**
 * The zoom that shows one session pixel per CSS pixel of a canvas laid out `cssWidth` wide for a
 * `sessionWidth`-pixel screen (within 1x..4x): the readable start for a session that stays larger
 * than a phone asked (resize.js, readability rule).
 */
export function readableZoom(cssWidth, sessionWidth) {
  return cssWidth > 0 ? clamp(sessionWidth / cssWidth, MIN_ZOOM, MAX_ZOOM) : MIN_ZOOM;
}

/** The CSS transform of `view` (none when not zoomed, so the canvas keeps its crisp 1:1 path). */
export function viewTransform(view) {
  if (view.scale === 1 && view.tx === 0 && view.ty === 0) return '';
  return `translate(${view.tx}px, ${view.ty}px) scale(${view.scale})`;
}

/**
 * The zoom of one canvas, shared by every connection that draws on it (a reconnect keeps the
 * view). Applies itself as the canvas's CSS transform and re-clamps when the portal lays the
 * canvas out at another size.
 */
export class ViewZoom {
  static #byCanvas = new WeakMap();

  /** The ViewZoom of `canvas` (made on first use). */
  static of(canvas) {
    let z = ViewZoom.#byCanvas.get(canvas);
    if (!z) {
      z = new ViewZoom(canvas);
      ViewZoom.#byCanvas.set(canvas, z);
    }
    return z;
  }

  #canvas;
  #view = IDENTITY;
  #sessionId = null;

  constructor(canvas) {
    this.#canvas = canvas;
    canvas.style.transformOrigin = '0 0';
    if (typeof ResizeObserver === 'function') new ResizeObserver(() => this.set(this.#view)).observe(canvas);
  }

  /** The current view ({scale, tx, ty}). */
  get view() { return this.#view; }

  /** The canvas's laid-out size and untransformed top-left corner, in CSS px of the page. */
  box() {
    const r = this.#canvas.getBoundingClientRect();
    const v = this.#view;
    return { left: r.left - v.tx, top: r.top - v.ty, width: r.width / v.scale, height: r.height / v.scale };
  }

  /** Shows `view` (clamped to the box). */
  set(view) {
    const b = this.box();
    this.#view = b.width > 0 && b.height > 0 ? clampView(view, b.width, b.height) : IDENTITY;
    this.#canvas.style.transform = viewTransform(this.#view);
    this.#canvas.classList.toggle('zoomed', this.#view.scale > 1);
  }

  /** Back to the whole session in view. */
  reset() {
    this.set(IDENTITY);
  }

  /** A connection to session `id` began: a view zoomed for another session goes back to whole. */
  forSession(id) {
    if (id === this.#sessionId) return;
    this.#sessionId = id;
    if (viewTransform(this.#view) !== '') this.reset();
  }

  /** Zooms an unzoomed view to one session pixel per CSS px, at the session's top-left corner. */
  zoomToReadable() {
    if (this.#view.scale !== 1) return;
    const b = this.box();
    this.set(zoomAround(IDENTITY, readableZoom(b.width, this.#canvas.width), 0, 0, b.width, b.height));
  }
}

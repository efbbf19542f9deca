// The session's pointer shape, drawn by the browser as the canvas's CSS cursor so that moving the
// pointer costs no frame. Shapes (CursorShape messages) become blob: URLs (the portal's CSP
// allows blob: images, not data:), kept by shape; the newest shape wins even if an older one
// finishes encoding later.

const CURSOR_CACHE = 64; // cursor shapes kept as blob: URLs

/** The cache key of a CursorShape: the same id may come back with another size or hotspot. */
export function cursorKey(m) {
  return `${m.id}:${m.width}x${m.height}:${m.hotX},${m.hotY}`;
}

/**
 * The CSS cursor values for a shape ({url, hotX, hotY}) shown at `res` cursor-image pixels per CSS
 * pixel: one cursor pixel covers as much of the page as one canvas pixel (1/devicePixelRatio CSS
 * px at 1:1, more or less in fit mode). A plain url() cursor would take its pixels as CSS pixels,
 * i.e. twice the size and blurry on a HiDPI screen. `plain` is the fallback where image-set()
 * cursors are not understood; `scale` the resolution image-set() is given.
 */
export function cursorStyle(shape, res) {
  const scale = Math.round(res * 1e4) / 1e4;
  // CSS hotspots are CSS pixels, and Chromium keeps whole ones; floor keeps them inside the image.
  const hx = Math.floor(shape.hotX / res);
  const hy = Math.floor(shape.hotY / res);
  return {
    plain: `url(${shape.url}) ${shape.hotX} ${shape.hotY}, default`,
    imageSet: `image-set(url(${shape.url}) ${scale}x) ${hx} ${hy}, default`,
    scale,
  };
}

/** Cursor-image pixels per CSS pixel for a canvas of backing width `canvasWidth` laid out `cssWidth` wide. */
export function cursorResolution(canvasWidth, cssWidth, devicePixelRatio) {
  return cssWidth > 0 && canvasWidth > 0 ? canvasWidth / cssWidth : (devicePixelRatio || 1);
}

/** The client-drawn cursor of one canvas. */
export class CursorView {
  #canvas;
  #urls = new Map();
  #id = null;
  #shapes = 0;
  #seq = 0;
  #shape = null; // { id, width, height, hotX, hotY } of the last shape
  #shown = null; // { url, hotX, hotY } of the shape on the canvas (null: none or hidden)
  #scale = null; // cursor-image pixels per CSS pixel as last applied (image-set resolution)
  #observer = null;
  #closed = false;

  constructor(canvas) {
    this.#canvas = canvas;
  }

  /** From now on the cursor follows the canvas's CSS size (fit/1:1 toggles, window resizes, zoom). */
  observe() {
    if (typeof ResizeObserver !== 'function') return;
    this.#observer = new ResizeObserver(() => this.apply());
    this.#observer.observe(this.#canvas);
  }

  /** A CursorShape message: shows it (width 0: hides the pointer). */
  shape(m) {
    this.#shapes++;
    this.#id = m.id;
    this.#shape = { id: m.id, width: m.width, height: m.height, hotX: m.hotX, hotY: m.hotY };
    const seq = ++this.#seq;
    const show = (url) => {
      if (seq !== this.#seq || this.#closed) return;
      this.#shown = url ? { url, hotX: m.hotX, hotY: m.hotY } : null;
      this.apply();
      this.#canvas.dataset.cursorId = String(m.id);
    };
    if (m.width === 0) {
      show(null);
      return;
    }
    const key = cursorKey(m);
    const cached = this.#urls.get(key);
    if (cached) {
      show(cached);
      return;
    }
    const c = document.createElement('canvas');
    c.width = m.width;
    c.height = m.height;
    c.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(m.rgba), m.width, m.height), 0, 0);
    c.toBlob((blob) => {
      if (!blob) return;
      const url = URL.createObjectURL(blob);
      this.#urls.set(key, url);
      if (this.#urls.size > CURSOR_CACHE) {
        const [oldKey, oldUrl] = this.#urls.entries().next().value;
        this.#urls.delete(oldKey);
        URL.revokeObjectURL(oldUrl);
      }
      show(url);
    }, 'image/png');
  }

  /**
   * Sets the canvas's CSS cursor to the current shape at the scale the session's pixels are shown
   * at (cursorStyle). Called again whenever the canvas's CSS or backing size changes.
   */
  apply() {
    const c = this.#canvas;
    const shape = this.#shown;
    if (!shape) {
      c.style.cursor = this.#shape ? 'none' : '';
      this.#scale = null;
      return;
    }
    const rect = c.getBoundingClientRect();
    const style = cursorStyle(shape, cursorResolution(c.width, rect.width, globalThis.devicePixelRatio));
    // Where image-set() cursors are not understood the assignment is ignored and the 1x one stays.
    c.style.cursor = style.plain;
    c.style.cursor = style.imageSet;
    this.#scale = c.style.cursor.startsWith('image-set') ? style.scale : 1;
  }

  /** Stops following the canvas; shapes still encoding are not shown. */
  close() {
    this.#closed = true;
    this.#observer?.disconnect();
  }

  /** The figures the stats overlay shows. */
  snapshot() {
    return { cursorId: this.#id, cursor: this.#shape, cursorScale: this.#scale, cursorShapes: this.#shapes };
  }
}

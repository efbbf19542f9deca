// H.264 through WebCodecs: the decoder (configured from each keyframe's SPS), the conversion of
// frames that change most of the screen to RGBA, and drawing only the dirty rectangles of a
// decoded frame. Which frame paints when is the frame painter's business (frames.js).

import { clamp } from './util.js';

const FALLBACK_CODEC = 'avc1.42e01f'; // Constrained Baseline, level 3.1
const IMAGE_POOL = 4; // converted-frame buffers kept for reuse (as many as frames may be in flight)

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

/** The VideoDecoder configuration for a keyframe (a VideoFrame message). */
export function decoderConfig(m) {
  return {
    codec: codecFromAnnexB(m.data) ?? FALLBACK_CODEC,
    codedWidth: m.codedWidth,
    codedHeight: m.codedHeight,
    optimizeForLatency: true,
    // no description: the stream is Annex B with SPS/PPS in band
  };
}

/**
 * One WebCodecs VideoDecoder, created on the first keyframe and reconfigured only when a keyframe
 * changes codec or coded size. output(frame) gets each decoded VideoFrame (its timestamp is the
 * frame id); error(e) is called for failures of the decoder in use, not of one closed meanwhile.
 */
export class H264Decoder {
  #decoder = null;
  #config = null;
  #output;
  #error;

  constructor({ output, error }) {
    this.#output = output;
    this.#error = error;
  }

  /** False where the browser has no WebCodecs VideoDecoder. */
  static get supported() { return typeof VideoDecoder === 'function'; }

  /** True between a successful configure() and close(). */
  get active() { return this.#decoder !== null; }

  /** Creates or reconfigures the decoder for keyframe m; throws what VideoDecoder throws. */
  configure(m) {
    const config = decoderConfig(m);
    const old = this.#config;
    if (this.#decoder && old && old.codec === config.codec && old.codedWidth === config.codedWidth
        && old.codedHeight === config.codedHeight) {
      return;
    }
    if (!this.#decoder) {
      const decoder = new VideoDecoder({
        output: (frame) => this.#output(frame),
        error: (e) => { if (this.#decoder === decoder) this.#error(e); },
      });
      this.#decoder = decoder;
    }
    this.#decoder.configure(config);
    this.#config = config;
  }

  /** Queues frame m for decoding; throws what VideoDecoder.decode throws. */
  decode(m) {
    this.#decoder.decode(new EncodedVideoChunk({
      type: m.keyframe ? 'key' : 'delta',
      timestamp: m.frameId, // carried through to the output VideoFrame, which names the frame
      data: m.data,
    }));
  }

  close() {
    const d = this.#decoder;
    this.#decoder = null;
    this.#config = null;
    if (d && d.state !== 'closed') d.close();
  }
}

/**
 * The size a decoded frame is converted to RGBA at, or null when it is cheaper to draw it.
 * e: {width, height, reduced, dirty} of the VideoFrame message; f: the decoded VideoFrame.
 * Whole frames (no dirty list), frames whose dirty area is at least half the screen, and
 * reduced-resolution pictures (a quarter of the pixels, scaled up afterwards) are converted.
 */
export function wholeFrameSize(e, f) {
  const vr = f.visibleRect;
  const w = e.reduced ? f.displayWidth : e.width;
  const h = e.reduced ? f.displayHeight : e.height;
  if (!vr || vr.width !== w || vr.height !== h || f.displayWidth !== w || f.displayHeight !== h) return null;
  const area = e.dirty.reduce((sum, d) => sum + d.w * d.h, 0);
  if (!e.reduced && e.dirty.length > 0 && area < (e.width * e.height) / 2) return null; // cropped draws are cheaper
  return { width: w, height: h };
}

let rgbaCopyWorks = true;

/**
 * Frames that change most of the screen (keyframes, scrolling, video) are converted to RGBA with
 * VideoFrame.copyTo (a direct YUV->RGBA conversion) and painted with putImageData: for 1920x1040
 * that took 5 ms where drawImage of the VideoFrame took 12 (bench/web, loaded VM). A reduced-
 * resolution picture is converted whole too, then scaled up from a small canvas: drawImage of the
 * VideoFrame itself, scaled, took ~9 ms (bench/web). The buffers (8 MB each at 1080p) are reused.
 */
export class RgbaConverter {
  #pool = [];

  /**
   * Starts converting e.frame when that is the cheaper paint (see wholeFrameSize) and returns true;
   * when the copy is done, e.frame is closed and e.image holds the picture (or, where the browser
   * cannot convert, e.frame stays to be drawn), then done() runs. False: draw e.frame directly.
   */
  convert(e, done) {
    const f = e.frame;
    if (!rgbaCopyWorks || typeof f.copyTo !== 'function') return false;
    const size = wholeFrameSize(e, f);
    if (!size) return false;
    const image = this.#take(size.width, size.height);
    f.copyTo(image.data, { format: 'RGBA', colorSpace: 'srgb' }).then(() => {
      f.close(); // the frame goes back to the decoder as soon as it is copied
      e.frame = null;
      e.image = image;
    }, (err) => {
      // Older browsers cannot convert in copyTo: drawImage from now on.
      console.warn('VideoFrame.copyTo(RGBA) failed, drawing frames instead:', err);
      rgbaCopyWorks = false;
    }).finally(done);
    return true;
  }

  /** Takes back a converted picture once it is painted. */
  give(image) {
    if (this.#pool.length < IMAGE_POOL) this.#pool.push(image);
  }

  #take(width, height) {
    const i = this.#pool.findIndex((d) => d.width === width && d.height === height);
    return i >= 0 ? this.#pool.splice(i, 1)[0] : new ImageData(width, height);
  }
}

let videoCropWorks = true;

/**
 * Draws the dirty rectangles of a decoded H.264 frame (session pixels) on a 2D context. Drawing a
 * VideoFrame converts it from YUV to RGB, and Chromium converts the frame's whole visible area on
 * every drawImage even when a small source rectangle is asked for (20 dirty rows of a 1920x1040
 * frame took 400 ms, one took 20 ms; bench/web). So each rectangle is drawn from a VideoFrame
 * cropped to it (visibleRect: a view, no copy), which converts only that area; when the
 * rectangles cover most of the screen, one clipped draw of the whole frame is cheaper.
 * Returns 'crops' or 'clip' (what was done, for tests).
 */
export function drawVideoRects(ctx, frame, dirty, width, height) {
  const vr = frame.visibleRect;
  const area = dirty.reduce((sum, d) => sum + d.w * d.h, 0);
  if (videoCropWorks && vr && frame.displayWidth === width && frame.displayHeight === height
      && area < (width * height) / 2) {
    try {
      for (const d of dirty) {
        const x = clamp(d.x, 0, width);
        const y = clamp(d.y, 0, height);
        const w = Math.min(d.w, width - x);
        const h = Math.min(d.h, height - y);
        if (w <= 0 || h <= 0) continue;
        // A crop must start on a chroma sample: even coordinates, one pixel more where needed.
        const ax = (vr.x + x) & ~1;
        const ay = (vr.y + y) & ~1;
        const ox = vr.x + x - ax;
        const oy = vr.y + y - ay;
        const crop = new VideoFrame(frame, { visibleRect: { x: ax, y: ay, width: w + ox, height: h + oy } });
        try {
          ctx.drawImage(crop, ox, oy, w, h, x, y, w, h);
        } finally {
          crop.close();
        }
      }
      return 'crops';
    } catch (err) {
      // A browser that cannot crop frames: the clipped whole-frame draw from now on.
      console.warn('VideoFrame crop failed, drawing whole frames clipped:', err);
      videoCropWorks = false;
    }
  }
  ctx.save();
  ctx.beginPath();
  for (const d of dirty) ctx.rect(d.x, d.y, d.w, d.h);
  ctx.clip();
  ctx.drawImage(frame, 0, 0, width, height);
  ctx.restore();
  return 'clip';
}

// The paint queue: VideoFrame and TileFrame messages in arrival order, decoded (video.js,
// tiles.js), painted on the canvas strictly in that order and acknowledged (FrameAck with the
// arrival-to-painted time, which paces the host). Video decodes and tile decodes finish
// asynchronously and out of step with each other, so each frame waits in the queue until it and
// every frame before it is ready. Frames that cannot be painted are still acknowledged so that
// the host's flow control never stalls; a KeyframeRequest repairs the picture.

import { encodeFrameAck, encodeKeyframeRequest } from './protocol.js';
import { decodeTile } from './tiles.js';
import { H264Decoder, RgbaConverter, drawVideoRects } from './video.js';
import { displayStats } from './stats.js';
import { now } from './util.js';

const MAX_DECODE_FAILURES = 3; // in a row, without a frame decoded in between

/**
 * Paints one stream's frames on one canvas. Needs:
 *   send(bytes)  the display channel (FrameAck, KeyframeRequest);
 *   stats  the stream's StreamStats (decode and draw times, painted frames);
 *   onCanvasSize(width, height)  the canvas's backing store was resized to a new screen size;
 *   onFirstPaint()  the first frame is on the canvas;
 *   onFatal(end)  the stream cannot go on (no decoder in this browser): end it with this outcome.
 */
export class FramePainter {
  #canvas;
  #ctx;
  #send;
  #stats;
  #onCanvasSize;
  #onFirstPaint;
  #onFatal;
  #decoder;
  #converter = new RgbaConverter();
  #decodeFailures = 0;
  #keyframeRequested = false;
  #painted = 0;
  #queue = []; // frames in arrival order; painted and acknowledged strictly in that order
  #scaleCanvas = null; // holds a reduced-resolution picture while it is scaled up
  #closed = false;

  constructor(canvas, { send, stats, onCanvasSize, onFirstPaint, onFatal }) {
    this.#canvas = canvas;
    this.#ctx = canvas.getContext('2d', { alpha: false });
    this.#send = send;
    this.#stats = stats;
    this.#onCanvasSize = onCanvasSize;
    this.#onFirstPaint = onFirstPaint;
    this.#onFatal = onFatal;
    this.#decoder = new H264Decoder({ output: (frame) => this.#onDecoded(frame), error: (e) => this.#decoderFailed(e) });
  }

  /** Frames painted so far. */
  get painted() { return this.#painted; }

  /**
   * Sizes the canvas's backing store to the session's screen. Resizing a canvas clears it, so only
   * when the size really changes. CSS scaling (fit or 1:1) is the portal's business.
   */
  fit(width, height) {
    const c = this.#canvas;
    if (c.width === width && c.height === height) return;
    if (c.width !== width) c.width = width;
    if (c.height !== height) c.height = height;
    this.#onCanvasSize(width, height);
  }

  /** A VideoFrame message that arrived at `arrival`. */
  videoFrame(m, arrival = now()) {
    // A keyframe that lists dirty rectangles (the host switching picture size mid-motion) paints
    // only those, like a delta.
    const entry = { kind: 'video', frameId: m.frameId, width: m.width, height: m.height, reduced: m.codedWidth !== m.width || m.codedHeight !== m.height, dirty: m.dirty, done: false, frame: null, arrival, decodeStart: 0, behind: this.#queue.length };
    if (m.keyframe) {
      this.#keyframeRequested = false;
      if (!this.#configureDecoder(m)) return;
    }
    this.#queue.push(entry);
    if (!this.#decoder.active) {
      // Waiting for a keyframe after an error: this delta frame cannot be decoded.
      entry.done = true;
      this.#requestKeyframe();
      this.#pump();
      return;
    }
    try {
      entry.decodeStart = now();
      this.#decoder.decode(m);
    } catch (e) {
      this.#decoderFailed(e);
    }
  }

  /** A TileFrame message that arrived at `arrival`. */
  tileFrame(m, arrival = now()) {
    const entry = { kind: 'tiles', frameId: m.frameId, width: m.width, height: m.height, done: false, copies: m.copies, tiles: m.tiles, bitmaps: null, arrival, behind: this.#queue.length };
    this.#queue.push(entry);
    if (m.tiles.length === 0) {
      // Only copies (a scroll with no new rows): nothing to decode, paint now.
      entry.bitmaps = [];
      entry.done = true;
      entry.decoded = arrival;
      this.#pump();
      return;
    }
    const decodeStart = now();
    // All tiles decode at once (PNG here, png.js; JPEG on the browser's decoder threads); the frame
    // paints when the last is ready, so a TileFrame is one paint, never a partly updated screen.
    Promise.allSettled(m.tiles.map(decodeTile)).then((results) => {
      entry.bitmaps = results.map((r) => (r.status === 'fulfilled' ? r.value : null));
      entry.done = true;
      entry.decoded = now();
      this.#stats.tilesDecoded(entry.decoded - decodeStart);
      if (this.#closed) {
        this.#discard(entry);
        return;
      }
      const failed = results.filter((r) => r.status === 'rejected');
      if (failed.length > 0) {
        displayStats().decodeErrors += failed.length;
        console.warn(`frame ${m.frameId}: ${failed.length} tile(s) failed to decode:`, failed[0].reason);
        this.#requestKeyframe();
      }
      this.#pump();
    });
  }

  /** Stops: the decoder is closed and frames not painted yet are freed. */
  close() {
    this.#closed = true;
    this.#decoder.close();
    for (const e of this.#queue) this.#discard(e);
    this.#queue = [];
  }

  /** Creates or reconfigures the decoder for a keyframe; false if the stream had to end. */
  #configureDecoder(m) {
    if (!H264Decoder.supported) {
      this.#onFatal({
        reason: 'unsupported', error: true,
        message: 'This browser cannot decode the session video: WebCodecs (VideoDecoder) is missing. Use a current browser over HTTPS.',
      });
      return false;
    }
    try {
      this.#decoder.configure(m);
    } catch (e) {
      this.#decoderFailed(e);
    }
    return !this.#closed;
  }

  #onDecoded(frame) {
    const q = this.#queue;
    const i = q.findIndex((e) => e.kind === 'video' && !e.done && !e.frame && e.frameId === frame.timestamp);
    if (i < 0) {
      frame.close();
      return;
    }
    // Output comes in decode order, so earlier frames still waiting were dropped by the decoder.
    for (let j = 0; j < i; j++) if (q[j].kind === 'video' && !q[j].frame) q[j].done = true;
    const e = q[i];
    e.frame = frame;
    e.decoded = now();
    this.#stats.videoDecoded(e.decoded - e.decodeStart);
    this.#decodeFailures = 0;
    if (this.#converter.convert(e, () => this.#converted(e))) return; // painted once converted
    e.done = true;
    this.#pump();
  }

  #converted(e) {
    e.done = true;
    if (this.#closed) {
      this.#discard(e);
      return;
    }
    this.#pump();
  }

  #decoderFailed(err) {
    displayStats().decodeErrors++;
    console.warn('H.264 decoder error:', err);
    this.#decoder.close();
    for (const e of this.#queue) if (e.kind === 'video') e.done = true;
    if (++this.#decodeFailures > MAX_DECODE_FAILURES) {
      this.#onFatal({
        reason: 'unsupported', error: true,
        message: `The session video cannot be decoded in this browser: ${err?.message ?? err}`,
      });
      return;
    }
    this.#requestKeyframe();
    this.#pump();
  }

  #requestKeyframe() {
    if (this.#keyframeRequested) return;
    this.#keyframeRequested = true;
    displayStats().keyframeRequests++;
    this.#send(encodeKeyframeRequest());
  }

  #pump() {
    while (this.#queue.length > 0 && this.#queue[0].done) {
      const e = this.#queue.shift();
      this.#paint(e);
      // Each frame reports its arrival-to-painted time: the host sends the next frame when this
      // client is ready for it (pacing), and halves full-motion video for a client that cannot
      // paint it within its budget (software decoding).
      this.#send(encodeFrameAck(e.frameId, e.painted ? Math.max(1, (e.painted - e.arrival) * 1000) : 0));
    }
  }

  #paint(e) {
    const ctx = this.#ctx;
    if (e.image || e.frame) {
      this.fit(e.width, e.height);
      const start = now();
      if (e.image) {
        if (e.reduced) this.#paintScaled(e.image, e.dirty, e.width, e.height);
        else if (e.dirty.length === 0) ctx.putImageData(e.image, 0, 0);
        else for (const d of e.dirty) ctx.putImageData(e.image, 0, 0, d.x, d.y, d.w, d.h);
        this.#converter.give(e.image);
        e.image = null;
      } else {
        // A reduced-resolution picture is scaled up to the screen by these draws.
        if (e.dirty.length === 0) ctx.drawImage(e.frame, 0, 0, this.#canvas.width, this.#canvas.height);
        // Only what changed: elsewhere the canvas may hold lossless pixels the video would blur.
        else drawVideoRects(ctx, e.frame, e.dirty, e.width, e.height);
        e.frame.close();
      }
      this.#stats.videoDrawn(now() - start);
      displayStats().videoFrames++;
      if (e.reduced) displayStats().reducedVideoFrames++;
    } else if (e.bitmaps) {
      this.fit(e.width, e.height);
      const start = now();
      // Moved content first (scrolling): the canvas copies what it already shows.
      for (const c of e.copies) ctx.drawImage(this.#canvas, c.x, c.y, c.w, c.h, c.dx, c.dy, c.w, c.h);
      e.bitmaps.forEach((b, i) => {
        if (!b) return;
        const t = e.tiles[i];
        if (b instanceof ImageData) {
          ctx.putImageData(b, t.x, t.y); // decoded here at the tile's size (opaque: same as a draw)
        } else {
          ctx.drawImage(b, t.x, t.y, t.w, t.h);
          b.close();
        }
      });
      this.#stats.tilesDrawn(now() - start);
      displayStats().tileFrames++;
    } else {
      return;
    }
    const painted = now();
    e.painted = painted;
    this.#stats.framePainted(e, painted);
    globalThis.__porticoPaintHook?.({ kind: e.kind, frameId: e.frameId, arrival: e.arrival, decoded: e.decoded, painted, behind: e.behind, reduced: !!e.reduced, tiles: e.tiles?.length ?? 0 });
    if (this.#painted++ === 0) this.#onFirstPaint();
  }

  /** Paints a reduced-resolution RGBA picture scaled up to the width x height screen, only where dirty. */
  #paintScaled(image, dirty, width, height) {
    let small = this.#scaleCanvas;
    if (!small || small.width !== image.width || small.height !== image.height) {
      small = this.#scaleCanvas = new OffscreenCanvas(image.width, image.height);
    }
    small.getContext('2d').putImageData(image, 0, 0);
    const ctx = this.#ctx;
    if (dirty.length === 0) {
      ctx.drawImage(small, 0, 0, width, height);
      return;
    }
    const sx = image.width / width;
    const sy = image.height / height;
    for (const d of dirty) ctx.drawImage(small, d.x * sx, d.y * sy, d.w * sx, d.h * sy, d.x, d.y, d.w, d.h);
  }

  #discard(e) {
    e.frame?.close();
    e.bitmaps?.forEach((b) => b?.close?.()); // ImageData (png.js) has nothing to free
  }
}

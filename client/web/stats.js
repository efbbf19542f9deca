// Figures about one display stream, for the portal's stats overlay, the tests and bench/web: what
// arrived (fps, bitrate), how long decoding and painting took, arrival-to-painted per frame kind,
// round trips and the input-to-photon estimate. Plus the page-wide counters (displayStats) and
// the Ping bookkeeping (RoundTrips). Nothing here touches the canvas or the socket.

const STATS_SAMPLES = 30; // decode/paint/latency figures are medians over this many frames
const RATE_WINDOW_MS = 1000; // fps and bitrate are measured over the last second
const RTT_SAMPLES = 5; // the RTT shown is the median of the last few pongs
const INPUT_TO_PHOTON_MAX_MS = 1000; // a paint later than this after a key is not its echo
const PINGS_IN_FLIGHT = 8; // older unanswered pings are taken as lost

/** Median and 95th percentile of a list of numbers (null when empty). */
export function summarize(values) {
  if (values.length === 0) return { median: null, p95: null };
  const v = [...values].sort((a, b) => a - b);
  const at = (q) => v[Math.min(v.length - 1, Math.floor(q * v.length))];
  return { median: v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2, p95: at(0.95) };
}

/** Counters for tests and diagnostics, shared by all sessions of the page. */
export function displayStats() {
  globalThis.__portico ??= { videoFrames: 0, reducedVideoFrames: 0, tileFrames: 0, decodeErrors: 0, keyframeRequests: 0,
    paletteTiles: 0, pngTilesHere: 0, tilesByBrowser: 0 };
  return globalThis.__portico;
}

/** A bounded list of recent samples. */
export class Samples {
  #max;
  values = [];
  constructor(max = STATS_SAMPLES) { this.#max = max; }
  push(v) {
    this.values.push(v);
    if (this.values.length > this.#max) this.values.shift();
  }
}

/**
 * The figures of one stream. The stream reports what happens (arrived, decoded, painted, a key
 * pressed, a round trip measured); snapshot() summarises them at a given time.
 */
export class StreamStats {
  #arrivals = []; // [time, bytes] within RATE_WINDOW_MS
  #paints = []; // times of paints within RATE_WINDOW_MS
  #frames = 0;
  #bytes = 0;
  #decodeMs = new Samples();
  #tileDecodeMs = new Samples();
  #tilePaintMs = new Samples();
  #videoPaintMs = new Samples();
  #arrivalToPaintMs = new Samples();
  #videoArrivalToPaintMs = new Samples();
  #tileArrivalToPaintMs = new Samples();
  #lastKind = null;
  #lastVideoReduced = false;
  #rttMs = new Samples(RTT_SAMPLES);
  #inputToPhotonMs = new Samples();
  #keyPressedAt = 0; // the last key press not yet seen painted

  /** A message of `bytes` arrived at time t. */
  arrived(t, bytes) {
    this.#arrivals.push([t, bytes]);
    this.#bytes += bytes;
  }

  /** H.264 decode time of one frame (chunk handed to the decoder → its output). */
  videoDecoded(ms) { this.#decodeMs.push(ms); }

  /** Decode time of all tiles of one TileFrame. */
  tilesDecoded(ms) { this.#tileDecodeMs.push(ms); }

  /** Draw-call time of one video frame. */
  videoDrawn(ms) { this.#videoPaintMs.push(ms); }

  /** Draw-call time of one tile frame (copies and tiles). */
  tilesDrawn(ms) { this.#tilePaintMs.push(ms); }

  /** A key went to the host at time t; the next frame arriving after it is taken as its echo. */
  keyPressed(t) { this.#keyPressedAt ||= t; }

  /** A Ping's round trip. */
  roundTrip(ms) { this.#rttMs.push(ms); }

  /** Frame `e` ({kind, arrival, reduced}) is on the canvas since `painted`. */
  framePainted(e, painted) {
    this.#frames++;
    this.#paints.push(painted);
    this.#lastKind = e.kind;
    if (e.kind === 'video') this.#lastVideoReduced = !!e.reduced;
    this.#arrivalToPaintMs.push(painted - e.arrival);
    (e.kind === 'video' ? this.#videoArrivalToPaintMs : this.#tileArrivalToPaintMs).push(painted - e.arrival);
    // Input-to-photon (estimate): the first frame that arrived after a key press is taken as its
    // echo. On an otherwise still screen that is exact; with other motion it is a lower bound.
    if (this.#keyPressedAt && e.arrival > this.#keyPressedAt) {
      const ms = painted - this.#keyPressedAt;
      if (ms <= INPUT_TO_PHOTON_MAX_MS) this.#inputToPhotonMs.push(ms);
      this.#keyPressedAt = 0;
    }
  }

  /** Frames painted so far. */
  get frames() { return this.#frames; }

  /** The figures at time t (rates over the last second before t). */
  snapshot(t) {
    while (this.#arrivals.length && t - this.#arrivals[0][0] > RATE_WINDOW_MS) this.#arrivals.shift();
    while (this.#paints.length && t - this.#paints[0] > RATE_WINDOW_MS) this.#paints.shift();
    const bytes = this.#arrivals.reduce((sum, [, n]) => sum + n, 0);
    return {
      fps: this.#paints.length * (1000 / RATE_WINDOW_MS),
      kbps: (bytes * 8) / RATE_WINDOW_MS,
      frames: this.#frames,
      bytes: this.#bytes,
      lastKind: this.#lastKind,
      lastVideoReduced: this.#lastVideoReduced,
      decodeMs: summarize(this.#decodeMs.values),
      tileDecodeMs: summarize(this.#tileDecodeMs.values),
      tilePaintMs: summarize(this.#tilePaintMs.values),
      videoPaintMs: summarize(this.#videoPaintMs.values),
      arrivalToPaintMs: summarize(this.#arrivalToPaintMs.values),
      videoArrivalToPaintMs: summarize(this.#videoArrivalToPaintMs.values),
      tileArrivalToPaintMs: summarize(this.#tileArrivalToPaintMs.values),
      rttMs: summarize(this.#rttMs.values).median,
      inputToPhotonMs: summarize(this.#inputToPhotonMs.values),
    };
  }
}

/** Pings in flight by id, so that a Pong gives the round trip of a ping of ours. */
export class RoundTrips {
  #nextId = 1;
  #pings = new Map();

  /** The next Ping to send at page time tMs: its id and the time in microseconds of this page's clock. */
  ping(tMs) {
    const id = this.#nextId++ >>> 0;
    const time = Math.round(tMs * 1000);
    this.#pings.set(id, time);
    if (this.#pings.size > PINGS_IN_FLIGHT) this.#pings.delete(this.#pings.keys().next().value); // lost pongs
    return { id, time };
  }

  /** The round trip in ms that Pong `m` ({id, clientTime}) received at tMs measures, or null when it is not ours or stale. */
  pong(m, tMs) {
    const sent = this.#pings.get(m.id);
    if (sent === undefined || sent !== m.clientTime) return null;
    this.#pings.delete(m.id);
    return tMs - sent / 1000;
  }
}

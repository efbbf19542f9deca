// True input-to-photon in the browser (issue 17): a key event injected into Chromium through CDP
// (Input.dispatchKeyEvent, the way a real keyboard's events enter the renderer), timed in the page
// at its keydown, to the first animation frame in which the canvas's pixels in the text area differ
// from what they were before the key. The pixels are read back with getImageData at every
// requestAnimationFrame while the key waits: what the page's own canvas holds when the browser
// composites a frame, not any timing the display client reports about itself. The client's paint hook is only used to
// break the time down (arrival, decoded, painted of the echo frame), never as the photon time.
//
// The probe must not change when the browser runs the page's tasks. Chromium defers every task of
// a page (WebSocket messages included) after a discrete input event until the next frame when a
// frame was already requested as the event was handled (Blink's DeferRendererTasksAfterInput, on by
// default). A requestAnimationFrame loop running all the time did that: the echo's message waited
// for the frame after the key, was painted just after it and seen a whole frame later, which an
// idle portal page (nothing requests frames) never suffers. So the probe asks for frames only from
// a timer the keydown posts (outside the input event's task) until the pixels change, and the key
// is released once its photon is seen (a real key is held ~100 ms, longer than that; at the latest
// after `holdMs`, well before X's autorepeat): CDP's back-to-back keyUp would be a second input
// event landing while the probe's frame is pending.
// An echo painted before the probe started watching is counted (`watched_late`, expected 0).
// Beside the photon, each sample keeps its frame's BeginFrame time (rAF's argument): that frame
// reaches a 60 Hz display by the next vsync at the latest (`key_to_frame_deadline`).
//
// Used by web_bench.mjs (app session) and desktop_photon.mjs (VM desktop).

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Installs the probe in the page: a paint-hook recorder (if none yet), a capture-phase keydown
 * listener, and a requestAnimationFrame loop (started by a timer after each probed key's keydown)
 * that compares a region of the canvas with what it held before the key. Runs in the page.
 */
function installProbe({ region, maxMs }) {
  const canvas = document.querySelector('#screen');
  const ctx = canvas.getContext('2d'); // the client's own context (same object)
  window.__benchPaints ??= [];
  if (!globalThis.__porticoPaintHook) globalThis.__porticoPaintHook = (p) => window.__benchPaints.push(p);
  const P = window.__photon = { region, key: null, samples: [], frameGaps: [], base: null, armed: false, stopped: false };
  const read = () => new Uint32Array(ctx.getImageData(region.x, region.y, region.w, region.h).data.buffer);
  // Called (page.evaluate) on a still screen just before a key is sent: the pixels it must change.
  P.arm = () => {
    P.base = read();
    P.paintsFrom = window.__benchPaints.length; // a paint between here and the key is a stray one
    P.armed = true;
  };
  window.addEventListener('keydown', (e) => {
    if (!P.armed) return; // only the probe's own keys
    P.armed = false;
    // event.timeStamp: when the browser created the event (CDP dispatch); the listener's clock
    // beside it shows how long the event took to reach the page's main thread.
    const k = P.key = { t0: e.timeStamp, listener: performance.now(), base: P.base, paintsFrom: P.paintsFrom, code: e.code, watching: null };
    // Not here: a frame requested inside the input event's task is what makes Chromium defer.
    setTimeout(() => {
      k.watching = performance.now();
      requestAnimationFrame((t) => loop(k, t, null));
    }, 0);
  }, { capture: true });
  const loop = (k, frameTime, previous) => {
    if (P.stopped || P.key !== k) return;
    const t = performance.now();
    // Between BeginFrame times: the first frame after a pause comes at once (a missed BeginFrame,
    // its time the last vsync), so gaps in performance.now() would understate the interval.
    if (previous != null) P.frameGaps.push(frameTime - previous);
    const now = read();
    let changed = 0;
    for (let i = 0; i < now.length; i++) if (now[i] !== k.base[i]) changed++;
    const paints = () => window.__benchPaints.slice(k.paintsFrom);
    if (changed > 0) {
      P.samples.push({ t0: k.t0, listener: k.listener, photon: t, frameTime, changedPx: changed, code: k.code, watching: k.watching, paints: paints() });
      P.key = null;
    } else if (t - k.t0 > maxMs) {
      P.samples.push({ t0: k.t0, listener: k.listener, photon: null, code: k.code, watching: k.watching, paints: paints() });
      P.key = null;
    } else {
      requestAnimationFrame((ft) => loop(k, ft, frameTime));
    }
  };
}

// CDP key events as a US keyboard sends them (what playwright's keyboard does, without its waits).
const KEYS = {
  Backspace: { key: 'Backspace', code: 'Backspace', windowsVirtualKeyCode: 8 },
  Enter: { key: 'Enter', code: 'Enter', windowsVirtualKeyCode: 13, text: '\r' },
};
function keyOf(ch) {
  if (KEYS[ch]) return KEYS[ch];
  if (!/^[a-z]$/.test(ch)) throw new Error(`photon probe: no key for ${ch}`);
  return { key: ch, code: `Key${ch.toUpperCase()}`, windowsVirtualKeyCode: ch.toUpperCase().charCodeAt(0), text: ch };
}

export async function keyDown(cdp, ch) {
  const k = keyOf(ch);
  await cdp.send('Input.dispatchKeyEvent', { type: k.text ? 'keyDown' : 'rawKeyDown', ...k, unmodifiedText: k.text });
}

export async function keyUp(cdp, ch) {
  const k = keyOf(ch);
  await cdp.send('Input.dispatchKeyEvent', { type: 'keyUp', key: k.key, code: k.code, windowsVirtualKeyCode: k.windowsVirtualKeyCode });
}

export async function pressKey(cdp, ch) {
  await keyDown(cdp, ch);
  await keyUp(cdp, ch);
}

/** Resolves when the canvas has had no paint for `quietMs` (up to `maxMs`); true if it went quiet. */
async function waitQuiet(page, quietMs, maxMs) {
  const deadline = Date.now() + maxMs;
  while (Date.now() < deadline) {
    const since = await page.evaluate(() => {
      const p = window.__benchPaints.at(-1);
      return p ? performance.now() - p.painted : Infinity;
    });
    if (since >= quietMs) return true;
    await sleep(Math.max(5, quietMs - since));
  }
  return false;
}

/**
 * The region whose pixels the probe watches: the rows a typed key changes (found by typing one
 * key and diffing the whole canvas), padded by `pad` pixels and across the whole width, so that
 * keys typed at any column of that line are seen. The key is erased again (Backspace).
 */
export async function findTextRegion(page, cdp, { pad = 4, settleMs = 400 } = {}) {
  const snap = () => page.evaluate(() => {
    const c = document.querySelector('#screen');
    return Array.from(new Uint32Array(c.getContext('2d').getImageData(0, 0, c.width, c.height).data.buffer));
  });
  const size = await page.evaluate(() => ({ w: document.querySelector('#screen').width, h: document.querySelector('#screen').height }));
  const before = await snap();
  await pressKey(cdp, 'x');
  await sleep(settleMs);
  const after = await snap();
  await pressKey(cdp, 'Backspace');
  await sleep(settleMs);
  let y0 = Infinity;
  let y1 = -1;
  for (let i = 0; i < after.length; i++) {
    if (after[i] === before[i]) continue;
    const y = Math.floor(i / size.w);
    y0 = Math.min(y0, y);
    y1 = Math.max(y1, y);
  }
  if (y1 < 0) throw new Error('photon probe: typing a key changed no pixel on the canvas');
  const y = Math.max(0, y0 - pad);
  return { x: 0, y, w: size.w, h: Math.min(size.h, y1 + 1 + pad) - y };
}

/**
 * Page time -> wall time (ms since the epoch), to join with the host's frame log: {at, offset}, the
 * page time it was read at and Date.now() - (timeOrigin + performance.now()). Date.now() counts
 * whole milliseconds: read just as it ticks, it is the wall time to a few microseconds (read
 * anywhere, up to 1 ms early, which moved time between the breakdown's stages). Read at the start
 * and the end of the keys, so that a drift of the wall clock against the monotonic one (NTP
 * slewing) is interpolated, not charged to one stage. Runs in the page.
 */
function pageClockOffset() {
  let best = null;
  for (let i = 0; i < 5; i++) {
    const before = Date.now();
    let tick;
    while ((tick = Date.now()) === before);
    const at = performance.now();
    const offset = tick - (performance.timeOrigin + at);
    if (!best || offset > best.offset) best = { at, offset };
  }
  return best;
}

/**
 * Types `count` keys (a letter, then Backspace, alternately: the line never grows or scrolls), each
 * on a still screen (no paint for `quietMs`) after a random 0..`jitterMs` wait, so every sample is
 * independent and its phase to the animation frames is random. Returns the raw samples (page
 * times, ms) and the animation frame interval.
 */
export async function measurePhoton(page, cdp, { count, region, quietMs = 150, jitterMs = 50, maxMs = 2000, holdMs = 200 }) {
  await page.evaluate(installProbe, { region, maxMs });
  const clockAtStart = await page.evaluate(pageClockOffset);
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  let notQuiet = 0;
  for (let i = 0; i < count; i++) {
    if (!(await waitQuiet(page, quietMs, 10 * quietMs + 5000))) notQuiet++;
    await sleep(Math.random() * jitterMs);
    const before = await page.evaluate(() => { window.__photon.arm(); return window.__photon.samples.length; });
    const ch = i % 2 === 0 ? letters[(i / 2) % 26] : 'Backspace';
    await keyDown(cdp, ch);
    const down = Date.now();
    const deadline = down + maxMs + 1000;
    let held = true;
    while ((await page.evaluate(() => window.__photon.samples.length)) === before) {
      if (Date.now() > deadline) throw new Error(`photon probe: key ${i} never reached the page (no keydown)`);
      // Released once seen (see the top of this file), or after a typist's hold: a key held past
      // the X server's autorepeat delay (500-660 ms) would type itself again.
      if (held && Date.now() - down > holdMs) {
        await keyUp(cdp, ch);
        held = false;
      }
      await sleep(10);
    }
    if (held) await keyUp(cdp, ch);
  }
  const out = await page.evaluate(() => {
    const P = window.__photon;
    P.stopped = true;
    const gaps = P.frameGaps.slice().sort((a, b) => a - b);
    return { samples: P.samples, frameIntervalMs: gaps[Math.floor(gaps.length / 2)] ?? null,
      timeOrigin: performance.timeOrigin };
  });
  const clockAtEnd = await page.evaluate(pageClockOffset);
  return { ...out, notQuiet, pageClock: [clockAtStart, clockAtEnd] };
}

/**
 * One sample's figures (ms): key -> photon (pixels), key -> painted (the echo frame's draw calls),
 * and the echo frame's own times. The echo is the first frame that arrived after the key and was
 * painted before the pixels were seen changed.
 */
export function photonSample(s, timeOrigin, frameIntervalMs) {
  const r = (x) => (x == null ? null : Math.round(x * 100) / 100);
  const echo = s.photon == null ? null : s.paints.find((p) => p.arrival > s.t0 && p.painted <= s.photon);
  // A paint that arrived before the key but was painted after it would be another change: flagged.
  const stray = s.paints.filter((p) => p.arrival <= s.t0).length;
  // The probe asks for frames from a timer after the keyup: an echo painted before then might have
  // been on screen a frame earlier than seen (a penalty, not a flattery): counted, expected 0.
  const watchedLate = echo != null && s.watching != null && echo.painted < s.watching;
  return {
    code: s.code,
    key_to_photon: r(s.photon == null ? null : s.photon - s.t0),
    key_to_listener: r(s.listener - s.t0),
    changed_px: s.changedPx ?? 0,
    stray_paints: stray,
    watched_late: watchedLate,
    key_to_watching: r(s.watching == null ? null : s.watching - s.t0),
    key_to_frame_deadline: r(s.photon == null || frameIntervalMs == null ? null : s.frameTime + frameIntervalMs - s.t0),
    echo: echo ? {
      kind: echo.kind, frame_id: echo.frameId, tiles: echo.tiles,
      key_to_painted: r(echo.painted - s.t0),
      arrival_to_decoded: r(echo.decoded != null ? echo.decoded - echo.arrival : null),
      decoded_to_painted: r(echo.decoded != null ? echo.painted - echo.decoded : null),
      painted_to_photon: r(s.photon - echo.painted),
      // Wall-clock (ms since the epoch) of the key and of the echo's arrival, for the host's log.
      key_wall_ms: timeOrigin + s.t0,
      arrival_wall_ms: timeOrigin + echo.arrival,
    } : null,
  };
}

// Web client benchmark, driven by bench/web/web_bench.py (which starts a real broker + session
// host): headless Chromium at 1920x1080 against a real xterm session.
//   - input-to-photon (photon.mjs): keys injected with CDP, from the page's keydown to the first
//     animation frame in which the canvas's pixels in the text line changed; each key's echo
//     frame is reported too, for the breakdown;
//   - arrival-to-painted per frame kind (H.264 while the terminal scrolls at full speed and while
//     ffplay plays a 1920x1040 clip over it, PNG tiles while typing), from the display client's paint hook (frames.js)
//     (performance.now() at WebSocket message arrival and after the frame is drawn on the canvas).
// Environment: PORTICO_URL, PORTICO_USER, PORTICO_PASSWORD, BENCH_CLIP (the clip's path);
// optional BENCH_KEYS (default 100), BENCH_TYPING_ONLY=1 (input-to-photon only).
// Prints one JSON document on stdout.

import { createRequire } from 'node:module';
import { findTextRegion, measurePhoton, photonSample } from './photon.mjs';

// playwright-core is installed for the browser tests (tests/browser/node_modules).
const { chromium } = createRequire(new URL('../../tests/browser/package.json', import.meta.url))('playwright-core');

const CHROMIUM = process.env.PORTICO_CHROMIUM ?? '/usr/bin/chromium';
const KEYS = Number(process.env.BENCH_KEYS ?? 100);
const SCROLL_SECONDS = Number(process.env.BENCH_SCROLL_SECONDS ?? 8);
const CLIP = process.env.BENCH_CLIP; // a 1920x1040 video clip web_bench.py made; played with ffplay
const CLIP_SECONDS = Number(process.env.BENCH_CLIP_SECONDS ?? 8);
const TYPING_ONLY = process.env.BENCH_TYPING_ONLY === '1'; // only the typing phase (input-to-photon)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  const page = await (await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1920, height: 1080 } })).newPage();
  await page.goto(process.env.PORTICO_URL, { waitUntil: 'load' });
  await page.fill('#username', process.env.PORTICO_USER);
  await page.fill('#password', process.env.PORTICO_PASSWORD);
  await page.click('#login');
  await page.locator('#resources-view').waitFor({ state: 'visible', timeout: 10_000 });
  await page.getByRole('button', { name: 'Launch Terminal (application)' }).click();
  await page.locator('#session-view').waitFor({ state: 'visible', timeout: 20_000 });
  await page.waitForFunction(() => (window.__porticoDebug.stats()?.frames ?? 0) > 0, null, { timeout: 30_000 });
  // The session follows the window: wait for the resize to the full 1920-wide area to settle.
  await page.waitForFunction(() => {
    const s = window.__porticoDebug.stats();
    return s && s.screenWidth === 1920 && s.width === 1920;
  }, null, { timeout: 20_000 });
  await sleep(1500);
  const canvas = page.locator('#screen');
  await canvas.focus();

  await page.evaluate(() => {
    window.__benchPaints = [];
    globalThis.__porticoPaintHook = (p) => {
      window.__benchPaints.push(p);
      // The next animation frame is the one that composites the canvas with this paint in it (an
      // upper bound of when it reaches the screen); reported beside arrival-to-painted.
      requestAnimationFrame(() => { p.frame = performance.now(); });
    };
  });
  const size = await page.evaluate(() => window.__porticoDebug.stats());

  // --- typing: tiles, and true input-to-photon (bench/web/photon.mjs) --------------------------
  const cdp = await page.context().newCDPSession(page);
  const region = await findTextRegion(page, cdp);
  const typingFrom = await page.evaluate(() => window.__benchPaints.length);
  const photon = await measurePhoton(page, cdp, { count: KEYS, region });
  const photonSamples = photon.samples.map((s) => photonSample(s, photon.timeOrigin, photon.frameIntervalMs));
  const sessionId = await page.evaluate(() => window.__porticoDebug.sessionId());
  const changed = photonSamples.filter((s) => s.changed_px > 0).length;
  await sleep(300);

  // --- full-speed scrolling: H.264 ---------------------------------------------------------------
  const typeCommand = async (cmd) => {
    for (const ch of cmd) {
      if (ch === '"') await page.keyboard.press('Shift+Quote');
      else if (ch === "'") await page.keyboard.press('Quote');
      else if (ch === ';') await page.keyboard.press('Semicolon');
      else await page.keyboard.type(ch);
    }
    await page.keyboard.press('Enter');
  };
  const scrollFrom = await page.evaluate(() => window.__benchPaints.length);
  if (!TYPING_ONLY) {
    await typeCommand(`timeout ${SCROLL_SECONDS} sh -c 'while :; do seq -s " " 1 500; done'; clear`);
    await sleep(SCROLL_SECONDS * 1000 + 2000);
  }

  // --- a video clip (what H.264 is for): ffplay in the session, over the terminal -------------
  const videoFrom = await page.evaluate(() => window.__benchPaints.length);
  if (!TYPING_ONLY) {
    await typeCommand(`ffplay -loglevel error -an -noborder -autoexit -left 0 -top 0 -x 1920 -y 1040 ${CLIP}; clear`);
    await sleep(CLIP_SECONDS * 1000 + 4000);
  }

  const paints = await page.evaluate(() => window.__benchPaints);
  paints.forEach((p, i) => { p.phase = i >= videoFrom ? 'video' : i >= scrollFrom ? 'scroll' : i >= typingFrom ? 'typing' : 'start'; });
  const stats = await page.evaluate(() => window.__porticoDebug.stats());
  const counters = await page.evaluate(() => ({ ...window.__portico }));
  await page.click('#session-menu-toggle').catch(() => {}); // the session menu holds Log off
  await page.click('#logoff').catch(() => {});
  await page.click('#logoff-confirm').catch(() => {});
  await sleep(500);
  await browser.close();

  // Raw samples (ms); web_bench.py summarises them, pooled over --runs.
  const r = (x) => Math.round(x * 100) / 100;
  const of = (k, which = () => true) => {
    const ps = paints.filter((p) => p.kind === k && which(p));
    return {
      arrival_to_painted: ps.map((p) => r(p.painted - p.arrival)),
      arrival_to_next_animation_frame: ps.filter((p) => p.frame).map((p) => r(p.frame - p.arrival)),
      arrival_to_decoded: ps.filter((p) => p.decoded).map((p) => r(p.decoded - p.arrival)),
      decoded_to_painted: ps.filter((p) => p.decoded).map((p) => r(p.painted - p.decoded)),
      frames_ahead_at_arrival: ps.map((p) => p.behind ?? 0),
      tiles_per_frame: ps.map((p) => p.tiles ?? 0),
    };
  };
  const result = {
    viewport: '1920x1080',
    session: `${size.screenWidth}x${size.screenHeight}`,
    chromium: browser.version?.() ?? null,
    // H.264 frames split by picture size: the host halves full-motion video for a client whose
    // acks show it paints full-size frames slower than 10 ms (reduced-resolution motion).
    samples: {
      h264: of('video'), h264_full: of('video', (p) => !p.reduced), h264_reduced: of('video', (p) => p.reduced),
      h264_scrolling: of('video', (p) => p.phase === 'scroll'), h264_video_clip: of('video', (p) => p.phase === 'video'),
      tiles: of('tiles'), tiles_while_typing: of('tiles', (p) => p.phase === 'typing'),
      tiles_other: of('tiles', (p) => p.phase !== 'typing'),     },
    // One entry per key: key -> pixels changed (photon) and the echo frame's times.
    photon: photonSamples,
    photon_region: region,
    photon_frame_interval_ms: photon.frameIntervalMs,
    photon_not_quiet: photon.notQuiet,
    page_time_origin_ms: photon.timeOrigin,
    page_clock: photon.pageClock, // [{at, offset}] at the start and end of the keys (photon.mjs)
    session_id: sessionId,
    keys: KEYS,
    keys_with_pixels_changed: changed,
    rtt_ms_median: r(stats.rttMs),
    decode_errors: counters.decodeErrors,
    counters,
  };
  console.log(JSON.stringify(result));
}

main().catch((e) => {
  console.error(`web bench failed: ${e.stack ?? e}`);
  process.exit(1);
});

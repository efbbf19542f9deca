// True input-to-photon in the browser for a VM desktop (issue 17), driven by bench/web/web_bench.py
// --desktop: headless Chromium launches "Desktop" (the desktop guest image in QEMU on the session
// host, TCG where KVM is not usable), clicks into the guest's terminal (the image places it at
// +700+380) and types keys through the stream; each key is timed from its keydown in the page to
// the canvas pixels changing (bench/web/photon.mjs).
// Environment: PORTICO_URL, PORTICO_USER, PORTICO_PASSWORD; optional BENCH_KEYS (default 100).
// Prints one JSON document on stdout.

import { createRequire } from 'node:module';
import { findTextRegion, measurePhoton, photonSample } from './photon.mjs';

const { chromium } = createRequire(new URL('../../tests/browser/package.json', import.meta.url))('playwright-core');

const CHROMIUM = process.env.PORTICO_CHROMIUM ?? '/usr/bin/chromium';
const KEYS = Number(process.env.BENCH_KEYS ?? 100);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves once the canvas has not changed for quietMs (checked every 500 ms). */
async function settle(page, quietMs, maxMs) {
  const hash = () => page.evaluate(() => {
    const c = document.querySelector('#screen');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let h = 2166136261;
    for (let i = 0; i < d.length; i += 64) h = Math.imul(h ^ d[i] ^ (d[i + 1] << 8), 16777619);
    return h;
  });
  const deadline = Date.now() + maxMs;
  let last = null;
  let since = Date.now();
  while (Date.now() < deadline) {
    const h = await hash();
    if (h !== last) { last = h; since = Date.now(); }
    if (Date.now() - since >= quietMs) return;
    await sleep(500);
  }
  throw new Error(`the desktop did not settle within ${maxMs / 1000} s`);
}

async function main() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  const page = await (await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } })).newPage();
  await page.goto(process.env.PORTICO_URL, { waitUntil: 'load' });
  await page.fill('#username', process.env.PORTICO_USER);
  await page.fill('#password', process.env.PORTICO_PASSWORD);
  await page.click('#login');
  await page.locator('#resources-view').waitFor({ state: 'visible', timeout: 10_000 });
  await page.locator('button.resource', { has: page.locator('.tile-name', { hasText: /^Desktop$/ }) }).click();
  await page.locator('#session-view').waitFor({ state: 'visible', timeout: 60_000 });
  await page.waitForFunction(() => (window.__porticoDebug.stats()?.frames ?? 0) > 0, null, { timeout: 120_000 });
  await page.evaluate(() => {
    window.__benchPaints = [];
    globalThis.__porticoPaintHook = (p) => window.__benchPaints.push(p);
  });
  // The desktop with its windows, then quiet (a TCG guest is slow to open them).
  await settle(page, 5000, 300_000);
  const canvas = page.locator('#screen');
  const box = await canvas.boundingBox();
  const size = await page.evaluate(() => ({ w: document.querySelector('#screen').width, h: document.querySelector('#screen').height }));
  // Into the guest's terminal (as tests/browser/desktop.test.mjs does), then quiet again.
  await canvas.click({ position: { x: (1000 * box.width) / size.w, y: (560 * box.height) / size.h } });
  await settle(page, 3000, 60_000);

  const cdp = await page.context().newCDPSession(page);
  // A TCG guest echoes slowly: wait longer for the region's key, and for quiet before each key.
  const region = await findTextRegion(page, cdp, { settleMs: 3000 });
  const photon = await measurePhoton(page, cdp, { count: KEYS, region, quietMs: 500, jitterMs: 100, maxMs: 5000 });
  const sessionId = await page.evaluate(() => window.__porticoDebug.sessionId());
  const counters = await page.evaluate(() => ({ ...window.__portico }));
  await page.click('#session-menu-toggle').catch(() => {}); // the session menu holds Log off
  await page.click('#logoff').catch(() => {});
  await page.click('#logoff-confirm').catch(() => {});
  await sleep(1000);
  await browser.close();
  console.log(JSON.stringify({
    session: `${size.w}x${size.h}`,
    photon: photon.samples.map((s) => photonSample(s, photon.timeOrigin, photon.frameIntervalMs)),
    photon_region: region,
    photon_frame_interval_ms: photon.frameIntervalMs,
    photon_not_quiet: photon.notQuiet,
    page_clock: photon.pageClock, // [{at, offset}] at the start and end of the keys (photon.mjs)
    page_time_origin_ms: photon.timeOrigin,
    session_id: sessionId,
    decode_errors: counters.decodeErrors,
  }));
}

main().catch((e) => {
  console.error(`desktop photon bench failed: ${e.stack ?? e}`);
  process.exit(1);
});

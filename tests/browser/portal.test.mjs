// End-to-end browser test of the portal and the session view (issue 6) in real headless Chromium at
// deviceScaleFactor 2, against a real broker and session host:
//   keyboard-only login, tiles + search, failure messages (no host, launch failed, refused ticket),
//   HiDPI backing store and 1:1 mode without blur, the cursor at the canvas's pixel scale, text at
//   DPR 2 as readable as at DPR 1 (the session runs at 192 dpi: its text rows are about twice as
//   tall in device pixels as those of the same Terminal launched at deviceScaleFactor 1), the
//   stats overlay, automatic reconnect to the same session after the display WebSocket drops, the
//   send-keys menu (Ctrl+W reaches the shell),
//   Ctrl+Alt+Del, disconnect / reconnect / log off from the sessions list.
//
// Environment: PORTICO_URL, PORTICO_USER, PORTICO_PASSWORD, PORTICO_WORKDIR (an existing folder the
// typed commands write FILE1..FILE3 into), PORTICO_ARTIFACTS (screenshots).
// Exit status 0 and "portal test passed" on success, 1 with the reason otherwise, 77 (skipped) when
// everything ran and passed except a part this machine cannot do (PORTICO_NO_SS_KILL=1, see below).

import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { TestFailure, fail, log, sessionAction, sleep, typeText, waitFor, environment as requiredEnvironment } from './helpers.mjs';

const CHROMIUM = process.env.PORTICO_CHROMIUM ?? '/usr/bin/chromium';
// The session follows the window (dynamic resize): its size is the screen area in device pixels,
// known once the session is up.
let SESSION_WIDTH = 0;
let SESSION_HEIGHT = 0;

const consoleLines = [];
// What this run left out: a test that skipped a part did not pass (exit 77, never under CI=true).
const untested = [];

// --- canvas inspection (runs in the page) ------------------------------------------------------

function canvasStats() {
  const c = document.querySelector('#screen');
  const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
  const [r0, g0, b0] = data;
  let nonBlack = 0;
  let differFirst = 0;
  let hash = 2166136261;
  for (let i = 0; i < data.length; i += 4) {
    const r = data[i]; const g = data[i + 1]; const b = data[i + 2];
    if (r + g + b > 48) nonBlack++;
    if (Math.abs(r - r0) + Math.abs(g - g0) + Math.abs(b - b0) > 48) differFirst++;
    hash = Math.imul(hash ^ (r | (g << 8) | (b << 16)), 16777619);
  }
  return { width: c.width, height: c.height, nonBlack, differFirst, hash };
}

function snapshotCanvas() {
  const c = document.querySelector('#screen');
  window.__snapshot = c.getContext('2d').getImageData(0, 0, c.width, c.height);
}

function pixelsChangedSinceSnapshot() {
  const c = document.querySelector('#screen');
  const now = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const before = window.__snapshot.data;
  if (now.length !== before.length) return now.length / 4;
  let changed = 0;
  for (let i = 0; i < now.length; i += 4) {
    if (Math.abs(now[i] - before[i]) + Math.abs(now[i + 1] - before[i + 1])
        + Math.abs(now[i + 2] - before[i + 2]) > 48) changed++;
  }
  return changed;
}

function environment() {
  const names = ['PORTICO_URL', 'PORTICO_USER', 'PORTICO_PASSWORD', 'PORTICO_WORKDIR', 'PORTICO_ARTIFACTS'];
  const env = requiredEnvironment(names);
  if (!fs.existsSync(env.PORTICO_WORKDIR)) fail(`PORTICO_WORKDIR does not exist: ${env.PORTICO_WORKDIR}`);
  return env;
}

async function errorText(page) {
  const error = page.locator('#error');
  return (await error.isVisible()) ? (await error.textContent()).trim() : '';
}

async function activeId(page) {
  return page.evaluate(() => document.activeElement?.id || document.activeElement?.className || '');
}

/** Presses Tab until the focused element matches selector; checks it shows a visible focus ring. */
async function tabTo(page, selector, max = 25) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const found = await page.evaluate((sel) => {
      const a = document.activeElement;
      if (!a || !a.matches(sel)) return null;
      const cs = getComputedStyle(a);
      return { outline: cs.outlineStyle, width: cs.outlineWidth };
    }, selector);
    if (found) {
      if (found.outline === 'none' || found.width === '0px') fail(`${selector} has no visible focus outline`);
      return;
    }
  }
  fail(`could not reach ${selector} with the Tab key`);
}

async function waitFile(file, content, ms = 20_000) {
  await waitFor(`${file} to contain ${JSON.stringify(content)}`, ms, () => {
    try {
      return fs.readFileSync(file, 'utf8') === content;
    } catch {
      return false;
    }
  });
}

async function waitPicture(page, what) {
  return waitFor(what, 30_000, async () => {
    if (!(await page.locator('#session-view').isVisible())) fail(`the session ended: ${await errorText(page) || '(no message)'}`);
    const s = await page.evaluate(canvasStats);
    return s.nonBlack > 200 || s.differFirst > 200 ? s : null;
  });
}

async function settle(page) {
  let previous = (await page.evaluate(canvasStats)).hash;
  const until = Date.now() + 5_000;
  while (Date.now() < until) {
    await sleep(600);
    const { hash } = await page.evaluate(canvasStats);
    if (hash === previous) return;
    previous = hash;
  }
}

/** Pixels that differ between the canvas's own backing store and what Chromium put on screen. */
async function blurCheck(page) {
  const before = (await page.evaluate(canvasStats)).hash;
  const png = await page.locator('#screen').screenshot();
  const after = (await page.evaluate(canvasStats)).hash;
  if (before !== after) return null; // the picture changed meanwhile; try again
  return page.evaluate(async (b64) => {
    // The portal's CSP forbids data: images; createImageBitmap of a Blob is not subject to it.
    const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
    const img = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
    img.naturalWidth = img.width;
    img.naturalHeight = img.height;
    const c = document.querySelector('#screen');
    const off = new OffscreenCanvas(img.naturalWidth, img.naturalHeight);
    const octx = off.getContext('2d');
    octx.drawImage(img, 0, 0);
    const shot = octx.getImageData(0, 0, img.naturalWidth, img.naturalHeight).data;
    const own = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    if (img.naturalWidth !== c.width || img.naturalHeight !== c.height) {
      return { size: `${img.naturalWidth}x${img.naturalHeight}`, differ: -1 };
    }
    let differ = 0;
    for (let i = 0; i < own.length; i += 4) {
      if (Math.abs(own[i] - shot[i]) + Math.abs(own[i + 1] - shot[i + 1]) + Math.abs(own[i + 2] - shot[i + 2]) > 24) differ++;
    }
    return { size: `${img.naturalWidth}x${img.naturalHeight}`, differ };
  }, png.toString('base64'));
}

/** Runs a shell command in the remote terminal; returns what it wrote to `file` (trimmed). */
async function remoteOutput(page, command, file) {
  fs.rmSync(file, { force: true });
  await typeText(page, `(${command}) > ${file}.tmp 2>&1; mv ${file}.tmp ${file}`);
  await page.keyboard.press('Enter');
  return waitFor(`the output of "${command}"`, 20_000, () => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : ''));
}

/**
 * How large the session's text is: the X display's DPI, Xft.dpi, GDK_SCALE and the xterm's rows
 * (stty size) at the session height, i.e. the device pixels one text row takes on the canvas.
 */
async function measureText(page, file, sessionHeight) {
  const out = await remoteOutput(page, 'xdpyinfo | grep resolution; xprop -root RESOURCE_MANAGER; echo "gdk=$GDK_SCALE"; stty size', file);
  const dpi = /resolution:\s+(\d+)x(\d+) dots per inch/.exec(out);
  const xft = /Xft\.dpi:(?:\\t|\s)+(\d+)/.exec(out); // xprop shows the tab as \t
  const gdk = /gdk=(\d*)/.exec(out);
  const size = /^(\d+) (\d+)$/m.exec(out);
  if (!dpi || !xft || !gdk || !size) fail(`cannot read the session's DPI and terminal size from: ${JSON.stringify(out)}`);
  const rows = Number(size[1]);
  return { dpi: Number(dpi[1]), xftDpi: Number(xft[1]), gdkScale: gdk[1], rows, cols: Number(size[2]), rowPx: sessionHeight / rows };
}

/** Waits until the session has the screen area's size in device pixels; returns it. */
async function sessionFollowsWindow(page) {
  return waitFor('the session to follow the window', 20_000, () => page.evaluate(() => {
    const a = document.querySelector('#screen-area');
    const dim = (v, max) => Math.max(64, Math.min(max, Math.floor(v * devicePixelRatio))) & ~1;
    const w = dim(a.clientWidth, 3840);
    const h = dim(a.clientHeight, 2160);
    const st = window.__porticoDebug.stats();
    return st && st.screenWidth === w && st.screenHeight === h && st.width === w && st.height === h ? { w, h } : null;
  }));
}

/** Collects the JSON bodies of POST /api/v1/launch that the page sends. */
function recordLaunches(page) {
  const bodies = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/v1/launch') bodies.push(r.postDataJSON());
  });
  return bodies;
}

async function run(page, env, browser) {
  const art = (name) => path.join(env.PORTICO_ARTIFACTS, name);
  const file = (n) => path.join(env.PORTICO_WORKDIR, `FILE${n}`);
  const launches = recordLaunches(page);

  // --- keyboard-only login -------------------------------------------------------------------
  await page.goto(env.PORTICO_URL, { waitUntil: 'load' });
  await page.locator('#login-view').waitFor({ state: 'visible', timeout: 10_000 });
  if ((await activeId(page)) !== 'username') fail('the user name field is not focused on the login view');
  await page.keyboard.type(env.PORTICO_USER);
  await page.keyboard.press('Tab');
  await page.keyboard.type(env.PORTICO_PASSWORD);
  await page.keyboard.press('Enter');
  await page.locator('#resources-view').waitFor({ state: 'visible', timeout: 10_000 });
  log('logged in with the keyboard only');

  // --- H.264 dirty rectangles: the cropped draws put exactly the frame's pixels where it changed ---
  // (video.js draws small updates from VideoFrames cropped to each rectangle; odd coordinates
  // need an even crop origin.) Compared with a clipped whole-frame draw, in this browser.
  const crops = await page.evaluate(async () => {
    const { drawVideoRects } = await import(new URL('video.js', location.href).href);
    const W = 320; const H = 180;
    const buf = new Uint8Array((W * H * 3) / 2);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) buf[y * W + x] = (x * 3 + y * 5) & 255;
    for (let i = W * H; i < buf.length; i++) buf[i] = (i * 13) & 255;
    const frame = new VideoFrame(buf, { format: 'I420', codedWidth: W, codedHeight: H, timestamp: 0 });
    const dirty = [{ x: 3, y: 5, w: 17, h: 9 }, { x: 100, y: 41, w: 64, h: 33 }, { x: 301, y: 171, w: 19, h: 9 }];
    const canvas = () => {
      const g = new OffscreenCanvas(W, H).getContext('2d', { alpha: false });
      g.fillStyle = '#f0f';
      g.fillRect(0, 0, W, H);
      return g;
    };
    const a = canvas();
    const how = drawVideoRects(a, frame, dirty, W, H);
    const b = canvas();
    b.beginPath();
    for (const d of dirty) b.rect(d.x, d.y, d.w, d.h);
    b.clip();
    b.drawImage(frame, 0, 0);
    frame.close();
    const pa = a.getImageData(0, 0, W, H).data;
    const pb = b.getImageData(0, 0, W, H).data;
    let differ = 0;
    for (let i = 0; i < pa.length; i += 4) if (Math.max(...[0, 1, 2].map((k) => Math.abs(pa[i + k] - pb[i + k]))) > 2) differ++;
    return { how, differ };
  });
  log(`H.264 dirty rectangles drawn by ${crops.how}: ${crops.differ} px differ from a clipped whole-frame draw`);
  if (crops.how !== 'crops') fail(`dirty rectangles were drawn by ${crops.how}, not from cropped frames`);
  if (crops.differ !== 0) fail(`cropped draws differ from the frame in ${crops.differ} px`);

  // --- tiles, labels ----------------------------------------------------------------------------
  const tile = page.getByRole('button', { name: 'Launch Terminal (application)' });
  if ((await tile.count()) !== 1) fail('no tile labelled "Launch Terminal (application)"');
  const icon = await tile.locator('.tile-icon').getAttribute('data-letter'); // drawn by CSS (label in name)
  if (icon !== 'T') fail(`tile icon shows ${JSON.stringify(icon)}, expected "T"`);
  if ((await page.getByLabel('Search').count()) !== 1) fail('the search box has no label "Search"');
  if (!(await page.locator('#no-sessions').isVisible())) fail('"No sessions" not shown for a fresh user');

  // --- failure messages: no host (503), launch failed (502), refused ticket (real host) -------
  const mocked = [
    [503, { error: { code: 'no_host', message: 'no connected host offers Terminal with free capacity' } }, /no session host is available/],
    [502, { error: { code: 'launch_failed', message: 'xterm: not found' } }, /failed to start it \(xterm: not found\)/],
  ];
  for (const [status, body, expected] of mocked) {
    await page.route('**/api/v1/launch', (route) => route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(body) }));
    await tile.click();
    await page.locator('#error').waitFor({ state: 'visible', timeout: 5_000 });
    const text = await errorText(page);
    if (!expected.test(text)) fail(`HTTP ${status} shown as ${JSON.stringify(text)}`);
    log(`HTTP ${status} ${body.error.code}: "${text}"`);
    await page.unroute('**/api/v1/launch');
  }
  // A real launch whose ticket is corrupted on the way: the real host refuses it.
  await page.route('**/api/v1/launch', async (route) => {
    const response = await route.fetch();
    const json = await response.json();
    json.ticket = `${json.ticket.split('.')[0]}.AAAA`;
    await route.fulfill({ response, json });
  });
  await tile.click();
  await waitFor('the refused-ticket message', 15_000, async () => /refused the connection.*ticket_invalid/.test(await errorText(page)));
  log(`refused ticket: "${await errorText(page)}"`);
  await page.unroute('**/api/v1/launch');
  if (!(await page.locator('#resources-view').isVisible())) fail('not back in the portal after a refused ticket');

  // --- search with the keyboard -------------------------------------------------------------
  await tabTo(page, '#search');
  await page.keyboard.type('zzz');
  if (await tile.isVisible()) fail('"zzz" still shows the Terminal tile');
  if (!(await page.locator('#no-match').isVisible())) fail('no "Nothing matches" message for "zzz"');
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Backspace');
  await page.keyboard.type('TERM');
  if (!(await tile.isVisible())) fail('"TERM" hides the Terminal tile');
  const count = await page.textContent('#search-count');
  log(`search works ("zzz" → none, "TERM" → ${count})`);
  // The refused launch left a running session: it is listed.
  await waitFor('the refused launch\'s session in the list', 5_000, async () => (await page.locator('#sessions li').count()) === 1);
  await page.screenshot({ path: art('portal.png') });
  await page.keyboard.press('Tab');
  const tileFocus = await page.evaluate(() => {
    const a = document.activeElement;
    return a?.matches('button.resource') ? getComputedStyle(a).outlineStyle : null;
  });
  if (!tileFocus) fail('Tab from the search box does not reach the tile');
  if (tileFocus === 'none') fail('the focused tile shows no focus outline');
  await page.keyboard.press('Enter');
  log('launched Terminal with Enter');

  // --- session, HiDPI ------------------------------------------------------------------------
  await waitFor('the session view', 15_000, async () => {
    const err = await errorText(page);
    if (err) fail(`launch failed: ${err}`);
    return page.locator('#session-view').isVisible();
  });
  await waitPicture(page, 'the first picture');
  await waitFor('the session to be connected', 10_000, () => page.evaluate(() => window.__porticoDebug.connected()));
  const sid = await page.evaluate(() => window.__porticoDebug.sessionId());
  if (!sid) fail('no session id exposed');
  const wanted = await sessionFollowsWindow(page);
  SESSION_WIDTH = wanted.w;
  SESSION_HEIGHT = wanted.h;
  log(`session follows the window: ${SESSION_WIDTH}x${SESSION_HEIGHT} device px`);
  await settle(page);
  const hidpi = await page.evaluate(() => {
    const c = document.querySelector('#screen');
    const r = c.getBoundingClientRect();
    return { dpr: devicePixelRatio, w: c.width, h: c.height, cssW: r.width, cssH: r.height, rendering: getComputedStyle(c).imageRendering };
  });
  log(`fit mode: ${JSON.stringify(hidpi)}`);
  if (hidpi.dpr !== 2) fail(`devicePixelRatio is ${hidpi.dpr}, expected 2`);
  if (hidpi.w !== SESSION_WIDTH || hidpi.h !== SESSION_HEIGHT) fail(`canvas backing store ${hidpi.w}x${hidpi.h}, expected ${SESSION_WIDTH}x${SESSION_HEIGHT}`);
  if (Math.abs(hidpi.cssW / hidpi.cssH - SESSION_WIDTH / SESSION_HEIGHT) > 0.01) fail('fit mode distorts the aspect ratio');
  // The client-drawn cursor (xterm's I-beam) covers as many device pixels as the session pixels
  // under it: image-set() at canvas px per CSS px, hotspot in CSS px (a plain url() cursor would
  // be shown at 2x and blurred on this DPR-2 page).
  const screenBox = await page.locator('#screen').boundingBox();
  await page.mouse.move(screenBox.x + screenBox.width / 3, screenBox.y + screenBox.height / 3);
  await page.mouse.move(screenBox.x + screenBox.width / 2, screenBox.y + screenBox.height / 2);
  const cursorOf = () => page.evaluate(() => {
    const c = document.querySelector('#screen');
    const shape = window.__porticoDebug.stats().cursor;
    const m = /^image-set\(url\("blob:[^"]+"\) ([\d.]+)(?:x|dppx)\) (\d+) (\d+), default$/.exec(c.style.cursor);
    if (!shape || shape.width === 0 || !m) return null;
    return { css: c.style.cursor.replace(/blob:[^"]+/, 'blob:…'), res: Number(m[1]), hotX: Number(m[2]), hotY: Number(m[3]), shape,
      pxPerCss: c.width / c.getBoundingClientRect().width };
  });
  const checkCursor = (cur, mode) => {
    if (Math.abs(cur.res - cur.pxPerCss) > 0.001) fail(`${mode}: cursor drawn at ${cur.res}x, the canvas shows ${cur.pxPerCss} px per CSS px`);
    if (Math.abs(cur.hotX - cur.shape.hotX / cur.res) >= 1 || Math.abs(cur.hotY - cur.shape.hotY / cur.res) >= 1) {
      fail(`${mode}: cursor hotspot ${cur.hotX},${cur.hotY} CSS px does not match ${cur.shape.hotX},${cur.shape.hotY} image px at ${cur.res}x`);
    }
  };
  const fitCursor = await waitFor('a cursor shape drawn at the canvas scale', 10_000, cursorOf);
  log(`fit mode cursor: ${fitCursor.shape.width}x${fitCursor.shape.height} ${fitCursor.css}`);
  checkCursor(fitCursor, 'fit mode');
  await sessionAction(page, '#scale-mode');
  const oneCursor = await waitFor('the cursor to follow 1:1 mode', 5_000, async () => {
    const cur = await cursorOf();
    return cur && Math.abs(cur.res - 2) < 0.001 ? cur : null;
  });
  log(`1:1 mode cursor: ${oneCursor.css}`);
  checkCursor(oneCursor, '1:1 mode');
  const one = await page.evaluate(() => {
    const c = document.querySelector('#screen');
    const r = c.getBoundingClientRect();
    return { devW: r.width * devicePixelRatio, devH: r.height * devicePixelRatio, rendering: getComputedStyle(c).imageRendering };
  });
  log(`1:1 mode: ${JSON.stringify(one)}`);
  if (one.devW !== SESSION_WIDTH || one.devH !== SESSION_HEIGHT) fail(`1:1 mode covers ${one.devW}x${one.devH} device px`);
  if (one.rendering !== 'pixelated') fail(`1:1 mode image-rendering is ${one.rendering}`);
  const blur = await waitFor('a stable picture to compare', 10_000, () => blurCheck(page), 500);
  log(`1:1 on-screen vs backing store: ${blur.size}, ${blur.differ} px differ`);
  if (blur.differ < 0 || blur.differ > (SESSION_WIDTH * SESSION_HEIGHT) / 1000) fail(`1:1 mode is not pixel exact: ${JSON.stringify(blur)}`);
  await page.screenshot({ path: art('session-1to1-dpr2.png') });
  // Shown at half that size (as fit mode does in a smaller window), the cursor follows: 4 canvas
  // px per CSS px. The toolbar's mode switch below lays the canvas out again.
  await page.evaluate(() => {
    const c = document.querySelector('#screen');
    const r = c.getBoundingClientRect();
    c.style.width = `${r.width / 2}px`;
    c.style.height = `${r.height / 2}px`;
  });
  const halfCursor = await waitFor('the cursor to follow a smaller canvas', 5_000, async () => {
    const cur = await cursorOf();
    return cur && Math.abs(cur.res - 4) < 0.001 ? cur : null;
  });
  log(`canvas at half size: cursor ${halfCursor.css}`);
  checkCursor(halfCursor, 'half-size canvas');
  await sessionAction(page, '#scale-mode');

  // --- readable, not just sharp: the session runs at the browser's DPR -------------------------
  const launched = launches.at(-1);
  if (launched?.scale !== 2) fail(`the launch asked for scale ${launched?.scale} at DPR 2 (${JSON.stringify(launched)})`);
  await page.locator('#screen').focus();
  const text2 = await measureText(page, path.join(env.PORTICO_WORKDIR, 'dpi2'), SESSION_HEIGHT);
  log(`DPR 2 session: ${text2.dpi} dpi, Xft.dpi ${text2.xftDpi}, GDK_SCALE=${text2.gdkScale}, xterm ${text2.cols}x${text2.rows}, `
    + `${text2.rowPx.toFixed(1)} device px per text row`);
  if (text2.dpi !== 192 || text2.xftDpi !== 192) fail(`the DPR-2 session runs at ${text2.dpi} dpi / Xft.dpi ${text2.xftDpi}, expected 192`);
  if (text2.gdkScale !== '2') fail(`GDK_SCALE is "${text2.gdkScale}" in the DPR-2 session, expected 2`);
  await page.keyboard.type('clear');
  await page.keyboard.press('Enter');
  await typeText(page, 'echo The quick brown fox jumps over the lazy dog 0123456789; cat /etc/os-release');
  await page.keyboard.press('Enter');
  await settle(page);
  await page.screenshot({ path: art('session-dpr2-readable.png') });

  // --- stats overlay by keyboard shortcut ----------------------------------------------------
  const canvas = page.locator('#screen');
  await canvas.focus();
  const box = await canvas.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.keyboard.press('Control+Alt+Shift+KeyS');
  await page.locator('#stats').waitFor({ state: 'visible', timeout: 3_000 });
  await typeText(page, `echo one > ${file(1)}`);
  await page.keyboard.press('Enter');
  await waitFile(file(1), 'one\n');
  log('FILE1 written by the typed command');
  await sleep(700);
  const stats = await page.evaluate(() => window.__porticoDebug.stats());
  const shown = Object.fromEntries(await page.locator('#stats dd').evaluateAll((dds) => dds.map((d) => [d.dataset.stat, d.textContent])));
  log(`stats overlay: ${JSON.stringify(shown)}`);
  if (!(stats.frames > 0) || !(stats.arrivalToPaintMs.median >= 0)) fail(`stats not collected: ${JSON.stringify(stats)}`);
  if (stats.decodeMs.median === null && stats.tilePaintMs.median === null) fail('neither decode nor tile paint times measured');
  for (const k of ['fps', 'bitrate', 'frames', 'decode (H.264)', 'tile paint', 'arrival→painted']) {
    if (!(k in shown)) fail(`the overlay does not show ${k}`);
  }
  await page.screenshot({ path: art('session-stats.png') });
  await page.keyboard.press('Control+Alt+Shift+KeyS');
  if (await page.locator('#stats').isVisible()) fail('the shortcut does not hide the overlay');

  // --- drop the display connection: reconnect to the same session -----------------------------
  await settle(page);
  await page.evaluate(snapshotCanvas);
  const framesBefore = (await page.evaluate(() => window.__portico.videoFrames));
  await page.evaluate(() => window.__porticoDebug.dropConnection());
  await waitFor('"Reconnecting…"', 3_000, async () => /Reconnecting/.test(await page.textContent('#status')));
  const during = await page.evaluate(canvasStats);
  if (during.nonBlack < 200) fail('the canvas lost its picture while reconnecting');
  log(`dropped; status "${await page.textContent('#status')}", canvas kept (${during.nonBlack} non-black px)`);
  await waitFor('the reconnect', 30_000, async () => {
    const err = await errorText(page);
    if (err) fail(`reconnect failed: ${err}`);
    return page.evaluate(() => window.__porticoDebug.connected() && !window.__porticoDebug.reconnecting());
  });
  const sid2 = await page.evaluate(() => window.__porticoDebug.sessionId());
  if (sid2 !== sid) fail(`reconnected to session ${sid2}, expected ${sid}`);
  const framesAfter = await page.evaluate(() => window.__portico.videoFrames);
  if (!(framesAfter > framesBefore)) fail('no fresh (key)frame was painted after the reconnect');
  await settle(page);
  const changed = await page.evaluate(pixelsChangedSinceSnapshot);
  log(`reconnected to the same session ${sid}; ${changed} px differ from before the drop; status "${await page.textContent('#status')}"`);
  if (changed > (SESSION_WIDTH * SESSION_HEIGHT) / 100) fail(`the picture after reconnect differs from before (${changed} px): earlier text lost?`);
  await canvas.focus();
  await typeText(page, `echo two > ${file(2)}`);
  await page.keyboard.press('Enter');
  await waitFile(file(2), 'two\n');
  if (fs.readFileSync(file(1), 'utf8') !== 'one\n') fail('FILE1 changed');
  log('FILE2 written after the reconnect; FILE1 intact');

  // A real network failure: the kernel aborts Chromium's TCP connections to the broker (ss -K,
  // needs CAP_NET_ADMIN; PORTICO_NO_SS_KILL=1 opts out where that is not available). Opting out
  // turns the result into "skipped" (77), and under CI=true, where the test runs as root, into a
  // failure: the drop is what this part tests.
  if (process.env.PORTICO_NO_SS_KILL === '1') {
    if (process.env.CI === 'true') fail('PORTICO_NO_SS_KILL=1 under CI=true: the real TCP drop must be tested in CI');
    untested.push('the real TCP drop (PORTICO_NO_SS_KILL=1)');
    log('real TCP drop NOT tested (PORTICO_NO_SS_KILL=1): the test will report itself skipped, not passed');
  } else {
    const port = new URL(env.PORTICO_URL).port;
    const socketsOfChromium = () => execFileSync('ss', ['-tnpH', 'state', 'established', 'dport', `= :${port}`], { encoding: 'utf8' })
      .split('\n').filter((l) => /chrom/i.test(l));
    const conns = socketsOfChromium();
    if (conns.length === 0) fail(`no established Chromium connection to port ${port} found with ss`);
    for (const line of conns) {
      const [local, peer] = line.trim().split(/\s+/).slice(2, 4);
      execFileSync('ss', ['-K', '-t', 'src', local, 'dst', peer]);
    }
    log(`aborted ${conns.length} Chromium TCP connection(s) to the broker with ss -K`);
    await waitFor('"Reconnecting…" after the TCP abort', 5_000, async () => /Reconnecting/.test(await page.textContent('#status'))
      || page.evaluate(() => window.__porticoDebug.reconnecting()));
    await waitFor('the reconnect after the TCP abort', 30_000, async () => {
      const err = await errorText(page);
      if (err) fail(`reconnect failed: ${err}`);
      return page.evaluate(() => window.__porticoDebug.connected() && !window.__porticoDebug.reconnecting());
    });
    const sid4 = await page.evaluate(() => window.__porticoDebug.sessionId());
    if (sid4 !== sid) fail(`after the TCP abort reconnected to ${sid4}, expected ${sid}`);
    const why = consoleLines.filter((l) => /reconnecting:/.test(l)).pop();
    log(`reconnected to the same session after a real TCP abort (${why?.replace(/^.*reconnecting: /, '')})`);
    await canvas.focus();
  }

  // --- toolbar: send keys menu (Ctrl+W erases a word in the shell), Ctrl+Alt+Del ------------------
  await typeText(page, 'echo abc xyz');
  await sessionAction(page, '#send-keys');
  const menuFocus = await page.evaluate(() => document.activeElement?.textContent);
  if (menuFocus !== 'Ctrl+W') fail(`the send-keys menu did not focus its first item (focus: ${menuFocus})`);
  if ((await page.getAttribute('#send-keys', 'aria-expanded')) !== 'true') fail('aria-expanded not set');
  await page.keyboard.press('Enter');
  if (await page.locator('#send-keys-menu').isVisible()) fail('the menu stays open after choosing');
  if ((await activeId(page)) !== 'screen') fail('focus did not return to the session after sending keys');
  await typeText(page, `def > ${file(3)}`);
  await page.keyboard.press('Enter');
  await waitFile(file(3), 'abc def\n');
  log('Send keys → Ctrl+W reached the shell (FILE3 = "abc def")');
  await sessionAction(page, '#ctrl-alt-del');
  await sleep(300);
  if (!(await page.evaluate(() => window.__porticoDebug.connected()))) fail('the session dropped after Ctrl+Alt+Del');
  await page.screenshot({ path: art('session-portal-test.png') });

  // --- disconnect, reconnect from the list, log off from the list ------------------------------
  await sessionAction(page, '#disconnect');
  await page.locator('#resources-view').waitFor({ state: 'visible', timeout: 10_000 });
  await waitFor('the session in the list', 5_000, async () => (await page.locator(`#sessions li[data-session-id="${sid}"]`).count()) === 1);
  await waitFor('focus on Reconnect', 3_000, () => page.evaluate(() => document.activeElement?.matches('button.reconnect')));
  // "Disconnected since" the disconnect, not since the session started (seconds ago, in the test).
  const listed = await page.evaluate(async (id) => {
    const rows = await (await fetch('/api/v1/sessions')).json();
    const row = rows.find((r) => r.id === id);
    return {
      text: document.querySelector(`#sessions li[data-session-id="${id}"] .session-state`)?.textContent ?? '',
      started: row ? new Date(row.created_at * 1000).toLocaleTimeString() : '?',
    };
  }, sid);
  if (!listed.text.startsWith('Disconnected since ')) fail(`right after Disconnect the list says "${listed.text}"`);
  if (listed.text.includes(listed.started)) fail(`"${listed.text}" gives the session's start time (${listed.started}), not the disconnect's`);
  log(`the list says "${listed.text}" (started ${listed.started})`);
  await page.screenshot({ path: art('portal-sessions.png') });
  log(`disconnected; the list shows the session; notice "${(await page.textContent('#notice')).trim()}"`);
  await page.keyboard.press('Enter');
  await page.locator('#session-view').waitFor({ state: 'visible', timeout: 15_000 });
  await waitPicture(page, 'the picture after Reconnect from the list');
  await waitFor('connected', 10_000, () => page.evaluate(() => window.__porticoDebug.connected()));
  const sid3 = await page.evaluate(() => window.__porticoDebug.sessionId());
  if (sid3 !== sid) fail(`Reconnect from the list joined ${sid3}, expected ${sid}`);
  log('Reconnect from the list joined the same session');
  await sessionAction(page, '#disconnect');
  await page.locator('#resources-view').waitFor({ state: 'visible', timeout: 10_000 });
  // Log off from the list asks first in the row; Cancel keeps the session.
  await page.getByRole('button', { name: 'Log off Terminal' }).click();
  await page.getByRole('button', { name: 'Cancel' }).click();
  await sleep(500);
  const kept = await page.evaluate(async (id) => (await (await fetch('/api/v1/sessions')).json()).some((x) => x.id === id), sid);
  if (!kept) fail('Cancel in the list\'s Log off question ended the session');
  await page.getByRole('button', { name: 'Log off Terminal' }).click();
  await page.getByRole('button', { name: 'Log off Terminal now' }).click();
  await waitFor('the sessions list to empty', 15_000, async () => page.locator('#no-sessions').isVisible());
  const err = await errorText(page);
  if (err) fail(`error after Log off from the list: ${err}`);
  log(`logged off from the list; notice "${(await page.textContent('#notice')).trim()}"`);
  await page.screenshot({ path: art('portal-after-list-logoff.png') });

  // --- the same Terminal at deviceScaleFactor 1: text rows half as tall in device pixels ----------
  const ctx1 = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
  try {
    const p1 = await ctx1.newPage();
    p1.on('console', (m) => consoleLines.push(`[dpr1 console.${m.type()}] ${m.text()}`));
    p1.on('pageerror', (e) => consoleLines.push(`[dpr1 pageerror] ${e.stack ?? e.message}`));
    const launches1 = recordLaunches(p1);
    await p1.goto(env.PORTICO_URL, { waitUntil: 'load' });
    await p1.fill('#username', env.PORTICO_USER);
    await p1.fill('#password', env.PORTICO_PASSWORD);
    await p1.click('#login');
    await p1.locator('#resources-view').waitFor({ state: 'visible', timeout: 10_000 });
    await p1.getByRole('button', { name: 'Launch Terminal (application)' }).click();
    await p1.locator('#session-view').waitFor({ state: 'visible', timeout: 15_000 });
    await waitPicture(p1, 'the DPR-1 session\'s first picture');
    await waitFor('the DPR-1 session to be connected', 10_000, () => p1.evaluate(() => window.__porticoDebug.connected()));
    const size1 = await sessionFollowsWindow(p1);
    if (launches1.at(-1)?.scale !== 1) fail(`the launch asked for scale ${launches1.at(-1)?.scale} at DPR 1`);
    await sleep(500); // the shell prompt
    await p1.locator('#screen').focus();
    const text1 = await measureText(p1, path.join(env.PORTICO_WORKDIR, 'dpi1'), size1.h);
    log(`DPR 1 session: ${size1.w}x${size1.h}, ${text1.dpi} dpi, Xft.dpi ${text1.xftDpi}, GDK_SCALE="${text1.gdkScale}", `
      + `xterm ${text1.cols}x${text1.rows}, ${text1.rowPx.toFixed(1)} device px per text row`);
    if (text1.dpi !== 96 || text1.xftDpi !== 96) fail(`the DPR-1 session runs at ${text1.dpi} dpi / Xft.dpi ${text1.xftDpi}, expected 96`);
    if (text1.gdkScale !== '') fail(`GDK_SCALE is set ("${text1.gdkScale}") in the DPR-1 session`);
    await typeText(p1, 'clear');
    await p1.keyboard.press('Enter');
    await typeText(p1, 'echo The quick brown fox jumps over the lazy dog 0123456789; cat /etc/os-release');
    await p1.keyboard.press('Enter');
    await settle(p1);
    await p1.screenshot({ path: art('session-dpr1-readable.png') });
    const ratio = text2.rowPx / text1.rowPx;
    log(`text row height DPR 2 / DPR 1 = ${text2.rowPx.toFixed(1)} / ${text1.rowPx.toFixed(1)} device px = ${ratio.toFixed(2)}`);
    if (!(ratio >= 1.7 && ratio <= 2.3)) fail(`text at DPR 2 is ${ratio.toFixed(2)}x as tall as at DPR 1 in device pixels, expected about 2`);
    const dpr1Session = await p1.evaluate(() => window.__porticoDebug.sessionId());
    await sessionAction(p1, '#logoff');
    await p1.click('#logoff-confirm');
    await p1.locator('#resources-view').waitFor({ state: 'visible', timeout: 15_000 });
    const err1 = await errorText(p1);
    if (err1) fail(`error after Log off of the DPR-1 session: ${err1}`);
    // The list fetched on the way back must not offer the session just logged off (the broker may
    // hear of its end from the host only a moment later).
    if (await p1.locator(`#sessions li[data-session-id="${dpr1Session}"]`).count() !== 0) {
      fail(`session ${dpr1Session} is still listed right after Log off from the toolbar`);
    }
    // (test_e2e.py then checks that no Xvfb or xterm of either session is left on the host.)
  } finally {
    await ctx1.close();
  }
}

async function main() {
  let browser;
  let page;
  let env;
  try {
    env = environment();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
      headless: true,
    });
    const context = await browser.newContext({
      ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 }, deviceScaleFactor: 2,
    });
    page = await context.newPage();
    page.on('console', (m) => consoleLines.push(`[console.${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.stack ?? e.message}`));
    page.on('websocket', (ws) => {
      consoleLines.push(`[websocket] open ${ws.url()}`);
      ws.on('close', () => consoleLines.push(`[websocket] closed ${ws.url()}`));
    });
    await run(page, env, browser);
    await browser.close();
    if (untested.length) {
      console.log(`portal test SKIPPED in part: everything else passed, but not tested: ${untested.join('; ')}`);
      process.exit(77);
    }
    console.log('portal test passed');
    process.exit(0);
  } catch (e) {
    console.error(`\nportal test FAILED: ${e instanceof TestFailure ? e.message : e.stack ?? e}`);
    if (page && env) {
      const shot = path.join(env.PORTICO_ARTIFACTS, 'portal-failure.png');
      await page.screenshot({ path: shot }).then(() => console.error(`screenshot: ${shot}`), () => {});
    }
    console.error(`page console (${consoleLines.length} lines):`);
    for (const line of consoleLines) console.error(`  ${line}`);
    await browser?.close().catch(() => {});
    process.exit(1);
  }
}

main();

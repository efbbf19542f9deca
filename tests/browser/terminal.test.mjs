// End-to-end browser test of the portal and the web client in real headless Chromium:
// log in (a wrong password first), launch "Terminal", see it drawn, type a command that creates a
// marker file on the session host, see the text appear; scroll text at full speed on a slowed-down
// page (reduced-resolution motion) and check the canvas then equals the session's X screen pixel
// for pixel (build to lossless); resize; log off.
//
// Environment:
//   PORTICO_URL        portal address, e.g. https://127.0.0.1:18443/
//   PORTICO_USER       user name
//   PORTICO_PASSWORD   that user's password
//   PORTICO_MARKER     absolute path of a file that must not exist yet; the typed command creates it
//   PORTICO_ARTIFACTS  folder for screenshots
//   PORTICO_GRAB_SCREEN  command (argv as JSON) that writes the session's X screen as raw RGB to the
//                      file named by its last argument and prints "WIDTH HEIGHT"
// Exit status 0 and "browser test passed" on success, 1 with the reason otherwise.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { TestFailure, fail, log, sessionAction, sleep, typeText, waitFor, environment as requiredEnvironment } from './helpers.mjs';

const CHROMIUM = process.env.PORTICO_CHROMIUM ?? '/usr/bin/chromium';
const FIRST_PICTURE_MS = 30_000;
const MARKER_MS = 20_000;
const TYPED_TEXT_MS = 10_000;

const consoleLines = [];

function environment() {
  const names = ['PORTICO_URL', 'PORTICO_USER', 'PORTICO_PASSWORD', 'PORTICO_MARKER', 'PORTICO_ARTIFACTS',
    'PORTICO_GRAB_SCREEN'];
  const env = requiredEnvironment(names);
  if (!path.isAbsolute(env.PORTICO_MARKER)) fail(`PORTICO_MARKER must be an absolute path: ${env.PORTICO_MARKER}`);
  if (fs.existsSync(env.PORTICO_MARKER)) fail(`PORTICO_MARKER already exists: ${env.PORTICO_MARKER}`);
  return env;
}

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

// --- motion on a slow client, then lossless -------------------------------------------------------

/**
 * A slow thin client: Chromium's CPU throttling makes every paint several times slower, so the
 * FrameAcks report full-size video frames over the 10 ms budget and the host halves the motion.
 * Once the motion stops, refinement must make the canvas equal the X screen, pixel for pixel.
 */
async function checkMotionConverges(page, env) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 6 });
  const before = await page.evaluate(() => window.__portico.reducedVideoFrames);
  await typeText(page, `timeout 5 sh -c 'while :; do seq -s " " 1 400; done'; clear`);
  await page.keyboard.press('Enter');
  await sleep(6_000);
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 1 });
  const reduced = (await page.evaluate(() => window.__portico.reducedVideoFrames)) - before;
  log(`scrolling on a 6x slowed page: ${reduced} reduced-resolution video frames painted`);
  if (!(reduced > 0)) fail('the host never switched a slow client to reduced-resolution motion');

  // Still for 1 s (nothing painted) = motion over and refinement done.
  await waitFor('the screen to settle after the motion', 15_000, async () => {
    const n = await page.evaluate(() => window.__porticoDebug.stats().frames);
    await sleep(1_000);
    return (await page.evaluate(() => window.__porticoDebug.stats().frames)) === n;
  }, 0);
  const raw = path.join(env.PORTICO_ARTIFACTS, 'x-screen.rgb');
  const [cmd, ...args] = JSON.parse(env.PORTICO_GRAB_SCREEN);
  const [w, h] = execFileSync(cmd, [...args, raw], { encoding: 'utf8' }).trim().split(' ').map(Number);
  const screen = fs.readFileSync(raw);
  fs.rmSync(raw);
  const diff = await page.evaluate(([bytes, sw, sh]) => {
    const c = document.querySelector('#screen');
    if (c.width !== sw || c.height !== sh) return { size: `${c.width}x${c.height}` };
    const { data } = c.getContext('2d').getImageData(0, 0, sw, sh);
    const x = Uint8Array.from(atob(bytes), (ch) => ch.charCodeAt(0));
    let differing = 0;
    let first = null;
    for (let i = 0; i < data.length; i += 4) {
      const j = (i / 4) * 3; // the screen is RGB, the canvas RGBA
      if (data[i] !== x[j] || data[i + 1] !== x[j + 1] || data[i + 2] !== x[j + 2]) {
        differing++;
        first ??= { x: (i / 4) % sw, y: Math.floor(i / 4 / sw), canvas: [data[i], data[i + 1], data[i + 2]], screen: [x[j], x[j + 1], x[j + 2]] };
      }
    }
    return { differing, first };
  }, [screen.toString('base64'), w, h]);
  if (diff.size) fail(`canvas is ${diff.size}, the X screen ${w}x${h}`);
  if (diff.differing !== 0) {
    await page.locator('#screen').screenshot({ path: path.join(env.PORTICO_ARTIFACTS, 'not-lossless.png') });
    fail(`after the motion stopped, ${diff.differing} canvas pixels differ from the X screen (first: ${JSON.stringify(diff.first)})`);
  }
  log(`after the motion: canvas equals the ${w}x${h} X screen pixel for pixel`);
}

// --- dynamic resize -----------------------------------------------------------------------------

/** The session size the portal should ask for: the screen area in device pixels, even. */
function wantedSessionSize() {
  const area = document.querySelector('#screen-area');
  const dpr = window.devicePixelRatio || 1;
  const dim = (v, max) => Math.max(64, Math.min(max, Math.floor(v * dpr))) & ~1;
  return { width: dim(area.clientWidth, 3840), height: dim(area.clientHeight, 2160) };
}

/** Runs a shell command in the remote terminal and returns what it wrote to `file`. */
async function remoteOutput(page, command, file) {
  fs.rmSync(file, { force: true });
  await typeText(page, `${command} > '${file}.tmp' && mv '${file}.tmp' '${file}'`);
  await page.keyboard.press('Enter');
  return waitFor(`the output of "${command}"`, MARKER_MS, () => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : ''));
}

/** Waits until the host's screen, the canvas and the X display all have the portal's size. */
async function expectSessionSize(page, env, label) {
  const want = await page.evaluate(wantedSessionSize);
  const st = await waitFor(`the session at ${want.width}x${want.height} (${label})`, 20_000, async () => {
    const s = await page.evaluate(() => window.__porticoDebug.stats());
    return s && s.screenWidth === want.width && s.screenHeight === want.height
      && s.width === want.width && s.height === want.height ? s : null;
  });
  const dims = await remoteOutput(page, 'xdpyinfo | grep dimensions', `${env.PORTICO_MARKER}.dims`);
  if (!dims.includes(`${want.width}x${want.height} pixels`)) fail(`X display is not ${want.width}x${want.height}: ${dims}`);
  const [rows, cols] = (await remoteOutput(page, 'stty size', `${env.PORTICO_MARKER}.stty`)).split(/\s+/).map(Number);
  log(`${label}: session ${st.screenWidth}x${st.screenHeight}, canvas ${st.width}x${st.height}, `
    + `X "${dims}", xterm ${cols}x${rows} characters, ${st.resizes} resize(s)`);
  return { ...want, rows, cols, resizes: st.resizes };
}

async function checkResize(page, env) {
  const first = await expectSessionSize(page, env, 'window 1400x900');
  await page.setViewportSize({ width: 1000, height: 640 });
  const smaller = await expectSessionSize(page, env, 'window 1000x640');
  if (!(smaller.resizes > first.resizes)) fail('no Resize message arrived after the window shrank');
  if (!(smaller.cols < first.cols && smaller.rows < first.rows)) {
    fail(`the xterm did not follow the screen: ${first.cols}x${first.rows} -> ${smaller.cols}x${smaller.rows}`);
  }
  await page.screenshot({ path: path.join(env.PORTICO_ARTIFACTS, 'session-resized.png') });
  await page.setViewportSize({ width: 1400, height: 900 });
  const back = await expectSessionSize(page, env, 'window 1400x900 again');
  if (back.cols !== first.cols || back.rows !== first.rows) {
    fail(`the xterm did not grow back: ${first.cols}x${first.rows} -> ${back.cols}x${back.rows}`);
  }
  // The canvas is painted at the new size (not left blank by the resize).
  await waitFor('a picture at the restored size', 10_000, async () => (await page.evaluate(canvasStats)).nonBlack > 200);
}

// --- the test -----------------------------------------------------------------------------------

async function errorText(page) {
  const error = page.locator('#error');
  return (await error.isVisible()) ? (await error.textContent()).trim() : '';
}

async function run(page, env) {
  log(`opening ${env.PORTICO_URL}`);
  const response = await page.goto(env.PORTICO_URL, { waitUntil: 'load' });
  if (!response || !response.ok()) fail(`portal answered ${response?.status()} for ${env.PORTICO_URL}`);
  await page.locator('#login-view').waitFor({ state: 'visible', timeout: 10_000 });
  log('login view shown');

  const support = await page.evaluate(async () => (typeof VideoDecoder === 'function'
    ? (await VideoDecoder.isConfigSupported({ codec: 'avc1.42e01f', optimizeForLatency: true })).supported
    : 'VideoDecoder missing'));
  log(`WebCodecs H.264 (avc1.42e01f) supported: ${support}`);

  // A wrong password is refused with a visible error, and we stay on the login view.
  await page.fill('#username', env.PORTICO_USER);
  await page.fill('#password', `${env.PORTICO_PASSWORD}-wrong`);
  await page.click('#login');
  await page.locator('#error').waitFor({ state: 'visible', timeout: 10_000 });
  const refusal = await errorText(page);
  if (!refusal) fail('the error area is empty after a wrong password');
  if (!(await page.locator('#login-view').isVisible())) fail('left the login view after a wrong password');
  if (await page.locator('#resources-view').isVisible()) fail('resources shown after a wrong password');
  log(`wrong password refused: "${refusal}"`);

  await page.fill('#password', env.PORTICO_PASSWORD);
  await page.click('#login');
  await Promise.race([
    page.locator('#resources-view').waitFor({ state: 'visible', timeout: 10_000 }),
    page.locator('#error').waitFor({ state: 'visible', timeout: 10_000 }),
  ]);
  if (await errorText(page)) fail(`login failed: ${await errorText(page)}`);
  const resources = await page.locator('button.resource .tile-name').allTextContents();
  log(`logged in; resources: ${resources.join(', ') || '(none)'}`);

  const terminal = page.locator('button.resource', { has: page.locator('.tile-name', { hasText: /^Terminal$/ }) });
  if ((await terminal.count()) !== 1) fail('no "Terminal" resource in the portal');
  await terminal.click();
  log('launching Terminal');

  await waitFor('the session view', 15_000, async () => {
    const err = await errorText(page);
    if (err) fail(`launch failed: ${err}`);
    return page.locator('#session-view').isVisible();
  });
  log('session view shown; waiting for the first picture');

  const firstPicture = await waitFor('a picture on the canvas', FIRST_PICTURE_MS, async () => {
    if (!(await page.locator('#session-view').isVisible())) {
      fail(`the session ended before anything was drawn: ${await errorText(page) || '(no message)'}`);
    }
    const s = await page.evaluate(canvasStats);
    return s.nonBlack > 200 || s.differFirst > 200 ? s : null;
  });
  log(`canvas ${firstPicture.width}x${firstPicture.height} painted: ${firstPicture.nonBlack} non-black px, `
    + `${firstPicture.differFirst} px differ from the corner; status "${await page.textContent('#status')}"`);

  // Let the first screen settle (the shell prompt may still be drawing) before the snapshot.
  let previous = firstPicture.hash;
  const settleUntil = Date.now() + 5_000;
  while (Date.now() < settleUntil) {
    await sleep(700);
    const { hash } = await page.evaluate(canvasStats);
    if (hash === previous) break;
    previous = hash;
  }
  await page.evaluate(snapshotCanvas);
  await page.locator('#screen').screenshot({ path: path.join(env.PORTICO_ARTIFACTS, 'terminal-start.png') });

  const canvas = page.locator('#screen');
  await canvas.focus();
  const box = await canvas.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2); // pointer over the app
  const command = `touch '${env.PORTICO_MARKER}'`;
  log(`typing: ${command}`);
  await typeText(page, command);
  await page.keyboard.press('Enter');

  await waitFor(`the marker file ${env.PORTICO_MARKER}`, MARKER_MS, async () => {
    if (!(await page.locator('#session-view').isVisible())) {
      fail(`the session ended while typing: ${await errorText(page) || '(no message)'}`);
    }
    return fs.existsSync(env.PORTICO_MARKER);
  });
  log('marker file created by the typed command');

  const changed = await waitFor('the typed text to appear on the canvas', TYPED_TEXT_MS, async () => {
    const n = await page.evaluate(pixelsChangedSinceSnapshot);
    return n > 50 ? n : 0;
  });
  log(`canvas changed after typing: ${changed} px`);

  await page.screenshot({ path: path.join(env.PORTICO_ARTIFACTS, 'session.png') });
  await canvas.screenshot({ path: path.join(env.PORTICO_ARTIFACTS, 'terminal-typed.png') });
  log(`screenshots in ${env.PORTICO_ARTIFACTS}`);

  await checkMotionConverges(page, env);
  await checkResize(page, env);

  const counters = await page.evaluate(() => ({ ...window.__portico }));
  log(`display counters: ${JSON.stringify(counters)}`);
  if (!(counters.videoFrames >= 1)) fail('WebCodecs decoded no H.264 VideoFrame (videoFrames is 0)');
  if (counters.decodeErrors !== 0) fail(`${counters.decodeErrors} decode error(s) in the display client`);

  // Log off asks first, with the focus on Cancel; Cancel (or Escape) keeps the session.
  await sessionAction(page, '#logoff');
  await page.locator('#logoff-confirm-box').waitFor({ state: 'visible', timeout: 5_000 });
  if ((await page.evaluate(() => document.activeElement?.id)) !== 'logoff-cancel') fail('Log off\'s question does not put the focus on Cancel');
  await page.screenshot({ path: path.join(env.PORTICO_ARTIFACTS, 'logoff-question.png') });
  await page.keyboard.press('Escape');
  await page.locator('#logoff-confirm-box').waitFor({ state: 'hidden', timeout: 5_000 });
  await sessionAction(page, '#logoff');
  await page.click('#logoff-cancel');
  await page.waitForTimeout(500);
  if (!(await page.locator('#session-view').isVisible())) fail('Cancel on the Log off question left the session');
  await sessionAction(page, '#logoff');
  await page.click('#logoff-confirm');
  await page.locator('#resources-view').waitFor({ state: 'visible', timeout: 10_000 });
  if (await page.locator('#session-view').isVisible()) fail('the session view is still shown after Log off');
  const afterLogoff = await errorText(page);
  if (afterLogoff) fail(`error after Log off: ${afterLogoff}`);
  const notice = (await page.locator('#notice').textContent()).trim();
  log(`logged off; back in the portal ("${notice}")`);
  await page.screenshot({ path: path.join(env.PORTICO_ARTIFACTS, 'portal-after-logoff.png') });
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
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 } });
    page = await context.newPage();
    page.on('console', (m) => consoleLines.push(`[console.${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.stack ?? e.message}`));
    page.on('requestfailed', (r) => consoleLines.push(`[requestfailed] ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
    page.on('websocket', (ws) => {
      consoleLines.push(`[websocket] open ${ws.url()}`);
      ws.on('close', () => consoleLines.push(`[websocket] closed ${ws.url()}`));
      ws.on('socketerror', (e) => consoleLines.push(`[websocket] error ${ws.url()}: ${e}`));
    });
    await run(page, env);
    await browser.close();
    console.log('browser test passed');
    process.exit(0);
  } catch (e) {
    console.error(`\nbrowser test FAILED: ${e instanceof TestFailure ? e.message : e.stack ?? e}`);
    if (page && env) {
      const shot = path.join(env.PORTICO_ARTIFACTS, 'failure.png');
      await page.screenshot({ path: shot }).then(() => console.error(`screenshot: ${shot}`), () => {});
    }
    console.error(`page console (${consoleLines.length} lines):`);
    for (const line of consoleLines) console.error(`  ${line}`);
    await browser?.close().catch(() => {});
    process.exit(1);
  }
}

main();

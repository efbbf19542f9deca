// End-to-end browser test of the web client's input paths (issue 6) in real headless Chromium,
// against a real broker and session host running xterm:
//   clipboard both ways (select in xterm -> local clipboard and the toolbar panel; local clipboard
//   and the toolbar panel -> pasted into xterm; a PNG image on the session's CLIPBOARD (xclip -t
//   image/png) -> navigator.clipboard.read() in the page, and one the page writes -> the session's
//   CLIPBOARD, compared pixel by pixel), shifted and AltGr / dead-key characters of a
//   German layout typed into xterm (checked through files the terminal writes), no Shift left
//   down on the X display after the page loses focus, the client-drawn cursor (xterm's I-beam),
//   RTT and input-to-photon in the stats overlay, the full screen button, touch (tap, two-finger
//   scroll) and a clear message when the session ends.
//
// Environment: PORTICO_URL, PORTICO_USER, PORTICO_PASSWORD, PORTICO_WORKDIR (an existing folder the
// terminal writes into), PORTICO_ARTIFACTS (screenshots).
// Exit status 0 and "input test passed" on success, 1 with the reason otherwise.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { TestFailure, fail, log, readFile, sessionAction, shell, sleep, typeText, xKeysDown, waitFor, environment as requiredEnvironment } from './helpers.mjs';

const CHROMIUM = process.env.PORTICO_CHROMIUM ?? '/usr/bin/chromium';

const consoleLines = [];

function environment() {
  const names = ['PORTICO_URL', 'PORTICO_USER', 'PORTICO_PASSWORD', 'PORTICO_WORKDIR', 'PORTICO_ARTIFACTS'];
  const env = requiredEnvironment(names);
  if (!fs.existsSync(env.PORTICO_WORKDIR)) fail(`PORTICO_WORKDIR does not exist: ${env.PORTICO_WORKDIR}`);
  return env;
}

function canvasStats() {
  const c = document.querySelector('#screen');
  const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
  let nonBlack = 0;
  for (let i = 0; i < data.length; i += 4) if (data[i] + data[i + 1] + data[i + 2] > 48) nonBlack++;
  return { width: c.width, height: c.height, nonBlack };
}

async function errorText(page) {
  const error = page.locator('#error');
  return (await error.isVisible()) ? (await error.textContent()).trim() : '';
}


async function waitFile(file, content, ms = 15_000) {
  await waitFor(`${file} to contain ${JSON.stringify(content)} (has ${JSON.stringify(readFile(file))})`, ms,
    () => readFile(file) === content);
}

/**
 * Key events as a German keyboard makes them, dispatched on the canvas: `code` is the physical
 * key, `key` the character the layout produced, altGraph whether AltGr is held.
 */
async function germanKeys(page, strokes) {
  await page.evaluate((list) => {
    const c = document.querySelector('#screen');
    const ev = (type, s) => new KeyboardEvent(type, {
      key: s.key, code: s.code, bubbles: true, cancelable: true, shiftKey: Boolean(s.shift),
      modifierAltGraph: Boolean(s.altGraph),
    });
    for (const s of list) {
      c.dispatchEvent(ev('keydown', s));
      c.dispatchEvent(ev('keyup', s));
    }
  }, strokes);
}

/** Page coordinates of a session pixel (the canvas is scaled by CSS). */
async function pagePoint(page, sx, sy) {
  const box = await page.locator('#screen').boundingBox();
  const { w, h } = await page.evaluate(() => ({ w: document.querySelector('#screen').width, h: document.querySelector('#screen').height }));
  return { x: box.x + ((sx + 0.5) * box.width) / w, y: box.y + ((sy + 0.5) * box.height) / h };
}

// A PNG (base64) of a w x h picture whose pixels follow `seed`, encoded by the page (the test
// needs no image library); and the RGBA pixels of a PNG (base64) as the page decodes them.
function makePng(page, w, h, seed) {
  return page.evaluate(async ([w, h, seed]) => {
    const c = new OffscreenCanvas(w, h);
    const g = c.getContext('2d');
    const img = g.createImageData(w, h);
    for (let i = 0; i < w * h; i++) {
      img.data.set([(i * seed) & 255, (i * 7 + seed * 13) & 255, (i >> 3) & 255, 255], i * 4);
    }
    g.putImageData(img, 0, 0);
    const bytes = new Uint8Array(await (await c.convertToBlob({ type: 'image/png' })).arrayBuffer());
    let s = '';
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s);
  }, [w, h, seed]);
}

function pngPixels(page, base64) {
  return page.evaluate(async (b64) => {
    const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
    const bmp = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
    const c = new OffscreenCanvas(bmp.width, bmp.height);
    const g = c.getContext('2d');
    g.drawImage(bmp, 0, 0);
    return { w: bmp.width, h: bmp.height, rgba: Array.from(g.getImageData(0, 0, bmp.width, bmp.height).data).join(',') };
  }, base64);
}

async function run(page, context, env) {
  const art = (name) => path.join(env.PORTICO_ARTIFACTS, name);
  const work = (name) => path.join(env.PORTICO_WORKDIR, name);

  await page.goto(env.PORTICO_URL, { waitUntil: 'load' });
  await page.locator('#login-view').waitFor({ state: 'visible', timeout: 10_000 });
  await page.fill('#username', env.PORTICO_USER);
  await page.fill('#password', env.PORTICO_PASSWORD);
  await page.click('#login');
  await page.locator('#resources-view').waitFor({ state: 'visible', timeout: 10_000 });
  await page.screenshot({ path: art('portal.png') });
  await page.getByRole('button', { name: 'Launch Terminal (application)' }).click();
  await waitFor('the first picture', 30_000, async () => {
    const err = await errorText(page);
    if (err) fail(`launch failed: ${err}`);
    if (!(await page.locator('#session-view').isVisible())) return false;
    return (await page.evaluate(canvasStats)).nonBlack > 200;
  });
  await sleep(1000); // the shell prompt
  const canvas = page.locator('#screen');
  await canvas.focus();
  log('session up');

  // --- the session's X display, for checks from outside the browser ------------------------------
  const envLine = (await shell(page, 'echo "$DISPLAY $XAUTHORITY"', work('x11'))).trim();
  const [display, xauthority] = envLine.split(' ');
  const x11 = { display, xauthority };
  log(`session display ${display}`);

  // --- client-drawn cursor: xterm's I-beam arrives as a CursorShape ---------------------------
  const mid = await pagePoint(page, 200, 150);
  await page.mouse.move(mid.x - 40, mid.y - 40);
  await page.mouse.move(mid.x, mid.y);
  const cursor = await waitFor('a cursor shape from the host', 10_000, async () => {
    const st = await page.evaluate(() => window.__porticoDebug.stats());
    const css = await page.evaluate(() => document.querySelector('#screen').style.cursor);
    const c = st.cursor;
    // xterm's pointer is the cursor font's I-beam (it may show a blank pointer before that).
    // Drawn at the canvas's pixel scale: image-set(url(blob:…) <canvas px per CSS px>x).
    return c && c.width >= 3 && c.height > c.width && /^image-set\(url\("blob:/.test(css) ? { ...c, shapes: st.cursorShapes, css } : null;
  });
  log(`cursor shape ${cursor.width}x${cursor.height} hotspot ${cursor.hotX},${cursor.hotY} (${cursor.shapes} shape message(s)), CSS ${cursor.css.slice(0, 40)}…`);
  const framesBefore = (await page.evaluate(() => window.__porticoDebug.stats())).frames;
  for (let i = 0; i < 20; i++) await page.mouse.move(mid.x + i * 7, mid.y + i * 3);
  await sleep(500);
  const framesAfter = (await page.evaluate(() => window.__porticoDebug.stats())).frames;
  log(`20 pointer moves over xterm cost ${framesAfter - framesBefore} frame(s)`);
  if (framesAfter - framesBefore > 2) fail(`pointer moves caused ${framesAfter - framesBefore} frames (the cursor should be drawn by the browser)`);

  // --- keyboard: shifted, AltGr and dead-key characters ----------------------------------------
  await canvas.focus();
  const keys = work('keys');
  await typeText(page, `cat > '${keys}'`);
  await page.keyboard.press('Enter');
  await sleep(300);
  await typeText(page, '!@#');
  // German layout: AltGr+E = €, AltGr+Q = @, AltGr+8 = [, AltGr++ = ~, Shift+7 = /, ü, dead ´ then e = é.
  await germanKeys(page, [
    { code: 'AltRight', key: 'AltGraph', altGraph: true },
    { code: 'KeyE', key: '€', altGraph: true },
    { code: 'KeyQ', key: '@', altGraph: true },
    { code: 'Digit8', key: '[', altGraph: true },
    { code: 'BracketRight', key: '~', altGraph: true },
    { code: 'Digit7', key: '/', shift: true },
    { code: 'BracketLeft', key: 'ü' },
    { code: 'Equal', key: 'Dead' },
    { code: 'KeyE', key: 'é' },
    { code: 'KeyZ', key: 'z' }, // the German Z is where the US Y is: the character decides
  ]);
  await page.keyboard.press('Enter');
  await page.keyboard.press('Control+KeyD');
  await waitFile(keys, '!@#€@[~/üéz\n');
  log(`typed "!@#" and German AltGr/dead-key characters: file has ${JSON.stringify(readFile(keys))}`);

  // --- modifiers are released when the page loses focus ----------------------------------------
  await canvas.focus();
  await page.keyboard.down('Shift');
  const shiftKeycodes = [50, 62];
  await waitFor('Shift to be down on the X display', 5_000, () => xKeysDown(x11).some((k) => shiftKeycodes.includes(k)));
  await page.evaluate(() => document.querySelector('#screen').blur());
  await waitFor('Shift to be released on the X display after blur', 5_000, () => !xKeysDown(x11).some((k) => shiftKeycodes.includes(k)));
  await page.keyboard.up('Shift');
  await canvas.focus();
  const after = await shell(page, 'echo typed', work('after-blur'));
  if (after !== 'typed\n') fail(`after the blur the terminal got ${JSON.stringify(after)}`);
  log(`Shift held then blur: released on the X display (keys down now: [${xKeysDown(x11).join(',')}]); next text typed plain`);

  // --- clipboard: remote -> local ------------------------------------------------------------------
  await typeText(page, 'clear; echo COPY-ME-4242');
  await page.keyboard.press('Enter');
  await sleep(800);
  const line1 = await pagePoint(page, 30, 8);
  await page.mouse.click(line1.x, line1.y, { clickCount: 3 }); // xterm selects the line (PRIMARY)
  const panel = await waitFor('the copied text in the clipboard panel', 10_000, async () => {
    const t = await page.evaluate(() => window.__porticoDebug.clipboardPanelText());
    return t.includes('COPY-ME-4242') ? t : null;
  });
  const local = await waitFor('the copied text on the local clipboard', 5_000, async () => {
    const t = await page.evaluate(() => navigator.clipboard.readText().catch((e) => `error: ${e.message}`));
    return t.includes('COPY-ME-4242') ? t : null;
  });
  log(`copy in xterm -> panel ${JSON.stringify(panel)}, local clipboard ${JSON.stringify(local)}`);

  // --- clipboard: local -> remote (paste event, then Shift+Insert pastes in xterm) -----------------
  await canvas.focus();
  const pasted = work('pasted');
  await typeText(page, `cat > '${pasted}'`);
  await page.keyboard.press('Enter');
  await sleep(300);
  const localText = 'from the local clipboard: grüße €5';
  await page.evaluate((t) => navigator.clipboard.writeText(t), localText);
  await page.keyboard.press('Shift+Insert');
  await sleep(300);
  await page.keyboard.press('Enter');

  // ... and from the toolbar panel (the fallback when the browser refuses clipboard access), then
  // a middle click pastes PRIMARY in xterm.
  await sessionAction(page, '#clipboard-toggle');
  await page.fill('#clipboard-text', 'typed into the panel');
  await page.screenshot({ path: art('session-clipboard-panel.png') });
  await page.click('#clipboard-send');
  await sleep(300);
  const p2 = await pagePoint(page, 300, 200);
  await page.mouse.click(p2.x, p2.y, { button: 'middle' });
  await sleep(300);
  await canvas.focus();
  await page.keyboard.press('Enter');
  await page.keyboard.press('Control+KeyD');
  await waitFile(pasted, `${localText}\ntyped into the panel\n`);
  log(`pasted into xterm: ${JSON.stringify(readFile(pasted))}`);
  const st = await page.evaluate(() => window.__porticoDebug.stats());
  log(`clipboard messages: ${st.clipboardSent} sent, ${st.clipboardReceived} received`);

  // --- clipboard images: session -> page ------------------------------------------------------------
  // An app in the session (xclip) owns CLIPBOARD with a PNG as image/png alone; the host sends it,
  // the portal puts it on this computer's clipboard, and the page reads it back from there.
  const x11env = { ...process.env, DISPLAY: x11.display, XAUTHORITY: x11.xauthority };
  const fromSession = await makePng(page, 160, 120, 3);
  fs.writeFileSync(work('from-session.png'), Buffer.from(fromSession, 'base64'));
  const xclip = spawn('xclip', ['-quiet', '-selection', 'clipboard', '-t', 'image/png', '-i', work('from-session.png')],
    { env: x11env, stdio: 'ignore' });
  try {
    const want = await pngPixels(page, fromSession);
    const got = await waitFor('the session\'s image on the page\'s clipboard', 15_000, async () => {
      const b64 = await page.evaluate(async () => {
        try {
          const items = await navigator.clipboard.read();
          const item = items.find((i) => i.types.includes('image/png'));
          if (!item) return null;
          const bytes = new Uint8Array(await (await item.getType('image/png')).arrayBuffer());
          let s = '';
          for (const b of bytes) s += String.fromCharCode(b);
          return btoa(s);
        } catch {
          return null;
        }
      });
      return b64 ? pngPixels(page, b64) : null;
    });
    if (got.w !== want.w || got.h !== want.h || got.rgba !== want.rgba) {
      fail(`the image on the page's clipboard is ${got.w}x${got.h} and differs from the session's ${want.w}x${want.h}`);
    }
    log(`session -> page clipboard: a ${want.w}x${want.h} PNG (${Buffer.from(fromSession, 'base64').length} bytes), pixel for pixel`);
  } finally {
    xclip.kill();
  }

  // --- clipboard images: page -> session ------------------------------------------------------------
  // The page's clipboard gets another image; clicking into the session (canvas focus) sends it, and
  // the session's CLIPBOARD offers it as image/png.
  const fromPage = await makePng(page, 140, 100, 5);
  await page.evaluate(() => document.activeElement?.blur()); // away from the canvas, to come back to it
  const sentBefore = (await page.evaluate(() => window.__porticoDebug.stats())).clipboardSent;
  await page.evaluate(async (b64) => {
    const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
    await navigator.clipboard.write([new ClipboardItem({ 'image/png': new Blob([bytes], { type: 'image/png' }) })]);
  }, fromPage);
  await canvas.focus();
  await waitFor('the page to send its clipboard image', 10_000, async () =>
    (await page.evaluate(() => window.__porticoDebug.stats())).clipboardSent > sentBefore);
  const wantPage = await pngPixels(page, fromPage);
  const inSession = await waitFor('the page\'s image on the session\'s CLIPBOARD', 15_000, async () => {
    let out;
    try {
      out = execFileSync('xclip', ['-o', '-selection', 'clipboard', '-t', 'image/png'], { env: x11env, timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return null;
    }
    if (out.length < 8) return null;
    const px = await pngPixels(page, out.toString('base64'));
    return px.w === wantPage.w && px.h === wantPage.h && px.rgba === wantPage.rgba ? px : null;
  });
  log(`page -> session clipboard: a ${inSession.w}x${inSession.h} PNG, pixel for pixel (xclip -o -t image/png in the session)`);

  // --- stats overlay: RTT and input-to-photon ------------------------------------------------------
  await sessionAction(page, '#stats-toggle');
  const rtt = await waitFor('an RTT figure in the overlay', 10_000, async () => {
    const text = await page.locator('#stats dd[data-stat="RTT"]').textContent();
    return /^\d+(\.\d)? ms$/.test(text) ? text : null;
  });
  // Input-to-photon: the keys typed above were measured (a median and a p95, both real figures:
  // above zero, median <= p95, within the 1 s after which the client stops counting a paint as a
  // key's echo), and the overlay shows the figures the client measured.
  // (The overlay is redrawn every 500 ms, so it is compared with the client's figures as they
  // were at a redraw: both read in one go, until they agree.)
  const i2p = await waitFor('the overlay to show the input-to-photon figures the client measured', 5_000, () => page.evaluate(() => {
    const text = document.querySelector('#stats dd[data-stat="input→photon"]').textContent;
    const { median, p95 } = window.__porticoDebug.stats().inputToPhotonMs;
    const f = (v) => (v === null ? '–' : v.toFixed(1));
    return text === `${f(median)} / p95 ${f(p95)} ms` ? { text, median, p95 } : null;
  }));
  if (!/^\d+\.\d \/ p95 \d+\.\d ms$/.test(i2p.text)) fail(`no input-to-photon figure in the overlay: ${JSON.stringify(i2p.text)}`);
  if (!(i2p.median > 0 && i2p.median <= i2p.p95 && i2p.p95 <= 1000)) fail(`implausible input-to-photon figures: ${i2p.text}`);
  log(`overlay: RTT ${rtt}, input→photon ${i2p.text}`);
  await page.screenshot({ path: art('session-stats.png') });
  await sessionAction(page, '#stats-toggle');

  // --- full screen ---------------------------------------------------------------------------------
  await sessionAction(page, '#fullscreen');
  // document.fullscreenElement is set before the fullscreenchange event updates the button: wait for both.
  const fs1 = await waitFor('full screen', 5_000, async () => page.evaluate(
    () => Boolean(document.fullscreenElement) && document.querySelector('#fullscreen').getAttribute('aria-pressed') === 'true'));
  const pressed = await page.getAttribute('#fullscreen', 'aria-pressed');
  if (!fs1 || pressed !== 'true') fail(`full screen button: fullscreen ${fs1}, aria-pressed ${pressed}`);
  await sessionAction(page, '#fullscreen');
  await waitFor('full screen to end', 5_000, async () => page.evaluate(() => !document.fullscreenElement));
  log('full screen button enters and leaves full screen');

  // --- touch: a tap clicks, two fingers scroll ---------------------------------------------------
  const touch = await page.evaluate(() => {
    const c = document.querySelector('#screen');
    const r = c.getBoundingClientRect();
    const sent = [];
    const ws = WebSocket.prototype.send;
    WebSocket.prototype.send = function send(data) {
      const b = new Uint8Array(data instanceof ArrayBuffer ? data : data.buffer);
      if (b[0] === 0x03) sent.push(`pointer:${b[5]}`);
      if (b[0] === 0x04) sent.push(`wheel:${new DataView(b.buffer).getInt16(3, true)}`);
      return ws.call(this, data);
    };
    const pe = (type, id, x, y) => c.dispatchEvent(new PointerEvent(type, {
      pointerId: id, pointerType: 'touch', isPrimary: id === 1, clientX: r.left + x, clientY: r.top + y,
      buttons: type === 'pointerup' ? 0 : 1, bubbles: true, cancelable: true,
    }));
    pe('pointerdown', 1, 100, 100); pe('pointerup', 1, 100, 100); // tap
    const tap = sent.splice(0);
    pe('pointerdown', 1, 100, 300); pe('pointerdown', 2, 160, 300);
    for (let i = 1; i <= 10; i++) { pe('pointermove', 1, 100, 300 - i * 12); pe('pointermove', 2, 160, 300 - i * 12); }
    pe('pointerup', 1, 100, 180); pe('pointerup', 2, 160, 180);
    const scroll = sent.splice(0);
    WebSocket.prototype.send = ws;
    return { tap, scroll };
  });
  log(`touch: tap sent ${touch.tap.join(' ')}; two-finger scroll sent ${touch.scroll.join(' ')}`);
  if (!(touch.tap.includes('pointer:1') && touch.tap.at(-1) === 'pointer:0')) fail('a tap did not click');
  if (!touch.scroll.some((m) => /^wheel:[1-9]/.test(m)) || touch.scroll.includes('pointer:1')) {
    fail('two fingers moving up did not scroll (or pressed a button)');
  }

  await page.screenshot({ path: art('session-input.png') });

  // --- a clear message when the session ends ----------------------------------------------------------
  await canvas.focus();
  await typeText(page, 'exit');
  await page.keyboard.press('Enter');
  await page.locator('#resources-view').waitFor({ state: 'visible', timeout: 15_000 });
  const notice = (await page.locator('#notice').textContent()).trim();
  // A clean exit is not an error and has nothing more to say (not "... exited (status 0)").
  if (notice !== 'The application was closed.') fail(`after exit the portal says ${JSON.stringify(notice)}`);
  if (await page.locator('#error').isVisible()) fail(`a clean exit shows an error: ${await page.locator('#error').textContent()}`);
  log(`session ended by the app: "${notice}"`);
  await page.screenshot({ path: art('portal-session-ended.png') });
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
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(env.PORTICO_URL).origin });
    page = await context.newPage();
    page.on('console', (m) => consoleLines.push(`[console.${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.stack ?? e.message}`));
    await run(page, context, env);
    await browser.close();
    console.log('input test passed');
    process.exit(0);
  } catch (e) {
    console.error(`\ninput test FAILED: ${e instanceof TestFailure ? e.message : e.stack ?? e}`);
    if (page && env) {
      const shot = path.join(env.PORTICO_ARTIFACTS, 'input-failure.png');
      await page.screenshot({ path: shot }).then(() => console.error(`screenshot: ${shot}`), () => {});
    }
    console.error(`page console (${consoleLines.length} lines):`);
    for (const line of consoleLines) console.error(`  ${line}`);
    await browser?.close().catch(() => {});
    process.exit(1);
  }
}

main();

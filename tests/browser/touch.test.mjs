// End-to-end browser test of the web client on a phone (issue 16, "Mobile and touch") in real
// headless Chromium with touch emulation (390x844, deviceScaleFactor 3, isMobile, hasTouch),
// against a real broker and session host running xterm:
//   - readability: a Terminal started on a desktop (1400x900, scale 1) and reconnected from the
//     phone is resized to the phone's display area in CSS pixels (not 1170 device px wide at 96
//     DPI), so its text rows are >= 12 CSS px tall (`stty size` says how many there are);
//   - the keyboard button opens the text field a phone keyboard types into, with the extra-keys bar;
//     a command typed as a phone keyboard does (insertText, an Android-style Backspace as a value
//     change) and an IME composition (CDP Input.imeSetComposition, then the committed text) run in
//     the terminal, proved by the files they write;
//   - the extra-keys bar: sticky Ctrl (aria-pressed) + "c" interrupts `sleep 100; echo late > …`
//     (that file never appears); ↑ recalls the last command;
//   - long-press right-clicks and a pinch zooms the view: with xterm's mouse reporting on
//     (\e[?1000h), `cat -v` writes the button and cell of every press: the long-press is button 3,
//     a tap on a session point before and after zooming lands on the same cell, and the screen
//     point tapped first lands elsewhere once zoomed; two fingers moving together scroll (wheel
//     reports) without changing the zoom, and pinching in returns to 1x;
//   - the touch controls are >= 44x44 CSS px and nothing overflows sideways at 390 and 360 px.
// Screenshots of each state go to PORTICO_ARTIFACTS (touch-*.png).
//
// Environment: PORTICO_URL, PORTICO_USER, PORTICO_PASSWORD, PORTICO_WORKDIR (the terminal writes
// there), PORTICO_ARTIFACTS. Exit status 0 and "touch test passed", 1 with the reason otherwise.

import fs from 'node:fs';
import path from 'node:path';
import { checkAccessibility, checkDisconnectedSince, fail, log, newPage, runTest, sleep, waitFor, canvasStatsIn } from './helpers.mjs';

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true };

const readFile = (f) => { try { return fs.readFileSync(f, 'utf8'); } catch { return null; } };

async function waitFile(file, content, ms = 15_000) {
  await waitFor(`${file} to contain ${JSON.stringify(content)} (has ${JSON.stringify(readFile(file))})`, ms,
    () => readFile(file) === content);
}

/** Types text the way a phone keyboard does: into the focused text field, with no key events. */
async function phoneType(page, text) {
  for (const ch of text) {
    await page.keyboard.insertText(ch);
    await sleep(10);
  }
}

/** A phone keyboard's Enter: a real key event (Gboard sends key "Enter" for it). */
const phoneEnter = (page) => page.keyboard.press('Enter');

/** Taps an extra-keys bar button by its accessible name. */
async function tapKey(page, name) {
  await page.getByRole('button', { name, exact: true }).tap();
  await sleep(50);
}

/** Page coordinates of session pixel (sx, sy), through the canvas's box (zoom included). */
async function pagePoint(page, sx, sy) {
  return page.evaluate(([x, y]) => {
    const c = document.querySelector('#screen');
    const r = c.getBoundingClientRect();
    return { x: r.left + ((x + 0.5) * r.width) / c.width, y: r.top + ((y + 0.5) * r.height) / c.height };
  }, [sx, sy]);
}

/** Fingers on the screen through CDP (Chromium makes touch pointer events of them). */
const touches = (cdp, type, points) => cdp.send('Input.dispatchTouchEvent', {
  type, touchPoints: points.map((p, i) => ({ x: p.x, y: p.y, id: i, radiusX: 2, radiusY: 2, force: 1 })),
});

async function longPress(cdp, p, ms) {
  await touches(cdp, 'touchStart', [p]);
  await sleep(ms);
  await touches(cdp, 'touchEnd', []);
}

async function tapAt(cdp, p) {
  await touches(cdp, 'touchStart', [p]);
  await sleep(40);
  await touches(cdp, 'touchEnd', []);
  await sleep(150);
}

/** Two fingers around `c`, `from` px apart, spread to `to` px in steps. */
async function pinch(cdp, c, from, to) {
  const at = (d) => [{ x: c.x - d / 2, y: c.y }, { x: c.x + d / 2, y: c.y }];
  await touches(cdp, 'touchStart', at(from));
  for (let i = 1; i <= 12; i++) {
    await touches(cdp, 'touchMove', at(from + ((to - from) * i) / 12));
    await sleep(16);
  }
  await touches(cdp, 'touchEnd', []);
}

/** The session pixel under page point p (zoom included). */
async function sessionPoint(page, p) {
  return page.evaluate(({ x, y }) => {
    const c = document.querySelector('#screen');
    const r = c.getBoundingClientRect();
    return { x: Math.floor(((x - r.left) * c.width) / r.width), y: Math.floor(((y - r.top) * c.height) / r.height) };
  }, p);
}

/** Two fingers around `c` spread from `from` to `to` px apart (a pinch), then moved `dx` px right together. */
async function pinchAndMove(cdp, c, from, to, dx) {
  const at = (d, x) => [{ x: x - d / 2, y: c.y }, { x: x + d / 2, y: c.y }];
  await touches(cdp, 'touchStart', at(from, c.x));
  for (let i = 1; i <= 6; i++) {
    await touches(cdp, 'touchMove', at(from + ((to - from) * i) / 6, c.x));
    await sleep(16);
  }
  for (let i = 1; i <= 10; i++) {
    await touches(cdp, 'touchMove', at(to, c.x + (dx * i) / 10));
    await sleep(16);
  }
  await touches(cdp, 'touchEnd', []);
}

/** Two fingers `gap` px apart around `c` moving up by `dy` px together (a scroll, not a pinch). */
async function twoFingerScroll(cdp, c, gap, dy) {
  const at = (y) => [{ x: c.x - gap / 2, y }, { x: c.x + gap / 2, y }];
  await touches(cdp, 'touchStart', at(c.y));
  for (let i = 1; i <= 10; i++) {
    await touches(cdp, 'touchMove', at(c.y - (dy * i) / 10));
    await sleep(16);
  }
  await touches(cdp, 'touchEnd', []);
}

/**
 * The mouse reports in `cat -v` output of xterm's normal tracking mode: ESC [ M Cb Cx Cy, shown as
 * ^[[M followed by three characters (M-x for bytes over 127). Button 0 = left, 2 = right, 3 = release.
 */
function mouseReports(text) {
  const out = [];
  const re = /\^\[\[M((?:M-)?[\s\S])((?:M-)?[\s\S])((?:M-)?[\s\S])/g;
  const byte = (s) => (s.startsWith('M-') ? 128 + s.charCodeAt(2) : s.charCodeAt(0));
  for (const m of text.matchAll(re)) {
    out.push({ button: byte(m[1]) - 32, col: byte(m[2]) - 32, row: byte(m[3]) - 32 });
  }
  return out;
}

/** Overflow and touch-target sizes of the touch controls (runs in the page). */
function touchLayout() {
  const small = [...document.querySelectorAll('#keyboard-toggle, #extra-keys button')]
    .filter((b) => b.offsetParent !== null)
    .map((b) => ({ name: b.getAttribute('aria-label') ?? b.textContent, r: b.getBoundingClientRect() }))
    .filter(({ r }) => r.width < 44 || r.height < 44)
    .map(({ name, r }) => `${name} ${r.width}x${r.height}`);
  const bar = document.querySelector('#extra-keys').getBoundingClientRect();
  const unnamed = [...document.querySelectorAll('#keyboard-toggle, #extra-keys button')]
    .filter((b) => !(b.getAttribute('aria-label') || b.textContent.trim()))
    .map((b) => b.outerHTML);
  // Label in name (WCAG 2.5.3): a name given to a button with a word on it contains that word.
  const mismatched = [...document.querySelectorAll('#keyboard-toggle, #extra-keys button')]
    .filter((b) => /\w/.test(b.textContent) && b.getAttribute('aria-label') && !b.getAttribute('aria-label').includes(b.textContent.trim()))
    .map((b) => `"${b.textContent.trim()}" named "${b.getAttribute('aria-label')}"`);
  return {
    small, unnamed, mismatched, barRight: bar.right, barWidth: bar.width,
    pageWidth: document.documentElement.scrollWidth, viewport: window.innerWidth,
  };
}

function checkLayout(l, where) {
  if (l.small.length) fail(`${where}: touch targets under 44x44 CSS px: ${l.small.join(', ')}`);
  if (l.unnamed.length) fail(`${where}: buttons without a name: ${l.unnamed.join(' ')}`);
  if (l.mismatched.length) fail(`${where}: names without the visible label: ${l.mismatched.join(', ')}`);
  if (l.pageWidth > l.viewport) fail(`${where}: the page is ${l.pageWidth} px wide in a ${l.viewport} px viewport`);
  if (l.barRight > l.viewport + 0.5) fail(`${where}: the extra-keys bar ends at ${l.barRight} px, past the ${l.viewport} px viewport`);
}

await runTest('touch', ['PORTICO_URL', 'PORTICO_USER', 'PORTICO_PASSWORD', 'PORTICO_WORKDIR', 'PORTICO_ARTIFACTS'], async ({ browser, env, pages, consoleLines }) => {
  if (!fs.existsSync(env.PORTICO_WORKDIR)) fail(`PORTICO_WORKDIR does not exist: ${env.PORTICO_WORKDIR}`);
  const art = (name) => path.join(env.PORTICO_ARTIFACTS, `touch-${name}.png`);
  const work = (name) => path.join(env.PORTICO_WORKDIR, name);
  const login = async (page) => {
    await page.goto(env.PORTICO_URL, { waitUntil: 'load' });
    await page.locator('#login-view').waitFor({ state: 'visible', timeout: 10_000 });
    await page.fill('#username', env.PORTICO_USER);
    await page.fill('#password', env.PORTICO_PASSWORD);
    await page.locator('#login').click();
    await page.locator('#resources-view').waitFor({ state: 'visible', timeout: 10_000 });
  };
  const firstPicture = (page) => waitFor('the first picture', 30_000, async () => {
    if (await page.locator('#error').isVisible()) fail(`launch failed: ${await page.locator('#error').textContent()}`);
    if (!(await page.locator('#session-view').isVisible())) return false;
    return (await page.evaluate(canvasStatsIn, '#screen')).nonBlack > 200;
  });

  // --- a Terminal started on a desktop, then left running ------------------------------------------
  const desk = await newPage(browser, 'desktop', consoleLines, { viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
  pages.set('desktop', desk);
  await login(desk);
  await desk.getByRole('button', { name: 'Launch Terminal (application)' }).click();
  await firstPicture(desk);
  const deskSize = await waitFor('the desktop-sized session', 15_000, () => desk.evaluate(() => {
    const st = window.__porticoDebug.stats();
    return st.screenWidth > 1000 ? `${st.screenWidth}x${st.screenHeight}` : null;
  }));
  const createdAt = await desk.evaluate(async () => (await (await fetch('/api/v1/sessions')).json())[0].created_at);
  await sleep(2_000); // the close is then seconds after the start: the two times tell apart
  const closedFrom = Date.now();
  await desk.context().close(); // the session keeps running, disconnected
  pages.delete('desktop');
  log(`desktop started Terminal at ${deskSize} and left`);

  // --- the phone reconnects: scale 1, a screen the size of the display area in CSS px ---------------
  const page = await newPage(browser, 'phone', consoleLines, PHONE);
  pages.set('phone', page);
  const cdp = await page.context().newCDPSession(page);
  const launches = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && r.url().endsWith('/launch')) launches.push(JSON.parse(r.postData() ?? '{}'));
  });
  await login(page);
  const reconnect = page.getByRole('button', { name: 'Reconnect to Terminal' });
  await reconnect.waitFor({ state: 'visible', timeout: 10_000 });
  // This page never saw the session: "Disconnected since" is the broker's time of the close.
  const row = await waitFor('the session listed as disconnected', 10_000, () => page.evaluate(() => {
    const t = document.querySelector('#sessions .session-state')?.textContent ?? '';
    return t.startsWith('Disconnected') ? t : null;
  }));
  log(`the phone lists the desktop's session: "${row}"`);
  await checkDisconnectedSince(page, row, closedFrom, Date.now(), createdAt);
  await page.screenshot({ path: art('portal') });
  await checkAccessibility(page, 'the portal on a phone');
  await reconnect.tap();
  await firstPicture(page);
  if (launches.length !== 1 || launches[0].scale !== 1) fail(`the phone reconnected with ${JSON.stringify(launches)} (scale 1 expected)`);
  const sized = await waitFor('the session to take the phone\'s CSS size', 15_000, () => page.evaluate(() => {
    const a = document.querySelector('#screen-area');
    const st = window.__porticoDebug.stats();
    const want = { w: a.clientWidth & ~1, h: a.clientHeight & ~1 };
    return st.screenWidth === want.w && st.screenHeight === want.h ? { ...want, dpr: devicePixelRatio } : null;
  }));
  log(`reconnected from the phone: session ${deskSize} -> ${sized.w}x${sized.h} for a ${sized.w}x${sized.h} CSS px area at devicePixelRatio ${sized.dpr}`);
  await sleep(1000); // the shell prompt after the resize
  await page.screenshot({ path: art('session') });

  // --- the keyboard button opens the text field and the extra-keys bar --------------------------
  const toggle = page.getByRole('button', { name: 'Show keyboard' });
  await toggle.tap();
  await waitFor('the extra-keys bar and the focused text field', 5_000, () => page.evaluate(() => (
    !document.querySelector('#extra-keys').hidden && document.activeElement?.id === 'soft-keyboard'
    && document.querySelector('#keyboard-toggle').getAttribute('aria-expanded') === 'true')));
  if (await toggle.isVisible()) fail('the keyboard button stays over the open bar (its Hide keyboard key closes it)');
  const field = await page.evaluate(() => {
    const f = document.querySelector('#soft-keyboard');
    return ['autocapitalize', 'autocorrect', 'autocomplete', 'spellcheck'].map((a) => `${a}=${f.getAttribute(a)}`).join(' ');
  });
  if (field !== 'autocapitalize=off autocorrect=off autocomplete=off spellcheck=false') fail(`the text field has ${field}`);
  checkLayout(await page.evaluate(touchLayout), '390x844');
  await page.screenshot({ path: art('keyboard') });
  await checkAccessibility(page, 'the session with the phone keyboard and extra keys');
  log(`keyboard button opens the field (${field}) and the bar`);

  // --- typing: phone-style text, an Android Backspace, Enter ---------------------------------------
  const typed = work('touch-typed');
  await phoneType(page, `echo soft-$((6*7))X`);
  // Chrome on Android: keydown 229 "Unidentified", then the field loses a character (input event).
  await page.evaluate(() => {
    const f = document.querySelector('#soft-keyboard');
    f.dispatchEvent(new KeyboardEvent('keydown', { key: 'Unidentified', keyCode: 229, bubbles: true }));
    f.value = f.value.slice(0, -1);
    f.dispatchEvent(new InputEvent('input', { inputType: 'deleteContentBackward', bubbles: true }));
  });
  await phoneType(page, ` > ${typed}`);
  await phoneEnter(page);
  await waitFile(typed, 'soft-42\n');
  log('typed through the phone keyboard field: soft-42');

  // Readable: how tall a text row is on the phone, in CSS px.
  const size = work('touch-stty');
  await phoneType(page, `stty size > ${size}`);
  await phoneEnter(page);
  await waitFor('stty size', 10_000, () => /^\d+ \d+\n$/.test(readFile(size) ?? ''));
  const [rows, cols] = readFile(size).trim().split(' ').map(Number);
  const cssHeight = await page.evaluate(() => document.querySelector('#screen').getBoundingClientRect().height);
  const rowPx = cssHeight / rows;
  log(`xterm has ${rows}x${cols} cells: a row is ${rowPx.toFixed(1)} CSS px tall (a session sized in device pixels would have made it ${(rowPx / sized.dpr).toFixed(1)})`);
  if (rowPx < 12) fail(`text rows are ${rowPx.toFixed(1)} CSS px tall on the phone (>= 12 expected)`);

  // --- an IME composition: only the committed text reaches the session ------------------------------
  const ime = work('touch-ime');
  await phoneType(page, 'echo ');
  await cdp.send('Input.imeSetComposition', { text: 'ni', selectionStart: 2, selectionEnd: 2 });
  await cdp.send('Input.imeSetComposition', { text: 'nihao', selectionStart: 5, selectionEnd: 5 });
  await cdp.send('Input.imeSetComposition', { text: '你好', selectionStart: 2, selectionEnd: 2 });
  await page.screenshot({ path: art('ime-composing') });
  await cdp.send('Input.insertText', { text: '你好' }); // commits the composition
  await phoneType(page, ` > ${ime}`);
  await phoneEnter(page);
  await waitFile(ime, '你好\n');
  log('IME composition "ni" → "nihao" → 你好 committed: the session got only 你好');

  // --- extra keys: sticky Ctrl + c interrupts; ↑ recalls the last command -------------------------
  const late = work('touch-late');
  await phoneType(page, `sleep 100; echo late > ${late}`);
  await phoneEnter(page);
  await sleep(800);
  await tapKey(page, 'Ctrl');
  const latched = await page.getByRole('button', { name: 'Ctrl', exact: true }).getAttribute('aria-pressed');
  if (latched !== 'true') fail(`Ctrl tapped: aria-pressed=${latched}`);
  await page.screenshot({ path: art('ctrl-latched') });
  await phoneType(page, 'c');
  const released = await page.getByRole('button', { name: 'Ctrl', exact: true }).getAttribute('aria-pressed');
  if (released !== 'false') fail(`Ctrl still latched after one key: aria-pressed=${released}`);
  const arrows = work('touch-arrows');
  await phoneType(page, `echo arrow >> ${arrows}`);
  await phoneEnter(page);
  await waitFile(arrows, 'arrow\n');
  await tapKey(page, 'Up arrow');
  await phoneEnter(page);
  await waitFile(arrows, 'arrow\narrow\n');
  // The shell ran the next commands, so the sleep was over long before its 100 s: Ctrl+C ended it,
  // and the rest of its line never ran.
  await sleep(500);
  if (fs.existsSync(late)) fail('Ctrl+C from the extra-keys bar did not interrupt the sleep: the late file exists');
  // Tab from the bar: the shell completes the command's name ("ech" → "echo ").
  const tabbed = work('touch-tab');
  await phoneType(page, 'ech');
  await tapKey(page, 'Tab');
  await phoneType(page, `tabbed > ${tabbed}`);
  await phoneEnter(page);
  await waitFile(tabbed, 'tabbed\n');
  await tapKey(page, 'Fn (function keys F1 to F12)');
  await page.getByRole('button', { name: 'F12', exact: true }).waitFor({ state: 'visible', timeout: 5_000 });
  checkLayout(await page.evaluate(touchLayout), '390x844 with F-keys');
  await page.screenshot({ path: art('fkeys') });
  await checkAccessibility(page, 'the extra keys with the F-keys row');
  await tapKey(page, 'Fn (function keys F1 to F12)');
  log('extra keys: Ctrl latched for one key (interrupted the sleep), ↑ recalled the command, Tab completed a command name, F-keys row');

  // --- long-press = right click; taps before and after a pinch zoom --------------------------------
  const mouse = work('touch-mouse');
  await phoneType(page, `printf '\\033[?1000h'; cat -v > ${mouse}; printf '\\033[?1000l'`);
  await phoneEnter(page);
  await sleep(800);
  const target = { x: Math.round(sized.w * 0.55), y: Math.round(sized.h * 0.2) }; // a session pixel
  const p1 = await pagePoint(page, target.x, target.y);
  await longPress(cdp, p1, 800);
  await sleep(200);
  await tapAt(cdp, p1);
  // Spread two fingers around a point left of and above the target (near the text at the top):
  // the view zooms around it.
  const centre = await pagePoint(page, Math.round(sized.w * 0.4), Math.round(sized.h * 0.08));
  const before = await page.evaluate(() => document.querySelector('#screen').getBoundingClientRect().width);
  await pinch(cdp, centre, 50, 200);
  await sleep(300);
  const zoom = await page.evaluate((w) => document.querySelector('#screen').getBoundingClientRect().width / w, before);
  if (!(zoom > 2 && zoom <= 4)) fail(`the pinch zoomed the view ${zoom.toFixed(2)}x (200 / 75 = 2.67x expected: the pinch starts once the fingers moved 16 px apart)`);
  await page.screenshot({ path: art('zoomed') });
  const p2 = await pagePoint(page, target.x, target.y); // the same session pixel, zoomed
  await tapAt(cdp, p2);
  await tapAt(cdp, p1); // the first screen point: another cell now
  // Two fingers moving up together scroll (wheel), zoomed or not, and leave the zoom alone.
  await twoFingerScroll(cdp, centre, 80, 100);
  await sleep(300);
  const zoomAfterScroll = await page.evaluate((w) => document.querySelector('#screen').getBoundingClientRect().width / w, before);
  if (Math.abs(zoomAfterScroll - zoom) > 0.001) fail(`a two-finger scroll changed the zoom from ${zoom} to ${zoomAfterScroll}`);
  // Pan: two fingers spread a little (a pinch), then move right together; the session point that
  // was between them stays between them (the view follows), and the session gets nothing.
  const underStart = await sessionPoint(page, centre);
  await pinchAndMove(cdp, centre, 100, 130, 70);
  await sleep(300);
  const moved = await pagePoint(page, underStart.x, underStart.y);
  const end = { x: centre.x + 70, y: centre.y };
  if (Math.hypot(moved.x - end.x, moved.y - end.y) > 4) {
    fail(`panning: session point ${underStart.x},${underStart.y} was under the fingers' start and is at ${moved.x.toFixed(0)},${moved.y.toFixed(0)}, not under their end ${end.x},${end.y}`);
  }
  await page.screenshot({ path: art('panned') });
  log(`two fingers pinched and moved 70 px right: session point ${underStart.x},${underStart.y} followed them (${moved.x.toFixed(1)},${moved.y.toFixed(1)})`);
  await phoneEnter(page);
  await tapKey(page, 'Ctrl');
  await phoneType(page, 'd');
  const text = await waitFor('the mouse reports', 15_000, () => {
    const t = readFile(mouse);
    return t && mouseReports(t).length >= 9 ? t : null;
  });
  const reports = mouseReports(text);
  log(`mouse reports: ${reports.map((r) => `${r.button}@${r.col},${r.row}`).join(' ')}`);
  const [rightDown, rightUp, tap1, tap1Up, tap2, tap2Up, tap3, , wheel] = reports;
  if (rightDown.button !== 2 || rightUp.button !== 3) fail(`the long-press reported buttons ${rightDown.button}, ${rightUp.button} (2 = right, then 3 = release)`);
  if (tap1.button !== 0 || tap1Up.button !== 3 || tap2.button !== 0 || tap2Up.button !== 3) fail('the taps were not left clicks');
  if (tap1.col !== rightDown.col || tap1.row !== rightDown.row) fail('the long-press and the tap at the same point reported different cells');
  if (tap2.col !== tap1.col || tap2.row !== tap1.row) {
    fail(`the same session point tapped on the zoomed view landed on cell ${tap2.col},${tap2.row}, not ${tap1.col},${tap1.row}`);
  }
  if (tap3.col === tap1.col && tap3.row === tap1.row) fail('zooming did not change where a screen point lands');
  // Wheel buttons 4 (up) and 5 (down) report as 64 and 65; 100 px up is 2 notches of 40 px.
  const wheels = reports.slice(8);
  if (!(wheel.button >= 64) || wheels.some((r) => r.button !== wheel.button) || wheels.length !== 2) {
    fail(`the two-finger scroll reported ${JSON.stringify(wheels)} (2 wheel notches expected)`);
  }
  log(`long-press = button 3 at cell ${rightDown.col},${rightDown.row}; zoomed ${zoom.toFixed(2)}x, the same session point → the same cell, the old screen point → ${tap3.col},${tap3.row}; two-finger scroll → ${wheels.length} wheel report(s) of button ${wheel.button - 60}`);

  // --- pinching in goes back to the whole session ---------------------------------------------------
  await pinch(cdp, centre, 200, 40);
  await sleep(300);
  const unzoomed = await page.evaluate((w) => document.querySelector('#screen').getBoundingClientRect().width / w, before);
  if (Math.abs(unzoomed - 1) > 0.001) fail(`pinching in left the view at ${unzoomed.toFixed(3)}x (1x expected)`);
  log('pinching in: back to 1x');

  // --- 360x740: the controls still fit ------------------------------------------------------------
  await page.setViewportSize({ width: 360, height: 740 });
  await sleep(800);
  checkLayout(await page.evaluate(touchLayout), '360x740');
  await page.screenshot({ path: art('360') });
  await page.getByRole('button', { name: 'Hide keyboard' }).tap();
  if (!(await page.evaluate(() => document.querySelector('#extra-keys').hidden))) fail('Hide keyboard left the bar open');
  if (!(await toggle.isVisible())) fail('after Hide keyboard the keyboard button is not back');
  checkLayout(await page.evaluate(touchLayout), '360x740, keyboard closed');
  await checkAccessibility(page, 'the session at 360x740 with the keyboard button');
  await page.screenshot({ path: art('360-closed') });
  log('at 360x740 every touch control is >= 44 px and nothing overflows; Hide keyboard closes the bar');

  // --- the end: exit the terminal ---------------------------------------------------------------------
  await toggle.tap();
  await phoneType(page, 'exit');
  await phoneEnter(page);
  await page.locator('#resources-view').waitFor({ state: 'visible', timeout: 15_000 });
  const left = await page.evaluate(() => ({
    bar: document.querySelector('#extra-keys').hidden, toggle: document.querySelector('#keyboard-toggle').hidden,
  }));
  if (!left.bar || left.toggle) fail(`the session ended with the bar open: the next one would start with it (${JSON.stringify(left)})`);
  log('the session ended with the bar open: it closed with the session view');
});

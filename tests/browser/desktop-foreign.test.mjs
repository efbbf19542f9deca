// A VM desktop from a golden image Portico did not build (issue 17), in real headless Chromium:
// Debian's own network installer (the debian-installer-12-netboot-amd64 package, unmodified),
// registered as deploy/guest/README.md tells an admin to, booted by the guest's firmware over PXE.
// The test launches it from the portal, waits for Debian's boot menu, and drives it with the
// keyboard, checking each key by the pixels it should change: Down moves the menu's highlight one
// row down, Up moves it back (the screen is then as before), Enter starts the installer, whose
// "Select a language" list arrives, and Down moves the list's highlight one row down there too.
// Nothing in the guest knows Portico: there is no agent and no serial marker; only the screen.
//
// Environment: PORTICO_URL, PORTICO_USER, PORTICO_PASSWORD, PORTICO_ARTIFACTS (screenshots),
// PORTICO_RESOURCE (the tile's name), PORTICO_VM_ACCEL (kvm or tcg: TCG boots far slower).
// Exit status 0 and "desktop-foreign test passed" on success.

import fs from 'node:fs';
import path from 'node:path';
import { fail, log, newPage, runTest, sessionAction, waitFor } from './helpers.mjs';

// Debian's boot menu (boot-screens/stdmenu.cfg: "menu color sel ... #76a1d0") and the installer's
// newt theme (the selected list entry: white on red). Stream encoding may shift colours slightly.
// minRun: the bars are 384 and 360 pixels wide; the installer's red title text has fewer per row.
const MENU_BAR = { rgb: [0x76, 0xa1, 0xd0], minRun: 200 };
const INSTALLER_BAR = { rgb: [0xaa, 0x00, 0x00], minRun: 200, ownColumns: true };
const TCG = process.env.PORTICO_VM_ACCEL !== 'kvm';
const BOOT_MS = TCG ? 600_000 : 120_000;  // PXE loads the installer's 40 MB initrd over TFTP

// Everything below with `In` in its name runs in the page.

/** Keeps a copy of the canvas as window.__snaps[name] (pictures stay in the page: they are large). */
function snapIn(name) {
  const c = document.querySelector('#screen');
  const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
  window.__snaps = window.__snaps ?? {};
  window.__snaps[name] = { width: c.width, height: c.height, data };
}

/** Size, non-black share and colour count of the canvas (a blank or boot screen has 1-2 colours). */
function statsIn() {
  const c = document.querySelector('#screen');
  const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
  const colours = new Set();
  let nonBlack = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] + data[i + 1] + data[i + 2] > 48) nonBlack++;
    if (colours.size < 4096) colours.add((data[i] >> 3) << 10 | (data[i + 1] >> 3) << 5 | (data[i + 2] >> 3));
  }
  return { width: c.width, height: c.height, nonBlackShare: nonBlack / (c.width * c.height), colours: colours.size };
}

function hashIn() {
  const c = document.querySelector('#screen');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let h = 2166136261;
  for (let i = 0; i < d.length; i += 32) h = Math.imul(h ^ d[i] ^ (d[i + 1] << 8) ^ (d[i + 2] << 16), 16777619);
  return `${c.width}x${c.height}:${h}`;
}

/**
 * The rows of the canvas in which at least `minRun` pixels have colour `rgb` (within a tolerance
 * for the stream's encoding): a menu's highlight bar. Null if there is none.
 */
function barRowsIn([rgb, minRun]) {
  const c = document.querySelector('#screen');
  const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
  const rows = [];
  let left = c.width;
  let right = -1;
  for (let y = 0; y < c.height; y++) {
    const xs = [];
    for (let x = 0; x < c.width; x++) {
      const i = (y * c.width + x) * 4;
      if (Math.abs(data[i] - rgb[0]) + Math.abs(data[i + 1] - rgb[1]) + Math.abs(data[i + 2] - rgb[2]) <= 60) xs.push(x);
    }
    if (xs.length >= minRun) {
      rows.push(y);
      left = Math.min(left, xs[0]);
      right = Math.max(right, xs[xs.length - 1]);
    }
  }
  if (!rows.length) return null;
  return { top: rows[0], bottom: rows[rows.length - 1], height: rows.length, left, right };
}

/**
 * The first and last row, and the number of rows, where two snapshots differ (a channel sum > 48),
 * looking at columns x0..x1 (default: all).
 */
function changedRowsIn([a, b, x0, x1]) {
  const p = window.__snaps[a];
  const q = window.__snaps[b];
  if (p.width !== q.width || p.height !== q.height) return { top: 0, bottom: q.height - 1, rows: q.height };
  const from = x0 ?? 0;
  const to = x1 ?? p.width - 1;
  let top = -1;
  let bottom = -1;
  let rows = 0;
  for (let y = 0; y < p.height; y++) {
    for (let i = (y * p.width + from) * 4; i <= (y * p.width + to) * 4; i += 4) {
      if (Math.abs(p.data[i] - q.data[i]) + Math.abs(p.data[i + 1] - q.data[i + 1]) + Math.abs(p.data[i + 2] - q.data[i + 2]) > 48) {
        if (top < 0) top = y;
        bottom = y;
        rows++;
        break;
      }
    }
  }
  return { top, bottom, rows };
}

async function errorText(page) {
  const error = page.locator('#error');
  return (await error.isVisible()) ? (await error.textContent()).trim() : '';
}

/** Waits until the canvas has not changed for `quietMs` and `accept(stats)` holds; returns the stats. */
async function settled(page, what, quietMs, ms, accept = () => true) {
  let last = '';
  let since = Date.now();
  return waitFor(what, ms, async () => {
    if (!(await page.locator('#session-view').isVisible())) fail(`the session ended: ${await errorText(page)}`);
    const now = await page.evaluate(hashIn);
    if (now !== last) { last = now; since = Date.now(); return null; }
    if (Date.now() - since < quietMs) return null;
    const s = await page.evaluate(statsIn);
    return (await accept(s)) ? s : null;
  }, 500);
}

/**
 * Presses `key` once and waits for the highlight bar of colour `bar.rgb` to move by `expectMove`
 * pixel rows (negative: up). Fails if it moves elsewhere or if pixels outside the old and new bar
 * changed. The screen before is kept as snapshot `name`-before, the one after as `name`.
 */
async function pressAndSeeBarMove(page, env, key, bar, expectMove, name) {
  await page.evaluate(snapIn, `${name}-before`);
  const from = await page.evaluate(barRowsIn, [bar.rgb, bar.minRun]);
  if (!from) fail(`no highlight bar before ${key}`);
  await page.keyboard.press(key);
  const t0 = Date.now();
  await waitFor(`the highlight to move after ${key}`, TCG ? 60_000 : 15_000, async () => {
    const to = await page.evaluate(barRowsIn, [bar.rgb, bar.minRun]);
    return to && to.top !== from.top;
  }, 200);
  const moved = Date.now() - t0;
  await settled(page, `the screen to settle after ${key}`, 1500, 30_000);
  await page.evaluate(snapIn, name);
  const to = await page.evaluate(barRowsIn, [bar.rgb, bar.minRun]);
  if (!to) fail(`${key}: the highlight bar vanished`);
  const step = to.top - from.top;
  if (Math.abs(step - expectMove) > 2 || Math.abs(to.height - from.height) > 2)
    fail(`${key}: the highlight went from rows ${from.top}-${from.bottom} to ${to.top}-${to.bottom}, not ${expectMove} rows down`);
  // Only the old and the new entry were redrawn: a key that did anything else would show here.
  // (With bar.ownColumns only the bar's columns count: a list's scroll bar may follow the key.)
  const diff = await page.evaluate(changedRowsIn,
    bar.ownColumns ? [`${name}-before`, name, from.left, from.right] : [`${name}-before`, name]);
  const lo = Math.min(from.top, to.top) - 2;
  const hi = Math.max(from.bottom, to.bottom) + 2;
  if (diff.top < lo || diff.bottom > hi)
    fail(`${key}: pixels changed in rows ${diff.top}-${diff.bottom}, outside the highlighted entries (${lo}-${hi})`);
  log(`${key}: highlight rows ${from.top}-${from.bottom} -> ${to.top}-${to.bottom} after ${moved} ms; changed rows ${diff.top}-${diff.bottom}`);
  await page.locator('#screen').screenshot({ path: path.join(env.PORTICO_ARTIFACTS, `foreign-${name}.png`) });
}

async function run(page, env) {
  await page.goto(env.PORTICO_URL, { waitUntil: 'load' });
  await page.locator('#login-view').waitFor({ state: 'visible', timeout: 10_000 });
  await page.fill('#username', env.PORTICO_USER);
  await page.fill('#password', env.PORTICO_PASSWORD);
  await page.click('#login');
  await page.locator('#resources-view').waitFor({ state: 'visible', timeout: 10_000 });
  const tile = page.locator('button.resource', { has: page.locator('.tile-name', { hasText: env.PORTICO_RESOURCE }) });
  if ((await tile.count()) !== 1) fail(`no "${env.PORTICO_RESOURCE}" resource in the portal`);
  const t0 = Date.now();
  await tile.click();
  await waitFor('the session view', 120_000, async () => {
    const err = await errorText(page);
    if (err) fail(`launch failed: ${err}`);
    return page.locator('#session-view').isVisible();
  });
  log(`session view ${Date.now() - t0} ms after the click`);

  // Debian's boot menu: its splash (many colours, hardly any black) with the first entry
  // highlighted, and still (the menu waits for a key: timeout 0 in its syslinux.cfg).
  const menu = await settled(page, "Debian's boot menu", 3000, BOOT_MS,
    async (s) => s.colours >= 16 && s.nonBlackShare > 0.9 && (await page.evaluate(barRowsIn, [MENU_BAR.rgb, MENU_BAR.minRun])));
  const bar = await page.evaluate(barRowsIn, [MENU_BAR.rgb, MENU_BAR.minRun]);
  log(`boot menu ${Date.now() - t0} ms after the click: ${JSON.stringify(menu)}, highlight rows ${bar.top}-${bar.bottom}`);
  const canvas = page.locator('#screen');
  await canvas.screenshot({ path: path.join(env.PORTICO_ARTIFACTS, 'foreign-menu.png') });
  await canvas.focus();

  // One menu row is one line of its font: the bar's own height. Down then Up is the menu as before.
  await pressAndSeeBarMove(page, env, 'ArrowDown', MENU_BAR, bar.height, 'menu-down');
  await pressAndSeeBarMove(page, env, 'ArrowUp', MENU_BAR, -bar.height, 'menu-up');
  const same = await page.evaluate(changedRowsIn, ['menu-down-before', 'menu-up']);
  if (same.rows > 0) fail(`after Down and Up the menu differs from before in rows ${same.top}-${same.bottom}`);

  // Enter on "Install": the installer's kernel boots and asks its first question. Its screen is
  // another mode (the splash's 640x480 gives way to the kernel's frame buffer), mostly not black
  // (newt's blue and grey), with the language list's red highlight.
  await page.keyboard.press('Enter');
  const t1 = Date.now();
  const installer = await settled(page, 'the installer\'s "Select a language" screen', 3000, BOOT_MS,
    async (s) => s.width !== menu.width && s.nonBlackShare > 0.5 && s.colours >= 4 &&
      (await page.evaluate(barRowsIn, [INSTALLER_BAR.rgb, INSTALLER_BAR.minRun])));
  const red = await page.evaluate(barRowsIn, [INSTALLER_BAR.rgb, INSTALLER_BAR.minRun]);
  log(`installer screen ${Date.now() - t1} ms after Enter: ${JSON.stringify(installer)}, highlight rows ${red.top}-${red.bottom}`);
  await canvas.screenshot({ path: path.join(env.PORTICO_ARTIFACTS, 'foreign-installer.png') });

  // The keyboard reaches the installer too: Down moves its list's highlight one line.
  await pressAndSeeBarMove(page, env, 'ArrowDown', INSTALLER_BAR, red.height, 'installer-down');

  const counters = await page.evaluate(() => ({ ...window.__portico }));
  log(`display counters: ${JSON.stringify(counters)}`);
  if (counters.decodeErrors) fail(`${counters.decodeErrors} decode error(s)`);
  fs.writeFileSync(path.join(env.PORTICO_ARTIFACTS, 'foreign-stats.json'),
    JSON.stringify({ menu, installer, counters }));

  await sessionAction(page, '#logoff');
  await page.click('#logoff-confirm');
  await page.locator('#resources-view').waitFor({ state: 'visible', timeout: 30_000 });
  log('logged off');
}

runTest('desktop-foreign', ['PORTICO_URL', 'PORTICO_USER', 'PORTICO_PASSWORD', 'PORTICO_ARTIFACTS', 'PORTICO_RESOURCE'],
  async ({ browser, env, pages, consoleLines }) => {
    const page = await newPage(browser, 'foreign', consoleLines, { viewport: { width: 1400, height: 1000 } });
    pages.set('foreign', page);
    await run(page, env);
  });

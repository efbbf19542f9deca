// Shared set-up of the browser tests: Debian's headless Chromium through playwright-core, timed
// log lines, polling with a deadline, environment checks, failure reporting with a screenshot and
// the page's console, typing on a US keyboard, the axe-core accessibility audit
// (checkAccessibility). The polling and failure helpers are used by every browser test.

import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.PORTICO_CHROMIUM ?? '/usr/bin/chromium';

const started = Date.now();
export const log = (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${line}`);

export class TestFailure extends Error {}
export const fail = (why) => { throw new TestFailure(why); };
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls fn until it returns a truthy value; fails with `what` after `ms`. */
export async function waitFor(what, ms, fn, intervalMs = 250) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) fail(`timed out after ${ms / 1000} s waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// Playwright types characters without pressing Shift (it sets event.key only), but the client sends
// physical keys, so shifted characters are typed as Shift + the key that carries them (US layout).
const SHIFTED = {
  '~': 'Backquote', '!': 'Digit1', '@': 'Digit2', '#': 'Digit3', '$': 'Digit4', '%': 'Digit5',
  '^': 'Digit6', '&': 'Digit7', '*': 'Digit8', '(': 'Digit9', ')': 'Digit0', '_': 'Minus', '+': 'Equal',
  '{': 'BracketLeft', '}': 'BracketRight', '|': 'Backslash', ':': 'Semicolon', '"': 'Quote',
  '<': 'Comma', '>': 'Period', '?': 'Slash',
};

/** Types printable ASCII as a US keyboard would, key by key. */
export async function typeText(page, text) {
  for (const ch of text) {
    if (/^[A-Z]$/.test(ch)) await page.keyboard.press(`Shift+Key${ch}`);
    else if (SHIFTED[ch]) await page.keyboard.press(`Shift+${SHIFTED[ch]}`);
    else if (/^[ -~]$/.test(ch)) await page.keyboard.type(ch);
    else fail(`cannot type ${JSON.stringify(ch)} as a key of a US keyboard`);
    await sleep(15);
  }
}

/** The named environment variables (all required); PORTICO_ARTIFACTS is created. */
export function environment(names) {
  const missing = names.filter((n) => !process.env[n]);
  if (missing.length) fail(`missing environment variable(s): ${missing.join(', ')}`);
  const env = Object.fromEntries(names.map((n) => [n, process.env[n]]));
  if (env.PORTICO_ARTIFACTS) fs.mkdirSync(env.PORTICO_ARTIFACTS, { recursive: true });
  return env;
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    headless: true,
  });
}

/** A page in its own context (own cookies), whose console and errors are collected as `name`. */
export async function newPage(browser, name, consoleLines, options = {}) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 }, ...options });
  const page = await context.newPage();
  page.on('console', (m) => consoleLines.push(`[${name} console.${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`[${name} pageerror] ${e.stack ?? e.message}`));
  return page;
}

/**
 * Runs body(browser, env, pages) and exits 0 with "<name> test passed", or 1 with the reason,
 * screenshots of every page in `pages` and the collected console lines.
 */
export async function runTest(name, envNames, body) {
  const consoleLines = [];
  const pages = new Map();
  let browser;
  let env;
  try {
    env = environment(envNames);
    browser = await launchBrowser();
    await body({ browser, env, pages, consoleLines });
    await browser.close();
    console.log(`${name} test passed`);
    process.exit(0);
  } catch (e) {
    console.error(`\n${name} test FAILED: ${e instanceof TestFailure ? e.message : e.stack ?? e}`);
    if (env?.PORTICO_ARTIFACTS) {
      for (const [label, page] of pages) {
        const shot = path.join(env.PORTICO_ARTIFACTS, `${name}-failure-${label}.png`);
        await page.screenshot({ path: shot }).then(() => console.error(`screenshot: ${shot}`), () => {});
      }
    }
    console.error(`page console (${consoleLines.length} lines):`);
    for (const line of consoleLines) console.error(`  ${line}`);
    await browser?.close().catch(() => {});
    process.exit(1);
  }
}

/** Counts of non-black pixels and pixels unlike the first one in a canvas (runs in the page). */
export function canvasStatsIn(selector) {
  const c = document.querySelector(selector);
  const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
  const [r0, g0, b0] = data;
  let nonBlack = 0;
  let differFirst = 0;
  for (let i = 0; i < data.length; i += 4) {
    const r = data[i]; const g = data[i + 1]; const b = data[i + 2];
    if (r + g + b > 48) nonBlack++;
    if (Math.abs(r - r0) + Math.abs(g - g0) + Math.abs(b - b0) > 48) differFirst++;
  }
  return { width: c.width, height: c.height, nonBlack, differFirst };
}

/**
 * Clicks a session action (#stats-toggle, #disconnect, #logoff …): they live in the session menu,
 * which is opened with the toolbar's handle first when the action is not on screen.
 */
/** Logs in to the portal as env's user and opens the resource tile named `name`; resolves when the session view shows. */
export async function openResource(page, env, name) {
  await page.goto(env.PORTICO_URL, { waitUntil: 'load' });
  await page.fill('#username', env.PORTICO_USER);
  await page.fill('#password', env.PORTICO_PASSWORD);
  await page.click('#login');
  await page.locator('#resources-view').waitFor({ state: 'visible', timeout: 10_000 });
  const exact = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  await page.locator('button.resource', { has: page.locator('.tile-name', { hasText: exact }) }).click();
  await page.locator('#session-view').waitFor({ state: 'visible', timeout: 60_000 });
}

/** Whether the session's canvas holds Pointer Lock. */
export const pointerLocked = (page) => page.evaluate(() => document.pointerLockElement === document.querySelector('#screen'));

/** Waits for the page's "Click to capture the mouse" hint: the session's pointer became relative. */
export async function expectCaptureHint(page, ms) {
  const hint = page.locator('#pointer-hint');
  await hint.waitFor({ state: 'visible', timeout: ms });
  if (!/click to capture the mouse/i.test(await hint.textContent())) fail(`hint says "${await hint.textContent()}"`);
  return hint;
}

/**
 * Mouse motion in steps from the middle of the session's canvas, as a mouse under Pointer Lock
 * makes it: moveBy(dx, dy, times); at() is where the pointer is now (for clicks).
 */
export async function pointerMover(page) {
  const box = await page.locator('#screen').boundingBox();
  let at = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  return {
    at: () => at,
    moveBy: async (dx, dy, times) => {
      for (let i = 0; i < times; i++) {
        at = { x: at.x + dx, y: at.y + dy };
        await page.mouse.move(at.x, at.y);
        await sleep(30);
      }
    },
  };
}

export async function sessionAction(page, selector) {
  if (!(await page.locator(selector).isVisible()) && !(await page.locator('#session-menu').isVisible())) {
    await page.click('#session-menu-toggle');
  }
  await page.click(selector);
}

export const readFile = (f) => { try { return fs.readFileSync(f, 'utf8'); } catch { return null; } };

/**
 * Checks a session row of the portal says "Disconnected since <time>" with the time of the
 * disconnect (between fromMs and toMs, epoch ms, a second either side), not the session's start
 * (createdAt, epoch s). The time is the page's toLocaleTimeString, so it is formatted in the page.
 */
export async function checkDisconnectedSince(page, rowText, fromMs, toMs, createdAt) {
  const m = /^Disconnected since (.+?)(?: on .*)?$/.exec(rowText ?? '');
  if (!m) fail(`the session row says "${rowText}", not "Disconnected since <time>"`);
  const { window, started } = await page.evaluate(([from, to, created]) => {
    const times = [];
    for (let s = Math.floor(from / 1000) - 1; s <= Math.ceil(to / 1000) + 1; s++) times.push(new Date(s * 1000).toLocaleTimeString());
    return { window: times, started: new Date(created * 1000).toLocaleTimeString() };
  }, [fromMs, toMs, createdAt]);
  if (window.includes(started)) fail(`the session started at ${started}, too near its disconnect to tell the two times apart`);
  if (m[1] === started) fail(`"${rowText}" gives the session's start time (${started}), not the disconnect's`);
  if (!window.includes(m[1])) fail(`"${rowText}": ${m[1]} is not the time of the disconnect (${window[0]} to ${window.at(-1)})`);
  return m[1];
}

/** Runs a shell command in the session's terminal (it has the keyboard) and waits for the file it writes. */
export async function shell(page, command, file, ms = 15_000) {
  fs.rmSync(file, { force: true });
  await typeText(page, `${command} > '${file}.tmp' && mv '${file}.tmp' '${file}'`);
  await page.keyboard.press('Enter');
  return waitFor(`the output of "${command}"`, ms, () => readFile(file));
}

/** The X keycodes held down on the session's display (XQueryKeymap through libX11). */
export function xKeysDown(x11) {
  const py = [
    'import ctypes',
    "x = ctypes.cdll.LoadLibrary('libX11.so.6')",
    'x.XOpenDisplay.restype = ctypes.c_void_p',
    'd = x.XOpenDisplay(None)',
    "assert d, 'cannot open the display'",
    'k = (ctypes.c_ubyte * 32)()',
    'x.XQueryKeymap(ctypes.c_void_p(d), k)',
    "print(' '.join(str(i * 8 + b) for i in range(32) for b in range(8) if k[i] >> b & 1))",
  ].join('\n');
  const out = execFileSync('python3', ['-c', py], { env: { ...process.env, DISPLAY: x11.display, XAUTHORITY: x11.xauthority } });
  return out.toString().trim().split(/\s+/).filter(Boolean).map(Number);
}

// ---- accessibility ----------------------------------------------------------------------------

/**
 * Every control on screen is reachable with the keyboard alone: from the top of the page, Tab is
 * pressed (a few more times than there are controls) and every visible, enabled control in the
 * tab order (buttons, links, inputs, selects, tabindex >= 0) must have had the focus at least
 * once. Fails naming those that never had it. Returns how many controls there were.
 */
export async function checkKeyboardReach(page, label) {
  const total = await page.evaluate(() => {
    const focusable = 'a[href], button, input:not([type="hidden"]), select, textarea, [tabindex]';
    const shown = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden' && !el.closest('[inert]');
    const state = { reached: new Set(), controls: [...document.querySelectorAll(focusable)].filter((el) => !el.disabled && el.tabIndex >= 0 && shown(el)) };
    if (window.__keyboardReach) document.removeEventListener('focusin', window.__keyboardReach.listener, true);
    state.listener = (e) => state.reached.add(e.target);
    document.addEventListener('focusin', state.listener, true);
    window.__keyboardReach = state;
    document.activeElement?.blur();
    return state.controls.length;
  });
  for (let i = 0; i < total + 3; i++) await page.keyboard.press('Tab');
  const missed = await page.evaluate(() => {
    const state = window.__keyboardReach;
    document.removeEventListener('focusin', state.listener, true);
    return state.controls.filter((el) => el.isConnected && !state.reached.has(el))
      .map((el) => (el.id ? `#${el.id}` : `${el.tagName.toLowerCase()} "${el.getAttribute('aria-label') ?? el.textContent.trim().slice(0, 40)}"`));
  });
  if (missed.length) fail(`${label}: ${missed.length} of ${total} controls never got the focus from Tab: ${missed.join(', ')}`);
  log(`keyboard ${label}: Tab reached all ${total} controls`);
  return total;
}

const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
let axeSource = null;

/** axe-core's browser build from node_modules (package.json pins it; npm ci installs it). */
function loadAxe() {
  if (axeSource) return axeSource;
  const require = createRequire(import.meta.url);
  let file;
  try {
    file = require.resolve('axe-core/axe.min.js');
  } catch {
    fail('axe-core is not installed: run `npm ci` in tests/browser (deploy/install-deps.sh does)');
  }
  axeSource = fs.readFileSync(file, 'utf8');
  return axeSource;
}

/**
 * Runs axe-core in the page against WCAG 2.1 A and AA and fails on any serious or critical
 * violation, naming each (rule id, impact, the elements' selectors). Minor and moderate ones are
 * logged. `label` names the page state in the messages. Returns the violations found.
 */
export async function checkAccessibility(page, label) {
  // Evaluated through the DevTools protocol, not a <script>: the pages' CSP allows no inline script.
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(loadAxe());
  const violations = await page.evaluate(async (tags) => {
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(' ')) }));
  }, WCAG_TAGS);
  const describe = (v) => `${v.id} (${v.impact}): ${v.help} — ${v.targets.slice(0, 8).join(', ')}${v.targets.length > 8 ? ` and ${v.targets.length - 8} more` : ''}`;
  const blocking = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of violations.filter((x) => !blocking.includes(x))) log(`axe ${label}: ${describe(v)}`);
  if (blocking.length) fail(`axe found ${blocking.length} serious or critical WCAG 2.1 AA violation(s) on ${label}:\n  ${blocking.map(describe).join('\n  ')}`);
  log(`axe ${label}: no serious or critical WCAG 2.1 A/AA violations (${violations.length} minor or moderate)`);
  return violations;
}

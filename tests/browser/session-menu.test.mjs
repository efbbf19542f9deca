// End-to-end browser test of daily use (issue 16) in real headless Chromium against a real broker
// and session host:
//   a keyboard-only walk: log in (focus lands on the search box), launch Terminal with Enter, type
//   in the session, Ctrl+Alt+Shift opens the session menu (the completing modifier never reaches
//   the X display, none is left held), Escape gives the keyboard back to the session, Tab reaches
//   Disconnect, back in the portal with the focus on the session just left;
//   one URL per session: Forward, Reload and Back on the session's URL (same session id, kept
//   running), a URL of an ended session explains itself;
//   every action of the menu from its handle: stats (and Ctrl+Alt+Shift+S), Send keys (Ctrl+W
//   reaches the shell), Ctrl+Alt+Del, 1:1, full screen, clipboard, Log off (asks; Cancel keeps);
//   favourites and recent launches, kept across a reload;
//   a 360x740 phone: the toolbar and every menu action on screen, no sideways scrolling;
//   the portal's live picture of the running session (a JPEG from its host, refreshed: its pixels
//   follow what the terminal shows), and the last-seen picture, labelled so, when there is none;
//   axe-core (WCAG 2.1 A/AA, no serious or critical finding) on the menu's states and the portal's
//   favourites, Recent filter, live and last-seen pictures.
//
// Environment: PORTICO_URL, PORTICO_USER, PORTICO_PASSWORD, PORTICO_WORKDIR (a folder the typed
// commands write into), PORTICO_ARTIFACTS (screenshots of each state).
// Exit status 0 and "session menu test passed" on success, 1 with the reason otherwise.

import path from 'node:path';
import {
  canvasStatsIn, checkAccessibility, checkDisconnectedSince, checkKeyboardReach, fail, log, newPage, readFile, runTest, sessionAction,
  shell, sleep, typeText, waitFor, xKeysDown,
} from './helpers.mjs';

const X_CTRL = 37; // X keycodes (evdev + 8) of the left modifiers
const X_ALT = 64;
const X_SHIFT = 50;
const MENU_ACTIONS = ['#ctrl-alt-del', '#send-keys', '#clipboard-toggle', '#scale-mode', '#fullscreen', '#stats-toggle',
  '#zoom-in', '#zoom-out', '#disconnect', '#logoff'];

async function errorText(page) {
  const error = page.locator('#error');
  return (await error.isVisible()) ? (await error.textContent()).trim() : '';
}

const focused = (page) => page.evaluate(() => {
  const a = document.activeElement;
  return a ? (a.id ? `#${a.id}` : `${a.tagName.toLowerCase()}.${a.className}`) : 'none';
});

/** Waits for the session view with a picture and a live connection; returns the session id. */
async function sessionUp(page, what) {
  await waitFor(`${what}: the first picture`, 30_000, async () => {
    const err = await errorText(page);
    if (err) fail(`${what}: ${err}`);
    if (!(await page.locator('#session-view').isVisible())) return false;
    return (await page.evaluate(canvasStatsIn, '#screen')).nonBlack > 200;
  });
  await waitFor(`${what}: connected`, 10_000, () => page.evaluate(() => window.__porticoDebug.connected()));
  return page.evaluate(() => window.__porticoDebug.sessionId());
}

/** Presses Tab (only the keyboard) until the focused element matches `selector`. */
async function tabTo(page, selector, max = 30) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((sel) => document.activeElement?.matches(sel), selector)) return;
  }
  fail(`Tab did not reach ${selector} (focus stays on ${await focused(page)})`);
}

async function menuChord(page) {
  await page.keyboard.down('Control');
  await page.keyboard.down('Alt');
  await page.keyboard.down('Shift');
  await page.keyboard.up('Shift');
  await page.keyboard.up('Alt');
  await page.keyboard.up('Control');
}

const hashOf = (page) => page.evaluate(() => location.hash);

/** The session's live picture in the list, decoded: size, alt text, refresh count and grey levels. */
function livePicture(page, sid) {
  return page.evaluate((id) => {
    const img = document.querySelector(`#sessions li[data-session-id="${id}"] .session-picture img[data-live="true"]`);
    if (!img?.complete || !img.naturalWidth) return null;
    const bytes = Number(img.dataset.bytes);
    const c = document.createElement('canvas');
    c.width = img.naturalWidth;
    c.height = img.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    const grey = [];
    for (let i = 0; i < d.length; i += 4) grey.push(Math.round((d[i] + d[i + 1] + d[i + 2]) / 3));
    return { w: c.width, h: c.height, alt: img.alt, refreshed: Number(img.dataset.refreshed), bytes, grey };
  }, sid);
}

/** The share of pixels whose grey level differs by more than 40 between two pictures of one size. */
function changedShare(a, b) {
  if (a.w !== b.w || a.h !== b.h) return 1;
  let changed = 0;
  for (let i = 0; i < a.grey.length; i++) if (Math.abs(a.grey[i] - b.grey[i]) > 40) changed++;
  return changed / a.grey.length;
}

/** The row's state text ('' when not listed), read in one step: the list is redrawn as it changes. */
function listedState(page, sid) {
  return page.evaluate((id) => document.querySelector(`#sessions li[data-session-id="${id}"] .session-state`)?.textContent.trim() ?? '', sid);
}

async function keyboardWalk(page, env, art, work) {
  await page.goto(env.PORTICO_URL, { waitUntil: 'load' });
  await page.locator('#login-view').waitFor({ state: 'visible', timeout: 10_000 });
  if ((await focused(page)) !== '#username') fail(`the login page does not start in the user name (focus: ${await focused(page)})`);
  await page.keyboard.type(env.PORTICO_USER);
  await page.keyboard.press('Tab');
  await page.keyboard.type(env.PORTICO_PASSWORD);
  await page.keyboard.press('Enter');
  await page.locator('#resources-view').waitFor({ state: 'visible', timeout: 10_000 });
  await waitFor('the focus on the search box after login', 5_000, async () => (await focused(page)) === '#search');
  await page.screenshot({ path: art('walk-1-portal-after-login.png') });
  await tabTo(page, 'button[aria-label="Launch Terminal (application)"]');
  await page.keyboard.press('Enter');
  const sid = await sessionUp(page, 'launch with Enter');
  if ((await hashOf(page)) !== `#/session/${encodeURIComponent(sid)}`) fail(`the session's URL is ${await page.url()}`);
  if ((await focused(page)) !== '#screen') fail(`the launched session does not have the keyboard (focus: ${await focused(page)})`);
  await sleep(800); // the shell prompt
  const x11 = { display: '', xauthority: '' };
  [x11.display, x11.xauthority] = (await shell(page, 'echo "$DISPLAY $XAUTHORITY"', work('x11'))).trim().split(' ');
  log(`keyboard walk: logged in, focus on the search box, Tab to Terminal, Enter: session ${sid} at ${await hashOf(page)}, typed in it`);

  // Ctrl+Alt+Shift: the first two modifiers reach the session as pressed, the third never does.
  await page.keyboard.down('Control');
  await page.keyboard.down('Alt');
  await waitFor('Ctrl and Alt down on the X display', 5_000, () => {
    const down = xKeysDown(x11);
    return down.includes(X_CTRL) && down.includes(X_ALT);
  });
  await page.keyboard.down('Shift');
  await sleep(300);
  if (xKeysDown(x11).includes(X_SHIFT)) fail('the Shift that completes Ctrl+Alt+Shift reached the session');
  await page.keyboard.up('Shift');
  await page.keyboard.up('Alt');
  await page.keyboard.up('Control');
  await page.locator('#session-menu').waitFor({ state: 'visible', timeout: 3_000 });
  const inMenu = await page.evaluate(() => document.activeElement?.closest('#session-menu') !== null);
  if (!inMenu) fail(`Ctrl+Alt+Shift opened the menu without the keyboard in it (focus: ${await focused(page)})`);
  if ((await page.getAttribute('#session-menu-toggle', 'aria-expanded')) !== 'true') fail('the handle does not say the menu is open');
  const held = xKeysDown(x11).filter((k) => [X_CTRL, X_ALT, X_SHIFT].includes(k));
  if (held.length) fail(`modifiers left held on the X display after the menu shortcut: ${held}`);
  await page.screenshot({ path: art('walk-2-menu-by-shortcut.png') });
  await checkAccessibility(page, 'session menu open');
  await page.keyboard.press('Escape');
  await page.locator('#session-menu').waitFor({ state: 'hidden', timeout: 3_000 });
  if ((await focused(page)) !== '#screen') fail(`Escape did not give the keyboard back to the session (focus: ${await focused(page)})`);
  if ((await shell(page, 'echo plain', work('after-menu'))) !== 'plain\n') fail('text typed after the menu was not plain');
  log('Ctrl+Alt+Shift opened the menu (Shift never reached X, nothing held after), Escape returned to the session');

  // The way out of the screen, then Tab to Disconnect.
  await menuChord(page);
  await page.locator('#session-menu').waitFor({ state: 'visible', timeout: 3_000 });
  await tabTo(page, '#disconnect');
  const createdAt = await page.evaluate(async (id) => (await (await fetch('/api/v1/sessions')).json()).find((x) => x.id === id).created_at, sid);
  const disconnectedFrom = Date.now();
  await page.keyboard.press('Enter');
  await page.locator('#resources-view').waitFor({ state: 'visible', timeout: 10_000 });
  // At once (before the broker has heard of it) and from then on: disconnected since now.
  const row = await waitFor('the session listed', 5_000, () => listedState(page, sid));
  const since = await checkDisconnectedSince(page, row, disconnectedFrom, Date.now(), createdAt);
  await waitFor('the focus on the session just left', 5_000, () => page.evaluate(
    (id) => document.activeElement?.matches(`#sessions li[data-session-id="${id}"] button.reconnect`), sid));
  if ((await hashOf(page)) !== '') fail(`the portal's URL keeps a fragment: ${await page.url()}`);
  await page.screenshot({ path: art('walk-3-portal-after-disconnect.png') });
  log(`Tab reached Disconnect in the menu; the portal lists it "Disconnected since ${since}" with the focus on its Reconnect; clean URL`);
  return sid;
}

async function urlPerSession(page, art, work, sid) {
  // Disconnect went Back to the portal's entry: Forward returns to the session.
  await page.goForward();
  if ((await sessionUp(page, 'Forward')) !== sid) fail('Forward opened another session');
  log(`Forward: session ${sid} again`);
  await page.reload({ waitUntil: 'load' });
  if ((await sessionUp(page, 'Reload on the session URL')) !== sid) fail('Reload opened another session');
  await page.screenshot({ path: art('url-1-session-after-reload.png') });
  log(`Reload on ${await hashOf(page)}: reconnected to the same session`);
  await page.goBack();
  await page.locator('#resources-view').waitFor({ state: 'visible', timeout: 10_000 });
  if ((await hashOf(page)) !== '') fail(`Back leaves the URL at ${await page.url()}`);
  await waitFor('the session listed after Back', 5_000, async () => /^(Running|Disconnected)/.test(await listedState(page, sid)));
  const live = await page.evaluate(async () => (await fetch('/api/v1/sessions')).json());
  if (!live.some((s) => s.id === sid)) fail('the session ended on Back');
  // The list shows the session live: a picture from its host, labelled as live.
  const before = await waitFor('the live picture', 15_000, () => livePicture(page, sid));
  if (!/live view/.test(before.alt)) fail(`the session's picture is not labelled as live: "${before.alt}"`);
  await page.screenshot({ path: art('url-2-portal-after-back.png') });
  await checkAccessibility(page, 'portal with a live picture');
  await checkKeyboardReach(page, 'the portal with a session listed');
  log(`Back: the portal, the session still running ("${await listedState(page, sid)}"), live picture ${before.w}x${before.h} (${before.bytes} bytes) "${before.alt}"`);

  // The picture follows the screen: fill the terminal, come back, and the next refresh shows it.
  await page.goForward();
  if ((await sessionUp(page, 'Forward to fill the terminal')) !== sid) fail('Forward opened another session');
  await typeText(page, 'seq 1000000 1000400');
  await page.keyboard.press('Enter');
  await shell(page, 'echo filled', work('filled'));
  await page.goBack();
  await page.locator('#resources-view').waitFor({ state: 'visible', timeout: 10_000 });
  const after = await waitFor('a refreshed live picture showing the filled terminal', 20_000, async () => {
    const p = await livePicture(page, sid);
    return p && p.refreshed > before.refreshed && changedShare(before, p) > 0.02 ? p : null;
  });
  await page.screenshot({ path: art('url-3-portal-live-picture-changed.png') });
  log(`the live picture changed with the screen: ${(changedShare(before, after) * 100).toFixed(1)}% of its pixels after ${after.refreshed - before.refreshed} refresh(es), ${after.bytes} bytes`);

  // No picture from the broker (a host that cannot answer): this tab's last-seen one, labelled so.
  await page.route('**/api/v1/sessions/*/thumbnail', (route) => route.fulfill({ status: 503, contentType: 'application/json',
    body: JSON.stringify({ error: { code: 'thumbnail_unavailable', message: 'no picture' } }) }));
  const seen = await waitFor('the last-seen picture instead', 15_000, () => page.evaluate((id) => {
    const img = document.querySelector(`#sessions li[data-session-id="${id}"] .last-seen img[data-live="false"]`);
    const caption = img?.parentElement.querySelector('figcaption')?.textContent ?? '';
    return img?.complete && img.naturalWidth > 0 ? { w: img.naturalWidth, h: img.naturalHeight, alt: img.alt, caption } : null;
  }, sid));
  await page.unroute('**/api/v1/sessions/*/thumbnail');
  if (!/as last seen here at /.test(seen.alt) || !/^Last seen /.test(seen.caption)) {
    fail(`the stand-in picture is not labelled as last seen: "${seen.alt}" / "${seen.caption}"`);
  }
  await page.screenshot({ path: art('url-4-portal-last-seen.png') });
  await checkAccessibility(page, 'portal with a last-seen picture');
  log(`without a live picture: "${seen.caption}", ${seen.w}x${seen.h} "${seen.alt}"`);
  await page.goForward();
  if ((await sessionUp(page, 'Forward after Back')) !== sid) fail('Forward after Back opened another session');
  log('Forward after Back: the same session');
}

async function menuActions(page, art, work) {
  // The handle: visible, named, big enough for a finger.
  const handle = page.locator('#session-menu-toggle');
  const box = await handle.boundingBox();
  if (!box || box.width < 44 || box.height < 44) fail(`the menu handle is ${JSON.stringify(box)}, under 44x44 px`);
  if (!(await handle.getAttribute('aria-label'))) fail('the menu handle has no accessible name');
  await handle.click();
  await page.locator('#session-menu').waitFor({ state: 'visible', timeout: 3_000 });
  await page.screenshot({ path: art('menu-1-by-handle.png') });
  await handle.click();
  await page.locator('#session-menu').waitFor({ state: 'hidden', timeout: 3_000 });

  await sessionAction(page, '#stats-toggle');
  await page.locator('#stats').waitFor({ state: 'visible', timeout: 3_000 });
  if ((await page.getAttribute('#stats-toggle', 'aria-pressed')) !== 'true') fail('Stats is not shown as pressed');
  if (await page.locator('#session-menu').isVisible()) fail('the menu stays open after Stats');
  await waitFor('figures in the stats overlay', 5_000, async () => /\d/.test(await page.textContent('#stats dd[data-stat="frames"]')));
  await page.screenshot({ path: art('menu-2-stats.png') });
  await page.locator('#screen').focus();
  await page.keyboard.press('Control+Alt+Shift+KeyS');
  await page.locator('#stats').waitFor({ state: 'hidden', timeout: 3_000 });
  if (await page.locator('#session-menu').isVisible()) fail('Ctrl+Alt+Shift+S opened the menu as well');
  log('Stats from the menu, Ctrl+Alt+Shift+S hides it (and does not open the menu)');

  await typeText(page, 'echo abc xyz');
  await sessionAction(page, '#send-keys');
  if ((await page.evaluate(() => document.activeElement?.textContent)) !== 'Ctrl+W') fail('Send keys did not focus Ctrl+W');
  await page.screenshot({ path: art('menu-3-send-keys.png') });
  await checkAccessibility(page, 'session menu with Send keys open');
  await page.keyboard.press('Enter');
  if (await page.locator('#session-menu').isVisible()) fail('the menu stays open after sending keys');
  if ((await focused(page)) !== '#screen') fail('sending keys did not give the keyboard back to the session');
  await typeText(page, `def > '${work('ctrlw')}'`);
  await page.keyboard.press('Enter');
  await waitFor('Ctrl+W to erase "xyz"', 15_000, () => readFile(work('ctrlw')) === 'abc def\n');
  log('Send keys → Ctrl+W reached the shell');

  // At 1200 px the status line has room: not cut off.
  await page.setViewportSize({ width: 1200, height: 800 });
  const status = await waitFor('the status at 1200 px', 5_000, () => page.evaluate(() => {
    const el = document.querySelector('#status');
    return el.textContent ? { text: el.textContent, fits: el.scrollWidth <= el.clientWidth } : null;
  }));
  if (!status.fits) fail(`the status "${status.text}" is cut off at 1200 px`);
  await page.screenshot({ path: art('toolbar-1200.png') });
  await page.setViewportSize({ width: 1400, height: 900 });

  await sessionAction(page, '#ctrl-alt-del');
  await sleep(300);
  if (!(await page.evaluate(() => window.__porticoDebug.connected()))) fail('the session dropped after Ctrl+Alt+Del');
  await sessionAction(page, '#scale-mode');
  if ((await page.getAttribute('#scale-mode', 'aria-pressed')) !== 'true') fail('1:1 is not shown as pressed');
  if (!(await page.evaluate(() => document.querySelector('#screen').classList.contains('one-to-one')))) fail('1:1 did not change the view');
  await sessionAction(page, '#scale-mode');
  // Zoom without a two-finger gesture: the menu's buttons step the view's zoom (it stays open).
  const transform = () => page.evaluate(() => document.querySelector('#screen').style.transform);
  await sessionAction(page, '#zoom-in');
  await page.click('#zoom-in');
  if ((await page.textContent('#zoom-level')) !== '150%') fail(`two Zoom in steps show ${await page.textContent('#zoom-level')}`);
  if (!/scale\(1\.5\)/.test(await transform())) fail(`zoomed view has transform "${await transform()}"`);
  await page.screenshot({ path: art('menu-4-zoomed.png') });
  await page.click('#zoom-out');
  await page.click('#zoom-out');
  if ((await transform()) !== '' || (await page.textContent('#zoom-level')) !== '100%') fail('Zoom out did not return to the whole view');
  await page.keyboard.press('Escape');
  await page.locator('#session-menu').waitFor({ state: 'hidden', timeout: 3_000 });
  await sessionAction(page, '#fullscreen');
  await waitFor('full screen', 5_000, () => page.evaluate(() => Boolean(document.fullscreenElement)));
  await page.screenshot({ path: art('menu-5-fullscreen.png') });
  await sessionAction(page, '#fullscreen');
  await waitFor('full screen to end', 5_000, () => page.evaluate(() => !document.fullscreenElement));
  await sessionAction(page, '#clipboard-toggle');
  await page.locator('#clipboard-text').waitFor({ state: 'visible', timeout: 3_000 });
  await page.fill('#clipboard-text', 'from the menu');
  await checkAccessibility(page, 'session menu with the clipboard panel');
  await page.keyboard.press('Escape'); // folds the clipboard panel only
  if (!(await page.locator('#session-menu').isVisible())) fail('Escape in the clipboard panel closed the whole menu');
  await page.keyboard.press('Escape');
  await page.locator('#session-menu').waitFor({ state: 'hidden', timeout: 3_000 });
  log('Ctrl+Alt+Del, 1:1, zoom steps, full screen and the clipboard panel work from the menu');

  await sessionAction(page, '#logoff');
  await page.locator('#logoff-confirm-box').waitFor({ state: 'visible', timeout: 3_000 });
  if ((await focused(page)) !== '#logoff-cancel') fail('the Log off question does not start on Cancel');
  await page.screenshot({ path: art('menu-6-logoff-question.png') });
  await checkAccessibility(page, 'session menu asking Log off');
  await page.keyboard.press('Enter');
  await sleep(300);
  if (!(await page.locator('#session-view').isVisible())) fail('Cancel on the Log off question left the session');
}

async function favourites(page, art, sid) {
  await sessionAction(page, '#logoff');
  await page.click('#logoff-confirm');
  await page.locator('#resources-view').waitFor({ state: 'visible', timeout: 15_000 });
  if (await page.locator(`#sessions li[data-session-id="${sid}"]`).count()) fail('the logged-off session is still listed');
  if ((await hashOf(page)) !== '') fail(`after Log off the URL is ${await page.url()}`);
  log('Log off (confirmed) ended the session: not listed, portal URL');

  const star = page.locator('li[data-resource-id="terminal"] .star');
  if ((await star.getAttribute('aria-pressed')) !== 'false') fail('Terminal starts as a favourite');
  await star.click();
  if ((await star.getAttribute('aria-pressed')) !== 'true') fail('the star did not press');
  await page.reload({ waitUntil: 'load' });
  await page.locator('#resources-view').waitFor({ state: 'visible', timeout: 10_000 });
  if ((await star.getAttribute('aria-pressed')) !== 'true') fail('the favourite was lost on reload');
  const first = await page.getAttribute('#resources li:first-child', 'data-resource-id');
  if (first !== 'terminal') fail(`the favourite is not first (first: ${first})`);
  await page.click('[data-filter="favourites"]');
  const favs = await page.$$eval('#resources li', (lis) => lis.map((li) => li.dataset.resourceId));
  if (favs.join() !== 'terminal') fail(`Favourites shows ${favs}`);
  await page.click('[data-filter="recent"]');
  const recent = await page.$$eval('#resources li', (lis) => lis.map((li) => li.dataset.resourceId));
  if (recent[0] !== 'terminal') fail(`Recent does not start with the Terminal just used: ${recent}`);
  await page.screenshot({ path: art('portal-recent.png') });
  await checkAccessibility(page, 'portal, Recent filter, a favourite starred');
  await checkKeyboardReach(page, 'the portal, Recent filter');
  await page.click('[data-filter="all"]');
  await star.click();
  log(`favourite kept across a reload and shown first; Favourites filter: ${favs}; Recent: ${recent}`);

  // The URL of a session that has ended says so and leaves a clean portal URL.
  await page.goto(`${new URL(page.url()).origin}/#/session/${encodeURIComponent(sid)}`, { waitUntil: 'load' });
  await waitFor('the ended-session message', 10_000, async () => /has ended/.test(await errorText(page)));
  if ((await hashOf(page)) !== '') fail(`the ended session's URL stays: ${await page.url()}`);
  await page.screenshot({ path: art('url-3-ended-session.png') });
  log(`an ended session's URL: "${await errorText(page)}"`);
}

/**
 * The desktop's portal, left open, follows what the phone does (its list is fetched every 5 s):
 * `state` is the start of the row's text expected ('Running', 'Disconnected'), or null: gone.
 */
async function desktopSees(desk, sid, state, what) {
  await waitFor(`the desktop's portal to show the phone's session ${what}`, 15_000, async () => {
    const text = await listedState(desk, sid);
    return state === null ? text === '' : text.startsWith(`${state} since `);
  });
}

const onReconnectOf = (page, sid) => page.evaluate(
  (id) => document.activeElement?.matches(`#sessions li[data-session-id="${id}"] button.reconnect`), sid);

async function phone(browser, env, pages, consoleLines, art, desk) {
  const page = await newPage(browser, 'phone', consoleLines, { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  pages.set('phone', page);
  const noSideways = async (what) => {
    const w = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: innerWidth }));
    if (w.scroll > w.inner) fail(`${what} scrolls sideways at 360 px: ${w.scroll} > ${w.inner}`);
  };
  await page.goto(env.PORTICO_URL, { waitUntil: 'load' });
  // A wrong password first: the login page with its error, audited on the phone.
  await page.fill('#username', env.PORTICO_USER);
  await page.fill('#password', 'not-the-password');
  await page.tap('#login');
  await waitFor('the wrong-password message', 10_000, async () => /Wrong user name or password/.test(await errorText(page)));
  await noSideways('the login page');
  await page.screenshot({ path: art('phone-0-login-error.png') });
  await checkAccessibility(page, 'the login page with an error at 360x740');
  await page.fill('#password', env.PORTICO_PASSWORD);
  await page.tap('#login');
  await page.locator('#resources-view').waitFor({ state: 'visible', timeout: 10_000 });
  await noSideways('the portal');
  await page.screenshot({ path: art('phone-1-portal.png') });
  await checkAccessibility(page, 'the portal at 360x740');
  await page.tap('button[aria-label="Launch Terminal (application)"]');
  const sid = await sessionUp(page, 'phone launch');
  // The desktop's portal (no reload) lists the session the phone started, and keeps the keyboard
  // on its Reconnect while the row changes.
  await desktopSees(desk, sid, 'Running', 'running');
  await desk.locator(`#sessions li[data-session-id="${sid}"] button.reconnect`).focus();
  await noSideways('the session view');
  const inView = (sel) => page.evaluate((s) => {
    const r = document.querySelector(s).getBoundingClientRect();
    return r.width > 0 && r.left >= 0 && r.top >= 0 && r.right <= innerWidth && r.bottom <= innerHeight;
  }, sel);
  for (const sel of ['#session-name', '#status', '#session-menu-toggle']) {
    if (!(await inView(sel))) fail(`${sel} is not on screen at 360x740`);
  }
  await page.screenshot({ path: art('phone-2-session.png') });
  await page.tap('#session-menu-toggle');
  await page.locator('#session-menu').waitFor({ state: 'visible', timeout: 3_000 });
  for (const sel of MENU_ACTIONS) {
    if (!(await page.locator(sel).isVisible()) || !(await inView(sel))) fail(`${sel} is not on screen in the menu at 360x740`);
  }
  await noSideways('the open menu');
  await page.screenshot({ path: art('phone-3-menu.png') });
  await checkAccessibility(page, 'session menu at 360x740');
  await page.tap('#disconnect');
  await desktopSees(desk, sid, 'Disconnected', 'disconnected');
  if (!(await onReconnectOf(desk, sid))) fail(`the desktop's list was redrawn and the keyboard left the session's Reconnect (focus: ${await focused(desk)})`);
  await page.locator('#resources-view').waitFor({ state: 'visible', timeout: 10_000 });
  await page.locator(`#sessions li[data-session-id="${sid}"] .session-picture img`).waitFor({ state: 'visible', timeout: 10_000 });
  await noSideways('the portal listing the disconnected session');
  await page.screenshot({ path: art('phone-4-portal-session-list.png'), fullPage: true });
  // Log off in the list asks first (beside Reconnect, a finger can miss): Cancel focused, Escape
  // takes the question back with the focus on Log off, Log off in the question ends the session.
  const row = (sel) => page.locator(`#sessions li[data-session-id="${sid}"] ${sel}`);
  await row('.session-logoff').tap();
  await row('.session-logoff-question').waitFor({ state: 'visible', timeout: 3_000 });
  if ((await focused(page)) !== 'button.secondary logoff-cancel') fail(`the list's Log off question does not start on Cancel (focus: ${await focused(page)})`);
  await noSideways('the portal asking Log off');
  await page.screenshot({ path: art('phone-5-portal-logoff-question.png') });
  await checkAccessibility(page, 'the portal asking Log off at 360x740');
  await sleep(5_500); // a refresh of the list later: still asking
  if (!(await row('.session-logoff-question').isVisible())) fail('the list\'s refresh took the Log off question away');
  await page.keyboard.press('Escape');
  await row('.session-logoff-question').waitFor({ state: 'hidden', timeout: 3_000 });
  if ((await focused(page)) !== 'button.secondary session-logoff') fail(`Escape left the focus on ${await focused(page)}, not Log off`);
  if ((await listedState(page, sid)) === '') fail('Escape in the Log off question ended the session');
  await row('.session-logoff').tap();
  await row('.logoff-confirm').tap();
  await waitFor('the phone session to end', 15_000, async () => page.locator('#no-sessions').isVisible());
  await desktopSees(desk, sid, null, 'gone after its log off');
  if ((await focused(desk)) !== '#search') fail(`the session the keyboard was on ended: the focus went to ${await focused(desk)}, not the search box`);
  log('the desktop\'s open portal followed the phone: the session listed running, then disconnected (keyboard kept on its Reconnect), then gone');
  await noSideways('the portal after the session');
  log('360x740: name, status and handle on screen; every action on screen in the menu; no sideways scrolling');
}

runTest('session menu', ['PORTICO_URL', 'PORTICO_USER', 'PORTICO_PASSWORD', 'PORTICO_WORKDIR', 'PORTICO_ARTIFACTS'],
  async ({ browser, env, pages, consoleLines }) => {
    const art = (name) => path.join(env.PORTICO_ARTIFACTS, `session-menu-${name}`);
    const work = (name) => path.join(env.PORTICO_WORKDIR, name);
    const page = await newPage(browser, 'desktop', consoleLines);
    pages.set('desktop', page);
    const sid = await keyboardWalk(page, env, art, work);
    await urlPerSession(page, art, work, sid);
    await menuActions(page, art, work);
    await favourites(page, art, sid);
    await phone(browser, env, pages, consoleLines, art, page);
  });

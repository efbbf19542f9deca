// End-to-end browser test of the admin console (issue 3) in real headless Chromium against a real
// broker and session host:
//   admin logs in at /console/ and sees the host; drain ("draining") and undrain ("up"); a user
//   launches Terminal in the portal and the session appears in Sessions (live figures from the
//   host's session_stats when it sends them); shadow it (frames arrive, the canvas is not blank,
//   the frame counter grows while the user types); disconnect it (the user is told and the page
//   does not reconnect by itself; the user reconnects); log it off; drain, undrain, shadow and log off
//   are in the Audit tab; a helpdesk user sees no edit controls and a direct POST gets 403; a plain
//   user is told the console is not for them.
// Issue 16: the History view lists the logged-off session with its duration and end reason; the
//   audit says in a sentence who launched what where, and downloads as CSV; drain, log off, role
//   changes and deletes ask first in an accessible dialog (Cancel focused, Escape closes, Cancel
//   changes nothing); generated secrets stay in a panel with a Copy button that copies; the group
//   "Add member" list is labelled and starts at "Choose a user…"; an app's command takes quoted
//   words; at 360 px no tab scrolls the page sideways; axe-core finds no serious or critical WCAG
//   2.1 A/AA violation on any console tab, the dialog, the secret panel, or the portal's login,
//   resource list and session view. Screenshots of each state in PORTICO_ARTIFACTS.
//
// Environment: PORTICO_URL (the portal, ending in /), PORTICO_USER / PORTICO_PASSWORD (a user
// entitled to Terminal), PORTICO_ADMIN_PASSWORD (user "admin"), PORTICO_HOST_ID, PORTICO_ARTIFACTS.
// Exit status 0 and "console test passed" on success, 1 with the reason otherwise.

import path from 'node:path';
import {
  runTest, newPage, waitFor, fail, log, sleep, canvasStatsIn, checkAccessibility, checkDisconnectedSince, checkKeyboardReach,
} from './helpers.mjs';

const HELPDESK = { name: 'helpdesk1', password: 'helpdesk-password-1' };

async function consoleLogin(page, url, user, password) {
  await page.goto(new URL('console/', url).href, { waitUntil: 'load' });
  await page.locator('#login-view').waitFor({ state: 'visible', timeout: 10_000 });
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

async function errorShown(page) {
  return (await page.locator('#error').isVisible()) ? (await page.textContent('#error-text')).trim() : '';
}

/** The text of a cell (by data-col) in the row of `key`, or null when the row is absent. */
// The text of one cell, or null when the row is not there. Read in one step in the page: the live
// update may remove the row between a count() and a textContent() (which would then wait 30 s).
async function cell(page, table, key, col) {
  return page.evaluate((sel) => document.querySelector(sel)?.textContent.trim() ?? null,
    `${table} tbody tr[data-key="${key}"] [data-col="${col}"]`);
}

async function tab(page, name) {
  await page.getByRole('tab', { name }).click();
  const id = await page.getByRole('tab', { name }).getAttribute('aria-controls');
  await page.locator(`#${id}`).waitFor({ state: 'visible', timeout: 3_000 });
}

// The sentence of the newest audit row with this action and target (rows carry the raw target).
async function auditHas(page, action, target) {
  return waitFor(`audit entry ${action} ${target}`, 10_000, () => page.evaluate(([a, t]) => [...document.querySelectorAll('#audit-table tbody tr')]
    .find((tr) => tr.querySelector('[data-col="action"]')?.textContent === a && tr.dataset.target === t)
    ?.querySelector('[data-col="what"]').textContent, [action, target]));
}

/** The open confirmation dialog: its title, the focused element, and that it is an alertdialog. */
async function dialogState(page) {
  return page.evaluate(() => {
    const d = document.querySelector('#confirm-dialog');
    return { open: d.open, role: d.getAttribute('role'), title: document.querySelector('#confirm-title').textContent,
      focused: document.activeElement?.id };
  });
}

/** Waits for the confirmation dialog and answers it: 'confirm', 'cancel' or 'escape'. */
async function answerDialog(page, answer) {
  await page.locator('#confirm-dialog').waitFor({ state: 'visible', timeout: 3_000 });
  const d = await dialogState(page);
  if (d.role !== 'alertdialog' || d.focused !== 'confirm-cancel') fail(`the confirmation dialog is not an alertdialog focused on Cancel: ${JSON.stringify(d)}`);
  if (answer === 'escape') await page.keyboard.press('Escape');
  else await page.locator(answer === 'confirm' ? '#confirm-ok' : '#confirm-cancel').click();
  await page.locator('#confirm-dialog').waitFor({ state: 'hidden', timeout: 3_000 });
  return d.title;
}

/** Controls without a name; every input and select needs a <label> of its own (not aria-label alone). */
async function unlabelled(page) {
  return page.evaluate(() => [...document.querySelectorAll('input:not([type="hidden"]), select, button, canvas')]
    .filter((el) => (el.tagName === 'INPUT' || el.tagName === 'SELECT' ? !el.labels?.length
      : !(el.getAttribute('aria-label') || el.textContent.trim())))
    .map((el) => el.id || el.outerHTML.slice(0, 80)));
}

/** Every console tab scrolls only inside its tables: the page is no wider than the window. */
async function noSidewaysScroll(page, what) {
  const w = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, window: window.innerWidth }));
  if (w.page > w.window) fail(`${what}: the page is ${w.page} px wide in a ${w.window} px window (sideways scrolling)`);
}

await runTest('console', ['PORTICO_URL', 'PORTICO_USER', 'PORTICO_PASSWORD', 'PORTICO_ADMIN_PASSWORD', 'PORTICO_HOST_ID',
  'PORTICO_ARTIFACTS'], async ({ browser, env, pages, consoleLines }) => {
  const art = (name) => path.join(env.PORTICO_ARTIFACTS, name);
  const hostId = env.PORTICO_HOST_ID;

  // --- admin: login, the host is up ----------------------------------------------------------
  const admin = await newPage(browser, 'admin', consoleLines, { permissions: ['clipboard-read', 'clipboard-write'] });
  pages.set('admin', admin);
  // Questions are the console's own dialog: a native confirm() would be a regression.
  admin.on('dialog', (d) => { consoleLines.push(`native dialog: ${d.message()}`); d.dismiss(); fail(`a native ${d.type()} dialog appeared: ${d.message()}`); });
  await admin.goto(new URL('console/', env.PORTICO_URL).href, { waitUntil: 'load' });
  await admin.locator('#login-view').waitFor({ state: 'visible', timeout: 10_000 });
  await checkAccessibility(admin, 'the console login');
  await consoleLogin(admin, env.PORTICO_URL, 'admin', env.PORTICO_ADMIN_PASSWORD);
  await admin.locator('#console-view').waitFor({ state: 'visible', timeout: 10_000 });
  if ((await admin.getByRole('tab', { name: 'Hosts' }).getAttribute('aria-selected')) !== 'true') fail('Hosts is not the first tab');
  await waitFor(`host ${hostId} "up"`, 10_000, async () => (await cell(admin, '#hosts-table', hostId, 'state')) === 'up');
  const load = { sessions: await cell(admin, '#hosts-table', hostId, 'sessions'), cpu: await cell(admin, '#hosts-table', hostId, 'cpu'),
    mem: await cell(admin, '#hosts-table', hostId, 'mem') };
  log(`admin sees host ${hostId} up, load ${JSON.stringify(load)}`);
  if (!/^\d+ \/ \d+$/.test(load.sessions) || !/%$/.test(load.cpu) || !/%$/.test(load.mem)) fail(`host load not shown: ${JSON.stringify(load)}`);
  await admin.screenshot({ path: art('console-hosts.png') });

  // Keyboard: the tab list follows the WAI-ARIA pattern (arrow keys move and select).
  await admin.getByRole('tab', { name: 'Hosts' }).focus();
  await admin.keyboard.press('ArrowRight');
  const moved = await admin.evaluate(() => ({ focus: document.activeElement?.id, selected: document.querySelector('[role="tab"][aria-selected="true"]')?.id,
    panel: !document.querySelector('#panel-sessions').hidden }));
  if (moved.focus !== 'tab-sessions' || moved.selected !== 'tab-sessions' || !moved.panel) fail(`ArrowRight on the tabs: ${JSON.stringify(moved)}`);
  await admin.keyboard.press('ArrowLeft');
  await admin.locator('#panel-hosts').waitFor({ state: 'visible', timeout: 3_000 });
  // Every control has an accessible name (label, aria-label or text).
  const unnamed = await unlabelled(admin);
  if (unnamed.length) fail(`controls without a label or name: ${unnamed.join(', ')}`);
  log('tabs work with the arrow keys; every control is labelled');
  await checkAccessibility(admin, 'the Hosts tab');
  await checkKeyboardReach(admin, 'the Hosts tab');

  // --- drain / undrain (live update without reload) -------------------------------------------
  await admin.getByRole('button', { name: `Drain ${hostId}` }).click();
  await admin.locator('#confirm-dialog').waitFor({ state: 'visible', timeout: 3_000 });
  await admin.screenshot({ path: art('console-confirm-drain.png') });
  await checkAccessibility(admin, 'the confirmation dialog');
  await answerDialog(admin, 'cancel');
  await sleep(2_500); // a poll later: still up
  if ((await cell(admin, '#hosts-table', hostId, 'state')) !== 'up') fail('Cancel in the drain question drained the host');
  await admin.getByRole('button', { name: `Drain ${hostId}` }).click();
  await answerDialog(admin, 'confirm');
  await waitFor('"draining"', 5_000, async () => (await cell(admin, '#hosts-table', hostId, 'state')) === 'draining');
  log('drained: the table shows "draining"');
  await admin.screenshot({ path: art('console-host-draining.png') });
  await admin.getByRole('button', { name: `Undrain ${hostId}` }).click();
  await waitFor('"up" again', 5_000, async () => (await cell(admin, '#hosts-table', hostId, 'state')) === 'up');
  log('undrained: "up" again');

  // An enrollment token is shown once.
  await admin.getByLabel('Host id (optional)').fill('spare-host');
  await admin.getByRole('button', { name: 'Create enrollment token' }).click();
  const token = await waitFor('the enrollment token', 5_000, async () => admin.inputValue('#secret-value'));
  if (token.length < 20) fail(`enrollment token looks wrong: ${token}`);
  if (!/will not be shown again/.test(await admin.textContent('#secret-note'))) fail('the token panel does not say it is shown once');
  await admin.getByRole('button', { name: 'Copy' }).click();
  await waitFor('"Copied"', 3_000, async () => /Copied/.test(await admin.textContent('#secret-copied')));
  const copied = await admin.evaluate(() => navigator.clipboard.readText());
  if (copied !== token) fail(`Copy put ${JSON.stringify(copied)} on the clipboard, not the token`);
  await checkAccessibility(admin, 'the secret panel');
  // The panel stays while the admin does other things, until Done.
  await admin.getByRole('button', { name: `Undrain ${hostId}` }).waitFor({ timeout: 3_000 }).catch(() => {});
  await sleep(2_500);
  if (!(await admin.locator('#secret-panel').isVisible())) fail('the token panel went away by itself');
  await admin.getByRole('button', { name: 'Done' }).click();
  if (await admin.locator('#secret-panel').isVisible()) fail('Done did not close the token panel');
  log(`enrollment token created (${token.length} characters), copied with the Copy button, panel kept until Done`);

  // --- a user launches Terminal in the portal ---------------------------------------------------
  const user = await newPage(browser, 'user', consoleLines);
  pages.set('user', user);
  await user.goto(env.PORTICO_URL, { waitUntil: 'load' });
  await user.locator('#login-view').waitFor({ state: 'visible', timeout: 10_000 });
  await checkAccessibility(user, 'the portal login');
  await user.fill('#username', env.PORTICO_USER);
  await user.fill('#password', env.PORTICO_PASSWORD);
  await user.press('#password', 'Enter');
  await user.locator('#resources-view').waitFor({ state: 'visible', timeout: 10_000 });
  await user.getByRole('button', { name: 'Launch Terminal (application)' }).waitFor({ timeout: 10_000 });
  await checkAccessibility(user, 'the portal resource list');
  await user.getByRole('button', { name: 'Launch Terminal (application)' }).click();
  await user.locator('#session-view').waitFor({ state: 'visible', timeout: 15_000 });
  await waitFor('the user\'s session to connect', 20_000, () => user.evaluate(() => window.__porticoDebug?.connected()));
  const sid = await user.evaluate(() => window.__porticoDebug.sessionId());
  log(`user ${env.PORTICO_USER} launched Terminal: session ${sid}`);
  await checkAccessibility(user, 'the portal session view');

  // --- Sessions tab: the session, live figures ----------------------------------------------------
  await tab(admin, 'Sessions');
  await waitFor('the session in Sessions as active', 10_000, async () => (await cell(admin, '#sessions-table', sid, 'state')) === 'active');
  const row = admin.locator(`#sessions-table tbody tr[data-key="${sid}"]`);
  const rowText = (await row.textContent()).replace(/\s+/g, ' ');
  if (!rowText.includes(env.PORTICO_USER) || !rowText.includes(hostId)) fail(`the session row lacks user or host: ${rowText}`);
  const resourceShown = await cell(admin, '#sessions-table', sid, 'resource');
  if (resourceShown !== 'Terminal') fail(`the session row names its resource "${resourceShown}", not its name "Terminal"`);
  const figures = async () => ({
    fps: await cell(admin, '#sessions-table', sid, 'fps'),
    rtt: await cell(admin, '#sessions-table', sid, 'rtt'),
    kbps: await cell(admin, '#sessions-table', sid, 'kbps'),
    viewers: await cell(admin, '#sessions-table', sid, 'viewers'),
  });
  // The host reports the session's stream figures every 2 s (session_stats).
  const stats = await waitFor('live stream figures (fps, latency) from the host', 15_000, async () => {
    const f = await figures();
    return f.fps !== '–' && f.rtt !== '–' ? f : null;
  });
  log(`live figures from the host: ${JSON.stringify(stats)}`);
  if (!(Number(stats.fps) >= 0) || !(Number(stats.rtt) >= 0)) fail(`figures are not numbers: ${JSON.stringify(stats)}`);
  await admin.screenshot({ path: art('console-sessions.png') });
  await checkAccessibility(admin, 'the Sessions tab');
  await checkKeyboardReach(admin, 'the Sessions tab');

  // --- shadow: a view-only stream in the console -------------------------------------------------
  await admin.getByRole('button', { name: `Shadow terminal of ${env.PORTICO_USER}` }).or(
    admin.getByRole('button', { name: `Shadow Terminal of ${env.PORTICO_USER}` })).first().click();
  await admin.locator('#shadow-view').waitFor({ state: 'visible', timeout: 5_000 });
  await waitFor('shadow frames', 20_000, async () => {
    const err = await errorShown(admin);
    if (err) fail(`shadow failed: ${err}`);
    return (await admin.evaluate(() => window.__porticoConsole.shadowFrames())) > 0;
  });
  const pic = await waitFor('a non-blank shadow picture', 15_000, async () => {
    const s = await admin.evaluate(canvasStatsIn, '#shadow-screen');
    return s.nonBlack > 200 || s.differFirst > 200 ? s : null;
  });
  log(`shadowing: picture ${pic.width}x${pic.height}, ${pic.nonBlack} non-black px`);
  // Shadowing is not silent: the watched user's page names who watches, over the session.
  const banner = await waitFor('the "being viewed" banner on the user\'s page', 10_000, () => user.evaluate(() => {
    const b = document.querySelector('#shadow-banner');
    const r = b.getBoundingClientRect();
    return !b.hidden && r.height > 0 && r.top >= 0 && r.bottom <= innerHeight ? b.textContent : null;
  }));
  if (banner !== 'Your session is being viewed by admin') fail(`the watched user's banner says "${banner}"`);
  await user.screenshot({ path: art('portal-session-shadowed.png') });
  await checkAccessibility(user, 'the session view while shadowed (banner)');
  log(`the watched user sees "${banner}"`);
  // The user types: the shadow's frame counter grows (the console shows it too).
  const before = await admin.evaluate(() => window.__porticoConsole.shadowFrames());
  await user.locator('#screen').focus();
  await user.keyboard.type('echo shadowed');
  await waitFor('more shadow frames after typing', 10_000, async () => (await admin.evaluate(() => window.__porticoConsole.shadowFrames())) > before);
  const shownFrames = Number(await admin.textContent('#shadow-frames'));
  await waitFor('the frame counter on the page', 3_000, async () => Number(await admin.textContent('#shadow-frames')) > 0);
  log(`shadow frames ${before} → ${await admin.evaluate(() => window.__porticoConsole.shadowFrames())} (page shows ${shownFrames})`);
  if (stats) {
    // The shadow is a second viewer; the host reports it within a stats period or two.
    await waitFor('2 viewers while shadowing', 8_000, async () => (await cell(admin, '#sessions-table', sid, 'viewers')) === '2');
    log(`live figures while shadowing: ${JSON.stringify(await figures())}`);
  }
  await admin.screenshot({ path: art('console-shadow.png') });
  await checkAccessibility(admin, 'the shadow view');
  if (!(await user.evaluate(() => window.__porticoDebug.connected()))) fail('the user lost the session while being shadowed');
  await admin.getByRole('button', { name: 'Stop shadowing' }).click();
  if (await admin.locator('#shadow-view').isVisible()) fail('Stop shadowing did not close the view');
  await user.locator('#shadow-banner').waitFor({ state: 'hidden', timeout: 10_000 });
  log('Stop shadowing: the user\'s banner went away');

  // --- disconnect: the user's connection ends and stays ended ------------------------------------
  const createdAt = await user.evaluate(async (id) => (await (await fetch('/api/v1/sessions')).json()).find((x) => x.id === id).created_at, sid);
  const disconnectedFrom = Date.now();
  await admin.getByRole('button', { name: /^Disconnect .* of / }).first().click();
  await waitFor('the user\'s page to leave the session', 10_000, async () => user.locator('#resources-view').isVisible());
  const told = (await user.textContent('#notice')).trim();
  if (!/administrator disconnected you/.test(told)) fail(`after an admin disconnect the user's page says "${told}"`);
  // The session's URL is left too, so a Reload does not join it again by itself.
  if ((await user.evaluate(() => location.hash)) !== '') fail(`after an admin disconnect the user's URL is ${user.url()}`);
  await waitFor('the session in Sessions as disconnected', 10_000, async () => (await cell(admin, '#sessions-table', sid, 'state')) === 'disconnected');
  // Not a network drop: the page does not reconnect by itself (its first retry would come within 1 s).
  await sleep(4_000);
  if (await user.locator('#session-view').isVisible()) fail('the user\'s page reconnected by itself after an admin disconnect');
  const stateAfter = await cell(admin, '#sessions-table', sid, 'state');
  if (stateAfter !== 'disconnected') fail(`4 s after the admin disconnect the session is "${stateAfter}", not disconnected`);
  // By now the list is the broker's (refreshed since): the time is the disconnect's, not the launch's.
  const listed = await user.textContent(`#sessions li[data-session-id="${sid}"] .session-state`);
  const since = await checkDisconnectedSince(user, listed, disconnectedFrom, disconnectedFrom + 10_000, createdAt);
  await user.screenshot({ path: art('portal-after-admin-disconnect.png') });
  await checkAccessibility(user, 'the portal after an admin disconnect (notice)');
  await checkKeyboardReach(user, 'the portal listing the disconnected session');
  log(`admin disconnect: the user is told ("${told}") and stays disconnected, listed "Disconnected since ${since}"`);
  // The user reconnects by choice.
  await user.getByRole('button', { name: 'Reconnect to Terminal' }).click();
  await waitFor('the user\'s session to reconnect', 20_000, () => user.evaluate(() => window.__porticoDebug?.connected()));

  // --- log off -----------------------------------------------------------------------------------
  await admin.getByRole('button', { name: /^Log off .* of / }).first().click();
  const asked = await answerDialog(admin, 'confirm');
  if (!/^Log off Terminal of /.test(asked)) fail(`the log off question is "${asked}"`);
  await waitFor('the session to leave the live list', 15_000, async () => (await cell(admin, '#sessions-table', sid, 'state')) === null);
  await waitFor('the user\'s portal to notice the end', 15_000, async () => user.locator('#resources-view').isVisible());
  log('logged off from the console after the question; the user is back in the portal');

  // --- history: the ended session, its duration and why it ended --------------------------------
  await admin.getByLabel('Show').selectOption('history');
  const ended = await waitFor('the session in the history', 10_000, async () => {
    const reason = await cell(admin, '#history-table', sid, 'end-reason');
    return reason ? { reason, duration: await cell(admin, '#history-table', sid, 'duration'), bytes: await cell(admin, '#history-table', sid, 'bytes'),
      quality: await cell(admin, '#history-table', sid, 'quality'), user: await cell(admin, '#history-table', sid, 'user'),
      resource: await cell(admin, '#history-table', sid, 'resource'), started: await cell(admin, '#history-table', sid, 'started'),
      ended: await cell(admin, '#history-table', sid, 'ended') } : null;
  });
  log(`history: ${JSON.stringify(ended)}`);
  if (ended.reason !== 'logged off by admin') fail(`the history gives the end reason "${ended.reason}", not "logged off by admin"`);
  if (!/^\d+m \d\ds$/.test(ended.duration) || ended.duration === '0m 00s') fail(`the history gives the duration "${ended.duration}"`);
  if (ended.user !== env.PORTICO_USER || ended.resource !== 'Terminal') fail(`the history row names ${ended.user} / ${ended.resource}`);
  // Start and end as times of day: the launch's and the log off's (this test's own minutes).
  const times = await admin.evaluate(async (id) => {
    const h = (await (await fetch('/api/v1/sessions/history?scope=all&limit=50')).json()).find((x) => x.id === id);
    return { started: new Date(h.created_at * 1000).toLocaleString(), ended: new Date(h.ended_at * 1000).toLocaleString(),
      endedAgo: Date.now() / 1000 - h.ended_at };
  }, sid);
  if (ended.started !== times.started || ended.ended !== times.ended || ended.started === ended.ended || !(times.endedAgo >= 0 && times.endedAgo < 60)) {
    fail(`the history shows start "${ended.started}" and end "${ended.ended}" (the broker: ${JSON.stringify(times)})`);
  }
  if (!/^[\d.]+ (kB|MB)$/.test(ended.bytes)) fail(`the history shows "${ended.bytes}" sent by a session that streamed`);
  if (!/fps/.test(ended.quality)) fail(`the history shows the average quality "${ended.quality}"`);
  await admin.screenshot({ path: art('console-history.png') });
  await checkAccessibility(admin, 'the session history');
  await checkKeyboardReach(admin, 'the session history');
  await admin.getByLabel('Show').selectOption('live');

  // --- audit: drain, undrain, shadow, logoff --------------------------------------------------------
  await tab(admin, 'Audit');
  await auditHas(admin, 'host.drain', hostId);
  await auditHas(admin, 'host.undrain', hostId);
  await auditHas(admin, 'session.shadow', sid);
  await auditHas(admin, 'session.logoff', sid);
  const launchSentence = await auditHas(admin, 'session.launch', sid);
  const wantLaunch = `${env.PORTICO_USER} started Terminal on ${hostId} (session ${sid.slice(0, 8)}…)`;
  if (launchSentence !== wantLaunch) fail(`the launch reads "${launchSentence}", not "${wantLaunch}"`);
  const endSentence = await auditHas(admin, 'session.end', sid);
  if (!new RegExp(`^Terminal of ${env.PORTICO_USER} on ${hostId} ended after \\d+ s: logged off by admin \\(session ${sid.slice(0, 8)}…\\)$`).test(endSentence)) {
    fail(`the end reads "${endSentence}"`);
  }
  const raw = await admin.evaluate(() => [...document.querySelectorAll('#audit-table [data-col="what"]')].map((c) => c.textContent)
    .filter((t) => /[{}[\]]|\b1 members\b/.test(t)));
  if (raw.length) fail(`audit sentences with raw JSON: ${raw.join(' | ')}`);
  log(`audit shows drain, undrain, shadow, logoff; "${launchSentence}"; "${endSentence}"`);
  // The CSV download: what the link gives (the broker writes it).
  const csv = await admin.evaluate(async () => {
    const r = await fetch(document.querySelector('#audit-csv').href);
    return { status: r.status, type: r.headers.get('content-type'), disposition: r.headers.get('content-disposition'), text: await r.text() };
  });
  if (csv.status !== 200 || !/^text\/csv/.test(csv.type) || !/attachment/.test(csv.disposition)) fail(`the CSV link answers ${JSON.stringify({ ...csv, text: csv.text.slice(0, 200) })}`);
  if (!csv.text.startsWith('id,time,actor,action,target,from,detail\r\n') || !csv.text.includes(`,session.launch,${sid},`)) fail(`the CSV lacks the launch: ${csv.text.slice(0, 300)}`);
  log(`audit CSV: ${csv.text.split('\r\n').length - 2} rows`);
  await checkAccessibility(admin, 'the Audit tab');
  await checkKeyboardReach(admin, 'the Audit tab');
  await admin.getByLabel('What (exact action)').fill('host.drain');
  await admin.getByRole('button', { name: 'Filter' }).click();
  await waitFor('the filtered audit', 5_000, () => admin.evaluate(() => {
    const actions = [...document.querySelectorAll('#audit-table tbody [data-col="action"]')].map((c) => c.textContent);
    return actions.length > 0 && actions.every((a) => a === 'host.drain');
  }));
  log('audit filter "host.drain" shows only drains');
  const csvHref = await admin.getAttribute('#audit-csv', 'href');
  if (!/format=csv/.test(csvHref) || !/action=host.drain/.test(csvHref)) fail(`the CSV link does not follow the filter: ${csvHref}`);
  await admin.screenshot({ path: art('console-audit.png') });
  await admin.getByLabel('What (exact action)').fill('');
  await admin.getByRole('button', { name: 'Filter' }).click();

  // --- users: create a helpdesk user in the console --------------------------------------------
  await tab(admin, 'Users & groups');
  await admin.getByLabel('Name', { exact: true }).first().fill(HELPDESK.name);
  await admin.getByLabel('Role', { exact: true }).selectOption('helpdesk');
  await admin.getByLabel('Password (empty = generate)').fill(HELPDESK.password);
  await admin.getByRole('button', { name: 'Create user' }).click();
  await waitFor('the helpdesk user in the table', 5_000, async () => (await admin.locator(`#users-table tr[data-key="${HELPDESK.name}"]`).count()) === 1);
  log(`admin created ${HELPDESK.name} (helpdesk)`);
  // A generated password: shown once in the panel, copied by its button, and it works.
  await admin.getByLabel('Name', { exact: true }).first().fill('generated1');
  await admin.getByLabel('Role', { exact: true }).selectOption('user');
  await admin.getByRole('button', { name: 'Create user' }).click();
  const generated = await waitFor('the generated password', 5_000, async () => (await admin.locator('#secret-panel').isVisible()) && admin.inputValue('#secret-value'));
  await admin.getByRole('button', { name: 'Copy' }).click();
  await waitFor('"Copied"', 3_000, async () => /Copied/.test(await admin.textContent('#secret-copied')));
  if ((await admin.evaluate(() => navigator.clipboard.readText())) !== generated) fail('Copy did not put the generated password on the clipboard');
  await admin.screenshot({ path: art('console-generated-password.png') });
  const works = await admin.evaluate(async (pw) => (await fetch('/api/v1/login', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: 'generated1', password: pw }), credentials: 'omit' })).status, generated);
  if (works !== 200) fail(`logging in with the generated password answered ${works}`);
  await admin.getByRole('button', { name: 'Done' }).click();
  log(`generated password (${generated.length} characters) shown once, copied, and it logs in`);

  // Groups: create one with the helpdesk user, then add demo with the per-row controls.
  await admin.getByLabel('Name', { exact: true }).nth(1).fill('support');
  await admin.getByLabel('Members (comma separated)').fill(HELPDESK.name);
  await admin.getByRole('button', { name: 'Create group' }).click();
  await waitFor('group "support"', 5_000, async () => (await admin.locator('#groups-table tr[data-key="support"]').count()) === 1);
  const picker = admin.getByLabel('User to add to support');
  const start = await picker.evaluate((sel) => ({ value: sel.value, text: sel.selectedOptions[0]?.textContent, label: sel.labels[0]?.tagName }));
  if (start.value !== '' || start.text !== 'Choose a user…' || start.label !== 'LABEL') fail(`the "Add member" list starts as ${JSON.stringify(start)}`);
  await picker.selectOption(env.PORTICO_USER);
  await admin.getByRole('button', { name: 'Add member to support' }).click();
  await waitFor(`${env.PORTICO_USER} in "support"`, 5_000, async () => /demo/.test(await admin.locator('#groups-table tr[data-key="support"] td').first().textContent()));
  // Role change from the table: asked first; Escape and Cancel change nothing, Confirm does.
  const roleNow = async () => (await admin.evaluate(async (n) => (await (await fetch(`/api/v1/users/${n}`)).json()).role, HELPDESK.name));
  await admin.getByLabel(`Role of ${HELPDESK.name}`).selectOption('user');
  const roleQuestion = await answerDialog(admin, 'escape');
  if (!/helpdesk1 a user\?$/.test(roleQuestion)) fail(`the role question is "${roleQuestion}"`);
  await admin.getByLabel(`Role of ${HELPDESK.name}`).selectOption('user');
  await answerDialog(admin, 'cancel');
  if ((await roleNow()) !== 'helpdesk') fail('Cancel in the role question changed the role');
  if ((await admin.getByLabel(`Role of ${HELPDESK.name}`).inputValue()) !== 'helpdesk') fail('after Cancel the role list does not show the role again');
  await admin.getByLabel(`Role of ${HELPDESK.name}`).selectOption('user');
  await answerDialog(admin, 'confirm');
  await waitFor('the role change', 5_000, async () => /is now user/.test(await admin.textContent('#notice')));
  if ((await roleNow()) !== 'user') fail('Confirm in the role question did not change the role');
  await admin.getByLabel(`Role of ${HELPDESK.name}`).selectOption('helpdesk');
  await answerDialog(admin, 'confirm');
  await waitFor('the role change back', 5_000, async () => /is now helpdesk/.test(await admin.textContent('#notice')));
  log('groups: created "support", added a member from a labelled list; role change asked first (Escape, Cancel: unchanged; Confirm: changed)');
  const unnamedUsers = await unlabelled(admin); // the rows' role and member lists
  if (unnamedUsers.length) fail(`controls without a label or name on Users & groups: ${unnamedUsers.join(', ')}`);
  await checkAccessibility(admin, 'the Users & groups tab');
  await checkKeyboardReach(admin, 'the Users & groups tab');
  await admin.screenshot({ path: art('console-users.png') });

  // Apps as admin: publish, edit, see entitlements, delete. Then pools: the broker has the API, so it
  // must answer and the console must show the table (no error in its place).
  await tab(admin, 'Apps & desktop pools');
  await waitFor('the Terminal app row', 5_000, async () => (await admin.locator('#apps-table tbody tr').count()) > 0);
  await admin.getByLabel('Id', { exact: true }).first().fill('calc');
  await admin.locator('#app-name').fill('Calculator');
  await admin.getByLabel(/^Command/).fill('xcalc -title "My calc"');
  await admin.locator('#app-entitlements').fill('group:support, user:demo');
  await admin.getByRole('button', { name: 'Publish app' }).click();
  await waitFor('the new app row', 5_000, async () => (await admin.locator('#apps-table tr[data-key="calc"]').count()) === 1);
  const argv = await admin.evaluate(async () => (await (await fetch('/api/v1/apps/calc')).json()).command);
  if (JSON.stringify(argv) !== '["xcalc","-title","My calc"]') fail(`the quoted command became ${JSON.stringify(argv)}`);
  if ((await cell(admin, '#apps-table', 'calc', 'command')) !== "xcalc -title 'My calc'") fail(`the apps table shows the command "${await cell(admin, '#apps-table', 'calc', 'command')}"`);
  await admin.getByRole('button', { name: 'Edit app Calculator (calc)' }).click();
  await admin.locator('#app-name').fill('Calc');
  await admin.locator('#app-entitlements').fill('group:support');
  await admin.getByRole('button', { name: 'Save app' }).click();
  await waitFor('the edited app', 5_000, async () => {
    const t = (await admin.locator('#apps-table tr[data-key="calc"]').textContent()) ?? '';
    return t.includes('Calc') && !t.includes('Calculator') && t.includes('group:support') && !t.includes('user:demo');
  });
  const bad = await (async () => {
    await admin.locator('#app-id').fill('bad id!');
    await admin.locator('#app-name').fill('Bad');
    await admin.locator('#app-command').fill('x "unterminated');
    await admin.locator('#app-entitlements').fill('');
    await admin.getByRole('button', { name: 'Publish app' }).click();
    return waitFor('the API error for a bad id', 5_000, () => errorShown(admin));
  })();
  if (!/id/.test(bad) || !/bad_request/.test(bad)) fail(`a bad app id shows ${JSON.stringify(bad)}`);
  await admin.locator('#app-id').fill('quoted');
  await admin.getByRole('button', { name: 'Publish app' }).click();
  const badQuote = await waitFor('the API error for an unterminated quote', 5_000, async () => {
    const e = await errorShown(admin);
    return e && e !== bad ? e : null;
  });
  if (!/double quote at position 3 is never closed/.test(badQuote)) fail(`an unterminated quote shows ${JSON.stringify(badQuote)}`);
  log(`apps: published with a quoted argument, edited (name, entitlements); a bad id shows "${bad}"; a bad quote "${badQuote}"`);
  await checkAccessibility(admin, 'the Apps & desktop pools tab');
  await checkKeyboardReach(admin, 'the Apps & desktop pools tab');
  await admin.getByRole('button', { name: 'Delete app Calc (calc)' }).click();
  await answerDialog(admin, 'confirm');
  await waitFor('the app to go', 5_000, async () => (await admin.locator('#apps-table tr[data-key="calc"]').count()) === 0);
  if ((await admin.getByRole('button', { name: /^Edit app / }).count()) === 0) fail('admin sees no Edit button for apps');
  // The visible tab is polled every 2 s: the next GET /pools answer is the one the table shows.
  const poolsAnswer = await admin.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/pools'
    && r.request().method() === 'GET', { timeout: 5_000 });
  if (poolsAnswer.status() !== 200) fail(`GET /api/v1/pools answered HTTP ${poolsAnswer.status()}: ${await poolsAnswer.text()}`);
  if (!Array.isArray(await poolsAnswer.json())) fail(`GET /api/v1/pools is not a list: ${await poolsAnswer.text()}`);
  await sleep(100); // the page renders the answer once its body is read
  if (await admin.locator('#pools-error').isVisible()) fail(`the console shows a pools error: ${await admin.textContent('#pools-error')}`);
  await admin.locator('#pool-id').fill('desk');
  await admin.locator('#pool-name').fill('Desktop');
  await admin.locator('#pool-image').fill('debian-12');
  await admin.getByLabel('Mode').selectOption('dedicated');
  await admin.locator('#pool-size').fill('2');
  await admin.locator('#pool-spares').fill('0'); // dedicated pools keep no spares
  await admin.locator('#pool-memory').fill('2048');
  await admin.locator('#pool-cpus').fill('2');
  await admin.locator('#pool-entitlements').fill('group:users');
  await admin.getByRole('button', { name: 'Create pool' }).click();
  await waitFor('the new pool row', 5_000, async () => {
    const err = await errorShown(admin);
    if (err) fail(`creating a pool: ${err}`);
    return (await admin.locator('#pools-table tr[data-key="desk"]').count()) === 1;
  });
  await admin.getByRole('button', { name: 'Edit pool Desktop (desk)' }).click();
  await admin.locator('#pool-name').fill('Desktops');
  await admin.locator('#pool-entitlements').fill('group:support');
  await admin.getByRole('button', { name: 'Save pool' }).click();
  await waitFor('the edited pool', 5_000, async () => {
    const err = await errorShown(admin);
    if (err) fail(`editing a pool: ${err}`);
    const t = (await admin.locator('#pools-table tr[data-key="desk"]').textContent()) ?? '';
    return t.includes('Desktops') && t.includes('group:support') && t.includes('dedicated');
  });
  await admin.getByRole('button', { name: 'Delete pool Desktops (desk)' }).click();
  await answerDialog(admin, 'confirm');
  await waitFor('the pool to go', 5_000, async () => (await admin.locator('#pools-table tr[data-key="desk"]').count()) === 0);
  log('pools: created, edited (name, entitlements) and deleted through the console');

  // --- a phone: every tab fits 360 px, tables scroll in their own box ---------------------------------
  const phone = await newPage(browser, 'phone', consoleLines, { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  pages.set('phone', phone);
  await consoleLogin(phone, env.PORTICO_URL, 'admin', env.PORTICO_ADMIN_PASSWORD);
  await phone.locator('#console-view').waitFor({ state: 'visible', timeout: 10_000 });
  const filled = { Hosts: '#hosts-table', 'Users & groups': '#users-table', 'Apps & desktop pools': '#apps-table', Audit: '#audit-table' };
  for (const name of ['Hosts', 'Sessions', 'Users & groups', 'Apps & desktop pools', 'Audit']) {
    await tab(phone, name);
    // Measured with the tab's tables filled (Sessions has no live session now).
    if (filled[name]) await phone.locator(`${filled[name]} tbody tr`).first().waitFor({ timeout: 5_000 });
    await noSidewaysScroll(phone, `the ${name} tab at 360 px`);
    await checkAccessibility(phone, `the ${name} tab at 360 px`);
    await phone.screenshot({ path: art(`console-phone-${name.split(' ')[0].toLowerCase()}.png`), fullPage: true });
  }
  await tab(phone, 'Sessions');
  await phone.getByLabel('Show').selectOption('history');
  await phone.locator('#history-table tbody tr').first().waitFor({ timeout: 5_000 });
  await noSidewaysScroll(phone, 'the history at 360 px');
  const scrolls = await phone.evaluate(() => { const b = document.querySelector('#history-view .table-scroll'); return b.scrollWidth > b.clientWidth; });
  if (!scrolls) fail('the history table does not scroll inside its box at 360 px (is it cut off?)');
  await phone.screenshot({ path: art('console-phone-history.png'), fullPage: true });
  log('at 360 px no console tab scrolls the page sideways; the tables scroll in their own box');

  // --- helpdesk: read-only, 403 on edits ------------------------------------------------------------
  const help = await newPage(browser, 'helpdesk', consoleLines);
  pages.set('helpdesk', help);
  await consoleLogin(help, env.PORTICO_URL, HELPDESK.name, HELPDESK.password);
  await help.locator('#console-view').waitFor({ state: 'visible', timeout: 10_000 });
  if (!(await help.locator('#readonly-note').isVisible())) fail('helpdesk sees no read-only note');
  await waitFor('the host for helpdesk', 10_000, async () => (await cell(help, '#hosts-table', hostId, 'state')) === 'up');
  if ((await help.getByRole('button', { name: /^(Drain|Undrain|Remove) / }).count()) !== 0) fail('helpdesk sees host edit buttons');
  if (await help.locator('#token-form').isVisible()) fail('helpdesk sees the enrollment token form');
  await tab(help, 'Apps & desktop pools');
  await waitFor('apps for helpdesk', 5_000, async () => (await help.locator('#apps-table tbody tr').count()) > 0);
  const editControls = await help.locator('#panel-apps button:visible, #panel-apps input:visible, #panel-apps select:visible').count();
  if (editControls !== 0) fail(`helpdesk sees ${editControls} edit controls for apps and pools`);
  const post = (p, body) => help.evaluate(async ([pathname, b]) => {
    const r = await fetch(pathname, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(b) });
    return { status: r.status, body: await r.json().catch(() => null) };
  }, [p, body]);
  const appPost = await post('/api/v1/apps', { id: 'sneaky', name: 'Sneaky', command: ['xterm'] });
  if (appPost.status !== 403 || appPost.body?.error?.code !== 'forbidden') fail(`helpdesk POST /apps answered ${JSON.stringify(appPost)}`);
  const poolPost = await post('/api/v1/pools', { id: 'sneaky', name: 'Sneaky', image: 'x', mode: 'pooled' });
  if (poolPost.status !== 403 || poolPost.body?.error?.code !== 'forbidden') fail(`helpdesk POST /pools answered ${JSON.stringify(poolPost)}`);
  log('helpdesk POST /apps and /pools: 403 forbidden');
  await help.screenshot({ path: art('console-helpdesk-apps.png') });
  await tab(help, 'Sessions');
  await tab(help, 'Audit');
  await auditHas(help, 'session.logoff', sid);
  log('helpdesk sees no edit controls and reads the audit');

  // --- a plain user is told the console is not for them ---------------------------------------------
  await user.goto(new URL('console/', env.PORTICO_URL).href, { waitUntil: 'load' });
  await user.locator('#denied-view').waitFor({ state: 'visible', timeout: 10_000 });
  const denied = (await user.textContent('#denied-text')).trim();
  if (!/admin and helpdesk/.test(denied)) fail(`the denial message is unclear: ${denied}`);
  log(`plain user: "${denied}"`);
  await user.screenshot({ path: art('console-denied.png') });
  await sleep(0);
});

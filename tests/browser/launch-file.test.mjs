// End-to-end test of "Open in the Portico app" (issue 15) in real headless Chromium against a real
// broker and session host, with the real native client:
//   the portal's "Open in app" on the Terminal tile, reached and pressed with the keyboard only,
//   downloads a launch file (application/x-portico-launch) naming this broker and its certificate;
//   portico-client --headless with that file (no user, password or CA file) gets frames of the
//   session; a second use of the same file is refused with a clear message and exit code 3;
//   "Open in app" on the session's row in the list downloads a reconnect file that reaches the
//   same session; axe-core finds no serious or critical WCAG 2.1 A/AA violation on the portal.
//
// Environment: PORTICO_URL, PORTICO_USER, PORTICO_PASSWORD, PORTICO_CLIENT (portico-client),
// PORTICO_WORKDIR (where the downloads and the client's PNGs go), PORTICO_ARTIFACTS.
// Exit status 0 and "launch file test passed" on success, 1 with the reason otherwise.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { checkAccessibility, fail, log, newPage, runTest, waitFor } from './helpers.mjs';

/** Presses Tab (only the keyboard) until the focused element matches `selector`. */
async function tabTo(page, selector, max = 40) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((sel) => document.activeElement?.matches(sel), selector)) return;
  }
  fail(`could not reach ${selector} with the Tab key`);
}

/** Runs the headless client on a launch file: its exit code, stderr and JSON line (or null). */
function runClient(env, file, png) {
  const args = ['--headless', file, '--duration', '1', '--json', '--png', png];
  const r = spawnSync(env.PORTICO_CLIENT, args, { encoding: 'utf8', timeout: 60_000 });
  if (r.error) fail(`portico-client did not run: ${r.error.message}`);
  const last = r.stdout.trim().split('\n').pop();
  let stats = null;
  try {
    stats = last ? JSON.parse(last) : null;
  } catch {
    stats = null;
  }
  return { code: r.status, stderr: r.stderr, stats };
}

/** Clicks (or presses Enter on) what `act` does and saves the download it starts as `name`. */
async function download(page, act, file) {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 10_000 }), act()]);
  await dl.saveAs(file);
  return { suggested: dl.suggestedFilename(), text: fs.readFileSync(file, 'utf8') };
}

await runTest('launch file', ['PORTICO_URL', 'PORTICO_USER', 'PORTICO_PASSWORD', 'PORTICO_CLIENT', 'PORTICO_WORKDIR',
  'PORTICO_ARTIFACTS'], async ({ browser, env, pages, consoleLines }) => {
  const page = await newPage(browser, 'portal', consoleLines, { acceptDownloads: true });
  pages.set('portal', page);
  const work = (name) => path.join(env.PORTICO_WORKDIR, name);
  const origin = new URL(env.PORTICO_URL).origin;

  await page.goto(env.PORTICO_URL, { waitUntil: 'load' });
  await page.fill('#username', env.PORTICO_USER);
  await page.fill('#password', env.PORTICO_PASSWORD);
  await page.press('#password', 'Enter');
  await page.locator('#resources-view').waitFor({ state: 'visible', timeout: 10_000 });
  await page.getByRole('button', { name: 'Open in app: Terminal', exact: true }).waitFor({ timeout: 10_000 });
  await checkAccessibility(page, 'the portal with "Open in app" on its tiles');

  // --- a new launch: keyboard only ----------------------------------------------------------
  await page.focus('#search');
  await tabTo(page, 'li[data-resource-id="terminal"] button.open-in-app');
  const first = await download(page, () => page.keyboard.press('Enter'), work('new.portico'));
  if (!first.suggested.endsWith('.portico')) fail(`the download is named "${first.suggested}", not *.portico`);
  if (!first.text.startsWith('[portico-launch]\nversion=1\n')) fail(`the download is no launch file:\n${first.text}`);
  if (!first.text.includes(`\nbroker=${origin}\n`)) fail(`the launch file does not name ${origin}:\n${first.text}`);
  if (!/\nbroker_cert_sha256=[0-9a-f]{64}\n/.test(first.text)) fail('the launch file pins no certificate');
  if (/password|demo/i.test(first.text)) fail('the launch file holds the user or a password');
  await page.getByText('was downloaded').waitFor({ timeout: 5_000 });
  log(`"Open in app" with the keyboard downloaded ${first.suggested}`);

  const run = runClient(env, work('new.portico'), work('new.png'));
  if (run.code !== 0) fail(`portico-client with the launch file exited ${run.code}: ${run.stderr}`);
  if (!run.stats || !(run.stats.decoded_frames > 0)) fail(`no frame decoded: ${JSON.stringify(run.stats)}`);
  if (!(fs.statSync(work('new.png')).size > 1000)) fail('the client\'s PNG of the session is empty');
  const sid = run.stats.session_id;
  log(`portico-client with the file: session ${sid}, ${run.stats.decoded_frames} frames decoded`);

  const again = runClient(env, work('new.portico'), work('again.png'));
  if (again.code !== 3) fail(`a second use of the file exited ${again.code}, not 3 (refused): ${again.stderr}`);
  if (!again.stderr.includes('used already')) fail(`a second use says: ${again.stderr}`);
  log(`a second use is refused: ${again.stderr.trim().split('\n').pop()}`);

  // --- a reconnect from the session list ----------------------------------------------------
  const row = page.locator(`#sessions li[data-session-id="${sid}"]`);
  await waitFor('the session in the portal\'s list', 20_000, () => row.isVisible());
  const button = row.getByRole('button', { name: 'Open in app: Terminal session', exact: true });
  const second = await download(page, () => button.click(), work('reconnect.portico'));
  if (!second.text.includes(`\nsession=${sid}\n`)) fail(`the reconnect file does not name session ${sid}:\n${second.text}`);
  await checkAccessibility(page, 'the portal with a session\'s "Open in app"');
  await page.screenshot({ path: path.join(env.PORTICO_ARTIFACTS, 'launch-file-portal.png') });
  const back = runClient(env, work('reconnect.portico'), work('reconnect.png'));
  if (back.code !== 0) fail(`portico-client with the reconnect file exited ${back.code}: ${back.stderr}`);
  if (back.stats.session_id !== sid) fail(`the reconnect file reached session ${back.stats.session_id}, not ${sid}`);
  if (!(back.stats.decoded_frames > 0)) fail('no frame decoded on the reconnect');
  log(`the reconnect file rejoined session ${sid}`);

  // Log off from the list (the case checks that nothing of the session is left).
  await row.getByRole('button', { name: 'Log off Terminal' }).click();
  await page.getByRole('button', { name: 'Log off Terminal now' }).click();
  await waitFor('the session to leave the list', 15_000, async () => !(await row.isVisible()));
});

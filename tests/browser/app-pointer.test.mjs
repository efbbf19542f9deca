// Relative pointer for an app session in real headless Chromium (issue 15): the app
// (tests/integration/relative_app.c) takes the pointer in SDL's relative mouse mode, the host sees
// it and sends PointerMode(relative); the page shows "Click to capture the mouse", a click takes
// Pointer Lock (that click stays in the page), and motion and a click made under the lock reach
// the app as SDL relative motion and a click (its report file). A right click makes the app give
// the pointer back: the session goes absolute and the page lets go of the lock by itself.
//
// Environment: PORTICO_URL, PORTICO_USER, PORTICO_PASSWORD, PORTICO_ARTIFACTS, PORTICO_REPORT.

import fs from 'node:fs';
import path from 'node:path';
import { expectCaptureHint, fail, log, newPage, openResource, pointerLocked, pointerMover, runTest, sleep, waitFor } from './helpers.mjs';

// What the app received: [mode, sum dx, sum dy, left clicks].
function report(env) {
  try {
    const [mode, x, y, clicks] = fs.readFileSync(env.PORTICO_REPORT, 'utf8').trim().split(' ');
    return { mode, x: Number(x), y: Number(y), clicks: Number(clicks) };
  } catch {
    return null;
  }
}

async function run(page, env) {
  await openResource(page, env, 'Relative App');
  const hint = await expectCaptureHint(page, 30_000);
  log('the app took the pointer: the page asks for a click to capture the mouse');

  const canvas = page.locator('#screen');
  const { at, moveBy } = await pointerMover(page);
  await page.mouse.click(at().x, at().y); // captures; not sent to the session
  await waitFor('Pointer Lock on the screen', 10_000, () => pointerLocked(page));
  await hint.waitFor({ state: 'hidden', timeout: 5000 });
  await sleep(500);
  const before = report(env);
  if (!before || before.mode !== 'relative') fail(`the app reports ${JSON.stringify(before)}`);

  await moveBy(10, 5, 12);
  await page.mouse.down();
  await page.mouse.up();
  const want = { mode: 'relative', x: before.x + 120, y: before.y + 60, clicks: before.clicks + 1 };
  await waitFor('the motion (120, 60) and one click in the app', 30_000,
    () => JSON.stringify(report(env)) === JSON.stringify(want), 200)
    .catch((e) => fail(`${e.message}; the app saw ${JSON.stringify(report(env))}, wanted ${JSON.stringify(want)}`));
  log('12 moves of (10, 5) and a click under Pointer Lock reached the app as SDL relative motion (120, 60) and a click');
  await canvas.screenshot({ path: path.join(env.PORTICO_ARTIFACTS, 'app-pointer.png') });

  await page.mouse.down({ button: 'right' }); // the app gives the pointer back
  await page.mouse.up({ button: 'right' });
  await waitFor('the app to leave relative mode', 15_000, () => report(env)?.mode === 'absolute', 200);
  await waitFor('the page to let go of Pointer Lock', 15_000, async () => !(await pointerLocked(page)));
  await hint.waitFor({ state: 'hidden', timeout: 5000 });
  log('the app let go: the session is absolute and the page released Pointer Lock, with no hint');
}

runTest('app-pointer', ['PORTICO_URL', 'PORTICO_USER', 'PORTICO_PASSWORD', 'PORTICO_ARTIFACTS', 'PORTICO_REPORT'],
  async ({ browser, env, pages, consoleLines }) => {
    const page = await newPage(browser, 'app-pointer', consoleLines, { viewport: { width: 1280, height: 900 } });
    pages.set('app-pointer', page);
    await run(page, env);
  });

// Relative pointer in real headless Chromium (issue 15): a VM desktop whose guest has no tablet
// driver (the console guest before usbhid loads: QEMU's PS/2 mouse) makes the host send
// PointerMode(relative); the page shows "Click to capture the mouse", a click takes Pointer Lock
// (that click stays in the page), motion goes as RelativePointer and arrives in the guest's PS/2
// mouse exactly (its evdev events, printed on the serial port by `portico-input-probe mouse`).
// Ending the lock gives the pointer back: motion then stays local; the hint shows again.
//
// Headless Chromium grants Pointer Lock and reports movementX/Y, but an Escape sent by the test
// (CDP key events reach the page, not the browser's own handling) does not end the lock, so the
// test ends it with document.exitPointerLock(), which is what the browser's Escape does.
//
// Environment: PORTICO_URL, PORTICO_USER, PORTICO_PASSWORD, PORTICO_ARTIFACTS, PORTICO_VM_RUN_DIR.

import fs from 'node:fs';
import path from 'node:path';
import { expectCaptureHint, fail, log, newPage, openResource, pointerLocked, pointerMover, runTest, sleep, typeText, waitFor } from './helpers.mjs';

function serialLogs() {
  const root = process.env.PORTICO_VM_RUN_DIR;
  return fs.readdirSync(root).filter((d) => d.startsWith('vm-')).map((d) => {
    try { return fs.readFileSync(path.join(root, d, 'serial.log'), 'latin1'); } catch { return ''; }
  }).join('\n');
}

const EV_KEY = 1; const EV_REL = 2; const REL_X = 0; const REL_Y = 1; const BTN_LEFT = 0x110;

// The PS/2 mouse's evdev events (struct input_event of x86-64 in hex): summed motion and left button.
function guestMouse() {
  let x = 0; let y = 0; const left = [];
  for (const [, hex] of serialLogs().matchAll(/PORTICO_INPUT ([0-9a-f]{48})/g)) {
    const b = Buffer.from(hex, 'hex');
    const type = b.readUInt16LE(16); const code = b.readUInt16LE(18); const value = b.readInt32LE(20);
    if (type === EV_REL && code === REL_X) x += value;
    if (type === EV_REL && code === REL_Y) y += value;
    if (type === EV_KEY && code === BTN_LEFT) left.push(value);
  }
  return { x, y, left };
}

async function run(page, env) {
  await openResource(page, env, 'Console');
  const hint = await expectCaptureHint(page, 60_000);
  log('the session is relative: the page asks for a click to capture the mouse');
  await waitFor('the guest to boot', 120_000, () => serialLogs().includes('PORTICO_GUEST_READY'), 500);
  await sleep(2000); // the VGA shell prints its prompt right after the serial banner

  const canvas = page.locator('#screen');
  const { at, moveBy } = await pointerMover(page);
  await page.mouse.click(at().x, at().y); // captures; not sent to the session
  await waitFor('Pointer Lock on the screen', 10_000, () => pointerLocked(page));
  await hint.waitFor({ state: 'hidden', timeout: 5000 });
  log('clicked: Pointer Lock taken, hint hidden');

  await typeText(page, 'portico-input-probe mouse');
  await page.keyboard.press('Enter');
  await waitFor("the guest's PS/2 mouse probe", 60_000, () => /PORTICO_INPUT_(READY|MISSING)/.test(serialLogs()), 500);
  if (!serialLogs().includes('PORTICO_INPUT_READY')) fail('the guest found no PS/2 mouse');

  await moveBy(10, 5, 12);
  await waitFor('the motion (120, 60) in the guest', 30_000, () => {
    const m = guestMouse();
    return m.x === 120 && m.y === 60;
  }, 300).catch((e) => fail(`${e.message}; the guest saw ${JSON.stringify(guestMouse())}`));
  log('12 moves of (10, 5) under Pointer Lock reached the guest as (120, 60)');

  await page.evaluate(() => document.exitPointerLock()); // what the browser's Escape does
  await hint.waitFor({ state: 'visible', timeout: 5000 });
  await moveBy(7, 7, 5); // released: stays in the page
  await page.mouse.click(at().x, at().y); // captures again, not sent
  await waitFor('Pointer Lock again', 10_000, () => pointerLocked(page));
  await page.mouse.down();
  await page.mouse.up();
  await moveBy(-4, 3, 5);
  await waitFor('the click and the motion (-20, 15) made while captured, nothing made while released', 30_000, () => {
    const m = guestMouse();
    return m.x === 100 && m.y === 75 && m.left.join() === '1,0';
  }, 300).catch((e) => fail(`${e.message}; the guest saw ${JSON.stringify(guestMouse())}`));
  log('released: motion and the capturing click stayed in the page; the click while captured reached the guest');
  await canvas.screenshot({ path: path.join(env.PORTICO_ARTIFACTS, 'vm-pointer.png') });
}

runTest('vm-pointer', ['PORTICO_URL', 'PORTICO_USER', 'PORTICO_PASSWORD', 'PORTICO_ARTIFACTS', 'PORTICO_VM_RUN_DIR'],
  async ({ browser, env, pages, consoleLines }) => {
    const page = await newPage(browser, 'vm-pointer', consoleLines, { viewport: { width: 1280, height: 900 } });
    pages.set('vm-pointer', page);
    await run(page, env);
  });

// The portal's live session pictures (client/web/live_thumbnails.js) in Node: a live picture
// labelled as one, the last-seen fallback (labelled with its time) when the broker has none,
// refreshing only while the portal is shown and the page visible, forgetting ended sessions.
// Run: node --test tests/browser/live-thumbnails.test.mjs

import test from 'node:test';
import assert from 'node:assert/strict';

import { LiveThumbnails } from '../../client/web/live_thumbnails.js';

/** Just enough of the DOM for the module: elements with children, attributes, classes, events. */
function fakeDocument() {
  const listeners = {};
  const element = (tag) => {
    const classes = new Set();
    const el = {
      tag, children: [], dataset: {}, attributes: {}, hidden: false, className: '', textContent: '', alt: '', src: '',
      append: (...c) => el.children.push(...c),
      setAttribute: (k, v) => { el.attributes[k] = v; },
      addEventListener: () => {},
      classList: { toggle: (c, on) => (on ? classes.add(c) : classes.delete(c)), contains: (c) => classes.has(c) },
    };
    return el;
  };
  return {
    visibilityState: 'visible',
    createElement: element,
    addEventListener: (type, f) => { listeners[type] = f; },
    setVisible(v) {
      this.visibilityState = v ? 'visible' : 'hidden';
      listeners.visibilitychange?.();
    },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, f, ms = 5000) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(5)) if (f()) return;
  assert.fail(`${what} within ${ms} ms`);
}
const jpeg = () => new Blob([new Uint8Array([0xff, 0xd8, 0xff, 0xd9])], { type: 'image/jpeg' });

test('a live picture is labelled live; without one the last-seen picture says when it was seen', async () => {
  const doc = fakeDocument();
  let answer = 'picture';
  const t = new LiveThumbnails({ doc, refreshMs: 60_000, fetchThumbnail: async () => {
    if (answer === 'picture') return jpeg();
    throw new Error('503 thumbnail_unavailable');
  } });
  t.setActive(true);
  const live = t.figure('s1', 'Terminal', null);
  await sleep(10);
  const [img, caption] = live.children;
  assert.equal(img.dataset.live, 'true');
  assert.match(img.alt, /^Terminal: live view/);
  assert.equal(caption.textContent, 'Live view');
  assert.ok(live.classList.contains('live'));
  assert.match(img.src, /^blob:/);

  // No picture from the broker: the last-seen one, labelled with its time, or none at all.
  answer = 'none';
  const seenAt = Date.parse('2026-12-03T10:00:00Z');
  const fallback = t.figure('s2', 'Desktop', { at: seenAt, blob: jpeg() });
  await sleep(10);
  assert.equal(fallback.children[0].dataset.live, 'false');
  assert.match(fallback.children[0].alt, /^Desktop as last seen here at /);
  assert.match(fallback.children[1].textContent, /^Last seen /);
  assert.ok(fallback.classList.contains('last-seen'));
  const nothing = t.figure('s3', 'Editor', null);
  await sleep(10);
  assert.equal(nothing.hidden, true);
  t.retain([]);
});

test('refreshes on its interval only while the portal is shown and the page visible', async () => {
  const doc = fakeDocument();
  const asked = [];
  const t = new LiveThumbnails({ doc, refreshMs: 40, fetchThumbnail: async (id) => { asked.push(id); return jpeg(); } });
  t.setActive(true);
  t.figure('s1', 'Terminal', null);
  assert.equal(asked.length, 1, 'a new session is asked for at once');
  await until('two more requests on the interval', () => asked.length >= 3);

  doc.setVisible(false);
  const atHide = asked.length;
  await sleep(150);
  assert.equal(asked.length, atHide, 'no requests while the page is hidden');

  doc.setVisible(true); // back: a fresh picture at once, then the interval again
  assert.equal(asked.length, atHide + 1);
  await until('the interval again', () => asked.length >= atHide + 2);

  t.setActive(false); // in a session: the portal's list is not on screen
  const atSession = asked.length;
  await sleep(120);
  assert.equal(asked.length, atSession);

  // A redrawn list keeps the live picture at once, without a request; ended sessions are dropped.
  t.setActive(true);
  await sleep(20);
  const redrawn = t.figure('s1', 'Terminal', null);
  assert.equal(redrawn.children[0].dataset.live, 'true');
  t.retain([]);
  const atEnd = asked.length;
  await sleep(120);
  assert.equal(asked.length, atEnd, 'no requests once no session is listed');
});

// The session menu's pure parts in Node: the Ctrl+Alt+Shift chord (menu_shortcut.js), session URLs
// (router.js), favourites / recent launches (favourites.js) and the menu's zoom steps.
// Run: node --test tests/browser/session-menu-logic.test.mjs

import test from 'node:test';
import assert from 'node:assert/strict';

import { MenuChord } from '../../client/web/menu_shortcut.js';
import { Router, parseRoute, sessionHash } from '../../client/web/router.js';
import { RECENT_MAX, ResourcePrefs } from '../../client/web/favourites.js';
import { ZOOM_LEVELS, zoomStep } from '../../client/web/session_menu.js';

const down = (code) => ({ type: 'keydown', code });
const up = (code) => ({ type: 'keyup', code });

/** Feeds events; returns what each returned, as 's' (swallowed), 'o' (open), '.' (passed). */
function feed(chord, events) {
  return events.map((e) => {
    const r = chord.key(e);
    return (r.swallow ? 's' : '') + (r.open ? 'o' : '') || '.';
  }).join(' ');
}

test('Ctrl+Alt+Shift pressed and released alone opens the menu; the completing key is withheld', () => {
  const c = new MenuChord();
  assert.equal(feed(c, [down('ControlLeft'), down('AltLeft'), down('ShiftLeft'), up('ShiftLeft'), up('AltLeft'), up('ControlLeft')]),
    '. . s s . o');
  // Any order, either side; released in any order.
  assert.equal(feed(c, [down('ShiftRight'), down('ControlRight'), down('AltRight'), up('ControlRight'), up('AltRight'), up('ShiftRight')]),
    '. . s . s o');
});

test('keys typed before the chord do not matter', () => {
  const c = new MenuChord();
  assert.equal(feed(c, [down('KeyX'), up('KeyX'), down('ControlLeft'), down('AltLeft'), down('ShiftLeft'),
    up('ShiftLeft'), up('AltLeft'), up('ControlLeft')]), '. . . . s s . o');
});

test('a key pressed with the chord makes it a shortcut, not the menu', () => {
  const c = new MenuChord();
  assert.equal(feed(c, [down('ControlLeft'), down('AltLeft'), down('ShiftLeft'), down('KeyT'), up('KeyT'),
    up('ShiftLeft'), up('AltLeft'), up('ControlLeft')]), '. . s . . s . .');
  // The stats shortcut is handled by the page: spoil() keeps the menu shut.
  c.key(down('ControlLeft')); c.key(down('AltLeft')); c.key(down('ShiftLeft'));
  c.spoil();
  assert.equal(feed(c, [up('ShiftLeft'), up('AltLeft'), up('ControlLeft')]), 's . .');
  // A key before the chord completes: Ctrl+Alt+T then Shift is no menu either.
  assert.equal(feed(c, [down('ControlLeft'), down('AltLeft'), down('KeyT'), down('ShiftLeft'), up('ShiftLeft'),
    up('KeyT'), up('AltLeft'), up('ControlLeft')]), '. . . . . . . .');
});

test('two modifiers, auto-repeat, releases seen without their press and reset', () => {
  const c = new MenuChord();
  assert.equal(feed(c, [down('ControlLeft'), down('ShiftLeft'), up('ShiftLeft'), up('ControlLeft')]), '. . . .');
  // Held keys repeat their keydown: the withheld one stays withheld, no second chord.
  assert.equal(feed(c, [down('ControlLeft'), down('AltLeft'), down('ShiftLeft'), down('ShiftLeft'), down('ControlLeft'),
    up('ShiftLeft'), up('AltLeft'), up('ControlLeft')]), '. . s s . s . o');
  assert.equal(feed(c, [up('AltLeft')]), '.');
  c.key(down('ControlLeft')); c.key(down('AltLeft')); c.key(down('ShiftLeft'));
  c.reset(); // focus left
  assert.equal(feed(c, [up('ShiftLeft'), up('AltLeft'), up('ControlLeft')]), '. . .');
});

test('session URLs: #/session/<id>, anything else is the portal', () => {
  assert.deepEqual(parseRoute(''), { session: null });
  assert.deepEqual(parseRoute('#/session/'), { session: null });
  assert.deepEqual(parseRoute('#/other/x'), { session: null });
  assert.deepEqual(parseRoute('#/session/%E0%A4%A'), { session: null }); // malformed escape
  assert.equal(sessionHash('a b/c'), '#/session/a%20b%2Fc');
  assert.deepEqual(parseRoute(sessionHash('a b/c')), { session: 'a b/c' });
});

/** A window with just enough history for Router. */
function fakeWindow() {
  const entries = [{ url: '/', state: null }];
  let i = 0;
  const win = new EventTarget();
  const location = {
    pathname: '/', search: '',
    get hash() { const u = entries[i].url; const h = u.indexOf('#'); return h < 0 ? '' : u.slice(h); },
  };
  win.location = location;
  win.history = {
    get state() { return entries[i].state; },
    pushState(state, _t, url) { entries.splice(i + 1); entries.push({ url: url.startsWith('#') ? `/${url}` : url, state }); i++; },
    replaceState(state, _t, url) { entries[i] = { url: url.startsWith('#') ? `/${url}` : url, state }; },
    back() { i--; win.dispatchEvent(new Event('popstate')); },
  };
  return { win, entries, index: () => i };
}

test('router: a session opened from the portal is a new entry; leaving goes back to the portal', () => {
  const { win, entries, index } = fakeWindow();
  const seen = [];
  const r = new Router({ onChange: (route) => seen.push(route.session), win });
  r.showSession('s1');
  assert.equal(win.location.hash, '#/session/s1');
  assert.equal(entries.length, 2);
  r.showSession('s1'); // again (reconnect): nothing new
  assert.equal(entries.length, 2);
  r.showSession('s2'); // the reconnect landed in another session: same entry
  assert.equal(entries.length, 2);
  assert.equal(win.location.hash, '#/session/s2');
  r.showPortal();
  assert.equal(index(), 0);
  assert.equal(win.location.hash, '');
  assert.deepEqual(seen, [null]);
});

test('router: a session opened from its URL (reload) leaves by replacing, not by leaving the site', () => {
  const { win, entries, index } = fakeWindow();
  entries[0] = { url: '/#/session/s1', state: null };
  const r = new Router({ onChange: () => {}, win });
  assert.deepEqual(r.current(), { session: 's1' });
  r.showPortal();
  assert.equal(index(), 0);
  assert.equal(entries.length, 1);
  assert.equal(entries[0].url, '/');
});

function memoryStorage() {
  const m = new Map();
  return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)), map: m };
}

test('favourites and recent launches persist per user', () => {
  const storage = memoryStorage();
  const p = new ResourcePrefs(storage, 'alice');
  assert.equal(p.toggleFavourite('b'), true);
  for (const id of ['a', 'b', 'c', 'd', 'e', 'b']) p.launched(id);
  const again = new ResourcePrefs(storage, 'alice');
  assert.equal(again.isFavourite('b'), true);
  assert.deepEqual(again.recent, ['b', 'e', 'd', 'c']);
  assert.equal(again.recent.length, RECENT_MAX);
  const resources = [{ id: 'a' }, { id: 'b' }, { id: 'c' }];
  assert.deepEqual(again.ordered(resources).map((r) => r.id), ['b', 'a', 'c']);
  assert.equal(again.toggleFavourite('b'), false);
  assert.equal(new ResourcePrefs(storage, 'alice').isFavourite('b'), false);
  assert.equal(new ResourcePrefs(storage, 'bob').recent.length, 0); // another user's are their own
});

test('unusable storage loses the preference, not the portal', () => {
  const storage = memoryStorage();
  storage.setItem('portico.resources.alice', '{not json');
  const p = new ResourcePrefs(storage, 'alice');
  assert.deepEqual(p.recent, []);
  const refusing = { getItem: () => { throw new Error('denied'); }, setItem: () => { throw new Error('full'); } };
  const q = new ResourcePrefs(refusing, 'alice');
  assert.equal(q.toggleFavourite('a'), true);
  assert.equal(new ResourcePrefs(null, 'alice').isFavourite('a'), false);
  storage.setItem('portico.resources.alice', JSON.stringify({ favourites: [1, 'x'], recent: 'no' }));
  const r = new ResourcePrefs(storage, 'alice');
  assert.equal(r.isFavourite('x'), true);
  assert.deepEqual(r.recent, []);
});

test('zoom steps: up and down through the levels, from anywhere a pinch left the view', () => {
  assert.equal(zoomStep(1, 1), 1.25);
  assert.equal(zoomStep(1.25, 1), 1.5);
  assert.equal(zoomStep(1.7, 1), 2);
  assert.equal(zoomStep(1.7, -1), 1.5);
  assert.equal(zoomStep(4, 1), 4);
  assert.equal(zoomStep(1, -1), 1);
  assert.equal(zoomStep(1.0000001, -1), 1);
  let z = 1;
  for (let i = 0; i < ZOOM_LEVELS.length; i++) z = zoomStep(z, 1);
  assert.equal(z, 4);
});

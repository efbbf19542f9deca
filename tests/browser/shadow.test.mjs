// The web client's "someone is watching" banner logic, in Node without a browser: the text made of
// a ShadowNotice (shadowBannerText) and DisplayClient turning the host's notices into onShadow
// calls, over a fake WebSocket fed with the bytes the host sends.
// Run: node --test tests/browser/shadow.test.mjs

import test from 'node:test';
import assert from 'node:assert/strict';
import { setMaxListeners } from 'node:events';

import { DisplayClient, shadowBannerText } from '../../client/web/display.js';
import { FakeSocket } from './fake_socket.mjs';

test('the banner names who watches, once each, and says how many more it does not name', () => {
  assert.equal(shadowBannerText({ count: 0, names: [] }), null);
  assert.equal(shadowBannerText(null), null);
  assert.equal(shadowBannerText({ count: 1, names: ['hd-bob'] }), 'Your session is being viewed by hd-bob');
  assert.equal(shadowBannerText({ count: 2, names: ['hd-bob', 'carol'] }), 'Your session is being viewed by hd-bob and carol');
  assert.equal(shadowBannerText({ count: 3, names: ['a', 'b', 'c'] }), 'Your session is being viewed by a, b and c');
  // One person in two windows is one name.
  assert.equal(shadowBannerText({ count: 2, names: ['hd-bob', 'hd-bob'] }), 'Your session is being viewed by hd-bob');
  // The notice lists at most 16 names.
  assert.equal(shadowBannerText({ count: 20, names: ['a', 'b'] }), 'Your session is being viewed by a, b and 18 more');
  assert.equal(shadowBannerText({ count: 1, names: [] }), 'Your session is being viewed by someone');
  assert.equal(shadowBannerText({ count: 4, names: [] }), 'Your session is being viewed by 4 people');
});

// --- DisplayClient over a fake WebSocket ------------------------------------------------------

// The client listens to a dozen event types with one AbortSignal, over Node's warning at 10.
setMaxListeners(20);

function fakeCanvas() {
  const c = new EventTarget();
  Object.assign(c, {
    width: 0, height: 0, style: {}, dataset: {},
    getContext: () => ({ fillRect() {}, drawImage() {}, putImageData() {} }),
    getBoundingClientRect: () => ({ width: 640, height: 480 }),
    focus() {},
  });
  return c;
}

function installBrowserFakes() {
  globalThis.WebSocket = FakeSocket;
  globalThis.window ??= new EventTarget();
  globalThis.document ??= Object.assign(new EventTarget(), { hidden: false });
  globalThis.location ??= { protocol: 'https:', host: 'portal.example' };
}

const serverHello = [0x81, 5, 0, 0x80, 0x02, 0xe0, 0x01, 2, 0, 0x73, 0x31]; // version 5, 640x480, "s1"
const notice = (count, names) => {
  const out = [0x8a, count & 0xff, count >> 8, names.length];
  for (const n of names) {
    const b = new TextEncoder().encode(n);
    out.push(b.length & 0xff, b.length >> 8, ...b);
  }
  return out;
};

test('DisplayClient reports who watches as the host says, and nobody once the last one leaves', () => {
  installBrowserFakes();
  const calls = [];
  const client = new DisplayClient(fakeCanvas(), { onShadow: (text, m) => calls.push({ text, count: m.count }) });
  try {
    client.connect({ gatewayPath: '/api/v1/gateway/s1', ticket: 't', width: 640, height: 480 });
    const ws = FakeSocket.last;
    ws.open();
    ws.deliver(serverHello);
    assert.equal(client.connected, true);
    assert.equal(client.shadow, null);

    ws.deliver(notice(1, ['hd-bob']));
    assert.deepEqual(calls.at(-1), { text: 'Your session is being viewed by hd-bob', count: 1 });
    assert.equal(client.shadow.text, 'Your session is being viewed by hd-bob');

    ws.deliver(notice(2, ['hd-bob', 'Zoë']));
    assert.deepEqual(calls.at(-1), { text: 'Your session is being viewed by hd-bob and Zoë', count: 2 });

    ws.deliver(notice(0, []));
    assert.deepEqual(calls.at(-1), { text: null, count: 0 });
    assert.equal(client.shadow, null);
    assert.equal(calls.length, 3);
    assert.equal(client.connected, true); // a notice is not a protocol failure
  } finally {
    client.close();
  }
});

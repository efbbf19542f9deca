// client/web/display.js in Node: DisplayClient wiring its modules over a fake WebSocket — the
// ticket on open, ServerHello starting pings and the wanted resize, the stats snapshot's fields,
// logoff releasing held keys before Logoff, and each way the session ends calling onEnd once.
// Run: node --test tests/browser/display.test.mjs

import test, { mock } from 'node:test';
import assert from 'node:assert/strict';
import { setMaxListeners } from 'node:events';

import { decodeMessage } from '../../client/web/protocol.js';
import { DisplayClient } from '../../client/web/display.js';
import { FakeSocket } from './fake_socket.mjs';

// The client listens to a dozen event types with one AbortSignal, over Node's warning at 10.
setMaxListeners(20);

class FakeEvent extends Event {
  constructor(type, fields = {}) {
    super(type, { cancelable: true });
    for (const [k, v] of Object.entries(fields)) Object.defineProperty(this, k, { value: v });
  }
}

function setup() {
  globalThis.WebSocket = FakeSocket;
  globalThis.window ??= new EventTarget();
  globalThis.document ??= Object.assign(new EventTarget(), { hidden: false });
  globalThis.location ??= { protocol: 'https:', host: 'portal.example' };
  const canvas = Object.assign(new EventTarget(), {
    width: 0, height: 0, style: {}, dataset: {},
    getContext: () => ({ drawImage() {}, putImageData() {} }),
    getBoundingClientRect: () => ({ left: 0, top: 0, width: 640, height: 480 }),
    focus() {},
  });
  const log = { status: [], ends: [], sizes: [] };
  const client = new DisplayClient(canvas, {
    onStatus: (t) => log.status.push(t),
    onEnd: (e) => log.ends.push(e),
    onSize: (w, h) => log.sizes.push([w, h]),
  });
  return { canvas, client, log };
}

const serverHello = [0x81, 5, 0, 0x80, 0x02, 0xe0, 0x01, 2, 0, 0x73, 0x31]; // version 5, 640x480, "s1"
const sessionEnded = (reason) => [0x85, reason, 0, 0];
const key = (type, code, k) => new FakeEvent(type, { code, key: k, ctrlKey: false, altKey: false, metaKey: false, shiftKey: false });

test('the ticket goes on open; ServerHello starts pings and asks for the wanted size', () => {
  const { canvas, client, log } = setup();
  try {
    client.requestSize(1000, 700); // before connecting: kept until the host is there
    client.connect({ gatewayPath: '/api/v1/gateway/s1', ticket: 'tkt', width: 320, height: 200 });
    const ws = FakeSocket.last;
    assert.equal(ws.url, 'wss://portal.example/api/v1/gateway/s1');
    assert.deepEqual([canvas.width, canvas.height], [320, 200]);
    ws.open();
    assert.deepEqual(ws.sent.map(decodeMessage), [{ type: 'hello', version: 5, ticket: 'tkt' }]);
    assert.equal(client.connected, false);
    ws.deliver(serverHello);
    assert.equal(client.connected, true);
    assert.equal(client.sessionId, 's1');
    assert.deepEqual([canvas.width, canvas.height], [640, 480]);
    assert.deepEqual(log.sizes, [[320, 200], [640, 480]]);
    assert.deepEqual(ws.sent.slice(1).map((b) => decodeMessage(b).type), ['resize_request', 'ping']);
    assert.deepEqual(decodeMessage(ws.sent[1]), { type: 'resize_request', width: 1000, height: 700 });
    assert.equal(log.status.at(-1), 'Connected (640×480), waiting for the first frame…');
    const s = client.stats();
    for (const field of ['fps', 'kbps', 'frames', 'bytes', 'lastKind', 'lastVideoReduced', 'width', 'height', 'screenWidth',
      'screenHeight', 'resizes', 'decodeMs', 'tileDecodeMs', 'tilePaintMs', 'videoPaintMs', 'arrivalToPaintMs',
      'videoArrivalToPaintMs', 'tileArrivalToPaintMs', 'rttMs', 'inputToPhotonMs', 'cursorId', 'cursor', 'cursorScale',
      'cursorShapes', 'clipboardReceived', 'clipboardSent']) {
      assert.ok(field in s, `stats() has ${field}`);
    }
    assert.equal(s.bytes, serverHello.length);
    assert.deepEqual([s.width, s.screenWidth, s.screenHeight], [640, 640, 480]);
  } finally {
    client.close();
  }
  assert.deepEqual(log.ends, []); // close() ends without onEnd
});

test('logoff lets go of held keys first, and the confirmation ends the session once', () => {
  const { canvas, client, log } = setup();
  client.connect({ gatewayPath: '/g', ticket: 't' });
  const ws = FakeSocket.last;
  ws.open();
  ws.deliver(serverHello);
  canvas.dispatchEvent(key('keydown', 'ShiftLeft', 'Shift'));
  ws.sent.length = 0;
  client.logoff();
  assert.deepEqual(ws.sent.map(decodeMessage), [{ type: 'key', down: false, code: 42 }, { type: 'logoff' }]);
  assert.equal(client.sendKeyCombo([29]), false); // no input while logging off
  ws.deliver(sessionEnded(1));
  ws.drop(1000);
  assert.deepEqual(log.ends, [{ reason: 'logged_off', error: false, confirmed: true, message: 'You logged off.' }]);
  assert.equal(client.connected, false);
});

test('a dropped connection after ServerHello is worth reconnecting; a text message is a protocol error', () => {
  {
    const { client, log } = setup();
    client.connect({ gatewayPath: '/g', ticket: 't' });
    const ws = FakeSocket.last;
    ws.open();
    ws.deliver(serverHello);
    ws.drop(1006);
    assert.equal(log.ends.length, 1);
    assert.equal(log.ends[0].reason, 'connection_lost');
    assert.equal(log.ends[0].wasConnected, true);
  }
  {
    const { client, log } = setup();
    client.connect({ gatewayPath: '/g', ticket: 't' });
    const ws = FakeSocket.last;
    ws.open();
    const error = console.error;
    console.error = () => {};
    try {
      ws.onmessage({ data: 'text' });
    } finally {
      console.error = error;
    }
    assert.equal(log.ends.length, 1);
    assert.equal(log.ends[0].reason, 'protocol');
    assert.equal(ws.readyState, FakeSocket.CLOSED);
    client.simulateDrop(); // already over: nothing more
    assert.equal(log.ends.length, 1);
  }
});

// A phone whose session stays larger than asked (a VM desktop that refuses to resize) is shown
// zoomed to one session pixel per CSS pixel after READABLE_WAIT_MS; one that got its size is not.
for (const [asked, zoomed] of [[[160, 120], true], [[640, 480], false]]) {
  test(`on a phone, a 640x480 session fitted into 160x120 CSS px ${zoomed ? 'that stays larger than asked is zoomed 4x' : 'at the asked size stays unzoomed'}`, () => {
    mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    globalThis.matchMedia = (q) => ({ matches: q === '(pointer: coarse)' });
    const { canvas, client } = setup();
    Object.assign(canvas, {
      classList: { toggle() {} },
      getBoundingClientRect() {
        const m = /scale\(([\d.]+)\)/.exec(this.style.transform ?? '');
        const s = m ? Number(m[1]) : 1;
        return { left: 0, top: 0, width: 160 * s, height: 120 * s };
      },
    });
    try {
      client.requestSize(...asked);
      client.connect({ gatewayPath: '/api/v1/gateway/s1', ticket: 'tkt' });
      FakeSocket.last.open();
      FakeSocket.last.deliver(serverHello);
      mock.timers.tick(2499);
      assert.equal(canvas.style.transform ?? '', '');
      mock.timers.tick(1);
      assert.equal(canvas.style.transform ?? '', zoomed ? 'translate(0px, 0px) scale(4)' : '');
    } finally {
      client.close();
      delete globalThis.matchMedia;
      mock.timers.reset();
    }
  });
}

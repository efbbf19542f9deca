// client/web/stream.js in Node: the display channel over a fake WebSocket (every message decoded
// once and handed to its handler, anything unreadable a protocol error, nothing after close) and
// what each way of ending tells the user.
// Run: node --test tests/browser/stream.test.mjs

import test from 'node:test';
import assert from 'node:assert/strict';

import { encodeFrameAck } from '../../client/web/protocol.js';
import {
  DisplayStream, displayUrl, loggedOffEnd, sessionEndedEnd, hostErrorEnd, connectionLostEnd,
} from '../../client/web/stream.js';
import { FakeSocket } from './fake_socket.mjs';

globalThis.WebSocket = FakeSocket;

const serverHello = new Uint8Array([0x81, 5, 0, 0x80, 0x02, 0xe0, 0x01, 2, 0, 0x73, 0x31]).buffer; // version 5, 640x480, "s1"

function harness() {
  const log = [];
  const stream = new DisplayStream({
    handlers: { server_hello: (m, arrival) => log.push(['hello', m.width, m.height, m.sessionId, typeof arrival]) },
    onArrival: (t, n) => log.push(['arrival', n]),
    onOpen: () => log.push(['open']),
    onClose: (ev) => log.push(['close', ev.code]),
    onProtocolError: (why) => log.push(['error', why]),
  });
  return { stream, log };
}

test('the gateway URL takes the page\'s host and scheme', () => {
  assert.equal(displayUrl('/api/v1/gateway/s1', { protocol: 'https:', host: 'p.example:8443' }), 'wss://p.example:8443/api/v1/gateway/s1');
  assert.equal(displayUrl('/g', { protocol: 'http:', host: 'h' }), 'ws://h/g');
  assert.equal(displayUrl('wss://other/g', { protocol: 'http:', host: 'h' }), 'wss://other/g');
});

test('messages are counted, decoded and handed to their handler', () => {
  const { stream, log } = harness();
  assert.equal(stream.started, false);
  stream.open('wss://h/g');
  const ws = FakeSocket.last;
  assert.equal(ws.binaryType, 'arraybuffer');
  assert.equal(stream.isOpen, false);
  stream.send(new ArrayBuffer(1)); // not open yet: dropped
  assert.equal(ws.sent.length, 0);
  ws.open();
  assert.equal(stream.opened, true);
  assert.equal(stream.isOpen, true);
  ws.deliver(serverHello);
  assert.deepEqual(log, [['open'], ['arrival', 11], ['hello', 640, 480, 's1', 'number']]);
  ws.bufferedAmount = 123;
  assert.equal(stream.buffered, 123);
});

test('text, malformed and unexpected messages are protocol errors', () => {
  const { stream, log } = harness();
  stream.open('wss://h/g');
  const ws = FakeSocket.last;
  ws.open();
  ws.deliver('hi');
  ws.deliver(new Uint8Array([0xff]).buffer);
  ws.deliver(encodeFrameAck(5)); // a client message coming back
  const errors = log.filter((e) => e[0] === 'error').map((e) => e[1]);
  assert.equal(errors.length, 3);
  assert.equal(errors[0], 'the host sent a text message');
  assert.match(errors[1], /unknown message type 0xff/);
  assert.equal(errors[2], 'unexpected frame_ack message from the host');
});

test('after close nothing is reported and the socket is closed with the code given', () => {
  const { stream, log } = harness();
  stream.open('wss://h/g');
  const ws = FakeSocket.last;
  ws.open();
  stream.close(4000, 'simulated drop');
  assert.deepEqual(ws.closedWith, { code: 4000, reason: 'simulated drop' });
  assert.equal(ws.onmessage, null);
  assert.equal(ws.onclose, null);
  const before = log.length;
  stream.close(1000); // already closed: no second close
  assert.deepEqual(ws.closedWith, { code: 4000, reason: 'simulated drop' });
  assert.equal(log.length, before);
});

test('a socket that cannot be made throws, and the stream stays unstarted', () => {
  const { stream } = harness();
  assert.throws(() => stream.open('bad'), SyntaxError);
  assert.equal(stream.started, false);
  stream.close(); // harmless
});

test('each ending says what happened', () => {
  assert.deepEqual(loggedOffEnd(false), { reason: 'logged_off', error: false, confirmed: false, message: 'You logged off.' });
  assert.equal(loggedOffEnd(true).confirmed, true);
  assert.deepEqual(sessionEndedEnd({ reason: 0, message: '' }),
    { reason: 'app_exited', error: false, message: 'The application was closed.' });
  assert.deepEqual(sessionEndedEnd({ reason: 0, message: 'it exited with status 2' }),
    { reason: 'app_exited', error: false, message: 'The application was closed. It exited with status 2.' });
  assert.deepEqual(sessionEndedEnd({ reason: 3, message: '' }),
    { reason: 'error', error: true, message: 'The session ended because of an error on the session host.' });
  const refused = hostErrorEnd({ codeName: 'ticket_expired', message: '' }, false);
  assert.equal(refused.reason, 'refused');
  assert.equal(refused.wasConnected, false);
  assert.match(refused.message, /^The session host refused the connection: ticket_expired \(ticket_expired\)\. The launch ticket expired/);
  assert.equal(hostErrorEnd({ codeName: 'internal', message: 'boom' }, true).reason, 'error');
  assert.deepEqual(connectionLostEnd({ code: 1006, reason: '' }, { opened: true, wasConnected: true }),
    { reason: 'connection_lost', error: true, wasConnected: true, code: 1006, message: 'The connection to the session was lost (WebSocket code 1006).' });
  assert.equal(connectionLostEnd({ code: 1006 }, { opened: false, wasConnected: false }).wasConnected, undefined);
  // An administrator's disconnect is its own ending (no reconnect), not a lost connection.
  const kicked = connectionLostEnd({ code: 4001, reason: 'disconnected by an administrator' }, { opened: true, wasConnected: true });
  assert.equal(kicked.reason, 'disconnected_by_admin');
  assert.equal(kicked.error, false);
  assert.match(kicked.message, /^An administrator disconnected you\. The session keeps running/);
});

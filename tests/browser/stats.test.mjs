// client/web/stats.js in Node: summaries, the stream's figures (rates over the last second,
// arrival-to-painted per kind, the input-to-photon estimate) and Ping bookkeeping.
// Run: node --test tests/browser/stats.test.mjs

import test from 'node:test';
import assert from 'node:assert/strict';

import { summarize, Samples, StreamStats, RoundTrips } from '../../client/web/stats.js';

test('summarize gives the median and the 95th percentile, null for no samples', () => {
  assert.deepEqual(summarize([]), { median: null, p95: null });
  assert.deepEqual(summarize([3, 1, 2]), { median: 2, p95: 3 });
  assert.deepEqual(summarize([4, 1, 3, 2]), { median: 2.5, p95: 4 });
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
  assert.equal(summarize(hundred).p95, 96);
});

test('Samples keeps only the most recent ones', () => {
  const s = new Samples(3);
  for (const v of [1, 2, 3, 4, 5]) s.push(v);
  assert.deepEqual(s.values, [3, 4, 5]);
});

test('fps and bitrate count only the last second; totals count everything', () => {
  const st = new StreamStats();
  st.arrived(0, 1000);
  st.arrived(500, 2000);
  st.arrived(1400, 500);
  st.framePainted({ kind: 'tiles', arrival: 0 }, 10);
  st.framePainted({ kind: 'tiles', arrival: 500 }, 510);
  st.framePainted({ kind: 'video', arrival: 1400, reduced: true }, 1404);
  const s = st.snapshot(1450);
  assert.equal(s.fps, 2); // paints at 510 and 1404
  assert.equal(s.kbps, ((2000 + 500) * 8) / 1000);
  assert.equal(s.bytes, 3500);
  assert.equal(s.frames, 3);
  assert.equal(st.frames, 3);
  assert.equal(s.lastKind, 'video');
  assert.equal(s.lastVideoReduced, true);
  assert.deepEqual(s.arrivalToPaintMs, { median: 10, p95: 10 });
  assert.deepEqual(s.videoArrivalToPaintMs, { median: 4, p95: 4 });
  assert.deepEqual(s.tileArrivalToPaintMs, { median: 10, p95: 10 });
});

test('a key is timed to the first frame that arrived after it, once', () => {
  const st = new StreamStats();
  st.keyPressed(100);
  st.keyPressed(105); // a second key before the echo: the first one's time stays
  st.framePainted({ kind: 'tiles', arrival: 90 }, 112); // arrived before the key: not its echo
  assert.equal(st.snapshot(200).inputToPhotonMs.median, null);
  st.framePainted({ kind: 'tiles', arrival: 120 }, 130);
  assert.equal(st.snapshot(200).inputToPhotonMs.median, 30);
  st.framePainted({ kind: 'tiles', arrival: 140 }, 150); // no key pending
  assert.deepEqual(st.snapshot(200).inputToPhotonMs, { median: 30, p95: 30 });
  st.keyPressed(1000);
  st.framePainted({ kind: 'video', arrival: 1001 }, 2500); // over a second: not an echo
  assert.deepEqual(st.snapshot(3000).inputToPhotonMs, { median: 30, p95: 30 });
});

test('decode and draw times are summarised per kind', () => {
  const st = new StreamStats();
  st.videoDecoded(4);
  st.tilesDecoded(2);
  st.videoDrawn(6);
  st.tilesDrawn(1);
  st.roundTrip(3);
  st.roundTrip(5);
  st.roundTrip(4);
  const s = st.snapshot(0);
  assert.equal(s.decodeMs.median, 4);
  assert.equal(s.tileDecodeMs.median, 2);
  assert.equal(s.videoPaintMs.median, 6);
  assert.equal(s.tilePaintMs.median, 1);
  assert.equal(s.rttMs, 4);
});

test('a Pong measures the round trip of our own Ping only, once', () => {
  const rt = new RoundTrips();
  const a = rt.ping(10.5);
  const b = rt.ping(20);
  assert.deepEqual(a, { id: 1, time: 10500 });
  assert.equal(b.id, 2);
  assert.equal(rt.pong({ id: 1, clientTime: 999 }, 30), null); // not the time we sent
  assert.equal(rt.pong({ id: 1, clientTime: 10500 }, 30), 19.5);
  assert.equal(rt.pong({ id: 1, clientTime: 10500 }, 31), null); // already answered
  assert.equal(rt.pong({ id: 7, clientTime: 0 }, 31), null); // never sent
});

test('only the last 8 pings wait for their Pong', () => {
  const rt = new RoundTrips();
  const sent = Array.from({ length: 9 }, (_, i) => rt.ping(i));
  assert.equal(rt.pong({ id: sent[0].id, clientTime: sent[0].time }, 100), null); // taken as lost
  assert.equal(rt.pong({ id: sent[8].id, clientTime: sent[8].time }, 100), 92);
});

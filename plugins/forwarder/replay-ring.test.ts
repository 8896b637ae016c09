import { strict as assert } from 'node:assert';
import { ReplayArena, ReplayRing } from './replay-ring';

const pkt = (n: number, len = 100): Buffer => Buffer.alloc(len, n & 0xff);
const contents = (r: ReplayRing): Array<[number, number]> => {
  const out: Array<[number, number]> = [];
  r.forEach((ts, p) => out.push([ts, p[0]!]));
  return out;
};

describe('forwarder: replay ring over one arena', () => {
  it('keeps replaySeconds of a call, oldest first, each packet as it was', () => {
    const a = new ReplayArena(1 << 20);
    const r = new ReplayRing(1_000_000, a);
    for (let i = 0; i < 100; i++) assert.ok(r.push(i * 20_000, pkt(i)));
    // 100 packets over 1.98 s, 1 s kept: the last 51 (ts >= 0.98 s).
    const got = contents(r);
    assert.equal(got.length, 51);
    assert.deepEqual(got[0], [980_000, 49]);
    assert.deepEqual(got[50], [1_980_000, 99]);
  });

  it('when the arena comes round faster than replaySeconds, the overwritten packets are gone, the rest intact', () => {
    const a = new ReplayArena(16 * 100); // 16 packets of 100 bytes
    const r1 = new ReplayRing(10_000_000, a);
    const r2 = new ReplayRing(10_000_000, a);
    for (let i = 0; i < 40; i++) (i % 2 === 0 ? r1 : r2).push(i * 1000, pkt(i));
    const all = [...contents(r1), ...contents(r2)].map(([, b]) => b).sort((x, y) => x - y);
    assert.deepEqual(all, Array.from({ length: 16 }, (_v, k) => 24 + k), 'the newest 16 of both calls');
    for (const [ts, b] of [...contents(r1), ...contents(r2)]) assert.equal(b, ts / 1000, 'each view holds its own packet');
  });

  it('a packet is never split over the arena end; packets too large or with no replay are refused, not kept', () => {
    const a = new ReplayArena(1000);
    const r = new ReplayRing(10_000_000, a);
    for (let i = 0; i < 30; i++) assert.ok(r.push(i, pkt(i, 60)));
    for (const [ts, b] of contents(r)) assert.equal(b, ts);
    assert.equal(r.push(99, pkt(1, 63)), false, 'over a sixteenth of the arena');
    assert.equal(new ReplayRing(0, a).push(1, pkt(1)), false, 'replaySeconds 0');
    assert.equal(a.refused, 1);
  });

  it('a ring holds at most 8192 packets (the oldest go) and clear() forgets them', () => {
    const a = new ReplayArena(64 << 20);
    const r = new ReplayRing(1e12, a);
    for (let i = 0; i < 9000; i++) r.push(i, pkt(i, 20));
    assert.equal(r.size, 8192);
    assert.equal(contents(r)[0]![0], 9000 - 8192);
    r.clear();
    assert.equal(r.size, 0);
    assert.deepEqual(contents(r), []);
  });
});

import * as assert from 'node:assert/strict';
import { SequenceTracker, type SequenceOptions, type SequenceStream, type SequenceVerdict } from './sequence';

const BOOT = 0x5eed;

function setup(opts: SequenceOptions = {}): { t: SequenceTracker; s: SequenceStream; send: (seq: number, count: number, boot?: number) => SequenceVerdict } {
  const t = new SequenceTracker({ window: 256, ...opts });
  const s = t.stream(1, 10);
  return { t, s, send: (seq, count, boot = BOOT) => t.accept(s, boot, seq, count) };
}

describe('forwarded sequence accounting', () => {
  it('counts nothing lost for consecutive datagrams', () => {
    const { t, s, send } = setup();
    assert.equal(send(0, 5), 'start');
    for (let seq = 5; seq < 1000; seq += 5) assert.equal(send(seq, 5), 'ok');
    t.sweep();
    t.sweep();
    t.settleAll();
    assert.deepEqual(s.stats, { expected: 1000, received: 1000, lost: 0, duplicates: 0, reordered: 0, late: 0, restarts: 0 });
  });

  it('counts a gap as lost once it is still open at the second sweep', () => {
    const { t, s, send } = setup();
    send(0, 5);
    send(10, 5); // 5..9 missing
    t.sweep();
    assert.equal(s.stats.lost, 0, 'not yet: a late datagram may still fill it');
    send(15, 5);
    t.sweep();
    assert.equal(s.stats.lost, 5);
    assert.equal(s.stats.received, 15);
    assert.equal(s.stats.expected, 20);
  });

  it('counts a gap as lost when it leaves the window, without waiting for a sweep', () => {
    const { s, send } = setup({ window: 64 });
    send(0, 4);
    send(8, 4); // 4..7 missing
    for (let seq = 12; seq < 100; seq += 4) send(seq, 4);
    assert.equal(s.stats.lost, 4);
  });

  it('tolerates reordering within the window: the late datagram fills the gap, nothing lost', () => {
    const { t, s, send } = setup();
    send(0, 5);
    send(10, 5);
    send(15, 5);
    assert.equal(send(5, 5), 'reordered');
    t.sweep();
    t.sweep();
    assert.equal(s.stats.lost, 0);
    assert.equal(s.stats.reordered, 5);
    assert.equal(s.stats.received, 20);
  });

  it('drops duplicates (verdict duplicate) and counts them, in order or reordered', () => {
    const { t, s, send } = setup();
    send(0, 5);
    send(5, 5);
    assert.equal(send(5, 5), 'duplicate');
    assert.equal(send(0, 5), 'duplicate');
    t.settleAll();
    assert.equal(s.stats.duplicates, 10);
    assert.equal(s.stats.received, 10);
    assert.equal(s.stats.lost, 0);
  });

  it('counts a datagram arriving after its gap was settled as late (delivered, still counted lost once)', () => {
    const { t, s, send } = setup();
    send(0, 5);
    send(10, 5);
    t.sweep();
    t.sweep();
    assert.equal(s.stats.lost, 5);
    assert.equal(send(5, 5), 'late');
    assert.equal(s.stats.late, 5);
    assert.equal(send(5, 5), 'duplicate', 'a second copy of the late datagram is a duplicate');
    assert.equal(s.stats.lost, 5);
  });

  it('detects a restart by a new boot id: no loss for the jump back, the old boot\'s stragglers tolerated', () => {
    const { t, s, send } = setup();
    for (let seq = 0; seq < 50_000; seq += 10) send(seq, 10);
    assert.equal(send(0, 10, BOOT + 1), 'restart');
    send(10, 10, BOOT + 1);
    assert.equal(send(49_990, 10, BOOT), 'stale-boot');
    t.sweep();
    t.sweep();
    assert.equal(s.stats.lost, 0);
    assert.equal(s.stats.restarts, 1);
    assert.equal(s.stats.received, 50_020);
  });

  it('detects a restart of a forwarder without boot id by a jump back to a small sequence', () => {
    const { t, s, send } = setup();
    for (let seq = 0; seq < 100_000; seq += 10) send(seq, 10, 0);
    assert.equal(send(0, 10, 0), 'restart');
    assert.equal(send(10, 10, 0), 'ok');
    t.settleAll();
    assert.equal(s.stats.lost, 0);
    assert.equal(s.stats.restarts, 1);
  });

  it('settles the old boot\'s open gaps on restart (they were lost before it)', () => {
    const { s, send } = setup();
    send(0, 10);
    send(20, 10); // 10..19 lost, then the sensor restarts
    send(0, 10, BOOT + 1);
    assert.equal(s.stats.lost, 10);
  });

  it('treats a forward jump beyond maxGap as a resync, not a loss of millions', () => {
    const { t, s, send } = setup({ maxGap: 1 << 20 });
    send(0, 10);
    assert.equal(send(0x70000000, 10), 'restart');
    send(0x7000000a, 10);
    t.settleAll();
    assert.equal(s.stats.lost, 0);
    // Within maxGap a jump is loss: the network did lose those packets.
    send(0x7000000a + 10 + 1000, 10);
    t.settleAll();
    assert.equal(s.stats.lost, 1000);
  });

  it('follows the sequence across the 2^32 wrap', () => {
    const { t, s, send } = setup();
    let seq = 0xffffff00;
    send(seq, 16);
    for (let i = 0; i < 100; i++) {
      seq = (seq + 16) >>> 0;
      if (i === 30) continue; // one datagram lost just after the wrap
      assert.notEqual(send(seq, 16), 'restart');
    }
    t.settleAll();
    assert.equal(s.stats.lost, 16);
    assert.equal(s.stats.restarts, 0);
  });

  it('sees loss at the end of a burst from the next heartbeat (count 0 at the next sequence)', () => {
    const { t, s, send } = setup();
    send(0, 10);
    // 10..29 lost; the heartbeat says the next packet will be 30.
    assert.equal(send(30, 0), 'ok');
    t.settleAll();
    assert.equal(s.stats.lost, 20);
    assert.equal(s.stats.expected, 30);
  });

  it('keeps received + lost = expected under random loss, reordering and duplication', () => {
    let seed = 99;
    const rnd = (): number => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed / 4294967296;
    };
    const { t, s, send } = setup({ window: 512 });
    let trulyLost = 0;
    const held: Array<[number, number]> = [];
    let seq = 0xfffff000; // crosses the wrap too
    for (let i = 0; i < 20_000; i++) {
      const count = 1 + Math.floor(rnd() * 8);
      const r = rnd();
      if (r < 0.02) trulyLost += count;
      else if (r < 0.06) held.push([seq, count]); // delivered a few datagrams later
      else {
        send(seq, count);
        if (r > 0.98) send(seq, count); // duplicated
      }
      if (held.length > 0 && rnd() < 0.5) {
        const [hs, hc] = held.shift()!;
        send(hs, hc);
      }
      if (i % 2000 === 0) t.sweep();
      seq = (seq + count) >>> 0;
    }
    for (const [hs, hc] of held) send(hs, hc);
    t.settleAll();
    assert.equal(s.stats.received + s.stats.lost - s.stats.late, s.stats.expected);
    assert.equal(s.stats.lost - s.stats.late, trulyLost);
    assert.ok(s.stats.duplicates > 0 && s.stats.reordered > 0);
  });

  it('tracks at most maxStreams sensors, evicting (and settling) the least recently heard', () => {
    const t = new SequenceTracker({ maxStreams: 4, window: 64 });
    const evicted: SequenceStream[] = [];
    for (let sensor = 0; sensor < 10; sensor++) {
      const s = t.stream(0, sensor, (e) => evicted.push(e));
      t.accept(s, 1, 0, 5);
      t.accept(s, 1, 10, 5); // 5 lost each
    }
    assert.equal(t.size, 4);
    assert.equal(t.evicted, 6);
    assert.deepEqual(
      evicted.map((e) => [e.sensorId, e.stats.lost]),
      [0, 1, 2, 3, 4, 5].map((i) => [i, 5]),
    );
    // Hearing from sensor 6 again makes it the most recent: sensor 7 goes next.
    t.stream(0, 6);
    t.stream(0, 99, (e) => evicted.push(e));
    assert.equal(evicted[evicted.length - 1]!.sensorId, 7);
  });

  it('keeps deployments apart: the same sensor id in two deployments is two streams', () => {
    const t = new SequenceTracker();
    const a = t.stream(1, 5);
    const b = t.stream(2, 5);
    assert.notEqual(a, b);
    t.accept(a, 1, 0, 10);
    t.accept(b, 1, 500, 10);
    t.accept(a, 1, 10, 10);
    t.settleAll();
    assert.equal(a.stats.lost + b.stats.lost, 0);
  });

  it('hands out per-interval deltas for counter metrics', () => {
    const { t, s, send } = setup();
    send(0, 5);
    send(10, 5);
    t.settleAll();
    assert.equal(s.takeDeltas().lost, 5);
    assert.equal(s.takeDeltas().lost, 0);
    send(30, 5);
    t.settleAll();
    const d = s.takeDeltas();
    assert.equal(d.lost, 15);
    assert.equal(d.received, 5);
  });
});

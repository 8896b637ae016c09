import { strict as assert } from 'node:assert';
import type { TransportPacket } from '../net/types';
import { EarlyMedia } from './early-media';

const pkt = (n: number, port: number, size = 172): TransportPacket => ({ ts: n * 20_000, frameNo: n, proto: 'udp', ipVersion: 4, src: '10.0.0.1', sport: port, dst: '10.0.0.2', dport: 4000, payload: Buffer.alloc(size, n & 0xff) });

describe('media: EarlyMedia (unmatched RTP held for a later SDP)', () => {
  it('keeps copies, per stream in order, and hands over the streams a claim accepts', () => {
    const e = new EarlyMedia();
    const src = pkt(1, 5000);
    e.keep('a', src);
    src.payload.fill(0); // the capture buffer is reused: the kept copy is not
    e.keep('b', pkt(2, 6000));
    e.keep('a', pkt(3, 5000));
    const got = e.take((p) => p.sport === 5000);
    assert.deepEqual(got.map((s) => s.map((p) => p.frameNo)), [[1, 3]]);
    assert.equal(got[0]![0]!.payload[0], 1);
    assert.equal(e.size, 1);
  });

  it('a flood of junk streams stays within the byte budget, least recently fed first out, and is counted', () => {
    const e = new EarlyMedia({ maxBytes: 100_000, maxPerStream: 100 });
    for (let i = 0; i < 10_000; i++) e.keep(`s${i}`, pkt(i, 1024 + (i % 60000)));
    assert.ok(e.size <= 100_000 / 172, `${e.size} streams kept`);
    assert.equal(e.dropped + e.take(() => true).flat().length, 10_000);
  });

  it('a long stream keeps about its newest maxPerStream packets', () => {
    const e = new EarlyMedia({ maxPerStream: 100 });
    for (let i = 0; i < 1000; i++) e.keep('s', pkt(i, 5000));
    const kept = e.take(() => true)[0]!;
    assert.ok(kept.length >= 50 && kept.length <= 100, `${kept.length}`);
    assert.equal(kept[kept.length - 1]!.frameNo, 999);
    assert.equal(e.dropped, 1000 - kept.length);
  });
});

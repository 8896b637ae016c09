import * as assert from 'node:assert/strict';
import { IpReassembler, type ReassembledDatagram } from './ip-reassembly';

const T0 = 1_700_000_000_000_000;

function bytes(n: number, seed = 0): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

describe('IP reassembly', () => {
  it('completes when every byte up to the last fragment is covered, whatever the order', () => {
    const data = bytes(4000);
    const r = new IpReassembler();
    const parts: Array<[number, number]> = [[2400, 4000], [0, 800], [1600, 2400], [800, 1600]];
    const res = parts.map(([a, b], i) => r.add('k', a, b < 4000, data.subarray(a, b), T0 + i, 17));
    assert.deepEqual(res.slice(0, 3), ['pending', 'pending', 'pending']);
    const done = res[3] as ReassembledDatagram;
    assert.ok(done.data.equals(data));
    assert.equal(done.proto, 17);
    assert.equal(done.fragments, 4);
    assert.equal(r.size, 0);
    assert.equal(r.bufferedBytes, 0);
    assert.deepEqual(r.stats, { fragments: 4, reassembled: 1, expired: 0, evicted: 0, invalid: 0 });
  });

  it('tolerates duplicates and overlaps; the bytes received first win', () => {
    const data = bytes(3000);
    const other = bytes(3000, 99);
    const r = new IpReassembler();
    assert.equal(r.add('k', 0, true, data.subarray(0, 1600), T0, 6), 'pending');
    assert.equal(r.add('k', 0, true, data.subarray(0, 1600), T0, 6), 'pending'); // duplicate
    assert.equal(r.add('k', 800, true, other.subarray(800, 2400), T0, 6), 'pending'); // overlaps both sides
    const done = r.add('k', 2400, false, data.subarray(2400), T0, 6) as ReassembledDatagram;
    assert.ok(done.data.subarray(0, 1600).equals(data.subarray(0, 1600)), 'first fragment kept over the overlap');
    assert.ok(done.data.subarray(1600, 2400).equals(other.subarray(1600, 2400)), 'gap filled by the overlapping fragment');
    assert.ok(done.data.subarray(2400).equals(data.subarray(2400)));
  });

  it('waits for the offset-0 fragment even when the byte count is reached by overlaps', () => {
    const r = new IpReassembler();
    assert.equal(r.add('k', 8, true, bytes(100), T0, 17), 'pending');
    assert.equal(r.add('k', 8, false, bytes(100), T0, 17), 'pending');
    assert.ok(typeof r.add('k', 0, true, bytes(8), T0, 17) === 'object');
  });

  it('copies fragment bytes (the capture chunk may be released)', () => {
    const r = new IpReassembler();
    const first = bytes(16);
    r.add('k', 0, true, first, T0, 17);
    first.fill(0);
    const done = r.add('k', 16, false, bytes(16), T0, 17) as ReassembledDatagram;
    assert.ok(done.data.subarray(0, 16).equals(bytes(16)));
  });

  it('drops datagrams that cannot be valid', () => {
    const r = new IpReassembler();
    assert.equal(r.add('a', 65528, true, bytes(16), T0, 17), 'invalid', 'beyond 65535');
    r.add('b', 0, true, bytes(16), T0, 17);
    r.add('b', 16, false, bytes(16), T0, 17 + 0); // completes
    r.add('c', 32, false, bytes(16), T0, 17);
    assert.equal(r.add('c', 40, true, bytes(16), T0, 17), 'invalid', 'fragment past the end');
    r.add('d', 48, true, bytes(16), T0, 17);
    assert.equal(r.add('d', 0, false, bytes(16), T0, 17), 'invalid', 'last fragment before held data');
    assert.equal(r.stats.invalid, 3);
    assert.equal(r.size, 0);
  });

  it('expires datagrams by capture time, oldest first', () => {
    const dropped: string[] = [];
    const r = new IpReassembler({ timeoutSec: 30, onDrop: (why, key) => dropped.push(`${why}:${key}`) });
    r.add('old', 0, true, bytes(8), T0, 17);
    r.add('new', 0, true, bytes(8), T0 + 20e6, 17);
    r.add('x', 0, true, bytes(8), T0 + 31e6, 17);
    assert.deepEqual(dropped, ['expired:old']);
    assert.equal(r.expire(T0 + 51e6), 1);
    assert.deepEqual(dropped, ['expired:old', 'expired:new']);
    assert.equal(r.size, 1);
  });

  it('bounds the datagrams and bytes held, evicting the oldest', () => {
    const r = new IpReassembler({ maxDatagrams: 3, maxBytes: 1000 });
    for (let i = 0; i < 10; i++) r.add(`d${i}`, 0, true, bytes(100), T0 + i, 17);
    assert.equal(r.size, 3);
    assert.equal(r.stats.evicted, 7);
    const big = new IpReassembler({ maxBytes: 1000 });
    for (let i = 0; i < 10; i++) big.add(`d${i}`, 0, true, bytes(300), T0 + i, 17);
    assert.ok(big.bufferedBytes <= 1000);
    assert.equal(big.size, 3);
    assert.equal(big.clear(), 3);
    assert.equal(big.bufferedBytes, 0);
  });
});

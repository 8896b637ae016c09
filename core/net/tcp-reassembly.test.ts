import * as assert from 'node:assert/strict';
import { TcpReassembler, tcpFlowKey, type TcpCloseReason, type TcpReassemblyOptions } from './tcp-reassembly';
import type { TcpStreamChunk, TransportPacket } from './types';

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;
const T0 = 1_700_000_000_000_000;
const C2S = tcpFlowKey('10.0.0.1', 40000, '10.0.0.2', 5060);
const S2C = tcpFlowKey('10.0.0.2', 5060, '10.0.0.1', 40000);

let frameNo = 0;
/** A segment client→server ('c') or server→client ('s'). */
function seg(dir: 'c' | 's', seq: number, flags: number, payload: Buffer | string, ts = T0): TransportPacket {
  const c = dir === 'c';
  return {
    ts,
    frameNo: ++frameNo,
    proto: 'tcp',
    ipVersion: 4,
    src: c ? '10.0.0.1' : '10.0.0.2',
    sport: c ? 40000 : 5060,
    dst: c ? '10.0.0.2' : '10.0.0.1',
    dport: c ? 5060 : 40000,
    payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
    tcp: { seq: seq >>> 0, ack: 0, flags },
  };
}

/** A reassembler recording everything it reports. */
function harness(opts: TcpReassemblyOptions = {}): {
  r: TcpReassembler;
  push: (p: TransportPacket) => void;
  text: (flow: string) => string;
  chunks: TcpStreamChunk[];
  gaps: Array<[string, number]>;
  closes: Array<[string, TcpCloseReason]>;
} {
  const chunks: TcpStreamChunk[] = [];
  const gaps: Array<[string, number]> = [];
  const closes: Array<[string, TcpCloseReason]> = [];
  const r = new TcpReassembler({ ...opts, onGap: (f, m) => gaps.push([f, m]), onClose: (f, why) => closes.push([f, why]) });
  const on = (c: TcpStreamChunk): void => {
    chunks.push(c);
  };
  return {
    r,
    push: (p) => r.push(p, on),
    text: (flow) =>
      chunks
        .filter((c) => c.flow === flow)
        .map((c) => c.data.toString())
        .join(''),
    chunks,
    gaps,
    closes,
  };
}

describe('TCP reassembly', () => {
  it('follows a whole connection: handshake, data both ways, FIN both ways', () => {
    const h = harness();
    h.push(seg('c', 1000, SYN, ''));
    h.push(seg('s', 5000, SYN | ACK, ''));
    h.push(seg('c', 1001, ACK, 'INVITE '));
    h.push(seg('c', 1008, ACK, 'sip:x'));
    h.push(seg('s', 5001, ACK, 'SIP/2.0 100'));
    h.push(seg('c', 1013, FIN | ACK, ''));
    h.push(seg('s', 5012, FIN | ACK, ''));
    assert.equal(h.text(C2S), 'INVITE sip:x');
    assert.equal(h.text(S2C), 'SIP/2.0 100');
    assert.deepEqual(h.closes, [[C2S, 'fin'], [S2C, 'fin']]);
    const c = h.chunks[0] as TcpStreamChunk;
    assert.deepEqual({ flow: c.flow, src: c.src, sport: c.sport, dst: c.dst, dport: c.dport }, { flow: C2S, src: '10.0.0.1', sport: 40000, dst: '10.0.0.2', dport: 5060 });
    assert.equal(h.r.connections, 1, 'lingers after close');
    h.push(seg('c', 1014, ACK, 'late retransmission', T0 + 1e6));
    assert.equal(h.r.stats.afterClose, 1);
    h.r.expire(T0 + 40e6, () => assert.fail('no data expected'));
    assert.equal(h.r.connections, 0);
  });

  it('puts out-of-order segments in order and drops retransmitted and overlapping bytes', () => {
    const h = harness();
    h.push(seg('c', 100, SYN, ''));
    h.push(seg('c', 111, ACK, 'world')); // ahead: held
    h.push(seg('c', 101, ACK, 'hello')); // fills up to 106
    h.push(seg('c', 101, ACK, 'hello')); // retransmission
    h.push(seg('c', 104, ACK, 'lo, ')); // overlaps 104..106, adds ', ' at 106..108
    h.push(seg('c', 108, ACK, 'XX!')); // 'XX' overlaps nothing delivered yet? 108..111 fills the hole
    h.push(seg('c', 116, ACK, '!')); // after the held 'world'
    assert.equal(h.text(C2S), 'hello, XX!world!');
    assert.equal(h.r.stats.duplicateBytes, 5 + 2);
    assert.ok(h.chunks.every((c) => c.gapBefore === undefined));
    assert.equal(h.r.bufferedBytes, 0);
  });

  it('starts mid-stream from the first segment seen when there was no SYN', () => {
    const h = harness();
    h.push(seg('s', 777777, ACK, 'SIP/2.0 200 OK\r\n'));
    h.push(seg('c', 123456, ACK, 'ACK sip:x SIP/2.0\r\n'));
    h.push(seg('s', 777777 + 16, ACK, '\r\n'));
    assert.equal(h.text(S2C), 'SIP/2.0 200 OK\r\n\r\n');
    assert.equal(h.text(C2S), 'ACK sip:x SIP/2.0\r\n');
  });

  it('handles sequence number wraparound', () => {
    const h = harness();
    const isn = 0xfffffff0;
    h.push(seg('c', isn, SYN, ''));
    h.push(seg('c', isn + 1 + 10, ACK, 'BBBBBBBBBB')); // crosses 2^32, arrives first
    h.push(seg('c', isn + 1, ACK, 'AAAAAAAAAA'));
    h.push(seg('c', isn + 1 + 20, ACK, 'CCCCC')); // wholly past the wrap
    h.push(seg('c', isn + 1 + 5, ACK, 'AAAAA')); // retransmission across nothing new
    assert.equal(h.text(C2S), 'AAAAAAAAAABBBBBBBBBBCCCCC');
    assert.equal(h.r.stats.gaps, 0);
  });

  it('skips a gap after gapTimeoutSec of capture time and reports it', () => {
    const h = harness({ gapTimeoutSec: 2 });
    h.push(seg('c', 1, SYN, ''));
    h.push(seg('c', 2, ACK, 'one '));
    h.push(seg('c', 10, ACK, 'three', T0 + 100)); // 'two ' (6..10) lost
    h.push(seg('s', 1, ACK, 'x', T0 + 1e6)); // another flow's packet: not yet
    assert.equal(h.text(C2S), 'one ');
    h.push(seg('s', 2, ACK, 'y', T0 + 2.5e6)); // sweep: the wait is over
    assert.equal(h.text(C2S), 'one three');
    assert.deepEqual(h.gaps, [[C2S, 4]]);
    const after = h.chunks.find((c) => c.data.toString() === 'three');
    assert.equal(after?.gapBefore, 4);
    h.push(seg('c', 15, ACK, ' four', T0 + 2.6e6));
    assert.equal(h.chunks[h.chunks.length - 1]?.gapBefore, undefined);
    assert.equal(h.r.stats.gapBytes, 4);
  });

  it('skips a gap early when too much is buffered behind it', () => {
    const h = harness({ maxBufferedPerDirection: 1000, gapTimeoutSec: 60 });
    h.push(seg('c', 0, ACK, 'a'));
    for (let i = 0; i < 5; i++) h.push(seg('c', 100 + i * 300, ACK, Buffer.alloc(300, 0x41 + i)));
    assert.equal(h.gaps.length, 1);
    assert.equal(h.gaps[0]?.[1], 99);
    assert.equal(h.text(C2S).length, 1 + 1500);
    assert.equal(h.r.bufferedBytes, 0);
  });

  it('bounds the bytes held over all connections', () => {
    const h = harness({ maxBufferedTotal: 2000, gapTimeoutSec: 60 });
    for (let port = 1; port <= 5; port++) {
      const p = seg('c', 0, ACK, 'x');
      p.sport = port;
      h.push(p);
      const q = seg('c', 10, ACK, Buffer.alloc(600));
      q.sport = port;
      h.push(q);
    }
    assert.ok(h.r.bufferedBytes <= 2000, `buffered ${h.r.bufferedBytes}`);
    assert.ok(h.gaps.length >= 2);
  });

  it('at a FIN behind a gap, skips to the FIN after the wait and closes', () => {
    const h = harness({ gapTimeoutSec: 1 });
    h.push(seg('c', 1, SYN, ''));
    h.push(seg('c', 2, ACK, 'abc'));
    h.push(seg('c', 10, FIN | ACK, '', T0 + 10));
    assert.deepEqual(h.closes, []);
    h.r.expire(T0 + 2e6, () => undefined);
    assert.deepEqual(h.gaps, [[C2S, 5]]);
    assert.deepEqual(h.closes, [[C2S, 'fin']]);
  });

  it('closes both directions on RST, delivering what was received', () => {
    const h = harness();
    h.push(seg('c', 1, SYN, ''));
    h.push(seg('c', 2, ACK, 'ab'));
    h.push(seg('c', 10, ACK, 'held'));
    h.push(seg('s', 99, RST, ''));
    assert.equal(h.text(C2S), 'abheld');
    assert.deepEqual(h.closes.map((c) => c[1]), ['rst', 'rst']);
    h.push(seg('c', 14, ACK, 'more'));
    assert.equal(h.text(C2S), 'abheld');
  });

  it('ignores a RST for an unknown connection', () => {
    const h = harness();
    h.push(seg('c', 5, RST, ''));
    assert.equal(h.r.connections, 0);
  });

  it('treats a SYN with a new ISN on the same ports as a new connection', () => {
    const h = harness();
    h.push(seg('c', 100, SYN, ''));
    h.push(seg('c', 101, ACK, 'first'));
    h.push(seg('c', 100, SYN, '')); // retransmitted SYN: same connection
    h.push(seg('c', 106, ACK, '!'));
    h.push(seg('c', 9000, SYN, '')); // new connection (e.g. after a crash)
    h.push(seg('c', 9001, ACK, 'second'));
    assert.equal(h.text(C2S), 'first!second');
    assert.deepEqual(h.closes.map((c) => c[1]), ['reused', 'reused']);
    assert.equal(h.r.stats.connections, 2);
  });

  it('flushes and forgets idle connections', () => {
    const h = harness({ idleTimeoutSec: 60, gapTimeoutSec: 100 });
    h.push(seg('c', 1, ACK, 'a'));
    h.push(seg('c', 5, ACK, 'held'));
    h.r.expire(T0 + 30e6, () => assert.fail('not idle yet'));
    assert.equal(h.r.connections, 1);
    h.r.expire(T0 + 61e6, (c) => h.chunks.push(c));
    assert.equal(h.text(C2S), 'aheld');
    assert.deepEqual(h.closes.map((c) => c[1]), ['idle', 'idle']);
    assert.equal(h.r.connections, 0);
  });

  it('evicts the oldest connections beyond maxConnections', () => {
    const h = harness({ maxConnections: 10 });
    for (let port = 1; port <= 25; port++) {
      const p = seg('c', 1, ACK, 'x');
      p.sport = port;
      h.push(p);
    }
    assert.equal(h.r.connections, 10);
    assert.equal(h.r.stats.evicted, 15);
    assert.ok(h.closes.every((c) => c[1] === 'evicted'));
  });

  it('flush() delivers what is held across gaps and closes everything', () => {
    const h = harness({ gapTimeoutSec: 100 });
    h.push(seg('c', 1, ACK, 'a'));
    h.push(seg('c', 10, ACK, 'b'));
    h.push(seg('c', 20, ACK, 'c'));
    h.r.flush((c) => h.chunks.push(c));
    assert.equal(h.text(C2S), 'abc');
    assert.deepEqual(h.gaps.map((g) => g[1]), [8, 9]);
    assert.equal(h.r.connections, 0);
    assert.deepEqual(h.closes.map((c) => c[1]), ['end', 'end']);
  });

  it('rebuilds random streams exactly from reordered, duplicated, overlapping segments', () => {
    let seed = 42;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let round = 0; round < 30; round++) {
      const stream = Buffer.alloc(20000 + rnd(30000));
      for (let i = 0; i < stream.length; i++) stream[i] = rnd(256);
      const isn = round % 3 === 0 ? 0xffffffff - rnd(20000) : rnd(0x7fffffff);
      const segs: Array<[number, number]> = [];
      for (let off = 0; off < stream.length; ) {
        const len = Math.min(1 + rnd(1460), stream.length - off);
        segs.push([off, off + len]);
        off += len;
      }
      // Retransmissions, including re-segmented ones that overlap their neighbours.
      for (let k = 0; k < segs.length / 4; k++) {
        const a = rnd(stream.length);
        segs.push([a, Math.min(stream.length, a + 1 + rnd(2000))]);
      }
      // Local reordering only: swap neighbours within a small window (what networks do).
      const order = segs.map((s, i) => ({ s, key: i + rnd(8) })).sort((x, y) => x.key - y.key).map((x) => x.s);
      const h = harness({ gapTimeoutSec: 1000 });
      h.push(seg('c', isn, SYN, ''));
      for (const [a, b] of order) h.push(seg('c', isn + 1 + a, ACK, stream.subarray(a, b)));
      h.push(seg('c', isn + 1 + stream.length, FIN | ACK, ''));
      const got = Buffer.concat(h.chunks.map((c) => c.data));
      assert.equal(got.length, stream.length, `round ${round}`);
      assert.ok(got.equals(stream), `round ${round}`);
      assert.equal(h.r.stats.gaps, 0);
      assert.deepEqual(h.closes, [[C2S, 'fin']]);
    }
  });

  it('writes IPv6 flow keys with brackets', () => {
    assert.equal(tcpFlowKey('2001:db8::1', 5060, '10.0.0.1', 5061), '[2001:db8::1]:5060>10.0.0.1:5061');
  });
});

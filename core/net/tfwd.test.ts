import * as assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ipv4, ipv6, udp } from './packet-builder';
import {
  decodeTfwd,
  TFWD_HEADER_LEN,
  TFWD_MAX_DATAGRAM,
  TFWD_RECORD_HEADER_LEN,
  TFWD_TAG_LEN,
  TfwdDecoder,
  TfwdEncoder,
  TfwdFlags,
  TfwdKey,
  tfwdKeyring,
  type TfwdDecoderOptions,
  type TfwdEncoderOptions,
  type TfwdError,
} from './tfwd';

const T0 = 1_700_000_000_123_456;
const KEY1 = new TfwdKey(1, Buffer.from('tapline-test-key-0123456789abcdef'));
const KEY2 = new TfwdKey(2, Buffer.from('another-secret-for-key-two-00000'));
const RING = tfwdKeyring([KEY1, KEY2]);

function v4Packet(i: number, size = 172): Buffer {
  return ipv4(17, udp(20000 + i, 30000, Buffer.alloc(size, i & 0xff)), { src: '10.0.0.1', dst: '10.0.0.2' });
}

function v6Packet(i: number, size = 172): Buffer {
  return ipv6(17, udp(40000 + i, 50000, Buffer.alloc(size, (i * 7) & 0xff)), { src: '2001:db8::1', dst: '2001:db8::2' });
}

/** Encodes packets; returns the datagrams. */
function encode(packets: Array<{ ts: number; data: Buffer; truncated?: boolean }>, opts: Partial<TfwdEncoderOptions> = {}): Buffer[] {
  const out: Buffer[] = [];
  const enc = new TfwdEncoder({ sensorId: 7, deploymentId: 3, bootId: 0xabcdef01, ...opts }, (d) => out.push(d));
  for (const p of packets) enc.add(p.ts, p.data, p.truncated ?? false);
  enc.flush();
  return out;
}

function mustDecode(buf: Buffer, opts: TfwdDecoderOptions = { keys: RING }): ReturnType<typeof decodeTfwd> & { ok: true } {
  const r = decodeTfwd(buf, opts);
  if (!r.ok) assert.fail(`decode failed: ${r.error}`);
  return r;
}

function expectError(buf: Buffer, error: TfwdError, opts: TfwdDecoderOptions = { requireAuth: false }): void {
  const r = decodeTfwd(buf, opts);
  assert.equal(r.ok ? 'ok' : r.error, error);
}

describe('TFWD encapsulation', () => {
  it('round-trips one IPv4 packet with its capture time, sensor, deployment, boot id and sequence', () => {
    const p = v4Packet(1);
    const [d] = encode([{ ts: T0, data: p }], { key: KEY1, seqStart: 41 });
    const r = mustDecode(d!);
    assert.equal(r.header.sensorId, 7);
    assert.equal(r.header.deploymentId, 3);
    assert.equal(r.header.bootId, 0xabcdef01);
    assert.equal(r.header.seq, 41);
    assert.equal(r.header.count, 1);
    assert.equal(r.header.keyId, 1);
    assert.equal(r.header.authenticated, true);
    assert.equal(r.records.length, 1);
    assert.equal(r.records[0]!.ts, T0);
    assert.deepEqual(r.records[0]!.data, p);
    assert.equal(r.records[0]!.truncated, false);
    assert.equal(d!.length, TFWD_HEADER_LEN + TFWD_RECORD_HEADER_LEN + p.length + TFWD_TAG_LEN);
  });

  it('round-trips IPv6 and IPv4 packets batched in one datagram, times before and after the first', () => {
    const pkts = [
      { ts: T0, data: v6Packet(1) },
      { ts: T0 - 1500, data: v4Packet(2) }, // a second interface's packet, captured earlier
      { ts: T0 + 20_000, data: v6Packet(3, 40) },
      { ts: T0 + 2_000_000_000, data: v4Packet(4, 10) }, // 33 minutes later: still fits an i32 delta
    ];
    const ds = encode(pkts, { key: KEY2, mtu: 8900 });
    assert.equal(ds.length, 1);
    const r = mustDecode(ds[0]!);
    assert.equal(r.header.keyId, 2);
    assert.deepEqual(
      r.records.map((x) => [x.ts, x.data.toString('hex')]),
      pkts.map((x) => [x.ts, x.data.toString('hex')]),
    );
  });

  it('splits batches at the MTU, numbers packets consecutively across datagrams and loses none', () => {
    const pkts = Array.from({ length: 500 }, (_, i) => ({ ts: T0 + i * 125, data: i % 3 === 0 ? v6Packet(i, 10 + (i % 200)) : v4Packet(i, 20 + ((i * 13) % 300)) }));
    for (const mtu of [576, 1400, 8900]) {
      const ds = encode(pkts, { key: KEY1, mtu, seqStart: 0xfffffff0 });
      let seq = 0xfffffff0;
      const got: string[] = [];
      for (const d of ds) {
        assert.ok(d.length <= mtu, `datagram of ${d.length} bytes over MTU ${mtu}`);
        const r = mustDecode(d);
        assert.equal(r.header.seq, seq, 'sequence continues from the previous datagram (wrapping at 2^32)');
        seq = (seq + r.header.count) >>> 0;
        for (const x of r.records) got.push(`${x.ts}:${x.data.toString('hex')}`);
      }
      assert.deepEqual(got, pkts.map((x) => `${x.ts}:${x.data.toString('hex')}`));
      // Batching pays off: several packets per datagram on average.
      if (mtu >= 1400) assert.ok(pkts.length / ds.length >= 4, `${pkts.length / ds.length} packets per datagram at MTU ${mtu}`);
    }
  });

  it('sends a packet too big for the MTU alone, and cuts (flagging TRUNCATED) only what exceeds the UDP limit', () => {
    const big = v4Packet(1, 3000);
    const huge = Buffer.alloc(70_000, 0x45);
    const out: Buffer[] = [];
    const enc = new TfwdEncoder({ sensorId: 1, mtu: 1400 }, (d) => out.push(d));
    enc.add(T0, v4Packet(0, 100));
    enc.add(T0 + 1, big);
    enc.add(T0 + 2, huge);
    enc.add(T0 + 3, v4Packet(3, 100), true);
    enc.flush();
    assert.equal(out.length, 4);
    assert.equal(enc.stats.oversize, 2);
    assert.equal(enc.stats.cut, 1);
    const recs = out.map((d) => mustDecode(d, { keys: RING, requireAuth: false }).records);
    assert.deepEqual(recs[1]![0]!.data, big);
    assert.equal(out[2]!.length, TFWD_MAX_DATAGRAM);
    assert.equal(recs[2]![0]!.truncated, true);
    assert.equal(recs[3]![0]!.truncated, true, 'the sender\'s own truncation flag is carried');
  });

  it('starts a new datagram when a capture time is beyond the i32 µs delta of the batch', () => {
    const ds = encode([
      { ts: T0, data: v4Packet(1) },
      { ts: T0 + 3_000_000_000, data: v4Packet(2) },
    ]);
    assert.equal(ds.length, 2);
    assert.equal(mustDecode(ds[1]!, { requireAuth: false }).records[0]!.ts, T0 + 3_000_000_000);
  });

  it('carries a heartbeat (no packets) with the next sequence number and the sensor\'s capture drops', () => {
    const out: Buffer[] = [];
    const enc = new TfwdEncoder({ sensorId: 9, key: KEY1, seqStart: 100 }, (d) => out.push(d));
    enc.add(T0, v4Packet(1));
    enc.sensorDrops = 12;
    enc.heartbeat(T0 + 1_000_000);
    assert.equal(out.length, 2);
    const hb = mustDecode(out[1]!);
    assert.equal(hb.header.count, 0);
    assert.equal(hb.header.seq, 101);
    assert.equal(hb.header.sensorDrops, 12);
    assert.equal(hb.header.baseTime, T0 + 1_000_000);
  });

  describe('authentication', () => {
    const [signed] = encode([{ ts: T0, data: v4Packet(1) }], { key: KEY1 });

    it('accepts a tag made with a configured key', () => {
      assert.equal(mustDecode(signed!).header.authenticated, true);
    });

    it('refuses a tag made with another secret under the same key id (bad-hmac)', () => {
      expectError(signed!, 'bad-hmac', { keys: tfwdKeyring([new TfwdKey(1, Buffer.from('not-the-key-used-by-the-sender!!'))]) });
    });

    it('refuses a key id the receiver does not know (unknown-key-id)', () => {
      expectError(signed!, 'unknown-key-id', { keys: tfwdKeyring([KEY2]) });
    });

    it('refuses an unsigned datagram when authentication is required (unauthenticated)', () => {
      const [plain] = encode([{ ts: T0, data: v4Packet(1) }]);
      expectError(plain!, 'unauthenticated', { keys: RING });
      // With authentication off (allow-list only) the same datagram is accepted, and tags are not checked.
      assert.equal(decodeTfwd(plain!, { requireAuth: false }).ok, true);
      const r = decodeTfwd(signed!, { requireAuth: false });
      assert.ok(r.ok && !r.header.authenticated && r.records.length === 1);
    });

    it('refuses any flipped bit anywhere in a signed datagram', () => {
      for (let i = 0; i < signed!.length; i++) {
        const bad = Buffer.from(signed!);
        bad[i] = (bad[i] as number) ^ 0x10;
        const r = decodeTfwd(bad, { keys: RING });
        assert.equal(r.ok, false, `flip at byte ${i} accepted`);
      }
    });

    it('tags with HMAC-SHA256 over every byte before the tag, truncated to 16 bytes', () => {
      const secret = Buffer.from('tapline-test-key-0123456789abcdef');
      const body = signed!.subarray(0, signed!.length - TFWD_TAG_LEN);
      const want = createHmac('sha256', secret).update(body).digest().subarray(0, TFWD_TAG_LEN);
      assert.deepEqual(signed!.subarray(signed!.length - TFWD_TAG_LEN), want);
      assert.equal(signed![5]! & TfwdFlags.AUTH, TfwdFlags.AUTH);
    });
  });

  describe('malformed datagrams: a typed reason, never an exception', () => {
    const [good] = encode([
      { ts: T0, data: v4Packet(1, 30) },
      { ts: T0 + 5, data: v6Packet(2, 30) },
    ]);

    it('bad-magic', () => {
      expectError(Buffer.from('HEP3 is not TFWD at all'), 'bad-magic');
      expectError(Buffer.from([0x54, 0x46, 0x00]), 'bad-magic');
    });

    it('truncated: every cut inside the header or a record header', () => {
      for (const n of [0, 1, 3, 4, 7, 8, 20, TFWD_HEADER_LEN - 1]) expectError(good!.subarray(0, n), 'truncated');
      expectError(good!.subarray(0, TFWD_HEADER_LEN + 3), 'truncated');
    });

    it('bad-record-length: a record running past the end, or empty', () => {
      expectError(good!.subarray(0, good!.length - 1), 'bad-record-length');
      const zero = Buffer.from(good!);
      zero.writeUInt16BE(0, TFWD_HEADER_LEN + 4);
      expectError(zero, 'bad-record-length');
      const long = Buffer.from(good!);
      long.writeUInt16BE(0xffff, TFWD_HEADER_LEN + 4);
      expectError(long, 'bad-record-length');
    });

    it('unsupported-version and unsupported-flags', () => {
      const v = Buffer.from(good!);
      v[4] = 2;
      expectError(v, 'unsupported-version');
      const f = Buffer.from(good!);
      f[5] = 0x80;
      expectError(f, 'unsupported-flags');
    });

    it('bad-header-length below 40; a longer header (future extension) is skipped', () => {
      const short = Buffer.from(good!);
      short.writeUInt16BE(36, 6);
      expectError(short, 'bad-header-length');
      const ext = Buffer.concat([good!.subarray(0, TFWD_HEADER_LEN), Buffer.from([1, 2, 3, 4]), good!.subarray(TFWD_HEADER_LEN)]);
      ext.writeUInt16BE(TFWD_HEADER_LEN + 4, 6);
      const r = decodeTfwd(ext, { requireAuth: false });
      assert.ok(r.ok);
      assert.equal(r.records.length, 2);
    });

    it('bad-record-count: the header\'s count disagrees with the records', () => {
      const c = Buffer.from(good!);
      c.writeUInt16BE(3, 10);
      expectError(c, 'bad-record-count');
    });

    it('truncated: a signed datagram shorter than header plus tag', () => {
      const [signed] = encode([{ ts: T0, data: v4Packet(1) }], { key: KEY1 });
      expectError(signed!.subarray(0, TFWD_HEADER_LEN + 10), 'truncated', { keys: RING });
    });

    it('survives 20,000 random mutations and cuts of valid datagrams without throwing', () => {
      let seed = 12345;
      const rnd = (n: number): number => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return seed % n;
      };
      const dec = new TfwdDecoder({ keys: RING, requireAuth: false });
      let accepted = 0;
      for (let i = 0; i < 20_000; i++) {
        const b = Buffer.from(good!.subarray(0, rnd(2) === 0 ? good!.length : 1 + rnd(good!.length)));
        for (let k = rnd(4); k > 0; k--) b[rnd(b.length)] = rnd(256);
        const err = dec.decode(b);
        if (err === null) {
          accepted++;
          let n = 0;
          while (dec.next()) {
            assert.ok(dec.recordOffset + dec.recordLength <= b.length);
            n++;
          }
          assert.equal(n, dec.header.count);
        }
      }
      assert.ok(accepted > 0, 'some mutations (of times, ids, payload bytes) stay valid');
    });
  });

  it('decodes datagram after datagram with one reusable decoder, views into each datagram', () => {
    const pkts = Array.from({ length: 50 }, (_, i) => ({ ts: T0 + i, data: v4Packet(i, 60) }));
    const ds = encode(pkts, { key: KEY1 });
    const dec = new TfwdDecoder({ keys: RING });
    let i = 0;
    for (const d of ds) {
      assert.equal(dec.decode(d), null);
      while (dec.next()) {
        const view = d.subarray(dec.recordOffset, dec.recordOffset + dec.recordLength);
        assert.equal(view.buffer, d.buffer, 'no copy');
        assert.deepEqual(view, pkts[i]!.data);
        assert.equal(dec.recordTs, pkts[i]!.ts);
        i++;
      }
    }
    assert.equal(i, 50);
  });

  it('matches the test vector published in plugins/source-forwarded/README.md', () => {
    const readme = fs.readFileSync(path.resolve(__dirname, '../../../plugins/source-forwarded/README.md'), 'utf8');
    const m = /<!-- tfwd-test-vector -->\s*```\s*([0-9a-f\s]+?)```/.exec(readme);
    assert.ok(m !== null, 'README has the test vector block');
    const published = Buffer.from(m[1]!.replace(/\s+/g, ''), 'hex');
    const out: Buffer[] = [];
    // The vector's inputs, as the README states them.
    const enc = new TfwdEncoder({ sensorId: 0x0102, deploymentId: 5, bootId: 0x11223344, seqStart: 1000, key: new TfwdKey(7, Buffer.from('0123456789abcdef0123456789abcdef', 'hex')) }, (d) =>
      out.push(d),
    );
    const p1 = ipv4(17, udp(4000, 5000, Buffer.from('80000001000000a0deadbeef', 'hex')), { src: '192.0.2.1', dst: '192.0.2.2' });
    const p2 = ipv4(17, udp(5000, 4000, Buffer.from('80000002000000a0cafebabe', 'hex')), { src: '192.0.2.2', dst: '192.0.2.1' });
    enc.sensorDrops = 3;
    enc.add(1_700_000_000_000_000, p1);
    enc.add(1_700_000_000_020_000, p2);
    enc.flush();
    assert.equal(out.length, 1);
    assert.equal(out[0]!.toString('hex'), published.toString('hex'));
  });
});

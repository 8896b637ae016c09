import * as assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import { ErrorCodes, isTaplineError } from '../errors';
import { decodeHep, HEP3_MAX_BYTES, HepChunk, HepProtoType, MAX_KEPT_CHUNKS, type HepDecodeResult, type HepPacket } from './hep';
import { encodeHep3, encodeHepV2, type HepEncodeInput } from './hep-encode';

const INVITE = [
  'INVITE sip:bob@example.com SIP/2.0',
  'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds',
  'From: "Jürgen Müller 日本" <sip:juergen@example.com>;tag=1928301774',
  'To: "Zoë" <sip:bob@example.com>',
  'Call-ID: a84b4c76e66710@pc33.example.com',
  'CSeq: 314159 INVITE',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

function ok(r: HepDecodeResult): HepPacket {
  if (!r.ok) assert.fail(`expected a packet, got ${r.reason}: ${r.detail}`);
  return r.packet;
}

function failure(r: HepDecodeResult): { reason: string; detail: string } {
  if (r.ok) assert.fail('expected a failure, got a packet');
  assert.equal(typeof r.detail, 'string');
  return { reason: r.reason, detail: r.detail };
}

/** A chunk (vendor, type, value) as the wire has it. */
function chunk(type: number, value: Buffer, vendor = 0, len = 6 + value.length): Buffer {
  const h = Buffer.alloc(6);
  h.writeUInt16BE(vendor, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt16BE(len, 4);
  return Buffer.concat([h, value]);
}

function record(...chunks: Buffer[]): Buffer {
  const body = Buffer.concat(chunks);
  const h = Buffer.from('HEP3\0\0', 'latin1');
  h.writeUInt16BE(6 + body.length, 4);
  return Buffer.concat([h, body]);
}

const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 255]);
const v4 = (s: string): Buffer => Buffer.from(s.split('.').map(Number));
const addrChunks = [chunk(HepChunk.IPV4_SRC, v4('10.0.0.1')), chunk(HepChunk.IPV4_DST, v4('10.0.0.2')), chunk(HepChunk.SRC_PORT, u16(5060)), chunk(HepChunk.DST_PORT, u16(5062))];

describe('HEP codec', () => {
  const full: HepEncodeInput = {
    ipProto: 6,
    src: '192.0.2.10',
    sport: 5060,
    dst: '198.51.100.7',
    dport: 5061,
    ts: 1_767_225_600_123_456,
    protoType: HepProtoType.SIP,
    captureId: 0xdeadbeef,
    keepAliveTimer: 30,
    authKey: 'sëcret',
    payload: INVITE,
    correlationId: 'corr-1@x',
    vlan: 4094,
    nodeName: 'proxy-ä1',
    srcMac: '00:11:22:33:44:55',
    dstMac: 'aa:bb:cc:dd:ee:ff',
    etherType: 0x0800,
    tcpFlags: 0x18,
    ipTos: 0xb8,
    mos: 438,
    rFactor: 93,
    geoLocation: '48.85,2.35',
    jitter: 1234,
    transactionType: 'call',
    payloadJsonKeys: 'a,b',
    tagsValues: 'tenant=7',
    tagType: 2,
  };

  it('round-trips every generic chunk of an IPv4 packet', () => {
    const p = ok(decodeHep(encodeHep3(full)));
    assert.deepEqual(
      { ...p, payload: p.payload.toString('utf8'), authKey: p.authKey?.toString('utf8') },
      {
        version: 3,
        ipFamily: 4,
        ipProto: 6,
        src: '192.0.2.10',
        sport: 5060,
        dst: '198.51.100.7',
        dport: 5061,
        ts: 1_767_225_600_123_456,
        tsSec: 1_767_225_600,
        tsUsec: 123_456,
        protoType: 1,
        captureId: 0xdeadbeef,
        keepAliveTimer: 30,
        authKey: 'sëcret',
        payload: INVITE,
        compressed: false,
        correlationId: 'corr-1@x',
        vlan: 4094,
        nodeName: 'proxy-ä1',
        srcMac: '00:11:22:33:44:55',
        dstMac: 'aa:bb:cc:dd:ee:ff',
        etherType: 0x0800,
        tcpFlags: 0x18,
        ipTos: 0xb8,
        mos: 438,
        rFactor: 93,
        geoLocation: '48.85,2.35',
        jitter: 1234,
        transactionType: 'call',
        payloadJsonKeys: 'a,b',
        tagsValues: 'tenant=7',
        tagType: 2,
        extraChunks: [],
        skippedChunks: 0,
      },
    );
  });

  it('round-trips IPv6 addresses, formatted as the core formats them (RFC 5952, IPv4-mapped as ::ffff:a.b.c.d)', () => {
    const cases: Array<[string, string, string, string]> = [
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::2', '2001:db8::1', '2001:db8::2'],
      ['::ffff:10.1.2.3', '::1', '::ffff:10.1.2.3', '::1'],
      ['[fe80::1%eth0]', 'fe80:0:0:0:0:0:0:abcd', 'fe80::1', 'fe80::abcd'],
      ['2001:db8:0:1:0:0:0:0', '::', '2001:db8:0:1::', '::'],
    ];
    for (const [src, dst, wantSrc, wantDst] of cases) {
      const p = ok(decodeHep(encodeHep3({ src, sport: 5060, dst, dport: 5080, payload: INVITE })));
      assert.deepEqual([p.ipFamily, p.src, p.dst, p.sport, p.dport], [6, wantSrc, wantDst, 5060, 5080], src);
    }
  });

  it('keeps the payload byte for byte: UTF-8 display names and bytes that are not UTF-8 at all', () => {
    const latin1 = Buffer.concat([Buffer.from(INVITE.replace('Content-Length: 0', 'Content-Length: 4'), 'utf8'), Buffer.from([0xe9, 0xff, 0x00, 0x80])]);
    for (const payload of [Buffer.from(INVITE, 'utf8'), latin1]) {
      for (const compress of [false, true]) {
        const p = ok(decodeHep(encodeHep3({ src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 2, payload, compress })));
        assert.ok(Buffer.isBuffer(p.payload));
        assert.ok(p.payload.equals(payload));
        assert.equal(p.compressed, compress);
      }
    }
  });

  it('inflates chunk 16 whether zlib, gzip or raw deflate', () => {
    const body = Buffer.from(INVITE.repeat(20), 'utf8');
    for (const z of [zlib.deflateSync(body), zlib.gzipSync(body), zlib.deflateRawSync(body)]) {
      const p = ok(decodeHep(record(...addrChunks, chunk(HepChunk.COMPRESSED_PAYLOAD, z))));
      assert.ok(p.payload.equals(body));
      assert.equal(p.compressed, true);
    }
  });

  it('skips and counts vendor chunks and unknown generic chunks, keeping only the first few', () => {
    const extras = Array.from({ length: 40 }, (_, i) => chunk(100 + i, Buffer.from([i]), i % 2 === 0 ? 0 : 0x0021));
    const p = ok(decodeHep(record(...addrChunks, ...extras, chunk(HepChunk.PAYLOAD, Buffer.from('x')))));
    assert.equal(p.skippedChunks, 40);
    assert.equal(p.extraChunks.length, MAX_KEPT_CHUNKS);
    assert.deepEqual(p.extraChunks[1], { vendor: 0x21, type: 101, value: Buffer.from([1]) });
    // An analytics chunk of an unexpected size is skipped like an unknown one; the SIP message is kept.
    const odd = ok(decodeHep(record(...addrChunks, chunk(HepChunk.MOS, Buffer.from([1, 2, 3])), chunk(HepChunk.PAYLOAD, Buffer.from('x')))));
    assert.equal(odd.mos, undefined);
    assert.equal(odd.skippedChunks, 1);
    // Vendor chunks given to the encoder come back as sent.
    const mine = ok(decodeHep(encodeHep3({ src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 2, payload: 'x', extraChunks: [{ vendor: 0x9999, type: 7, value: Buffer.from('tenant') }] })));
    assert.deepEqual(mine.extraChunks, [{ vendor: 0x9999, type: 7, value: Buffer.from('tenant') }]);
  });

  it('accepts a 16-bit capture id (older agents) and leaves absent fields absent', () => {
    const p = ok(decodeHep(record(...addrChunks, chunk(HepChunk.CAPTURE_ID, u16(2001)))));
    assert.equal(p.captureId, 2001);
    assert.equal(p.ts, undefined);
    assert.equal(p.payload.length, 0);
    assert.equal(p.protoType, 0);
    assert.equal('nodeName' in p, false);
  });

  it('round-trips HEPv2 and HEPv1 over IPv4 and IPv6', () => {
    for (const version of [1, 2] as const) {
      for (const [src, dst] of [['10.0.0.1', '10.0.0.2'], ['2001:db8::1', '2001:db8::2']] as const) {
        const p = ok(decodeHep(encodeHepV2({ ipProto: 17, src, sport: 5060, dst, dport: 5062, ts: 1_767_225_600_654_321, captureId: 777, payload: INVITE }, version)));
        assert.equal(p.version, version);
        assert.deepEqual([p.src, p.dst, p.sport, p.dport, p.ipProto, p.protoType], [src, dst, 5060, 5062, 17, 1]);
        assert.equal(p.payload.toString('utf8'), INVITE);
        if (version === 2) assert.deepEqual([p.ts, p.captureId], [1_767_225_600_654_321, 777]);
        else assert.deepEqual([p.ts, p.captureId], [undefined, undefined]);
      }
    }
  });

  it('decodes a HEPv2 packet exactly as Kamailio 5.6 siptrace sent it (little-endian time header, 2 bytes of padding)', () => {
    // Captured from `kamailio` (siptrace, hep_version 2, hep_capture_id 777) tracing an OPTIONS from 127.0.0.1:44267.
    const head = Buffer.from('02100211aceb3ade7f0000017f000001f2cc156bd3c3060009030000', 'hex');
    const sip = Buffer.from('OPTIONS sip:bob@127.0.0.1:15070 SIP/2.0\r\n\r\n', 'latin1');
    const p = ok(decodeHep(Buffer.concat([head, sip])));
    assert.deepEqual([p.version, p.src, p.sport, p.dst, p.dport, p.ipProto, p.captureId, p.ts], [2, '127.0.0.1', 44267, '127.0.0.1', 15070, 17, 777, 1796590834_443347]);
    assert.ok(p.payload.equals(sip));
  });

  describe('malformed input is a typed result, never an exception', () => {
    const good = encodeHep3({ src: '10.0.0.1', sport: 5060, dst: '10.0.0.2', dport: 5062, ts: 1_700_000_000_000_000, payload: INVITE, captureId: 1 });

    it('bad-magic: empty, random bytes, a TLS ClientHello, an unknown HEP version', () => {
      for (const b of [Buffer.alloc(0), Buffer.from('GET / HTTP/1.1\r\n'), Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), Buffer.from('HEP4\0\x0a'), Buffer.from([3, 16, 2, 17, 0, 0, 0, 0])]) {
        assert.equal(failure(decodeHep(b)).reason, 'bad-magic', b.toString('hex'));
      }
    });

    it('truncated: every prefix of a valid HEPv3 record, and short HEPv2 headers', () => {
      for (let n = 1; n < good.length; n++) {
        const r = failure(decodeHep(good.subarray(0, n)));
        assert.equal(r.reason, 'truncated', `prefix of ${n} bytes`);
      }
      const v2 = encodeHepV2({ src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 2, payload: '' });
      for (let n = 2; n < v2.length; n++) assert.equal(failure(decodeHep(v2.subarray(0, n))).reason, 'truncated', `HEPv2 prefix of ${n}`);
    });

    it('bad-chunk-length: a chunk shorter than its header, one past the end, a fixed-size chunk of the wrong size', () => {
      const cases = [
        record(...addrChunks, chunk(HepChunk.PAYLOAD, Buffer.from('abc'), 0, 5)),
        record(...addrChunks, chunk(HepChunk.PAYLOAD, Buffer.from('abc'), 0, 50)),
        record(chunk(HepChunk.IPV4_SRC, Buffer.from([10, 0, 0])), ...addrChunks.slice(1)),
        record(...addrChunks, chunk(HepChunk.TIME_SEC, Buffer.alloc(8))),
        record(...addrChunks, chunk(HepChunk.CAPTURE_ID, Buffer.alloc(3))),
        Buffer.concat([record(...addrChunks), Buffer.alloc(3)]),
      ];
      cases[5]!.writeUInt16BE(cases[5]!.length, 4); // three bytes after the last chunk: not even a chunk header
      for (const [i, b] of cases.entries()) assert.equal(failure(decodeHep(b)).reason, 'bad-chunk-length', `case ${i}`);
    });

    it('length-mismatch: bytes after the record, a HEPv2 header length that does not fit its family', () => {
      assert.equal(failure(decodeHep(Buffer.concat([good, Buffer.from('xx')]))).reason, 'length-mismatch');
      const v2 = encodeHepV2({ src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 2, payload: INVITE });
      v2[2] = 10; // says IPv6 with an IPv4-sized header
      assert.equal(failure(decodeHep(v2)).reason, 'length-mismatch');
    });

    it('missing-addresses: no source, no destination port, addresses of two families', () => {
      const ip6 = chunk(HepChunk.IPV6_DST, Buffer.alloc(16, 1));
      const cases = [
        record(...addrChunks.slice(1), chunk(HepChunk.PAYLOAD, Buffer.from('x'))),
        record(...addrChunks.slice(0, 3), chunk(HepChunk.PAYLOAD, Buffer.from('x'))),
        record(addrChunks[0]!, ip6, ...addrChunks.slice(2)),
      ];
      for (const [i, b] of cases.entries()) assert.equal(failure(decodeHep(b)).reason, 'missing-addresses', `case ${i}`);
    });

    it('oversize: a packet over the limit, a compressed payload that inflates past its limit (not expanded)', () => {
      assert.equal(failure(decodeHep(good, { maxBytes: good.length - 1 })).reason, 'oversize');
      const bomb = zlib.deflateSync(Buffer.alloc(50 * 1024 * 1024));
      assert.ok(bomb.length < 60_000);
      const t0 = process.hrtime.bigint();
      assert.equal(failure(decodeHep(record(...addrChunks, chunk(HepChunk.COMPRESSED_PAYLOAD, bomb)), { maxDecompressedBytes: 64 * 1024 })).reason, 'oversize');
      assert.ok(Number(process.hrtime.bigint() - t0) / 1e6 < 500, 'inflating stops at the limit');
    });

    it('bad-compressed-payload: chunk 16 that is not deflate data', () => {
      assert.equal(failure(decodeHep(record(...addrChunks, chunk(HepChunk.COMPRESSED_PAYLOAD, Buffer.from([0x78, 0x9c, 1, 2, 3, 4]))))).reason, 'bad-compressed-payload');
    });

    it('survives 20,000 random mutations of valid records without throwing', () => {
      let seed = 12345;
      const rnd = (n: number): number => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return seed % n;
      };
      const seeds = [good, encodeHep3({ ...full, compress: true }), encodeHepV2({ src: '2001:db8::1', sport: 1, dst: '2001:db8::2', dport: 2, payload: INVITE })];
      const reasons = new Set<string>();
      for (let i = 0; i < 20_000; i++) {
        const b = Buffer.from(seeds[i % seeds.length]!);
        for (let k = 0, n = 1 + rnd(4); k < n; k++) b[rnd(Math.min(b.length, 80))] = rnd(256);
        const cut = rnd(3) === 0 ? b.subarray(0, rnd(b.length + 1)) : b;
        const r = decodeHep(cut);
        if (!r.ok) reasons.add(r.reason);
      }
      assert.ok(reasons.size >= 4, [...reasons].join(','));
    });
  });

  describe('encoder', () => {
    it('refuses what HEP cannot carry with TAPLINE_ERR_HEP_ENCODE', () => {
      const base = { src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 2, payload: 'x' };
      const bad: HepEncodeInput[] = [
        { ...base, src: 'pbx.example.com' },
        { ...base, dst: '2001:db8::1' },
        { ...base, sport: 70000 },
        { ...base, payload: Buffer.alloc(HEP3_MAX_BYTES) },
        { ...base, captureId: -1 },
        { ...base, srcMac: '00:11:22' },
        { ...base, ts: 1.5 },
      ];
      for (const input of bad) assert.throws(() => encodeHep3(input), (e: unknown) => isTaplineError(e, ErrorCodes.HEP_ENCODE), JSON.stringify({ ...input, payload: undefined }));
    });

    it('writes the total length and each chunk length big-endian, the payload last', () => {
      const b = encodeHep3({ src: '10.0.0.1', sport: 5060, dst: '10.0.0.2', dport: 5062, payload: 'abc' });
      assert.equal(b.toString('latin1', 0, 4), 'HEP3');
      assert.equal(b.readUInt16BE(4), b.length);
      assert.deepEqual([b.readUInt16BE(b.length - 7), b.readUInt16BE(b.length - 5), b.toString('latin1', b.length - 3)], [HepChunk.PAYLOAD, 9, 'abc']);
    });
  });
});

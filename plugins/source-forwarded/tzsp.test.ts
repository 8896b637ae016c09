/**
 * TZSP: no independent TZSP sender exists here, so the datagrams come from our own encoder (written from the
 * protocol description, like the decoder); the cross-check is tshark's TZSP dissector reading a pcap of them.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildPcap } from '../../core/net/capture-writer';
import { PacketDecoder, isSkipReason } from '../../core/net/decode';
import { LinkType } from '../../core/net/types';
import { haveTshark, tsharkFields } from '../../test/tshark';
import { udpFrames } from '../source-generator/net-frames';
import { decodeTzsp, encodeTzsp, TzspEncap, TzspType, tzspOriginalLength, TZSP_DEFAULT_PORT } from './tzsp';

function inner(i: number): Buffer {
  return udpFrames(`10.1.0.${1 + i}`, 16000 + i, '10.2.0.1', 20000 + 2 * i, Buffer.from(`80080000${(i + 1).toString(16).padStart(8, '0')}00000001`, 'hex'), i + 1)[0]!;
}

describe('TZSP decoding', () => {
  it('finds the Ethernet frame after the tag list: padding, unknown tags, original length, end', () => {
    const f = inner(0);
    const d = encodeTzsp(f, { padding: 3, tags: [{ tag: 60, value: Buffer.from('00163e000009', 'hex') }, tzspOriginalLength(1514)] });
    const r = decodeTzsp(d);
    assert.ok(r.ok);
    assert.equal(r.type, TzspType.RECEIVED);
    assert.equal(r.encapsulation, TzspEncap.ETHERNET);
    assert.equal(r.origLen, 1514);
    assert.deepEqual(d.subarray(r.frameOffset), f);
  });

  it('says no-packet for keepalives, port openers and configuration', () => {
    for (const type of [TzspType.CONFIG, TzspType.KEEPALIVE, TzspType.PORT_OPENER]) {
      assert.deepEqual(decodeTzsp(Buffer.from([1, type, 0, 1])), { ok: false, error: 'no-packet' });
    }
  });

  it('refuses malformed datagrams with a reason', () => {
    const d = encodeTzsp(inner(1));
    assert.deepEqual(decodeTzsp(d.subarray(0, 3)), { ok: false, error: 'truncated' });
    const v2 = Buffer.from(d);
    v2[0] = 2;
    assert.deepEqual(decodeTzsp(v2), { ok: false, error: 'unsupported-version' });
    assert.deepEqual(decodeTzsp(encodeTzsp(inner(1), { encapsulation: TzspEncap.IEEE_802_11 })), { ok: false, error: 'unsupported-encapsulation' });
    // A tag whose length runs past the end, and a tag list that never ends.
    assert.deepEqual(decodeTzsp(Buffer.from([1, 0, 0, 1, 60, 200, 1, 2])), { ok: false, error: 'bad-tag' });
    assert.deepEqual(decodeTzsp(Buffer.from([1, 0, 0, 1, 0, 0, 0])), { ok: false, error: 'bad-tag' });
    assert.deepEqual(decodeTzsp(encodeTzsp(Buffer.alloc(10))), { ok: false, error: 'short-frame' });
  });

  it('never throws on random bytes', () => {
    let seed = 3;
    for (let i = 0; i < 5000; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const b = Buffer.alloc(seed % 40);
      for (let k = 0; k < b.length; k++) b[k] = (seed >>> (k % 24)) & 0xff;
      if (b.length > 0 && i % 2 === 0) b[0] = 1;
      const r = decodeTzsp(b);
      assert.ok(r.ok || typeof r.error === 'string');
    }
  });

  it('agrees with tshark\'s TZSP dissector on a pcap of our datagrams (-d udp.port==37008,tzsp)', function () {
    if (!haveTshark()) {
      console.warn('    [tapline] tshark not installed: TZSP cross-check skipped');
      this.skip();
    }
    const variants = [
      { padding: 0, tags: [] },
      { padding: 2, tags: [] },
      { padding: 0, tags: [tzspOriginalLength(1400)] },
      { padding: 1, tags: [{ tag: 60, value: Buffer.from('00163e0000aa', 'hex') }, tzspOriginalLength(999)] },
      { padding: 0, tags: [{ tag: 99, value: Buffer.from('unknown tag value') }] },
    ];
    const datagrams = variants.map((v, i) => encodeTzsp(inner(i), v));
    // Outer frames: sniffer 192.168.88.1 → recorder 192.168.88.2:37008.
    const frames = datagrams.map((d, i) => ({ ts: 1_700_000_000_000_000 + i * 1000, data: udpFrames('192.168.88.1', 40000, '192.168.88.2', TZSP_DEFAULT_PORT, d, 100 + i)[0]! }));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-tzsp-'));
    try {
      const file = path.join(dir, 'tzsp.pcap');
      fs.writeFileSync(file, buildPcap(frames, { linkType: LinkType.ETHERNET }));
      const rows = tsharkFields(file, ['tzsp.version', 'tzsp.type', 'tzsp.encap', 'tzsp.original_length', 'ip.src', 'ip.dst', 'udp.srcport', 'udp.dstport'], ['-d', `udp.port==${TZSP_DEFAULT_PORT},tzsp`]);
      assert.equal(rows.length, datagrams.length);
      const dec = new PacketDecoder();
      datagrams.forEach((d, i) => {
        const r = decodeTzsp(d);
        assert.ok(r.ok, `datagram ${i}`);
        const p = dec.decode({ ts: 0, linkType: LinkType.ETHERNET, data: d.subarray(r.frameOffset), origLen: d.length - r.frameOffset, interfaceId: 0, frameNo: i + 1 });
        assert.ok(!isSkipReason(p));
        const ours = ['1', String(r.type), String(r.encapsulation), r.origLen === undefined ? '' : String(r.origLen), p.src, p.dst, String(p.sport), String(p.dport)];
        assert.deepEqual(rows[i], ours, `frame ${i + 1}: tshark vs ours`);
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

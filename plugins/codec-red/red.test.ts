import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { PayloadBlock } from '../../core/contract';
import { TaplineError } from '../../core/errors';
import { PcapWriter } from '../../core/net/pcap-writer';
import { PluginHarness } from '../../core/testing/index';
import { udpFrames } from '../source-generator/net-frames';
import { rtpPacket } from '../../test/rtp-build';
import { haveTshark, tsharkFields } from '../../test/tshark';
import plugin from './index';
import { createRedCodec, RedDecoder } from './codec';
import { encodeRed, parseRed, RedFormatError } from './red';

/** RFC 2198 §3's example: LPC (PT 7, 14 bytes) repeated 160 ticks late, then the DVI4 primary (PT 5, 84 bytes). */
const RFC_EXAMPLE = Buffer.concat([Buffer.from([0x87, 0x02, 0x80, 0x0e, 0x05]), Buffer.alloc(14, 0x77), Buffer.alloc(84, 0x55)]);

function summary(blocks: PayloadBlock[]): Array<[number, number, number, boolean]> {
  return blocks.map((b) => [b.payloadType, b.timestampOffset, b.payload.length, b.primary]);
}

describe('RFC 2198 RED payloads', () => {
  it("parses RFC 2198 §3's example: redundant block first, primary last", () => {
    const blocks = parseRed(RFC_EXAMPLE);
    assert.deepEqual(summary(blocks), [
      [7, 160, 14, false],
      [5, 0, 84, true],
    ]);
    assert.ok(blocks[0]?.payload.equals(Buffer.alloc(14, 0x77)));
    assert.ok(blocks[1]?.payload.equals(Buffer.alloc(84, 0x55)));
  });

  it('parses several redundant blocks, oldest first, with the full 14-bit offset and 10-bit length ranges', () => {
    const a = Buffer.alloc(1023, 1);
    const b = Buffer.from('second');
    const p = Buffer.from('primary');
    const payload = encodeRed([
      { payloadType: 114, timestampOffset: 0x3fff, payload: a },
      { payloadType: 104, timestampOffset: 640, payload: b },
      { payloadType: 114, timestampOffset: 0, payload: p },
    ]);
    assert.equal(payload.length, 4 + 4 + 1 + 1023 + 6 + 7);
    const blocks = parseRed(payload);
    assert.deepEqual(summary(blocks), [
      [114, 0x3fff, 1023, false],
      [104, 640, 6, false],
      [114, 0, 7, true],
    ]);
    assert.ok(blocks[0]?.payload.equals(a) && blocks[1]?.payload.equals(b) && blocks[2]?.payload.equals(p));
  });

  it('keeps a zero-length redundant block, and a lone primary block', () => {
    const blocks = parseRed(Buffer.from([0xf2, 0x02, 0x80, 0x00, 0x72, 0xaa, 0xbb]));
    assert.deepEqual(summary(blocks), [
      [114, 160, 0, false],
      [114, 0, 2, true],
    ]);
    assert.deepEqual(summary(parseRed(Buffer.from([0x72, 1, 2, 3]))), [[114, 0, 3, true]]);
    assert.deepEqual(summary(parseRed(Buffer.from([0x72]))), [[114, 0, 0, true]]);
  });

  it('copies the block data, so a reused packet buffer cannot change kept blocks', () => {
    const packet = Buffer.from(RFC_EXAMPLE);
    const blocks = parseRed(packet);
    packet.fill(0);
    assert.ok(blocks[0]?.payload.equals(Buffer.alloc(14, 0x77)));
    assert.ok(blocks[1]?.payload.equals(Buffer.alloc(84, 0x55)));
  });

  it('rejects malformed payloads, saying what is wrong', () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ['empty', Buffer.alloc(0), /empty RED payload/],
      ['only redundant headers', Buffer.from([0xf2, 0x02, 0x80, 0x00]), /ends inside its block headers: 1 redundant header\(s\) and no primary header/],
      ['a truncated 4-byte header', Buffer.from([0xf2, 0x02, 0x80]), /block header 1 at byte 0 is truncated: 4 bytes needed, 3 left/],
      ['a second header truncated', Buffer.from([0xf2, 0x02, 0x80, 0x00, 0xf2, 0x01]), /block header 2 at byte 4 is truncated: 4 bytes needed, 2 left/],
      ['lengths beyond the payload', Buffer.from([0xf2, 0x02, 0x80, 0x10, 0x72, 1, 2, 3]), /block lengths \(16 = 16 bytes\) exceed the 3 bytes after the 2 block headers/],
      ['RED inside RED', Buffer.from([0x61, 1, 2]), /names payload type 97, RED's own/],
    ];
    for (const [what, buf, re] of cases) {
      assert.throws(() => parseRed(buf, 97), (e: unknown) => e instanceof RedFormatError && re.test(e.message), what);
    }
  });

  it('never throws anything but RedFormatError on random bytes, and any blocks it returns fit the payload', () => {
    let seed = 7;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 16;
    let parsed = 0;
    for (let i = 0; i < 5000; i++) {
      const buf = Buffer.alloc(rnd() % 40);
      for (let k = 0; k < buf.length; k++) buf[k] = rnd() & 0xff;
      try {
        const blocks = parseRed(buf);
        parsed++;
        const headerBytes = 1 + 4 * (blocks.length - 1);
        assert.equal(blocks.reduce((n, b) => n + b.payload.length, headerBytes), buf.length);
        assert.equal(blocks.filter((b) => b.primary).length, 1);
        assert.equal(blocks[blocks.length - 1]?.primary, true);
      } catch (e) {
        if (!(e instanceof RedFormatError)) throw e;
      }
    }
    assert.ok(parsed > 100, `only ${parsed} random payloads parsed`);
  });

  it('encodeRed refuses what the header fields cannot carry', () => {
    assert.throws(() => encodeRed([]), /at least the primary/);
    assert.throws(() => encodeRed([{ payloadType: 0, timestampOffset: 0x4000, payload: Buffer.alloc(1) }, { payloadType: 0, timestampOffset: 0, payload: Buffer.alloc(1) }]), /does not fit 14 bits/);
    assert.throws(() => encodeRed([{ payloadType: 0, timestampOffset: 1, payload: Buffer.alloc(1024) }, { payloadType: 0, timestampOffset: 0, payload: Buffer.alloc(1) }]), /10-bit block length/);
    assert.throws(() => encodeRed([{ payloadType: 128, timestampOffset: 0, payload: Buffer.alloc(1) }]), /not 0-127/);
  });

  (haveTshark() ? describe : describe.skip)('agrees with tshark (rtp_rfc2198 dissector)', () => {
    let dir = '';
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-red-'));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    // Block PTs avoid 101: tshark dissects a block by its PT, and takes 101 for telephone-event.
    it('on block types, offsets, lengths and data of generated packets', async () => {
      const payloads: Buffer[] = [RFC_EXAMPLE];
      for (let i = 0; i < 40; i++) {
        const blocks = [];
        for (let k = 0; k < i % 4; k++) blocks.push({ payloadType: 110 + k, timestampOffset: (i * 977 + k * 160) & 0x3fff, payload: Buffer.alloc((i * 13 + k) % 300, i + k) });
        blocks.push({ payloadType: 114, timestampOffset: 0, payload: Buffer.alloc(10 + i, 0xc0 + i) });
        payloads.push(encodeRed(blocks));
      }
      const file = path.join(dir, 'red.pcap');
      const w = new PcapWriter(file);
      payloads.forEach((payload, i) => {
        const pkt = rtpPacket({ pt: 97, seq: i, ts: i * 320, ssrc: 0x1234, payload });
        for (const f of udpFrames('10.0.0.1', 5004, '10.0.0.2', 5006, pkt, i)) w.write(1.7e15 + i * 20_000, f);
      });
      await w.close();
      const rows = tsharkFields(file, ['rtp.follow', 'rtp.p_type', 'rtp.timestamp-offset', 'rtp.block-length', 'rtp.payload'], [
        '-E', 'occurrence=a', '-E', 'aggregator=;', '-d', 'udp.port==5004,rtp', '-o', 'rtp.rfc2198_payload_type:97',
      ]);
      assert.equal(rows.length, payloads.length);
      rows.forEach((row, i) => {
        const [follow = '', pts = '', offsets = '', lengths = '', datas = ''] = row;
        const blocks = parseRed(payloads[i] as Buffer, 97);
        const split = (s: string): string[] => (s === '' ? [] : s.split(';'));
        // rtp.p_type lists the RTP header's PT first, then each block header's.
        assert.deepEqual(split(pts).slice(1).map(Number), blocks.map((b) => b.payloadType), `packet ${i}: block PTs`);
        assert.deepEqual(split(follow).map((f) => f === 'True' || f === '1'), blocks.map((b) => !b.primary), `packet ${i}: F bits`);
        assert.deepEqual(split(offsets).map(Number), blocks.filter((b) => !b.primary).map((b) => b.timestampOffset), `packet ${i}: offsets`);
        assert.deepEqual(split(lengths).map(Number), blocks.filter((b) => !b.primary).map((b) => b.payload.length), `packet ${i}: lengths`);
        // rtp.payload lists the whole RTP payload first, then each block's data ('<MISSING>' for an empty block).
        assert.equal(split(datas)[0], (payloads[i] as Buffer).toString('hex'));
        const hex = blocks.map((b) => (b.payload.length === 0 ? '<MISSING>' : b.payload.toString('hex')));
        assert.deepEqual(split(datas).slice(1), hex, `packet ${i}: block data`);
      });
    });
  });
});

describe('codec-red plugin', () => {
  it('is found by rtpmap RED/8000 (and RED/16000, red/48000) and unwraps instead of decoding', async () => {
    const h = await PluginHarness.create(plugin);
    try {
      const dec = h.decoderFor({ encoding: 'RED', clockRate: 8000, channels: 1, payloadType: 97 });
      assert.ok(dec instanceof RedDecoder);
      assert.equal(typeof dec.unwrap, 'function');
      assert.deepEqual(summary(dec.unwrap?.(RFC_EXAMPLE) ?? []), [
        [7, 160, 14, false],
        [5, 0, 84, true],
      ]);
      assert.throws(() => dec.decode(RFC_EXAMPLE), /RED \(payload type 97\) is a container, not audio: call unwrap\(\)/);
      assert.throws(() => dec.unwrap?.(Buffer.from([0xe1, 0, 0, 0, 0x61])), /RED's own/);
      assert.ok(h.decoderFor({ encoding: 'RED', clockRate: 16000, channels: 1, payloadType: 97 }) instanceof RedDecoder);
      assert.ok(h.decoderFor({ encoding: 'red', clockRate: 48000, channels: 2, payloadType: 63 }) instanceof RedDecoder);
      assert.equal(h.decoderFor({ encoding: 'RED', clockRate: 90000, channels: 1, payloadType: 97 }), undefined);
      // No rtpmap for 97: the default static mapping.
      assert.equal(h.kernel.codecs.staticEncoding(97), 'RED/8000');
      assert.equal(h.kernel.codecs.pluginFor('RED', 8000), 'codec-red');
    } finally {
      await h.stop();
    }
  });

  it('takes its rtpmap-less payload types from the options, and validates them', async () => {
    const h = await PluginHarness.create(plugin, { options: { payloadTypes: [96, 121] } });
    try {
      assert.equal(h.kernel.codecs.staticEncoding(121), 'RED/8000');
      assert.equal(h.kernel.codecs.staticEncoding(97), undefined);
    } finally {
      await h.stop();
    }
    await assert.rejects(PluginHarness.create(plugin, { options: { payloadTypes: [128] } }), (e: unknown) => e instanceof TaplineError && /payloadTypes/.test(e.message));
  });

  it('refuses streams that are not RED', () => {
    assert.throws(() => createRedCodec({ payloadTypes: [] }).createDecoder({ encoding: 'PCMU', clockRate: 8000, channels: 1, payloadType: 0 }), /not "PCMU\/8000"/);
  });
});

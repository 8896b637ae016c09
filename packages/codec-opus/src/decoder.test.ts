/**
 * The stream decoder's bookkeeping (loss → FEC / PLC chunks through drainAudio(), DTX, late packets, SSRC change),
 * the codec factory, and the plugin as the core loads it.
 */
import * as assert from 'node:assert/strict';
import { PluginHarness, type Decoder, type RtpFrameInfo } from 'tapline/testing';
import plugin, { createOpusCodec, NotDecodedOpus, OpusStreamDecoder } from './index';
import { loadOpusNative, OPUS_APPLICATION_VOIP, type OpusNative } from './native';
import { createOpusEncoder } from './encoder';
import { voiced } from './test-support';

function frames(n: OpusNative, count: number, frame = 960): Buffer[] {
  const src = voiced((count * frame) / 48000 + 0.1, 48000, 3);
  const enc = createOpusEncoder(n, { bitrate: 32000, fec: true, packetLossPerc: 10, application: OPUS_APPLICATION_VOIP });
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) out.push(enc.encode(src.subarray(i * frame, (i + 1) * frame), frame));
  enc.close();
  return out;
}

const rtp = (seq: number, timestamp: number, ssrc = 0x1234): RtpFrameInfo => ({ seq: seq & 0xffff, timestamp: timestamp >>> 0, ssrc, marker: false, payloadType: 111 });

describe('@tapline/codec-opus stream decoder', () => {
  let n: OpusNative;
  let pk: Buffer[];

  before(() => {
    const l = loadOpusNative();
    if (l.native === undefined) throw new Error(`the addon did not load: ${l.reason}`);
    n = l.native;
    pk = frames(n, 60);
  });

  it('decodes 20 ms packets to 960 samples at 48 kHz, reusing its output array, with nothing to drain', () => {
    const d = new OpusStreamDecoder(n);
    assert.equal(d.sampleRate, 48000);
    const a = d.decode(pk[0] as Buffer, rtp(100, 0));
    assert.ok(a !== null && a.length === 960);
    const b = d.decode(pk[1] as Buffer, rtp(101, 960));
    assert.ok(b !== null && b.length === 960);
    assert.equal(a.buffer, b.buffer, 'the output array is reused');
    assert.deepEqual(d.drainAudio(), []);
    assert.equal(d.stats.packets, 2);
    d.close();
  });

  it('one lost packet: its audio comes from the next packet’s FEC, at its own timestamp and sequence number', () => {
    const d = new OpusStreamDecoder(n);
    const lost = pk.findIndex((p, i) => i > 2 && n.packetInfo(p).fec) - 1;
    assert.ok(lost > 1);
    for (let i = 0; i < lost; i++) assert.ok(d.decode(pk[i] as Buffer, rtp(100 + i, 5000 + i * 960)) !== null);
    assert.deepEqual(d.drainAudio(), []);
    const pcm = d.decode(pk[lost + 1] as Buffer, rtp(100 + lost + 1, 5000 + (lost + 1) * 960));
    assert.ok(pcm !== null && pcm.length === 960);
    const chunks = d.drainAudio();
    assert.equal(chunks.length, 1);
    assert.equal(chunks[0]?.seq, 100 + lost);
    assert.equal(chunks[0]?.rtpTimestamp, 5000 + lost * 960);
    assert.equal(chunks[0]?.pcm.length, 960);
    assert.deepEqual(d.drainAudio(), [], 'drained once');
    assert.equal(d.stats.fecRecovered, 1);
    assert.equal(d.stats.concealed, 0);
    // The lost packet arriving late after all: its place is filled, it is not decoded again.
    assert.equal(d.decode(pk[lost] as Buffer, rtp(100 + lost, 5000 + lost * 960)), null);
    assert.equal(d.stats.lateSkipped, 1);
    d.close();
  });

  it('several lost packets: PLC for all but the last, FEC for the last, each at its place; sequence and timestamp wrap', () => {
    const d = new OpusStreamDecoder(n);
    const s0 = 65530;
    const t0 = 0xffffffff - 2 * 960;
    // Packets from 5 up to a packet with FEC (2-5 of them: 40-100 ms) are lost.
    const next = [7, 8, 9, 10].find((i) => n.packetInfo(pk[i] as Buffer).fec);
    assert.ok(next !== undefined, 'a packet with FEC among 7-10');
    for (let i = 0; i < 5; i++) d.decode(pk[i] as Buffer, rtp(s0 + i, t0 + i * 960));
    d.decode(pk[next] as Buffer, rtp(s0 + next, t0 + next * 960));
    const chunks = d.drainAudio();
    const missing = next - 5;
    assert.equal(chunks.length, missing);
    chunks.forEach((c, k) => {
      assert.equal(c.seq, (s0 + 5 + k) & 0xffff);
      assert.equal(c.rtpTimestamp, (t0 + (5 + k) * 960) >>> 0);
      assert.equal(c.pcm.length, 960);
    });
    assert.equal(d.stats.concealed, missing - 1);
    assert.equal(d.stats.fecRecovered, 1);
    assert.equal(d.stats.filledSamples, missing * 960);
    d.close();
  });

  it('a gap longer than maxConcealMs stays silent; fec: false conceals instead of using FEC', () => {
    const d = new OpusStreamDecoder(n, { maxConcealMs: 100 });
    d.decode(pk[0] as Buffer, rtp(1, 0));
    d.decode(pk[7] as Buffer, rtp(8, 7 * 960)); // 6 lost = 120 ms
    assert.deepEqual(d.drainAudio(), []);
    assert.equal(d.stats.gapsNotFilled, 1);
    d.close();
    const p = new OpusStreamDecoder(n, { fec: false });
    let k = 3;
    while (!n.packetInfo(pk[k + 1] as Buffer).fec) k++;
    for (let i = 0; i < k; i++) p.decode(pk[i] as Buffer, rtp(i, i * 960));
    p.decode(pk[k + 1] as Buffer, rtp(k + 1, (k + 1) * 960));
    assert.equal(p.drainAudio().length, 1);
    assert.equal(p.stats.concealed, 1);
    assert.equal(p.stats.fecRecovered, 0);
    p.close();
    assert.throws(() => new OpusStreamDecoder(n, { maxConcealMs: 5000 }), RangeError);
  });

  it('DTX: a timestamp jump with consecutive sequence numbers is silence, not loss; 1-2 byte and empty payloads give no audio', () => {
    const d = new OpusStreamDecoder(n);
    d.decode(pk[0] as Buffer, rtp(10, 0));
    // The sender stopped for 1 s (DTX), then resumed: nothing concealed.
    d.decode(pk[1] as Buffer, rtp(11, 48960));
    assert.deepEqual(d.drainAudio(), []);
    // A DTX frame (TOC only) and an empty payload.
    assert.equal(d.decode(Buffer.from([(pk[2] as Buffer)[0] as number]), rtp(12, 49920)), null);
    assert.equal(d.decode(Buffer.alloc(0), rtp(13, 50880)), null);
    assert.ok(d.decode(pk[3] as Buffer, rtp(14, 51840)) !== null);
    assert.deepEqual(d.drainAudio(), []);
    assert.equal(d.stats.dtx, 2);
    d.close();
  });

  it('timestamps that do not fit the gap are not concealed; a new SSRC restarts the decoder', () => {
    const d = new OpusStreamDecoder(n);
    d.decode(pk[0] as Buffer, rtp(1, 0));
    d.decode(pk[1] as Buffer, rtp(3, 960)); // one packet missing, but no time for it
    d.decode(pk[2] as Buffer, rtp(5, 960 * 3 + 7)); // not a whole 2.5 ms
    assert.deepEqual(d.drainAudio(), []);
    assert.equal(d.stats.gapsNotFilled, 2);
    d.decode(pk[3] as Buffer, rtp(500, 123456, 0x9999));
    assert.equal(d.stats.resets, 1);
    assert.deepEqual(d.drainAudio(), []);
    // Numbering restarted far behind (same SSRC): followed from there, so the next loss is filled again.
    d.decode(pk[4] as Buffer, rtp(100, 200000, 0x9999));
    const k = [6, 7, 8, 9, 10].find((i) => n.packetInfo(pk[i] as Buffer).fec) as number;
    d.decode(pk[k] as Buffer, rtp(100 + k - 4, 200000 + (k - 4) * 960, 0x9999));
    assert.equal(d.drainAudio().length, k - 5);
    d.close();
  });

  it('a corrupt packet throws (the recorder counts it) and is then treated as lost: the next packet fills it', () => {
    const d = new OpusStreamDecoder(n);
    for (let i = 0; i < 4; i++) d.decode(pk[i] as Buffer, rtp(i, i * 960));
    assert.throws(() => d.decode(Buffer.from([0x7b, 0xff, 1, 2]), rtp(4, 4 * 960)), /corrupted stream/);
    d.decode(pk[5] as Buffer, rtp(5, 5 * 960));
    const c = d.drainAudio();
    assert.equal(c.length, 1);
    assert.equal(c[0]?.seq, 4);
    d.close();
  });

  it('without RTP information it simply decodes', () => {
    const d = new OpusStreamDecoder(n);
    assert.equal(d.decode(pk[0] as Buffer)?.length, 960);
    d.close();
    d.close();
  });
});

describe('@tapline/codec-opus codec and plugin', () => {
  it('createOpusCodec: opus/48000 only, any case; without the addon every stream is flagged not decoded', () => {
    const l = loadOpusNative();
    const codec = createOpusCodec({ native: l.native ?? null });
    assert.deepEqual(codec.encodings, ['OPUS/48000']);
    assert.equal(codec.staticPayloadTypes, undefined, 'Opus has no static payload type');
    const d: Decoder = codec.createDecoder({ encoding: 'opus', clockRate: 48000, channels: 2, payloadType: 111 });
    assert.ok(d instanceof OpusStreamDecoder);
    d.close();
    assert.throws(() => codec.createDecoder({ encoding: 'opus', clockRate: 16000, channels: 1, payloadType: 111 }), /opus\/48000 only/);
    assert.throws(() => codec.createDecoder({ encoding: 'PCMU', clockRate: 8000, channels: 1, payloadType: 0 }), /opus\/48000 only/);
    const none = createOpusCodec({ native: null, unavailableReason: 'no libopus here' });
    assert.equal(none.available, false);
    const nd = none.createDecoder({ encoding: 'OPUS', clockRate: 48000, channels: 2, payloadType: 96 });
    assert.ok(nd instanceof NotDecodedOpus);
    assert.equal(nd.notDecoded, 'Opus — not decoded: Opus decoder not available (no libopus here)');
    assert.throws(() => nd.decode(Buffer.from([0x78])), /not decoded/);
  });

  it('loads as a plugin under its scoped package name; the core picks it for opus/48000/2 in any case', async () => {
    const h = await PluginHarness.create(plugin);
    try {
      assert.equal(plugin.name, '@tapline/codec-opus');
      assert.equal(h.codecs().length, 1);
      for (const encoding of ['opus', 'OPUS', 'Opus']) {
        const d = h.decoderFor({ encoding, clockRate: 48000, channels: 2, payloadType: 111 });
        assert.ok(d instanceof OpusStreamDecoder, encoding);
        d.close();
      }
      assert.equal(h.decoderFor({ encoding: 'opus', clockRate: 8000, channels: 1, payloadType: 111 }), undefined);
    } finally {
      await h.stop();
    }
    // By name, as a config's "use" names it (resolved from node_modules like any third-party plugin).
    const byName = await PluginHarness.core({ with: [{ plugin: '@tapline/codec-opus' }] });
    try {
      assert.ok(byName.decoderFor({ encoding: 'opus', clockRate: 48000, channels: 2, payloadType: 111 }) !== undefined);
    } finally {
      await byName.stop();
    }
  });

  it('rejects unknown options', async () => {
    await assert.rejects(PluginHarness.create(plugin, { options: { fecc: true } }), /fecc/);
    await assert.rejects(PluginHarness.create(plugin, { options: { maxConcealMs: 5000 } }), /maxConcealMs/);
  });
});

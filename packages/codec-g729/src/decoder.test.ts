/** G729StreamDecoder: payload layout (RFC 3551 §4.5.6), SID, loss concealment from RTP, DTX, reordering, errors. */
import * as assert from 'node:assert/strict';
import { PluginHarness, type RtpFrameInfo } from 'tapline/testing';
import plugin, { createG729Codec, fmtpAnnexB, G729StreamDecoder } from './index';
import { g729Native, type G729Native } from './native';
import { concat, encodeG729, rms } from './test-helpers';

const loaded = g729Native();
const G729 = { encoding: 'G729', clockRate: 8000, channels: 1, payloadType: 18 };

function info(seq: number, timestamp: number, ssrc = 0x729): RtpFrameInfo {
  return { seq: seq & 0xffff, timestamp: timestamp >>> 0, marker: false, ssrc, payloadType: 18 };
}

/** A voice-like signal (harmonics with vibrato) to encode. */
function voice(seconds: number): Int16Array {
  const out = new Int16Array(Math.round(seconds * 8000));
  let ph = 0;
  for (let i = 0; i < out.length; i++) {
    ph += (2 * Math.PI * (140 + 25 * Math.sin((2 * Math.PI * 2 * i) / 8000))) / 8000;
    let v = 0;
    for (let k = 1; k <= 10; k++) v += Math.sin(k * ph) / k;
    out[i] = Math.round(4000 * v);
  }
  return out;
}

function pairs(frames: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i + 1 < frames.length; i += 2) out.push(Buffer.concat([frames[i] as Buffer, frames[i + 1] as Buffer]));
  return out;
}

describe('@tapline/codec-g729 codec', () => {
  it('declares G729/8000 and static payload type 18 (RFC 3551), under its package name', () => {
    assert.equal(plugin.name, '@tapline/codec-g729');
    assert.equal(plugin.kind, 'codec');
    assert.deepEqual(plugin.encodings, ['G729/8000']);
    const codec = createG729Codec();
    assert.deepEqual([...codec.encodings], ['G729/8000']);
    assert.deepEqual(codec.staticPayloadTypes, { 18: 'G729/8000' });
  });

  it('is found through the kernel codec registry (case-insensitive) and the static payload type table', async () => {
    const h = await PluginHarness.create(plugin);
    const dec = h.decoderFor({ ...G729, encoding: 'g729' });
    assert.ok(dec !== undefined);
    assert.equal(dec.sampleRate, 8000);
    assert.equal(h.kernel.codecs.staticEncoding(18), 'G729/8000');
    dec.close();
    await h.stop();
  });

  it('rejects other encodings with a clear message', () => {
    assert.throws(() => createG729Codec().createDecoder({ ...G729, clockRate: 16000 }), /G729\/8000 only, not "G729\/16000"/);
    assert.throws(() => createG729Codec().createDecoder({ ...G729, encoding: 'PCMU' }), /not "PCMU\/8000"/);
  });

  it('reads annexb=no from the fmtp (RFC 4856)', () => {
    assert.equal(fmtpAnnexB(undefined), true);
    assert.equal(fmtpAnnexB('annexb=yes'), true);
    assert.equal(fmtpAnnexB('annexb=no'), false);
    assert.equal(fmtpAnnexB('bitrate=8; AnnexB = No'), false);
  });
});

(loaded.ok ? describe : describe.skip)(`G729StreamDecoder${loaded.ok ? '' : ` (skipped: ${loaded.ok ? '' : loaded.reason})`}`, () => {
  const native = (loaded as Extract<typeof loaded, { ok: true }>).native as G729Native;
  const newDecoder = (opts = {}) => createG729Codec(opts).createDecoder(G729) as G729StreamDecoder;

  /** The reference: every frame through one addon decoder, in order. */
  function reference(frames: readonly Buffer[]): Int16Array {
    const d = new native.Decoder();
    const out = concat(frames.map((f) => (f.length === 10 ? d.decode(f) : f.length === 2 ? d.decodeSid(f) : d.conceal())));
    d.close();
    return out;
  }

  it('decodes payloads of several 10 ms frames with state carried across packets, reusing its output array', () => {
    const frames = encodeG729(voice(1), false);
    const dec = newDecoder();
    const packets = pairs(frames);
    const outs: Int16Array[] = [];
    let prev: Int16Array | null = null;
    packets.forEach((p, i) => {
      const pcm = dec.decode(p, info(1000 + i, 160 * i));
      assert.ok(pcm !== null && pcm.length === 160);
      if (prev !== null) assert.equal(pcm.buffer, prev.buffer, 'output memory reused');
      prev = pcm;
      outs.push(pcm.slice());
    });
    assert.deepEqual([...concat(outs)], [...reference(frames)]);
    // 3-frame and 1-frame payloads too.
    const d2 = newDecoder();
    const a = d2.decode(Buffer.concat(frames.slice(0, 3)), info(1, 0))?.slice();
    const b = d2.decode(frames[3] as Buffer, info(2, 240))?.slice();
    assert.deepEqual([...concat([a as Int16Array, b as Int16Array])], [...reference(frames.slice(0, 4))]);
    assert.equal(dec.stats.speechFrames, packets.length * 2);
    dec.close();
    d2.close();
  });

  it('decodes a trailing 2-byte SID frame to comfort noise, and a SID-only payload', () => {
    const frames = encodeG729(voice(0.1), false);
    const sid = Buffer.from([0x52, 0x9e]);
    const dec = newDecoder();
    const mixed = dec.decode(Buffer.concat([frames[0] as Buffer, sid]), info(1, 0))?.slice();
    assert.equal(mixed?.length, 160);
    assert.deepEqual([...(mixed ?? [])], [...reference([frames[0] as Buffer, sid])]);
    const only = dec.decode(sid, info(2, 160));
    assert.equal(only?.length, 80);
    assert.equal(dec.stats.sidFrames, 2);
    assert.equal(dec.decode(Buffer.alloc(0), info(3, 240)), null);
    dec.close();
  });

  it('throws a clear error for payloads of other sizes, without losing its state', () => {
    const dec = newDecoder();
    for (const n of [1, 3, 5, 9, 11, 13, 21, 25]) {
      assert.throws(() => dec.decode(Buffer.alloc(n), info(1, 0)), new RegExp(`G\\.729 payload of ${n} bytes: not whole 10-byte frames`));
    }
    assert.equal(dec.stats.badPayloads, 8);
    assert.equal(dec.decode(Buffer.alloc(12), info(2, 0))?.length, 160); // 10 + 2 is fine
    dec.close();
    assert.throws(() => dec.decode(Buffer.alloc(10)), /closed/);
    dec.close(); // idempotent
  });

  it('conceals lost packets with frame erasure, handed out with their own timestamps and sequence numbers', () => {
    const frames = encodeG729(voice(0.6), false);
    const packets = pairs(frames); // 30 packets of 20 ms
    const dec = newDecoder();
    const lost = new Set([10, 20, 21]);
    const got: Array<{ ts: number; seq: number; n: number; rms: number }> = [];
    packets.forEach((p, i) => {
      if (lost.has(i)) return;
      dec.decode(p, info(500 + i, 9000 + 160 * i));
      for (const c of dec.drainAudio()) got.push({ ts: c.rtpTimestamp, seq: c.seq, n: c.pcm.length, rms: rms(c.pcm) });
    });
    dec.flush();
    for (const c of dec.drainAudio()) got.push({ ts: c.rtpTimestamp, seq: c.seq, n: c.pcm.length, rms: rms(c.pcm) });
    assert.deepEqual(
      got.map(({ ts, seq, n }) => ({ ts, seq, n })),
      [...lost].map((i) => ({ ts: 9000 + 160 * i, seq: 500 + i, n: 160 })),
    );
    assert.ok(got.every((g) => g.rms > 100), 'concealment continues the voice');
    assert.equal(dec.stats.lossEvents, 2);
    assert.equal(dec.stats.concealedFrames, 6);
    dec.close();
  });

  it('holds concealment a few packets: a late (reordered) packet is decoded normally and replaces it', () => {
    const packets = pairs(encodeG729(voice(0.4), false));
    const dec = newDecoder();
    const order = [0, 1, 2, 3, 5, 4, 6, 7, 8, 9];
    const delayed: number[] = [];
    for (const i of order) {
      const pcm = dec.decode(packets[i] as Buffer, info(i, 160 * i));
      assert.equal(pcm?.length, 160, `packet ${i} decoded`);
      delayed.push(...dec.drainAudio().map((c) => c.seq));
    }
    dec.flush();
    delayed.push(...dec.drainAudio().map((c) => c.seq));
    assert.deepEqual(delayed, [], 'no concealment for a packet that came late');
    assert.equal(dec.stats.latePackets, 1);
    assert.equal(dec.stats.replacedConcealment, 1);
    dec.close();
  });

  it('leaves DTX alone: a timestamp jump with consecutive sequence numbers is silence, not loss', () => {
    const packets = pairs(encodeG729(voice(0.2), false));
    const dec = newDecoder();
    let ts = 0;
    packets.forEach((p, i) => {
      dec.decode(p, info(i, ts));
      ts += i === 4 ? 160 + 8000 : 160; // one second of DTX after packet 4
    });
    dec.flush();
    assert.deepEqual(dec.drainAudio(), []);
    assert.equal(dec.stats.lossEvents, 0);
    dec.close();
  });

  it('does not conceal losses longer than maxConcealPackets / maxConcealMs, or when concealLoss is off', () => {
    const packets = pairs(encodeG729(voice(1), false));
    const feed = (dec: G729StreamDecoder, skip: (i: number) => boolean) => {
      packets.forEach((p, i) => {
        if (!skip(i)) dec.decode(p, info(i, 160 * i));
      });
      dec.flush();
      return dec.drainAudio();
    };
    const long = newDecoder();
    assert.deepEqual(feed(long, (i) => i >= 5 && i < 17), []); // 12 packets, 240 ms
    assert.equal(long.stats.lossesNotConcealed, 1);
    const limited = newDecoder({ maxConcealMs: 40 });
    assert.deepEqual(feed(limited, (i) => i >= 5 && i < 8), []); // 60 ms > 40 ms
    const off = newDecoder({ concealLoss: false });
    assert.deepEqual(feed(off, (i) => i === 5), []);
    const ten = newDecoder();
    assert.equal(feed(ten, (i) => i >= 5 && i < 15).length, 10); // 10 packets, 200 ms: concealed
    for (const d of [long, limited, off, ten]) d.close();
  });

  it('conceals no more than the timestamps allow when the lost packets held DTX, and restarts on a new SSRC', () => {
    const packets = pairs(encodeG729(voice(0.4), false));
    const dec = newDecoder();
    dec.decode(packets[0] as Buffer, info(1, 0));
    dec.decode(packets[1] as Buffer, info(2, 160));
    // Seq 3 lost; seq 4 comes only 10 ms after where seq 3 would start: one frame is concealed.
    dec.decode(packets[2] as Buffer, info(4, 320 + 80));
    dec.flush();
    const c = dec.drainAudio();
    assert.deepEqual(
      c.map((x) => [x.seq, x.rtpTimestamp, x.pcm.length]),
      [[3, 320, 80]],
    );
    dec.decode(packets[3] as Buffer, info(77, 123456, 0xbeef));
    assert.equal(dec.stats.resets, 1);
    dec.decode(packets[4] as Buffer, info(78, 123456 + 160, 0xbeef));
    dec.flush();
    assert.deepEqual(dec.drainAudio(), []);
    dec.close();
  });

  it('decodes fast enough to record many calls per core', () => {
    const packets = pairs(encodeG729(voice(2), false));
    const dec = newDecoder();
    for (let i = 0; i < 100; i++) dec.decode(packets[i % packets.length] as Buffer, info(i, 160 * i));
    const n = 3000; // 60 s
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) dec.decode(packets[i % packets.length] as Buffer, info(100 + i, 160 * (100 + i)));
    const sec = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(`      G.729 decode speed: ${((n * 0.02) / sec).toFixed(0)}x real time (${((sec / n) * 1e6).toFixed(1)} µs per 20 ms packet)`);
    assert.ok((n * 0.02) / sec > 50);
    dec.close();
  });
});

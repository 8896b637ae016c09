import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Decoder, RtpFrameInfo } from '../../core/contract';
import { PluginHarness } from '../../core/testing/index';
import { readCapture } from '../../core/net/capture-reader';
import { isSkipReason, PacketDecoder } from '../../core/net/decode';
import { isRtcp, parseRtp } from '../../core/media/rtp';
import { corpusPath, describeCorpus } from '../../test/corpus';
import { readWav } from '../storage-local/wav';
import storageLocal from '../storage-local/index';
import plugin from './index';
import { g722Codec, G722StreamDecoder } from './codec';
import { G722Decoder, G722_PAYLOAD_TYPE } from './g722';
import { bestLag as bestAlignment, pcmCorrelation as correlationAt } from '../../test/pcm-correlation';

const FFMPEG = '/usr/bin/ffmpeg';
const SOX = '/usr/bin/sox';
const ESPEAK = '/usr/bin/espeak-ng';
const haveFfmpeg = fs.existsSync(FFMPEG);

function run(cmd: string, args: string[]): Buffer {
  return execFileSync(cmd, args, { maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'pipe'] });
}

function s16(buf: Buffer): Int16Array {
  return new Int16Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + (buf.length & ~1)));
}

/** 16 kHz mono speech: espeak-ng when installed, else a sox-synthesised voice-like signal (harmonics, vibrato, pauses). */
function speechWav(dir: string): string {
  const out = path.join(dir, 'speech16.wav');
  if (fs.existsSync(ESPEAK)) {
    const raw = path.join(dir, 'espeak.wav');
    run(ESPEAK, ['-w', raw, 'Tapline records calls from Skype for Business. The quick brown fox jumps over the lazy dog, twice.']);
    run(SOX, [raw, '-r', '16000', '-c', '1', '-b', '16', out]);
  } else {
    run(SOX, ['-n', '-r', '16000', '-c', '1', '-b', '16', out, 'synth', '4', 'sawtooth', '110-220', 'sine', 'amod', '3', 'vol', '0.5']);
  }
  return out;
}

function rtpInfo(seq: number, timestamp: number, ssrc = 0x1234): RtpFrameInfo {
  return { seq: seq & 0xffff, timestamp: timestamp >>> 0, marker: false, ssrc, payloadType: G722_PAYLOAD_TYPE };
}

/** Decodes RTP payloads in order with consecutive sequence numbers and 1 tick per octet (mono). */
function decodeStream(dec: Decoder, payloads: Buffer[], ticksPerOctet = 1): Int16Array {
  const parts: Int16Array[] = [];
  let ts = 1000;
  payloads.forEach((p, i) => {
    const pcm = dec.decode(p, rtpInfo(100 + i, ts));
    assert.ok(pcm !== null);
    parts.push(pcm);
    ts += p.length / ticksPerOctet;
  });
  return concat(parts);
}

function concat(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function split(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o < data.length; o += size) out.push(data.subarray(o, Math.min(o + size, data.length)));
  return out;
}

function firstDifference(a: Int16Array, b: Int16Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** The G.722 payloads of the corpus capture (one stream, PT 9), in capture order. */
async function corpusPayloads(): Promise<Buffer[]> {
  const pd = new PacketDecoder();
  const out: Buffer[] = [];
  await readCapture(corpusPath('pcap/ww_sip-rtp-g722.pcap'), (f) => {
    const pkt = pd.decode(f);
    if (isSkipReason(pkt) || pkt.proto !== 'udp' || isRtcp(pkt.payload)) return;
    const rtp = parseRtp(pkt.payload);
    if (rtp?.payloadType === G722_PAYLOAD_TYPE) out.push(Buffer.from(rtp.payload));
  });
  return out;
}

describe('codec-g722', () => {
  it('declares G722/8000 and static payload type 9 (RFC 3551)', () => {
    assert.deepEqual([...g722Codec.encodings], ['G722/8000']);
    assert.deepEqual(g722Codec.staticPayloadTypes, { 9: 'G722/8000' });
    assert.deepEqual(plugin.encodings, ['G722/8000']);
  });

  it('is found through the kernel codec registry, case-insensitively, and outputs 16 kHz', async () => {
    const h = await PluginHarness.create(plugin);
    const dec = h.decoderFor({ encoding: 'g722', clockRate: 8000, channels: 1, payloadType: 9 });
    assert.ok(dec !== undefined);
    assert.equal(dec.sampleRate, 16000);
    assert.equal(dec.decode(Buffer.alloc(0)), null);
    assert.equal(dec.decode(Buffer.alloc(160, 0xff))?.length, 320);
    dec.close();
    assert.equal(h.kernel.codecs.staticEncoding(9), 'G722/8000');
    // The registry keys on NAME/clock: the stereo rtpmap reaches the same codec, with channels = 2.
    const st = h.decoderFor({ encoding: 'G722', clockRate: 8000, channels: 2, payloadType: 117 });
    assert.ok(st instanceof G722StreamDecoder);
    assert.equal(st.layout, 'stereo');
    await h.stop();
  });

  it('rejects other encodings with a clear message', () => {
    assert.throws(() => g722Codec.createDecoder({ encoding: 'G722', clockRate: 16000, channels: 1, payloadType: 9 }), /G722\/8000 only, not "G722\/16000"/);
  });

  it('keeps state across packets: 20 ms payloads decode exactly as one buffer', () => {
    const bytes = Buffer.alloc(1600);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 37 + (i >> 3)) & 0xff;
    const whole = new G722Decoder().decode(bytes);
    const dec = g722Codec.createDecoder({ encoding: 'G722', clockRate: 8000, channels: 1, payloadType: 9 });
    const parts = decodeStream(dec, split(bytes, 160));
    assert.equal(firstDifference(parts, whole), -1);
  });

  it('survives loss and garbage, and restarts its state after a long timestamp jump', () => {
    const dec = g722Codec.createDecoder({ encoding: 'G722', clockRate: 8000, channels: 1, payloadType: 9 }) as G722StreamDecoder;
    const noise = Buffer.alloc(160 * 50);
    let seed = 7;
    for (let i = 0; i < noise.length; i++) noise[i] = seed = (seed * 1103515245 + 12345) & 0xff;
    // Lost packets (sequence and timestamp gaps) only skip input: the output stays bounded.
    let ts = 0;
    for (let i = 0; i < 50; i++) {
      if (i % 7 === 3) {
        ts += 160;
        continue;
      }
      const pcm = dec.decode(noise.subarray(i * 160, i * 160 + 160), rtpInfo(i, ts));
      assert.ok(pcm !== null && pcm.length === 320);
      ts += 160;
    }
    assert.equal(dec.resets, 0);
    // 2 s later (a hold): the state restarts, so the output equals a fresh decoder's.
    const later = noise.subarray(0, 160);
    const got = dec.decode(later, rtpInfo(50, ts + 16000));
    assert.equal(dec.resets, 1);
    assert.deepEqual([...(got ?? [])], [...new G722Decoder().decode(later)]);
    // A new SSRC restarts it too.
    dec.decode(later, rtpInfo(51, ts + 16160, 0x9999));
    assert.equal(dec.resets, 2);
  });

  it('measures decode speed', () => {
    const dec = g722Codec.createDecoder({ encoding: 'G722', clockRate: 8000, channels: 1, payloadType: 9 });
    const payload = Buffer.alloc(160);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 73 + 11) & 0xff;
    for (let i = 0; i < 200; i++) dec.decode(payload, rtpInfo(i, i * 160)); // warm-up
    const packets = 3000; // 60 s
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < packets; i++) dec.decode(payload, rtpInfo(200 + i, (200 + i) * 160));
    const sec = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(`      G.722 decode speed: ${((packets * 0.02) / sec).toFixed(0)}x real time (${((sec / packets) * 1e6).toFixed(1)} µs per 20 ms packet)`);
    assert.ok((packets * 0.02) / sec > 50);
  });

  (haveFfmpeg ? describe : describe.skip)(`against ffmpeg's independent G.722 codec${haveFfmpeg ? '' : ' (skipped: ffmpeg not installed; apt-get install ffmpeg)'}`, () => {
    let dir = '';
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-g722-'));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('decodes ffmpeg-encoded speech sample-exactly like ffmpeg, and close to the source', async () => {
      const wav = speechWav(dir);
      const src = s16(run(SOX, [wav, '-t', 's16', '-L', '-']));
      const g722 = path.join(dir, 'speech.g722');
      run(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-y', '-i', wav, '-ar', '16000', '-ac', '1', '-c:a', 'g722', '-f', 'g722', g722]);
      const coded = fs.readFileSync(g722);
      const ff = s16(run(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-f', 'g722', '-i', g722, '-f', 's16le', '-ac', '1', '-']));

      const h = await PluginHarness.create(plugin);
      const dec = h.decoderFor({ encoding: 'G722', clockRate: 8000, channels: 1, payloadType: 9 });
      assert.ok(dec !== undefined);
      const ours = decodeStream(dec, split(coded, 160));
      await h.stop();

      assert.equal(ours.length, ff.length);
      const vsFfmpeg = correlationAt(ours, ff, 0);
      const diff = firstDifference(ours, ff);
      const vsSource = bestAlignment(src, ours, 200);
      console.log(`      G.722 speech (${(ours.length / 16000).toFixed(2)} s): vs ffmpeg corr ${vsFfmpeg.toFixed(6)}, first difference ${diff}; vs source corr ${vsSource.corr.toFixed(4)} at lag ${vsSource.lag}`);
      assert.equal(diff, -1, 'sample-exact with ffmpeg');
      assert.ok(vsFfmpeg >= 0.99);
      assert.ok(vsSource.corr >= 0.9, `source correlation ${vsSource.corr}`);
    });

    it('round trip through the recorder: ffmpeg-encoded speech in generated RTP with 5% loss, recorded, vs the source', async () => {
      const wav = speechWav(dir);
      const src = s16(run(SOX, [wav, '-t', 's16', '-L', '-']));
      const g722 = path.join(dir, 'speech-rt.g722');
      run(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-y', '-i', wav, '-ar', '16000', '-ac', '1', '-c:a', 'g722', '-f', 'g722', g722]);
      const packets = split(fs.readFileSync(g722), 160);
      const recDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-g722-rt-'));
      try {
        const h = await PluginHarness.create(storageLocal, { options: { dir: recDir }, with: [{ plugin }] });
        const T0 = Date.UTC(2026, 0, 1) * 1000;
        const sdpOf = (ip: string, port: number) => ['v=0', `o=- 1 1 IN IP4 ${ip}`, 's=-', `c=IN IP4 ${ip}`, 't=0 0', `m=audio ${port} RTP/AVP 9`, 'a=rtpmap:9 G722/8000', ''].join('\r\n');
        const sip = (first: string, headers: string[], body = '') =>
          [first, 'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1', 'From: <sip:a@x>;tag=f', 'Call-ID: g722-rt', ...headers, `Content-Length: ${body.length}`, ''].join('\r\n') + '\r\n' + body;
        const inviteBody = sdpOf('10.0.0.1', 4000);
        const okBody = sdpOf('10.0.0.2', 5000);
        h.sip(sip('INVITE sip:b@x SIP/2.0', ['To: <sip:b@x>', 'CSeq: 1 INVITE', 'Content-Type: application/sdp'], inviteBody), { ts: T0 });
        h.sip(sip('SIP/2.0 200 OK', ['To: <sip:b@x>;tag=t', 'CSeq: 1 INVITE', 'Content-Type: application/sdp'], okBody), { ts: T0 + 5000 });
        // 5% loss, spread (every 20th packet, shifted by a pseudo-random offset so it is not periodic with speech).
        const lost = new Set<number>();
        for (let i = 7; i < packets.length; i += 20) lost.add(i + ((i * 7) % 5));
        const rtpPkt = (i: number, payload: Buffer) => {
          const b = Buffer.alloc(12 + payload.length);
          b[0] = 0x80;
          b[1] = G722_PAYLOAD_TYPE;
          b.writeUInt16BE(i & 0xffff, 2);
          b.writeUInt32BE(i * 160, 4);
          b.writeUInt32BE(0x722, 8);
          payload.copy(b, 12);
          return b;
        };
        packets.forEach((p, i) => {
          if (!lost.has(i)) h.packet({ src: '10.0.0.2', sport: 5000, dst: '10.0.0.1', dport: 4000, ts: T0 + 100_000 + i * 20_000, payload: rtpPkt(i, p) });
        });
        h.sip(sip('BYE sip:b@x SIP/2.0', ['To: <sip:b@x>;tag=t', 'CSeq: 2 BYE'], ''), { ts: T0 + 100_000 + packets.length * 20_000 });
        await h.stop();
        const [m] = h.recorded.recordings;
        assert.ok(m?.audio !== undefined);
        assert.equal(m.callee.lost, lost.size);
        assert.equal(m.audio.sampleRate, 16000);
        const w = readWav(m.audio.file);
        const callee = new Int16Array(w.samples.length >> 1);
        for (let i = 0; i < callee.length; i++) callee[i] = w.samples[2 * i + 1] as number;
        const { lag, corr } = bestAlignment(src, callee, 800);
        console.log(`      G.722 round trip, ${packets.length} packets, ${lost.size} lost (${((lost.size / packets.length) * 100).toFixed(1)}%): recorded vs source corr ${corr.toFixed(4)} at lag ${lag}`);
        assert.ok(lost.size / packets.length >= 0.045);
        assert.ok(corr >= 0.9, `corr ${corr}`);
      } finally {
        fs.rmSync(recDir, { recursive: true, force: true });
      }
    });
  });

  describeCorpus('corpus capture ww_sip-rtp-g722.pcap', () => {
    let payloads: Buffer[] = [];
    before(async () => {
      payloads = await corpusPayloads();
    });

    it('holds one 425-packet G.722 stream that decodes to 16 kHz audio', () => {
      assert.equal(payloads.length, 425);
      const dec = g722Codec.createDecoder({ encoding: 'G722', clockRate: 8000, channels: 1, payloadType: 9 });
      const pcm = decodeStream(dec, payloads);
      assert.equal(pcm.length, 2 * payloads.reduce((n, p) => n + p.length, 0));
      let energy = 0;
      for (const s of pcm) energy += s * s;
      assert.ok(Math.sqrt(energy / pcm.length) > 50, 'the call carries audio');
    });

    (haveFfmpeg ? it : it.skip)(`matches ffmpeg decoding the same payloads${haveFfmpeg ? '' : ' (skipped: ffmpeg not installed)'}`, () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-g722-'));
      try {
        const file = path.join(dir, 'corpus.g722');
        fs.writeFileSync(file, Buffer.concat(payloads));
        const ff = s16(run(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-f', 'g722', '-i', file, '-f', 's16le', '-ac', '1', '-']));
        const dec = g722Codec.createDecoder({ encoding: 'G722', clockRate: 8000, channels: 1, payloadType: 9 });
        const ours = decodeStream(dec, payloads);
        const corr = correlationAt(ours, ff, 0);
        console.log(`      corpus G.722: ${payloads.length} packets, ${(ours.length / 16000).toFixed(2)} s, vs ffmpeg corr ${corr.toFixed(6)}, first difference ${firstDifference(ours, ff)}`);
        assert.equal(firstDifference(ours, ff), -1);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('records the capture end to end through the kernel: the WAV holds exactly the decoded stream, at 16 kHz', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-g722-rec-'));
      try {
        const h = await PluginHarness.create(storageLocal, { options: { dir }, with: [{ plugin }] });
        await h.pcap(corpusPath('pcap/ww_sip-rtp-g722.pcap'));
        await h.stop();
        const [m] = h.recorded.recordings;
        assert.ok(m?.audio !== undefined);
        assert.deepEqual(m.callee.codecs, ['G722/8000']);
        assert.equal(m.callee.packets, 425);
        assert.equal(m.callee.undecoded, 0);
        assert.equal(m.audio.sampleRate, 16000);
        const wav = readWav(m.audio.file);
        const callee = new Int16Array(wav.samples.length >> 1);
        for (let i = 0; i < callee.length; i++) callee[i] = wav.samples[2 * i + 1] as number;
        const direct = new G722Decoder().decode(Buffer.concat(payloads));
        const { lag, corr } = bestAlignment(direct, callee, 1600);
        console.log(`      recorded WAV (callee channel, ${(callee.length / 16000).toFixed(2)} s) vs direct decode: corr ${corr.toFixed(6)} at ${lag} samples`);
        assert.ok(corr >= 0.999, `corr ${corr}`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('stereo G722/8000/2 ([MS-RTP] 2.2.1.1, left || right) mixes down to the mean of two mono decodes', () => {
      const n = 200;
      const left = payloads.slice(0, n);
      const right = payloads.slice(n, 2 * n);
      const stereo = left.map((l, i) => Buffer.concat([l, right[i] as Buffer]));
      const dec = g722Codec.createDecoder({ encoding: 'G722', clockRate: 8000, channels: 2, payloadType: 117 }) as G722StreamDecoder;
      const got = decodeStream(dec, stereo, 2); // 320 octets per 160 ticks
      assert.equal(dec.layout, 'stereo');
      const l = new G722Decoder().decode(Buffer.concat(left));
      const r = new G722Decoder().decode(Buffer.concat(right));
      assert.equal(got.length, l.length);
      for (let i = 0; i < got.length; i++) if (got[i] !== (((l[i] as number) + (r[i] as number)) >> 1)) assert.fail(`sample ${i}`);
    });

    it('mono frames on a G722/8000/2 stream are recognised from the RTP timestamps', () => {
      const dec = g722Codec.createDecoder({ encoding: 'G722', clockRate: 8000, channels: 2, payloadType: 117 }) as G722StreamDecoder;
      const got = decodeStream(dec, payloads.slice(0, 100), 1);
      assert.equal(dec.layout, 'mono');
      // The first packet was taken for stereo; from the second on, the output is a mono decode.
      const ref = new G722Decoder().decode(Buffer.concat(payloads.slice(1, 100)));
      const first = (payloads[0] as Buffer).length; // stereo decode of packet 0: length/2 octets per channel → length samples
      assert.equal(firstDifference(got.subarray(first), ref), -1);
    });
  });
});

/**
 * Generated calls through the public harness (SIP text and RTP packets, this plugin + storage-local):
 *   - an Opus call with in-band FEC and 5% isolated packet loss: no gap where FEC had the lost audio;
 *   - a mixed call, Opus one way and PCMU (codec-g711) the other: both channels right at the 48 kHz output;
 *   - the addon unavailable: Opus flagged "not decoded", its packets kept raw, the PCMU side still recorded.
 * Speech from espeak-ng (resampled by sox); both must be installed (Debian: espeak-ng, sox), else the suite skips.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { channelOf, pcmCorrelation, PluginHarness, readWavFile, type RecordingMetadata } from 'tapline/testing';
import plugin from './index';
import { createOpusEncoder } from './encoder';
import { DISABLE_ENV, loadOpusNative, OPUS_APPLICATION_VOIP, type OpusNative } from './native';
import { alignPcm, ffmpegReference, haveFfmpegLibopus, haveSpeechTools, linearToUlaw, prng, rms, sipDialog, speech, tempDir, ulawToLinear, type Party } from './test-support';

const PLUGIN = '@tapline/codec-opus';
const T0 = Date.UTC(2026, 2, 1, 9, 0, 0) * 1000;
const FRAME = 960;

const CALLER_TEXT = 'The quick brown fox jumps over the lazy dog. Tapline records this call, and forward error correction fills the lost packets.';
const CALLEE_TEXT = 'Hello, this is the callee answering. One two three four five six seven eight nine ten, and that is all.';

const opusAttrs = ['rtpmap:111 opus/48000/2', 'fmtp:111 minptime=20;useinbandfec=1', 'sendrecv'];
const caller = (formats: string, attributes: string[]): Party => ({ ip: '10.20.0.1', sipPort: 5060, rtpPort: 40000, user: 'alice', formats, attributes });
const callee = (formats: string, attributes: string[]): Party => ({ ip: '10.20.0.2', sipPort: 5060, rtpPort: 50000, user: 'bob', formats, attributes });

interface Sent {
  seq: number;
  ts: number;
  payload: Buffer;
}

/** 20 ms Opus packets of `pcm` (zero-padded to whole frames). */
function encodeOpus(n: OpusNative, pcm: Int16Array): Buffer[] {
  const enc = createOpusEncoder(n, { application: OPUS_APPLICATION_VOIP, bitrate: 32000, fec: true, packetLossPerc: 10 });
  const frames = Math.ceil(pcm.length / FRAME);
  const padded = new Int16Array(frames * FRAME);
  padded.set(pcm);
  const out: Buffer[] = [];
  for (let i = 0; i < frames; i++) out.push(enc.encode(padded.subarray(i * FRAME, (i + 1) * FRAME), FRAME));
  enc.close();
  return out;
}

/**
 * Indices of ~`share` of the packets to drop, deterministically (seeded): single losses only (never two in a row,
 * never the first two or the last), and only where the next packet carries FEC (RFC 6716 LBRR) for the lost one.
 */
function pickLosses(n: OpusNative, packets: readonly Buffer[], share: number, seed: number): number[] {
  const rnd = prng(seed);
  const eligible = packets.map((_, i) => i).filter((i) => i >= 2 && i < packets.length - 2 && n.packetInfo(packets[i + 1] as Buffer).fec);
  for (let i = eligible.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [eligible[i], eligible[j]] = [eligible[j] as number, eligible[i] as number];
  }
  const want = Math.round(packets.length * share);
  const chosen = new Set<number>();
  for (const i of eligible) {
    if (chosen.size >= want) break;
    if (chosen.has(i - 1) || chosen.has(i + 1)) continue;
    chosen.add(i);
  }
  assert.equal(chosen.size, want, `only ${chosen.size} isolated losses with FEC available`);
  return [...chosen].sort((a, b) => a - b);
}

function channel(meta: RecordingMetadata, side: 'caller' | 'callee'): { pcm: Int16Array; rate: number } {
  assert.ok(meta.audio !== undefined, 'the recording has audio');
  const wav = readWavFile(meta.audio.file);
  return { pcm: channelOf(wav.samples, wav.channels, side === 'caller' ? 0 : 1), rate: wav.sampleRate };
}

const describeCalls = haveSpeechTools ? describe : describe.skip;
if (!haveSpeechTools) console.warn('\n  [tapline] espeak-ng or sox not installed: generated Opus call tests skipped (Debian packages: espeak-ng, sox)\n');

describeCalls(`@tapline/codec-opus: generated calls through the harness${haveSpeechTools ? '' : ' (skipped: needs espeak-ng and sox)'}`, function () {
  this.timeout(120_000);
  let n: OpusNative;
  let dir: string;
  let voiceA: Int16Array;
  let voiceB: Int16Array;
  let voiceB8: Int16Array;

  before(() => {
    const l = loadOpusNative();
    if (l.native === undefined) throw new Error(`the addon did not load: ${l.reason}`);
    n = l.native;
    dir = tempDir('calls');
    voiceA = speech(dir, 'caller', CALLER_TEXT, 48000);
    voiceB = speech(dir, 'callee', CALLEE_TEXT, 48000, 'en+f3');
    voiceB8 = speech(dir, 'callee', CALLEE_TEXT, 8000, 'en+f3');
  });

  after(() => {
    if (process.env.TAPLINE_KEEP_OPUS === undefined) fs.rmSync(dir, { recursive: true, force: true });
    else console.log(`    kept ${dir}`);
  });

  /** SIP set-up, then both directions' packets 20 ms apart (capture time), then BYE; returns the finished recording. */
  async function runCall(
    h: PluginHarness,
    callId: string,
    a: Party,
    b: Party,
    streams: { caller: { pt: number; packets: Buffer[]; ticks: number; drop?: ReadonlySet<number> }; callee: { pt: number; packets: Buffer[]; ticks: number; drop?: ReadonlySet<number> } },
  ): Promise<{ meta: RecordingMetadata; sent: { caller: Sent[]; callee: Sent[] } }> {
    const d = sipDialog(callId, a, b);
    const ab = { src: a.ip, sport: a.sipPort, dst: b.ip, dport: b.sipPort };
    const ba = { src: b.ip, sport: b.sipPort, dst: a.ip, dport: a.sipPort };
    h.sip(d.invite, { ...ab, ts: T0 });
    h.sip(d.ok, { ...ba, ts: T0 + 500_000 });
    h.sip(d.ack, { ...ab, ts: T0 + 510_000 });
    const sent = { caller: [] as Sent[], callee: [] as Sent[] };
    const count = Math.max(streams.caller.packets.length, streams.callee.packets.length);
    const start = T0 + 1_000_000;
    for (let i = 0; i < count; i++) {
      for (const side of ['caller', 'callee'] as const) {
        const s = streams[side];
        const payload = s.packets[i];
        if (payload === undefined) continue;
        const seq = (side === 'caller' ? 20000 : 40000) + i;
        const ts = ((side === 'caller' ? 123456 : 654321) + i * s.ticks) >>> 0;
        sent[side].push({ seq, ts, payload });
        if (s.drop?.has(i) === true) continue;
        const [from, to] = side === 'caller' ? [a, b] : [b, a];
        const rtp = Buffer.alloc(12 + payload.length);
        rtp[0] = 0x80;
        rtp[1] = s.pt;
        rtp.writeUInt16BE(seq & 0xffff, 2);
        rtp.writeUInt32BE(ts, 4);
        rtp.writeUInt32BE(side === 'caller' ? 0xa11ce : 0xb0b, 8);
        payload.copy(rtp, 12);
        h.packet({ src: from.ip, sport: from.rtpPort, dst: to.ip, dport: to.rtpPort, ts: start + i * 20_000 + (side === 'caller' ? 0 : 7_000), payload: rtp });
      }
    }
    const end = start + count * 20_000 + 100_000;
    h.sip(d.bye, { ...ab, ts: end });
    h.sip(d.byeOk, { ...ba, ts: end + 10_000 });
    await h.stop();
    assert.equal(h.recorded.recordings.length, 1);
    return { meta: h.recorded.recordings[0]!, sent };
  }

  it('an Opus call with in-band FEC and 5% isolated loss each way: every lost 20 ms is filled from FEC (no gap), r ≥ 0.9 with the source', async () => {
    const pa = encodeOpus(n, voiceA);
    const pb = encodeOpus(n, voiceB);
    const lostA = pickLosses(n, pa, 0.05, 1);
    const lostB = pickLosses(n, pb, 0.05, 2);
    const sides = [
      ['caller', voiceA, lostA, pa],
      ['callee', voiceB, lostB, pb],
    ] as const;

    /** Records the call with these plugin options; per side: alignment with the source and the lost spans measured. */
    const record = async (options: Record<string, unknown>) => {
      const recDir = tempDir('fec');
      const h = await PluginHarness.create(plugin, { options, with: [{ plugin: 'storage-local', options: { dir: recDir } }] });
      try {
        const { meta } = await runCall(h, 'opus-fec@test', caller('111', opusAttrs), callee('111', opusAttrs), {
          caller: { pt: 111, packets: pa, ticks: FRAME, drop: new Set(lostA) },
          callee: { pt: 111, packets: pb, ticks: FRAME, drop: new Set(lostB) },
        });
        const per = sides.map(([side, src, lost]) => {
          const rec = channel(meta, side).pcm;
          const a = alignPcm(src, rec, 9600);
          // Each lost packet's 20 ms in the recording (the lag includes libopus's delay) against the source's.
          const spans = lost.map((i) => {
            const from = i * FRAME + a.lag;
            const got = rec.subarray(from, from + FRAME);
            const want = src.subarray(i * FRAME, (i + 1) * FRAME);
            return { level: rms(want) > 300 ? rms(got) / rms(want) : undefined, r: pcmCorrelation(want, got, 0) };
          });
          return { side, a, spans, rec, lost };
        });
        return { meta, counters: h.counters(), per };
      } finally {
        fs.rmSync(recDir, { recursive: true, force: true });
      }
    };

    const fec = await record({});
    const plc = await record({ fec: false });
    const gaps = await record({ maxConcealMs: 0 });
    const c = fec.counters;
    assert.equal(c[`${PLUGIN}.fecRecovered`], lostA.length + lostB.length, JSON.stringify(c));
    assert.equal(c[`${PLUGIN}.concealed`] ?? 0, 0);
    assert.equal(c[`${PLUGIN}.gapsNotFilled`] ?? 0, 0);
    assert.equal(plc.counters[`${PLUGIN}.concealed`], lostA.length + lostB.length);
    const meta = fec.meta;
    assert.equal(meta.caller.lost, lostA.length);
    assert.equal(meta.callee.lost, lostB.length);
    // Every lost packet was rebuilt from the next one's FEC data: said in the metadata, nothing made up.
    assert.deepEqual([meta.caller.recovered, meta.callee.recovered], [lostA.length, lostB.length]);
    assert.deepEqual([meta.caller.concealed, meta.callee.concealed], [undefined, undefined]);
    assert.deepEqual(meta.flags, []);
    assert.deepEqual([plc.meta.caller.concealed, plc.meta.callee.concealed], [lostA.length, lostB.length]);
    assert.equal(plc.meta.caller.recovered, undefined);
    assert.ok(plc.meta.flags.includes(`caller: ${lostA.length} lost packets concealed by the decoder (made-up audio, not what was sent)`), plc.meta.flags.join('; '));
    assert.equal(meta.audio?.sampleRate, 48000);
    const span = (Math.max(pa.length, pb.length) * FRAME) / 48000;
    assert.ok(Math.abs((meta.audio?.durationSec ?? 0) - span) <= 0.02 + 0.007, `audio ${meta.audio?.durationSec} s, RTP span ${span} s (+7 ms callee offset)`);

    const mean = (x: number[]): number => x.reduce((s, v) => s + v, 0) / Math.max(1, x.length);
    /**
     * The lost packets' own slots in the recording (where their decoded audio belongs: packet i at p0 + 960 i), p0
     * found as the offset at which the recording made without filling is silent on the most slots (the alignment
     * with the source adds libopus's 6.5 ms delay on top of p0).
     */
    const slots = (rec: Int16Array, lost: readonly number[], guess: number): number => {
      let best = { p0: guess, silent: -1 };
      for (let p0 = guess - 96; p0 <= guess + 96; p0++) {
        const silent = lost.filter((i) => rec.subarray(p0 + i * FRAME, p0 + (i + 1) * FRAME).every((v) => v === 0)).length;
        if (silent > best.silent) best = { p0, silent };
      }
      return best.p0;
    };
    const silentSlots = (rec: Int16Array, lost: readonly number[], p0: number): number => lost.filter((i) => rec.subarray(p0 + i * FRAME, p0 + (i + 1) * FRAME).every((v) => v === 0)).length;
    for (let k = 0; k < 2; k++) {
      const f = fec.per[k]!;
      const p = plc.per[k]!;
      const g = gaps.per[k]!;
      const p0 = slots(g.rec, g.lost, g.a.lag - 312);
      const levels = f.spans.map((s) => s.level).filter((v): v is number => v !== undefined).sort((x, y) => x - y);
      const rFec = mean(f.spans.map((s) => s.r));
      const rPlc = mean(p.spans.map((s) => s.r));
      console.log(
        `      ${f.side}: r=${f.a.corr.toFixed(4)} at lag ${f.a.lag}; ${f.spans.length} of ${sides[k]![3].length} packets lost, all filled from FEC; ` +
          `level of the lost spans vs the source min ${levels[0]?.toFixed(2)} median ${levels[levels.length >> 1]?.toFixed(2)} max ${levels[levels.length - 1]?.toFixed(2)}; ` +
          `their mean r with the source: FEC ${rFec.toFixed(3)}, PLC only ${rPlc.toFixed(3)}; silent slots: FEC ${silentSlots(f.rec, f.lost, p0)}, without filling ${silentSlots(g.rec, g.lost, p0)} (at ${p0})`,
      );
      assert.ok(f.a.corr >= 0.9, `${f.side}: r=${f.a.corr}`);
      assert.equal(silentSlots(f.rec, f.lost, p0), 0, `${f.side}: a lost packet left silence`);
      assert.ok(levels.length >= f.spans.length / 2, `${f.side}: most losses fall in speech`);
      assert.ok(levels.every((r) => r > 0.2 && r < 4), `${f.side}: lost spans' level vs the source: ${levels.map((r) => r.toFixed(2)).join(' ')}`);
      // The check sees gaps where there are some (maxConcealMs 0), and FEC is nearer the source than concealment.
      assert.equal(silentSlots(g.rec, g.lost, p0), g.lost.length, `${g.side}: unfilled losses are silent`);
      assert.ok(rFec > rPlc, `${f.side}: FEC r=${rFec} vs PLC r=${rPlc}`);
    }
  });

  it('a mixed call, Opus from the caller and PCMU from the callee: 48 kHz stereo, each channel what its side sent', async function () {
    const pa = encodeOpus(n, voiceA);
    const pb: Buffer[] = [];
    for (let i = 0; i * 160 < voiceB8.length; i++) {
      const frame = Buffer.alloc(160, 0xff);
      for (let k = 0; k < 160 && i * 160 + k < voiceB8.length; k++) frame[k] = linearToUlaw(voiceB8[i * 160 + k] as number);
      pb.push(frame);
    }
    const recDir = tempDir('mixed');
    const h = await PluginHarness.create(plugin, { with: [{ plugin: 'storage-local', options: { dir: recDir } }, { plugin: 'codec-g711' }] });
    try {
      // The caller offers Opus then PCMU, the callee answers PCMU first: each sends the other's preferred codec.
      const { meta, sent } = await runCall(h, 'opus-pcmu@test', caller('111 0', [...opusAttrs, 'rtpmap:0 PCMU/8000']), callee('0 111', ['rtpmap:0 PCMU/8000', ...opusAttrs]), {
        caller: { pt: 111, packets: pa, ticks: FRAME },
        callee: { pt: 0, packets: pb, ticks: 160 },
      });
      assert.equal(meta.audio?.sampleRate, 48000, 'the timeline runs at the highest rate negotiated');
      assert.deepEqual(meta.caller.codecs.map((x) => x.toUpperCase()), ['OPUS/48000']);
      assert.deepEqual(meta.callee.codecs, ['PCMU/8000']);
      assert.equal(meta.caller.undecoded + meta.callee.undecoded, 0);
      assert.deepEqual(meta.flags, []);
      const left = channel(meta, 'caller').pcm;
      const right = channel(meta, 'callee').pcm;
      // Opus side: the same audio as libopus decoding the payloads (through ffmpeg), and close to the source.
      const vsSource = alignPcm(voiceA, left, 9600);
      assert.ok(vsSource.corr >= 0.9, `left vs caller's source: r=${vsSource.corr}`);
      if (haveFfmpegLibopus) {
        const ref = ffmpegReference(recDir, 'mixed-caller', sent.caller.map((s) => s.payload), (p) => n.packetSamples(p, 48000), 'libopus');
        const a = alignPcm(ref, left, 9600);
        console.log(`      left (Opus) ~ ffmpeg libopus decode: r=${a.corr.toFixed(5)}; ~ source r=${vsSource.corr.toFixed(4)}`);
        assert.ok(a.corr >= 0.99, `left vs ffmpeg: r=${a.corr}`);
      }
      // PCMU side, upsampled 8 → 48 kHz by the core: every 6th sample (at the right phase) is the G.711 decoder's output.
      const want = Int16Array.from(sent.callee.flatMap((s) => [...s.payload].map(ulawToLinear)));
      let best = { phase: 0, lag: 0, corr: -2 };
      for (let phase = 0; phase < 6; phase++) {
        const dec = new Int16Array(Math.floor((right.length - phase) / 6));
        for (let i = 0; i < dec.length; i++) dec[i] = right[phase + 6 * i] as number;
        const a = alignPcm(want, dec, 1600);
        if (a.corr > best.corr) best = { phase, ...a };
      }
      console.log(`      right (PCMU, upsampled to 48 kHz) ~ μ-law decode of what was sent: r=${best.corr.toFixed(5)} (phase ${best.phase}, lag ${best.lag} at 8 kHz)`);
      assert.ok(best.corr >= 0.99, `right vs PCMU: r=${best.corr}`);
      // No crosstalk: the channels are not each other.
      assert.ok(Math.abs(pcmCorrelation(left, right, 0)) < 0.3);
    } finally {
      fs.rmSync(recDir, { recursive: true, force: true });
    }
  });

  it(`addon unavailable (${DISABLE_ENV}=0): Opus flagged "not decoded", its packets kept raw; the PCMU side is recorded at 8 kHz`, async () => {
    const pa = encodeOpus(n, voiceA.subarray(0, 48000 * 2));
    const pb: Buffer[] = [];
    for (let i = 0; i < 100; i++) pb.push(Buffer.from(Array.from({ length: 160 }, (_, k) => linearToUlaw(voiceB8[i * 160 + k] ?? 0))));
    const recDir = tempDir('nodec');
    const before = process.env[DISABLE_ENV];
    process.env[DISABLE_ENV] = '0';
    let h: PluginHarness;
    try {
      h = await PluginHarness.create(plugin, { with: [{ plugin: 'storage-local', options: { dir: recDir } }, { plugin: 'codec-g711' }] });
    } finally {
      if (before === undefined) delete process.env[DISABLE_ENV];
      else process.env[DISABLE_ENV] = before;
    }
    try {
      assert.ok(h.recorded.logs.some((l) => /Opus decoder not available/.test(l.msg)), 'a warning at start-up');
      const { meta } = await runCall(h, 'opus-nodec@test', caller('111 0', [...opusAttrs, 'rtpmap:0 PCMU/8000']), callee('0 111', ['rtpmap:0 PCMU/8000', ...opusAttrs]), {
        caller: { pt: 111, packets: pa, ticks: FRAME },
        callee: { pt: 0, packets: pb, ticks: 160 },
      });
      const flag = `Opus — not decoded: Opus decoder not available (disabled by ${DISABLE_ENV}=0)`;
      assert.ok(
        meta.flags.some((f) => f.startsWith(flag)),
        meta.flags.join('; '),
      );
      assert.equal(meta.caller.undecoded, pa.length);
      assert.equal(meta.rawMedia?.packets, pa.length);
      assert.deepEqual(meta.rawMedia?.reasons, [flag]);
      assert.ok(meta.rawMedia !== undefined && fs.statSync(meta.rawMedia.file).size > pa.reduce((s, p) => s + p.length, 0), 'the raw pcap holds the packets');
      // The other side is recorded as usual, at its own codec's rate (no Opus decoder asks for 48 kHz).
      assert.equal(meta.audio?.sampleRate, 8000);
      const right = channel(meta, 'callee').pcm;
      assert.ok(rms(right) > 100);
      assert.equal(rms(channel(meta, 'caller').pcm), 0);
    } finally {
      fs.rmSync(recDir, { recursive: true, force: true });
    }
  });
});

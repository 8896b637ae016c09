import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { CallTimeline, type CallTimelineOptions, type PushResult } from './timeline';
import { resample } from './resample';
import type { PlacedAudio } from './types';
import { mulberry32 } from '../../test/prng';

const START = 1_700_000_000_000_000; // µs
const MS = 1000;

const rng = mulberry32;

/** Never-zero sample k of a channel, so a zero in the output always means "nothing arrived". */
function sampleOf(ch: 0 | 1, k: number): number {
  const v = 1 + ((k * 7919) % 30000);
  return ch === 0 ? v : -v;
}

interface Pkt {
  ch: 0 | 1;
  a: PlacedAudio;
  /** Output position the packet's audio belongs at (for building the expected output). */
  pos: number;
}

interface StreamSpec {
  ch: 0 | 1;
  /** Capture time of the first packet (µs from START). */
  at: number;
  packets: number;
  streamId?: string;
  rtpBase?: number;
  seqBase?: number;
  clockRate?: number;
  pcmRate?: number;
  frameMs?: number;
  /** Output rate the expected positions are computed for. */
  outRate?: number;
  /** Index of the first sample value (content continues across streams). */
  firstSample?: number;
}

function stream(s: StreamSpec): Pkt[] {
  const clockRate = s.clockRate ?? 8000;
  const pcmRate = s.pcmRate ?? clockRate;
  const frameMs = s.frameMs ?? 20;
  const outRate = s.outRate ?? pcmRate;
  const ticks = (clockRate * frameMs) / 1000;
  const n = (pcmRate * frameMs) / 1000;
  const out: Pkt[] = [];
  for (let i = 0; i < s.packets; i++) {
    const pcm = new Int16Array(n);
    for (let j = 0; j < n; j++) pcm[j] = sampleOf(s.ch, (s.firstSample ?? 0) + i * n + j);
    const captureTs = START + s.at + i * frameMs * MS;
    out.push({
      ch: s.ch,
      pos: Math.round(((s.at + i * frameMs * MS) * outRate) / 1e6),
      a: {
        streamId: s.streamId ?? `flow${s.ch}#1`,
        rtpTimestamp: ((s.rtpBase ?? 1000) + i * ticks) >>> 0,
        clockRate,
        captureTs,
        seq: ((s.seqBase ?? 100) + i) & 0xffff,
        pcm,
        pcmRate,
      },
    });
  }
  return out;
}

interface Run {
  out: Int16Array;
  results: PushResult[];
  tl: CallTimeline;
  chunks: number;
}

/** Push in the given order, advancing the clock to each packet's capture time (as the recorder does). */
function run(pkts: Pkt[], opts: Partial<CallTimelineOptions> & { noAdvance?: boolean; endTs?: number } = {}): Run {
  const parts: Int16Array[] = [];
  const tl = new CallTimeline({ sampleRate: 8000, startTs: START, ...opts, sink: (s) => parts.push(s.slice()) });
  const results: PushResult[] = [];
  let now = -Infinity;
  for (const p of pkts) {
    results.push(tl.push(p.ch, p.a));
    now = Math.max(now, p.a.captureTs);
    if (opts.noAdvance !== true) tl.advance(now);
  }
  tl.finish(opts.endTs);
  const total = parts.reduce((a, p) => a + p.length, 0);
  const out = new Int16Array(total);
  let o = 0;
  for (const p of parts) {
    assert.equal(p.length % 2, 0);
    out.set(p, o);
    o += p.length;
  }
  assert.equal(tl.writtenFrames * 2, total);
  return { out, results, tl, chunks: parts.length };
}

/** What the output must be: each packet's samples at its position, zeros elsewhere. */
function expected(pkts: Pkt[], frames: number): Int16Array {
  const e = new Int16Array(frames * 2);
  for (const p of pkts) for (let j = 0; j < p.a.pcm.length; j++) if (p.pos + j < frames) e[2 * (p.pos + j) + p.ch] = p.a.pcm[j]!;
  return e;
}

function channel(out: Int16Array, ch: 0 | 1): Int16Array {
  const c = new Int16Array(out.length / 2);
  for (let i = 0; i < c.length; i++) c[i] = out[2 * i + ch]!;
  return c;
}

/** Arrival order: by capture time (a capture sees packets in that order). */
function byCapture(pkts: Pkt[]): Pkt[] {
  return [...pkts].sort((x, y) => x.a.captureTs - y.a.captureTs);
}

function interleave(a: Pkt[], b: Pkt[]): Pkt[] {
  return byCapture([...a, ...b]);
}

function sine(freq: number, rate: number, n: number, amp: number, phase = 0): Int16Array {
  const a = new Int16Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.round(amp * Math.sin((2 * Math.PI * freq * i) / rate + phase));
  return a;
}

/** Amplitude and frequency of a sine by least-squares fit at a known frequency, and by zero crossings. */
function analyse(x: Int16Array, rate: number, freq: number, skip: number): { amp: number; zcFreq: number } {
  let ss = 0;
  let cc = 0;
  let crossings = 0;
  let firstCross = -1;
  let lastCross = -1;
  for (let i = skip; i < x.length - skip; i++) {
    const w = (2 * Math.PI * freq * i) / rate;
    ss += x[i]! * Math.sin(w);
    cc += x[i]! * Math.cos(w);
    if (i > skip && x[i - 1]! < 0 && x[i]! >= 0) {
      const t = i - 1 + -x[i - 1]! / (x[i]! - x[i - 1]!);
      if (firstCross < 0) firstCross = t;
      lastCross = t;
      crossings++;
    }
  }
  const n = x.length - 2 * skip;
  return { amp: (2 * Math.hypot(ss, cc)) / n, zcFreq: ((crossings - 1) * rate) / (lastCross - firstCross) };
}

const db = (a: number, b: number): number => 20 * Math.log10(a / b);

describe('resample', () => {
  for (const [from, to] of [
    [8000, 16000],
    [16000, 8000],
    [8000, 48000],
    [48000, 8000],
    [16000, 48000],
    [8000, 44100],
    [44100, 48000],
    [8000, 12000],
  ] as const) {
    it(`${from} → ${to}: a 1 kHz sine keeps its frequency and amplitude, length scales exactly`, () => {
      const n = from / 2; // 0.5 s
      const x = sine(1000, from, n, 10000, 0.3);
      const y = resample(x, from, to);
      assert.equal(y.length, Math.round((n * to) / from));
      const skip = Math.ceil(to / 100); // edges (extended by repetition) are not a steady sine
      const r = analyse(y, to, 1000, skip);
      assert.ok(Math.abs(db(r.amp, 10000)) < 1, `amplitude ${r.amp} (${db(r.amp, 10000).toFixed(2)} dB)`);
      assert.ok(Math.abs(r.zcFreq - 1000) < 1, `frequency ${r.zcFreq}`);
      // Phase is preserved too: compare with the ideal sine at the output rate.
      const ideal = sine(1000, to, y.length, 10000, 0.3);
      let err = 0;
      for (let i = skip; i < y.length - skip; i++) err = Math.max(err, Math.abs(y[i]! - ideal[i]!));
      assert.ok(err < 300, `max deviation from the ideal sine ${err}`);
    });
  }

  it('per-packet (160-sample) resampling stays continuous across packet boundaries', () => {
    // Three tones of different levels, like a voiced sound's harmonics.
    const x = new Int16Array(8000);
    for (let i = 0; i < x.length; i++) x[i] = Math.round(6000 * Math.sin(i * 0.2356) + 3000 * Math.sin(i * 0.8639 + 1) + 1500 * Math.sin(i * 1.806 + 2));
    for (const to of [16000, 48000]) {
      const k = to / 8000;
      const whole = resample(x, 8000, to);
      const y = new Int16Array(whole.length);
      for (let o = 0; o < x.length; o += 160) y.set(resample(x.subarray(o, o + 160), 8000, to), o * k);
      let noise = 0;
      let power = 0;
      for (let i = 100 * k; i < y.length - 100 * k; i++) {
        noise += (y[i]! - whole[i]!) ** 2;
        power += whole[i]! ** 2;
      }
      // Packet edges see the signal continued by prediction, not the next packet: close, far from a click.
      const snr = 10 * Math.log10(power / noise);
      assert.ok(snr > 40, `${to}: per-packet vs whole-signal SNR ${snr.toFixed(1)} dB`);
    }
    const sine1k = sine(1000, 8000, 8000, 10000);
    const y = new Int16Array(16000);
    for (let o = 0; o < sine1k.length; o += 160) y.set(resample(sine1k.subarray(o, o + 160), 8000, 16000), o * 2);
    const ideal = sine(1000, 16000, 16000, 10000);
    let err = 0;
    for (let i = 0; i < y.length; i++) err = Math.max(err, Math.abs(y[i]! - ideal[i]!));
    assert.ok(err < 200, `max deviation from the ideal 1 kHz sine ${err}`);
  });

  it('same rate copies; empty input; bad rates throw; DC is exact', () => {
    const x = new Int16Array([1, 2, 3]);
    const y = resample(x, 8000, 8000);
    assert.deepEqual(y, x);
    assert.notEqual(y, x);
    assert.equal(resample(new Int16Array(0), 8000, 16000).length, 0);
    assert.throws(() => resample(x, 0, 8000), /positive integers/);
    assert.throws(() => resample(x, 8000, 7999.5), /positive integers/);
    assert.deepEqual(resample(new Int16Array(50).fill(-1234), 8000, 48000), new Int16Array(300).fill(-1234));
    assert.deepEqual(resample(new Int16Array(60).fill(32767), 48000, 8000), new Int16Array(10).fill(32767));
  });
});

describe('CallTimeline', () => {
  it('aligns two channels with different tones on one clock', () => {
    // Caller from t = 0, callee from t = 130 ms (answering later), both 2 s.
    const caller = stream({ ch: 0, at: 0, packets: 100 });
    const callee = stream({ ch: 1, at: 130 * MS, packets: 100, rtpBase: 0xfffff000 /* wraps */, seqBase: 65500 });
    const r = run(interleave(caller, callee));
    assert.ok(r.results.every((x) => x === 'placed'));
    const frames = 1040 + 16000;
    assert.equal(r.out.length / 2, frames);
    assert.deepEqual(r.out, expected([...caller, ...callee], frames));
    assert.deepEqual(r.tl.stats(0), { placedFrames: 16000, latePackets: 0, duplicates: 0, reanchors: 0, concealedSamples: 1040, timestampJumps: 0 });
    assert.deepEqual(r.tl.stats(1), { placedFrames: 16000, latePackets: 0, duplicates: 0, reanchors: 0, concealedSamples: 1040, timestampJumps: 0 });

    // Real tones: a 440 Hz caller and a 1 kHz callee each stay in their own channel.
    const tones: Pkt[] = [];
    for (const [ch, f] of [[0, 440], [1, 1000]] as const) {
      const all = sine(f, 8000, 16000, 8000);
      stream({ ch, at: 0, packets: 100 }).forEach((p, i) => {
        p.a.pcm = all.slice(i * 160, i * 160 + 160);
        tones.push(p);
      });
    }
    const t = run(byCapture(tones));
    const left = analyse(channel(t.out, 0), 8000, 440, 0);
    const right = analyse(channel(t.out, 1), 8000, 1000, 0);
    assert.ok(Math.abs(left.zcFreq - 440) < 0.5 && Math.abs(right.zcFreq - 1000) < 0.5);
    assert.ok(Math.abs(db(left.amp, 8000)) < 0.1 && Math.abs(db(right.amp, 8000)) < 0.1);
  });

  it('5% loss leaves zeros of exactly the lost length at exactly their positions', () => {
    const rand = rng(7);
    const all = stream({ ch: 0, at: 0, packets: 500 });
    const other = stream({ ch: 1, at: 0, packets: 500 });
    const kept = all.filter((_, i) => i === 0 || i === 499 || rand() >= 0.05);
    const lost = all.length - kept.length;
    assert.ok(lost >= 10 && lost <= 45, `lost ${lost}`);
    const r = run(interleave(kept, other));
    assert.deepEqual(r.out, expected([...kept, ...other], 80000));
    const left = channel(r.out, 0);
    let zeros = 0;
    for (const v of left) if (v === 0) zeros++;
    assert.equal(zeros, lost * 160);
    assert.equal(r.tl.stats(0).concealedSamples, lost * 160);
    assert.equal(r.tl.stats(0).placedFrames, kept.length * 160);
  });

  it('reordering within the window gives the same output as in-order arrival', () => {
    const rand = rng(11);
    const a = stream({ ch: 0, at: 0, packets: 300 });
    const b = stream({ ch: 1, at: 50 * MS, packets: 300 });
    const inOrder = run(interleave(a, b));
    // Delay packets by up to 150 ms (the first of each stream on time: it is the anchor) and let them arrive in capture order.
    const delay = (p: Pkt, i: number): Pkt => ({ ...p, a: { ...p.a, captureTs: p.a.captureTs + (i === 0 ? 0 : Math.floor(rand() * 150 * MS)) } });
    const shuffled = byCapture([...a.map(delay), ...b.map(delay)]);
    let reordered = 0;
    for (let i = 1; i < shuffled.length; i++) if (shuffled[i]!.ch === shuffled[i - 1]!.ch && shuffled[i]!.a.seq < shuffled[i - 1]!.a.seq) reordered++;
    assert.ok(reordered > 50, `only ${reordered} reordered`);
    const r = run(shuffled);
    assert.ok(r.results.every((x) => x === 'placed'));
    assert.deepEqual(r.out, inOrder.out);
  });

  it('up to 80 ms of network delay in capture times changes nothing', () => {
    const rand = rng(3);
    const a = stream({ ch: 0, at: 0, packets: 300 });
    const b = stream({ ch: 1, at: 0, packets: 300 });
    const clean = run(interleave(a, b));
    // Delay only ever adds (a packet cannot arrive before it was sent); one early packet sets the anchor.
    const jitter = (p: Pkt, i: number): Pkt => ({ ...p, a: { ...p.a, captureTs: p.a.captureTs + (i === 1 ? 0 : Math.round(rand() * 80 * MS)) } });
    const ja = a.map(jitter);
    const jb = b.map(jitter);
    const sendOrder = run(ja.flatMap((p, i) => [p, jb[i]!]));
    assert.deepEqual(sendOrder.out, clean.out);
    const captureOrder = run(byCapture([...ja, ...jb]));
    assert.deepEqual(captureOrder.out, clean.out);
    assert.equal(captureOrder.tl.stats(0).reanchors + captureOrder.tl.stats(1).reanchors, 0);
  });

  it('a delayed first packet does not shift its stream: the least-delayed early packet anchors it', () => {
    const a = stream({ ch: 0, at: 0, packets: 100 });
    const clean = run(a);
    const late0 = a.map((p, i) => (i === 0 ? { ...p, a: { ...p.a, captureTs: p.a.captureTs + 35 * MS } } : p));
    const r = run(byCapture(late0));
    assert.deepEqual(r.out, clean.out);
  });

  it('silence suppression: a timestamp jump with marker becomes silence of the right length', () => {
    const talk1 = stream({ ch: 0, at: 0, packets: 50 });
    // 2.34 s without packets; RTP timestamps and capture time both move on.
    const talk2 = stream({ ch: 0, at: 1000 * MS + 2340 * MS, packets: 50, rtpBase: 1000 + 8000 + 18720, seqBase: 150, firstSample: 8000 });
    const r = run(byCapture([...talk1, ...talk2]));
    const left = channel(r.out, 0);
    assert.equal(left.length, 8000 + 18720 + 8000);
    assert.ok(left.subarray(8000, 8000 + 18720).every((v) => v === 0));
    assert.notEqual(left[7999], 0);
    assert.notEqual(left[8000 + 18720], 0);
    assert.deepEqual(r.out, expected([...talk1, ...talk2], 34720));
    assert.equal(r.tl.stats(0).reanchors, 0);
    // Timestamps decide, not capture: the same with the resumed packets all captured 80 ms late.
    const late = talk2.map((p) => ({ ...p, a: { ...p.a, captureTs: p.a.captureTs + 80 * MS } }));
    const r2 = run(byCapture([...talk1, ...late]));
    assert.deepEqual(channel(r2.out, 0).subarray(0, 34720), left);
  });

  it('SSRC change with a new random RTP base continues at the capture-time position', () => {
    const first = stream({ ch: 1, at: 0, packets: 150 }); // 3 s
    const second = stream({ ch: 1, at: 3000 * MS, packets: 100, streamId: 'flow1#2', rtpBase: 0x9e3779b9, seqBase: 4242, firstSample: 24000 });
    const r = run(byCapture([...first, ...second]));
    assert.ok(r.results.every((x) => x === 'placed'));
    assert.deepEqual(r.out, expected([...first, ...second], 40000));
    assert.equal(r.tl.stats(1).reanchors, 1);
    assert.equal(r.tl.stats(1).concealedSamples, 0);

    // The new stream's first packet captured 5 ms early: its overlap with the old stream is dropped (first kept).
    const overlapping = second.map((p) => ({ ...p, pos: p.pos - 40, a: { ...p.a, captureTs: p.a.captureTs - 5 * MS } }));
    const o = run(byCapture([...first, ...overlapping]));
    const right = channel(o.out, 1);
    assert.equal(right.length, 40000 - 40);
    assert.equal(right[23999], sampleOf(1, 23999)); // old stream kept to its end
    assert.equal(right[24000], sampleOf(1, 24000 + 40)); // then the new one, from its own position
    assert.equal(o.tl.stats(1).duplicates, 0);
    assert.equal(o.tl.stats(1).placedFrames, 40000 - 40);
  });

  it('a 10-minute timestamp jump without SSRC change is re-anchored, not 10 minutes of silence', () => {
    const before = stream({ ch: 0, at: 0, packets: 150 });
    const after = stream({ ch: 0, at: 3000 * MS, packets: 150, rtpBase: 1000 + 24000 + 10 * 60 * 8000, seqBase: 250, firstSample: 24000 });
    const other = stream({ ch: 1, at: 0, packets: 300 });
    const r = run(interleave([...before, ...after], other));
    assert.equal(r.out.length / 2, 48000);
    assert.deepEqual(r.out, expected([...before, ...after, ...other], 48000));
    assert.equal(r.tl.stats(0).reanchors, 1);
    // And backwards (a sender clock restart) with new random sequence numbers: nothing lost.
    const back = stream({ ch: 0, at: 3000 * MS, packets: 150, rtpBase: 7, seqBase: 40000, firstSample: 24000 });
    const b = run(interleave([...before, ...back], other));
    assert.deepEqual(b.out, expected([...before, ...back, ...other], 48000));
    assert.deepEqual(b.tl.stats(0), { placedFrames: 48000, latePackets: 0, duplicates: 0, reanchors: 1, concealedSamples: 0, timestampJumps: 1 });
    // Sequence numbers restarting just below the last ones look like a very late packet: the second packet
    // confirms the jump (anchored on the first), and only that first packet is lost.
    const restart = stream({ ch: 0, at: 3000 * MS, packets: 150, rtpBase: 7, seqBase: 3, firstSample: 24000 });
    const c = run(interleave([...before, ...restart], other));
    assert.deepEqual(c.out, expected([...before, ...restart.slice(1), ...other], 48000));
    assert.deepEqual(c.tl.stats(0), { placedFrames: 48000 - 160, latePackets: 1, duplicates: 0, reanchors: 1, concealedSamples: 160, timestampJumps: 1 });
  });

  it('8 kHz on one side and 16 kHz on the other, output 16 kHz: both aligned', () => {
    // A 1 kHz burst starting 1.000 s after the call start on both sides.
    const burst = (rate: number): Int16Array => {
      const x = new Int16Array(rate * 2);
      x.set(sine(1000, rate, rate, 9000), rate);
      return x;
    };
    const pk = (ch: 0 | 1, rate: number, clockRate: number): Pkt[] => {
      const x = burst(rate);
      return stream({ ch, at: 0, packets: 100, clockRate, pcmRate: rate, outRate: 16000 }).map((p, i) => {
        p.a.pcm = x.slice((i * rate) / 50, ((i + 1) * rate) / 50);
        return p;
      });
    };
    // Callee like G.722: RTP clock 8000, PCM at 16 kHz. Caller: PCMU at 8 kHz.
    for (const calleeClock of [8000, 16000]) {
      const r = run(interleave(pk(0, 8000, 8000), pk(1, 16000, calleeClock)), { sampleRate: 16000 });
      assert.equal(r.out.length / 2, 32000);
      const left = channel(r.out, 0);
      const right = channel(r.out, 1);
      const onset = (c: Int16Array): number => c.findIndex((v) => Math.abs(v) > 1000);
      assert.ok(Math.abs(onset(left) - onset(right)) <= 2, `onsets ${onset(left)} / ${onset(right)}`);
      assert.ok(Math.abs(onset(right) - 16000) <= 2);
      const l = analyse(left.subarray(16000, 32000), 16000, 1000, 200);
      assert.ok(Math.abs(l.zcFreq - 1000) < 1 && Math.abs(db(l.amp, 9000)) < 1, JSON.stringify(l));
      // Same phase on both sides: the channels agree sample by sample in the steady part.
      let err = 0;
      for (let i = 16200; i < 31800; i++) err = Math.max(err, Math.abs(left[i]! - right[i]!));
      assert.ok(err < 1500, `max left/right difference ${err}`);
    }
  });

  it('a codec switch mid-stream (8 kHz → 16 kHz PCM) is resampled in place', () => {
    const narrow = stream({ ch: 0, at: 0, packets: 50, outRate: 16000 });
    const wide = stream({ ch: 0, at: 1000 * MS, packets: 50, pcmRate: 16000, clockRate: 8000, rtpBase: 1000 + 8000, seqBase: 150, outRate: 16000 });
    const r = run(byCapture([...narrow, ...wide]), { sampleRate: 16000 });
    assert.equal(r.out.length / 2, 32000);
    const left = channel(r.out, 0);
    assert.deepEqual(left.subarray(16000), expected(wide, 32000).filter((_, i) => i % 2 === 0).subarray(16000));
    assert.ok(left.subarray(0, 16000).every((v) => v !== 0), 'upsampled part is continuous');
    assert.equal(r.tl.stats(0).reanchors, 0);
  });

  it('a packet beyond the window is late; duplicates are counted and the first copy kept', () => {
    const a = stream({ ch: 0, at: 0, packets: 100 });
    const out: Int16Array[] = [];
    const tl = new CallTimeline({ sampleRate: 8000, startTs: START, sink: (s) => out.push(s.slice()) });
    const lost = 57;
    for (const p of a.slice(0, 70)) {
      if (p.a.seq === 100 + lost) continue;
      assert.equal(tl.push(0, p.a), 'placed');
      tl.advance(p.a.captureTs);
    }
    // Packet 10 (200 ms) again, now 1.38 s in: its audio was emitted long ago.
    assert.equal(tl.push(0, { ...a[10]!.a, captureTs: a[69]!.a.captureTs }), 'late');
    // The lost packet 57 arriving 240 ms late: beyond the 200 ms window.
    assert.equal(tl.push(0, { ...a[lost]!.a, captureTs: a[lost]!.a.captureTs + 240 * MS }), 'late');
    // Packet 65 again, within the window, with other content: a duplicate, the first copy stays.
    assert.equal(tl.push(0, { ...a[65]!.a, pcm: new Int16Array(160).fill(5), captureTs: a[69]!.a.captureTs }), 'duplicate');
    // Half of it overlapping (e.g. a re-anchored stream): the new half is placed, the old half kept.
    const half = new Int16Array(160).fill(6);
    assert.equal(tl.push(0, { ...a[69]!.a, streamId: 'other', pcm: half, captureTs: a[69]!.a.captureTs + 10 * MS }), 'placed');
    tl.advance(a[69]!.a.captureTs + 160 * MS); // the new stream's anchor settles (its first packets are held briefly)
    assert.equal(tl.push(0, { ...a[69]!.a, streamId: 'other', pcm: half, captureTs: a[69]!.a.captureTs + 160 * MS }), 'duplicate');
    tl.finish();
    assert.equal(tl.push(0, a[80]!.a), 'late');
    const s = tl.stats(0);
    assert.equal(s.latePackets, 3);
    assert.equal(s.duplicates, 2);
    assert.equal(s.placedFrames, 69 * 160 + 80);
    const all = new Int16Array(out.reduce((n, x) => n + x.length, 0));
    let at = 0;
    for (const x of out) {
      all.set(x, at);
      at += x.length;
    }
    const want = expected(a.slice(0, 70).filter((_, i) => i !== lost), 70 * 160 + 80);
    for (let i = 70 * 160; i < 70 * 160 + 80; i++) want[2 * i] = 6;
    assert.deepEqual(all, want);
  });

  for (const ppm of [-1000, 1000]) {
    it(`follows a sender clock ${ppm < 0 ? 'slower' : 'faster'} than the capture clock (${Math.abs(ppm)} ppm) without dropping packets`, () => {
      // 10 minutes; each packet's 160 ticks take 20 ms × (1 ∓ ppm) of capture time. Drift reaches 600 ms.
      const rand = rng(5);
      const a = stream({ ch: 0, at: 0, packets: 30000 }).map((p, i) => ({
        ...p,
        a: { ...p.a, captureTs: START + Math.round(i * 20 * MS * (1 - ppm / 1e6)) + Math.floor(rand() * 30 * MS) },
      }));
      const r = run(byCapture(a));
      const st = r.tl.stats(0);
      assert.equal(st.latePackets, 0);
      const lostSamples = 30000 * 160 - st.placedFrames;
      if (ppm < 0) {
        // Slow sender clock: the anchor follows capture time; each correction leaves a short gap, nothing is lost.
        assert.ok(st.reanchors >= 5 && st.reanchors <= 12, `${st.reanchors} re-anchors`);
        assert.equal(lostSamples, 0);
        assert.ok(st.concealedSamples <= 0.7 * 8000, `concealed ${st.concealedSamples}`);
        assert.ok(Math.abs(r.out.length / 2 - 30000 * 160 * (1 - ppm / 1e6)) < 0.3 * 8000, `${r.out.length / 2} frames`);
      } else {
        // Fast sender clock in continuous speech: there is no pause to absorb the drift, and moving back would
        // overwrite the stream's own audio. Nothing is lost; the recording is as long as the RTP timestamps say.
        assert.equal(lostSamples, 0, `lost ${lostSamples}`);
        assert.ok(st.concealedSamples < 8000, `concealed ${st.concealedSamples}`);
        assert.ok(Math.abs(r.out.length / 2 - 30000 * 160) < 0.3 * 8000, `${r.out.length / 2} frames`);
      }
    });
  }

  it('a packet delayed past the re-anchor threshold is late, not a re-anchor', () => {
    const a = stream({ ch: 0, at: 0, packets: 200 });
    const delayed = a[40]!;
    const order = a.filter((_, i) => i !== 40);
    order.splice(140, 0, { ...delayed, a: { ...delayed.a, captureTs: a[140]!.a.captureTs + 1 } }); // 2 s late
    const r = run(order);
    assert.equal(r.results[140], 'late');
    assert.deepEqual(r.tl.stats(0), { placedFrames: 199 * 160, latePackets: 1, duplicates: 0, reanchors: 0, concealedSamples: 160, timestampJumps: 0 });
  });

  it('finish() flushes everything, without advance(); output = last audio end − start', () => {
    const a = stream({ ch: 0, at: 0, packets: 400 }); // 8 s: more than the ring holds
    const b = stream({ ch: 1, at: 500 * MS, packets: 300 });
    const r = run(interleave(a, b), { noAdvance: true });
    assert.equal(r.out.length / 2, 64000);
    assert.deepEqual(r.out, expected([...a, ...b], 64000));
    // With advance() the clock runs past the last audio by at most the window; finish(endTs) extends with silence.
    const r2 = run(interleave(a, b), { endTs: START + 9000 * MS });
    assert.equal(r2.out.length / 2, 72000);
    assert.deepEqual(r2.out.subarray(0, 128000), r.out);
    assert.ok(r2.out.subarray(128000).every((v) => v === 0));
    // A one-way call still flushes as capture time moves (the silent side is all zeros).
    const parts: Int16Array[] = [];
    const tl = new CallTimeline({ sampleRate: 8000, startTs: START, maxSilenceSec: 0, sink: (s) => parts.push(s.slice()) });
    for (const p of a.slice(0, 100)) {
      tl.push(0, p.a);
      tl.advance(p.a.captureTs);
    }
    assert.equal(tl.writtenFrames, 99 * 160 - 1600);
    tl.advance(START + 60_000 * MS); // a minute of nothing (kept whole: maxSilenceSec 0)
    assert.equal(tl.writtenFrames, 59.8 * 8000);
    assert.ok(parts.every((p) => p.length <= 2 * 8000), 'long silences are emitted in bounded chunks');
  });

  it('is fast and small: ≥ 300k packets/s, < 100 KiB per call at 8 kHz', () => {
    const packets = 200_000;
    const pcm0 = new Int16Array(160).fill(100);
    const pcm1 = new Int16Array(160).fill(-100);
    let frames = 0;
    const tl = new CallTimeline({ sampleRate: 8000, startTs: START, sink: (s) => (frames += s.length / 2) });
    const a: PlacedAudio = { streamId: 'a#1', rtpTimestamp: 0, clockRate: 8000, captureTs: START, seq: 0, pcm: pcm0, pcmRate: 8000 };
    const b: PlacedAudio = { ...a, streamId: 'b#2', pcm: pcm1 };
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < packets / 2; i++) {
      const ts = START + i * 20 * MS;
      a.rtpTimestamp = b.rtpTimestamp = (i * 160) >>> 0;
      a.seq = b.seq = i & 0xffff;
      a.captureTs = b.captureTs = ts;
      tl.push(0, a);
      tl.push(1, b);
      tl.advance(ts);
    }
    tl.finish();
    const sec = Number(process.hrtime.bigint() - t0) / 1e9;
    const rate = packets / sec;
    assert.equal(frames, (packets / 2) * 160);
    // 8 kHz with a 16 kHz resampling side for comparison.
    const wide = new CallTimeline({ sampleRate: 16000, startTs: START, sink: () => undefined });
    const t1 = process.hrtime.bigint();
    for (let i = 0; i < 50_000; i++) {
      a.rtpTimestamp = (i * 160) >>> 0;
      a.seq = i & 0xffff;
      a.captureTs = START + i * 20 * MS;
      wide.push(0, a);
      wide.advance(a.captureTs);
    }
    const resampled = 50_000 / (Number(process.hrtime.bigint() - t1) / 1e9);

    // Memory in a child with --expose-gc, so garbage from other tests does not blur the measure.
    const ts = __filename.endsWith('.ts');
    const mod = path.join(__dirname, ts ? 'timeline.ts' : 'timeline.js');
    const script = `
      const { CallTimeline } = require(${JSON.stringify(mod)});
      const pcm = new Int16Array(160).fill(1);
      const measure = () => { gc(); const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
      const many = [];
      const before = measure();
      for (let i = 0; i < 1000; i++) {
        const tl = new CallTimeline({ sampleRate: 8000, startTs: 0, sink: () => undefined });
        // Some audio on both sides, so rings, streams and ranges are all in use.
        for (let k = 0; k < 60; k++) {
          for (const ch of [0, 1]) tl.push(ch, { streamId: 's' + ch, rtpTimestamp: k * 160, clockRate: 8000, captureTs: k * 20000, seq: k, pcm, pcmRate: 8000 });
          tl.advance(k * 20000);
        }
        many.push(tl);
      }
      console.log((measure() - before) / many.length);`;
    const child = spawnSync(process.execPath, ['--expose-gc', ...(ts ? ['--import', 'tsx'] : []), '-e', script], {
      cwd: path.resolve(__dirname, ts ? '../..' : '../../..'),
      encoding: 'utf8',
    });
    assert.equal(child.status, 0, child.stderr);
    const perCall = Number(child.stdout.trim());
    console.log(`      timeline: ${Math.round(rate / 1000)}k packets/s (2 channels, same rate), ${Math.round(resampled / 1000)}k packets/s (8k→16k resampled); ~${(perCall / 1024).toFixed(1)} KiB per call at 8 kHz`);
    // A loaded CI machine may be slower than the target: assert half of it.
    assert.ok(rate > 150_000, `${Math.round(rate)} packets/s`);
    assert.ok(perCall < 100 * 1024, `${perCall} bytes per call`);
  });
});

describe('CallTimeline: silence is bounded (maxSilenceSec)', () => {
  it('a minute with nothing on either channel is written as 20 s; the audio after it follows at once, and the gap is counted', () => {
    const parts: Int16Array[] = [];
    const tl = new CallTimeline({ sampleRate: 8000, startTs: START, sink: (s) => parts.push(s.slice()) });
    const a = stream({ ch: 0, at: 0, packets: 50 }); // 1 s
    const later = stream({ ch: 0, at: 61_000 * MS, packets: 50, seqBase: 5000, streamId: 'flow0#2' }); // 1 s, a minute later
    for (const p of [...a, ...later]) {
      tl.push(0, p.a);
      tl.advance(p.a.captureTs);
    }
    tl.finish();
    const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((off, p) => (out.set(p, off), off + p.length), 0);
    // 1 s of audio, 20 s of silence, 1 s of audio: 22 s, not 62 s.
    assert.equal(out.length / 2, 22 * 8000);
    const sk = tl.skippedSilence;
    assert.deepEqual([sk.gaps, sk.samples], [1, 40 * 8000]);
    assert.equal(sk.longest, 60 * 8000);
    // The second stretch of audio starts right after the 20 s kept.
    assert.notEqual(out[2 * (21 * 8000) + 0], 0);
    assert.ok(out.subarray(2 * 8000, 2 * 21 * 8000).every((v) => v === 0));
  });

  it('a capture-time jump of ten years costs one step, not ten years of chunks: the run stays instant and small', () => {
    let frames = 0;
    const tl = new CallTimeline({ sampleRate: 8000, startTs: START, sink: (s) => (frames += s.length / 2) });
    const t = Date.now();
    for (const p of stream({ ch: 0, at: 0, packets: 50 })) tl.push(0, p.a);
    tl.advance(START + 10 * 365 * 86_400_000 * MS);
    tl.finish(START + 10 * 365 * 86_400_000 * MS);
    assert.ok(Date.now() - t < 500, `${Date.now() - t} ms`);
    assert.equal(frames, 21 * 8000, '1 s of audio and 20 s of silence');
    assert.equal(tl.skippedSilence.gaps, 1);
  });

  it('silence shorter than the limit is written as it was (hold, one-way audio)', () => {
    let frames = 0;
    const tl = new CallTimeline({ sampleRate: 8000, startTs: START, sink: (s) => (frames += s.length / 2) });
    for (const p of [...stream({ ch: 0, at: 0, packets: 50 }), ...stream({ ch: 1, at: 15_000 * MS, packets: 50, seqBase: 900 })]) {
      tl.push(p.ch, p.a);
      tl.advance(p.a.captureTs);
    }
    tl.finish();
    assert.equal(frames, 16 * 8000);
    assert.deepEqual(tl.skippedSilence, { gaps: 0, samples: 0, longest: 0 });
  });
});

describe('CallTimeline origin', () => {
  it('a side whose stream began earlier but settled later loses no samples (origin moves back)', () => {
    const MSx = 1000;
    const T = 1_700_000_000_000_000;
    const out: Int16Array[] = [];
    const tl = new CallTimeline({ sampleRate: 8000, startTs: T, sink: (x) => out.push(x.slice()) });
    const pkt = (ch: 0 | 1, i: number, at: number, fill: number): void => {
      tl.push(ch, { streamId: `s${ch}`, rtpTimestamp: 1000 + i * 160, clockRate: 8000, captureTs: at, seq: i, pcm: new Int16Array(160).fill(fill + i), pcmRate: 8000 });
    };
    // Caller's packets from T; callee's began 3.4 ms earlier but its settle-ending packet arrives later.
    for (let i = 0; i < 5; i++) pkt(0, i, T + i * 20 * MSx, 100);
    for (let i = 0; i < 4; i++) pkt(1, i, T - 3400 + i * 20 * MSx + 500, 200);
    pkt(1, 4, T - 3400 + 80 * MSx + 600, 200);
    tl.finish();
    const all = new Int16Array(out.reduce((n, x) => n + x.length, 0));
    let at = 0;
    for (const x of out) {
      all.set(x, at);
      at += x.length;
    }
    assert.equal(tl.stats(1).placedFrames, 5 * 160, 'every callee sample placed');
    assert.equal(tl.stats(0).placedFrames, 5 * 160, 'every caller sample placed');
    // The callee channel starts at sample 0 with its first packet (least delay: arrived at T - 2.9 ms); the
    // caller's first packet is 2.9 ms = 23 samples later.
    assert.equal(all[1], 200);
    assert.equal(all[23 * 2], 100);
    assert.equal(all[22 * 2], 0);
  });
});

/**
 * "What must show": generated calls with loss, reordering, jitter and concurrency record to WAVs that are accurate
 * against the generator's ground truth, for every call and direction:
 *
 *  (a) the direction's channel (caller left, callee right) carries its tone, and no other tone of the generator's
 *      table (the other direction's, any other call's) comes within 30 dB of it, in any 200 ms window;
 *  (b) every marker burst that was not entirely lost is found by an energy envelope within ±20 ms of the capture
 *      time it was sent at (the WAV starts at metadata.audio.start), and no burst appears where none was sent;
 *  (c) metadata packets / expected / lost per direction equal the truth (a loss at either end of a stream is
 *      invisible to any receiver and is the only allowance); nothing is late, nothing duplicated;
 *  (d) the WAV's duration equals its placed audio, and is within 20 ms of the calls' RTP span (by send time or by
 *      capture time, as the corpus test measures it);
 *  (e) beyond what was asked: each received packet's audio is in the WAV sample-exact, at its send time plus one
 *      constant offset per SSRC, and everything else on the channel (losses, silence, hold, before and after) is
 *      digital silence, so nothing of another call (or of anything) leaks in.
 *
 * Plus runs with silence suppression, an SSRC change and hold (the held side is silent).
 *
 * The truth lists bursts and lost packets; which packet slot carried what is rebuilt from the scenario (see
 * rebuildSlots), and the rebuild is checked against the truth's own sequence numbers, timestamps, markers and burst
 * times before anything is compared with the recording.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateCalls, type GeneratedTruth, type GeneratorOptions } from '../../plugins/source-generator/generate';
import type { CallTruth, DirectionTruth } from '../../plugins/source-generator/truth';
import type { ResolvedScenario } from '../../plugins/source-generator/scenario';
import {
  BURST_LEN,
  BURST_PERIOD,
  CALLEE_BASE_HZ,
  CALLER_BASE_HZ,
  QUIET_DBFS,
  SAMPLE_RATE,
  TONE_DBFS,
  TONE_STEP_HZ,
  TONES_PER_DIRECTION,
  ToneSource,
  goertzelPower,
} from '../../plugins/source-generator/tones';
import { ALAW_TABLE, ULAW_TABLE } from '../../core/media/g711';
import { readWav } from '../../plugins/storage-local/wav';
import type { DirectionStats, RecordingMetadata } from '../../core/media/metadata';
import { readCapture } from '../../core/net/capture-reader';
import { decodeFrame, isSkipReason } from '../../core/net/decode';
import { parseRtp } from '../../core/media/rtp';
import { recordCapture } from '../record-capture';
import { channelOf } from '../pcm-correlation';

type Dir = 'caller' | 'callee';
const DIRS: readonly Dir[] = ['caller', 'callee'];
const US_PER_SAMPLE = 1e6 / SAMPLE_RATE;
/** Tolerances from the issue. */
const BURST_TOLERANCE_MS = 20;
const DURATION_TOLERANCE_MS = 20;
const LEAK_MARGIN_DB = 30;
/** The hold re-INVITE's 200 OK comes 30 ms after it; the callee stops from then to 30 ms after the resume (call-plan.ts). */
const HOLD_ANSWER_DELAY_US = 30_000;
/** A jitter-only scenario in which a stream's first packets all happen to be delayed by more than 20 ms. */
const JITTER_SEED = 3;

// ---------------------------------------------------------------------------------------------------------------
// Which packet slot carried what: rebuilt from the scenario, checked against the truth.

interface Slot {
  /** Slot index from the stream's start (one slot per ptime). */
  k: number;
  /** Nominal send time (capture µs, before jitter). */
  t: number;
  /** First stream sample (the tone's clock). */
  sample: number;
  seg: number;
  seq: number;
  ts: number;
  marker: boolean;
  lost: boolean;
}

interface Rebuilt {
  /** Nominal time of slot 0. */
  start: number;
  spp: number;
  ptimeUs: number;
  /** Numbered slots (sent or lost) in order; slots in a gap (hold, silence) are not numbered. */
  slots: Slot[];
  /** Numbered slots by slot index. */
  byK: Map<number, Slot>;
}

function rebuildSlots(s: ResolvedScenario, call: CallTruth, dir: Dir, d: DirectionTruth): Rebuilt {
  const ptimeUs = s.ptimeMs * 1000;
  const spp = (s.ptimeMs * SAMPLE_RATE) / 1000;
  // Slot 0 is sent in every scenario used here, and a burst starts at stream sample 0: it is the first burst time.
  const start = d.burstTimes[0];
  assert.ok(start !== undefined, `${call.callId} ${dir}: no burst times in the truth`);
  const gaps: Array<[number, number]> = dir === 'callee' && call.hold !== undefined ? [[call.hold.start + HOLD_ANSWER_DELAY_US, call.hold.end + HOLD_ANSWER_DELAY_US]] : [];
  const sil = s.silence;
  const period = sil === null ? 0 : (sil.talkMs + sil.silenceMs) * 1000;
  const phase = dir === 'caller' ? 0 : Math.round(period / 2);
  const sent = (k: number): boolean => {
    const t = start + k * ptimeUs;
    for (const [a, b] of gaps) if (t >= a && t < b) return false;
    return sil === null || (t - start + phase) % period < sil.talkMs * 1000;
  };
  const lost = new Set(d.lost.map((l) => `${l.ssrc}:${l.seq}`));
  const slots: Slot[] = [];
  const byK = new Map<number, Slot>();
  let seg = 0;
  let inSeg = 0;
  let segStartK = 0;
  let lastK = -2;
  for (let k = 0; slots.length < d.packetsSent; k++) {
    assert.ok(k < 10_000_000, 'slot rebuild runs away');
    if (!sent(k)) continue;
    if (seg === 0 && d.segments.length > 1 && inSeg === d.segments[0]!.packets) {
      seg = 1;
      inSeg = 0;
      segStartK = k;
    }
    const sg = d.segments[seg]!;
    const seq = (sg.firstSeq + inSeg) & 0xffff;
    const slot: Slot = {
      k,
      t: start + k * ptimeUs,
      sample: k * spp,
      seg,
      seq,
      ts: (sg.firstTs + (k - segStartK) * spp) >>> 0,
      marker: k !== lastK + 1 || inSeg === 0,
      lost: lost.has(`${sg.ssrc}:${seq}`),
    };
    slots.push(slot);
    byK.set(k, slot);
    inSeg++;
    lastK = k;
  }
  // The rebuild must reproduce the truth exactly, or nothing below means anything.
  const where = `${call.callId} ${dir}: slot rebuild`;
  d.segments.forEach((sg, i) => {
    const mine = slots.filter((x) => x.seg === i);
    assert.equal(mine.length, sg.packets, `${where}: packets of SSRC ${sg.ssrc}`);
    assert.equal(mine[mine.length - 1]?.seq, sg.lastSeq, `${where}: last seq of SSRC ${sg.ssrc}`);
    assert.equal(mine[mine.length - 1]?.ts, sg.lastTs, `${where}: last timestamp of SSRC ${sg.ssrc}`);
    assert.equal(mine.filter((x) => x.lost).length, sg.lost, `${where}: lost of SSRC ${sg.ssrc}`);
  });
  assert.deepEqual(
    slots.filter((x) => x.marker).map((x) => x.seq),
    d.markerSeqs,
    `${where}: marker bits`,
  );
  const bursts = slots.filter((x) => x.sample % BURST_PERIOD === 0).map((x) => start + Math.round(x.sample * US_PER_SAMPLE));
  assert.deepEqual(bursts, d.burstTimes, `${where}: burst times`);
  return { start, spp, ptimeUs, slots, byK };
}

// ---------------------------------------------------------------------------------------------------------------
// Measurements.

/** The generator's audio for stream samples [sample, sample + n), decoded as a receiver would. */
function expectedPcm(tone: ToneSource, table: Int16Array, sample: number, n: number): Int16Array {
  const b = Buffer.alloc(n);
  tone.fill(b, 0, sample, n);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = table[b[i]!]!;
  return out;
}

const ALL_TONES: number[] = [];
for (const base of [CALLER_BASE_HZ, CALLEE_BASE_HZ]) for (let i = 0; i < TONES_PER_DIRECTION; i++) ALL_TONES.push(base + i * TONE_STEP_HZ);

const meanSquare = (dbfs: number): number => (32767 * 10 ** (dbfs / 20)) ** 2 / 2;
/** Halfway (in power) between the quiet tone and a burst. */
const BURST_THRESHOLD = (meanSquare(TONE_DBFS) + meanSquare(QUIET_DBFS)) / 2;
/** Envelope window: 10 ms; an onset is where a window straddling it is half loud, i.e. crossing + W/2. */
const ENV_WINDOW = 80;
/** A rising edge within this long after loud audio belongs to the same burst (a packet lost inside it). */
const BURST_MERGE = 1200;

/** Burst onsets (sample positions) found by the short-window energy envelope. */
function burstOnsets(x: Int16Array): number[] {
  const sq = new Float64Array(x.length + 1);
  for (let i = 0; i < x.length; i++) sq[i + 1] = sq[i]! + x[i]! * x[i]!;
  const out: number[] = [];
  let lastLoud = -Infinity;
  let wasLoud = false;
  for (let i = 0; i + ENV_WINDOW <= x.length; i++) {
    const loud = (sq[i + ENV_WINDOW]! - sq[i]!) / ENV_WINDOW >= BURST_THRESHOLD;
    // A WAV that begins loud begins with the onset.
    if (loud && !wasLoud && i - lastLoud > BURST_MERGE) out.push(i === 0 ? 0 : i + ENV_WINDOW / 2);
    if (loud) lastLoud = i;
    wasLoud = loud;
  }
  return out;
}

interface Stats {
  bursts: number;
  burstsFullyLost: number;
  burstErrMs: number[];
  /** Per-SSRC offset of the audio from its send time (sample-exact alignment). */
  offsetsMs: number[];
  minLeakDb: number;
  /** The same over each SSRC's whole stretch. */
  minWholeDb: number;
  windows: number;
  /** WAV duration minus the RTP span by send time, and by capture time. */
  durationErrMs: number[];
  durationCapErrMs: number[];
  edgeLosses: number;
  /** Received audio that is not in the WAV because it falls outside it (a BUG: see recording-scenarios.test.ts). */
  cut: string[];
  packets: number;
  lost: number;
}

function newStats(): Stats {
  return { bursts: 0, burstsFullyLost: 0, burstErrMs: [], offsetsMs: [], minLeakDb: Infinity, minWholeDb: Infinity, windows: 0, durationErrMs: [], durationCapErrMs: [], edgeLosses: 0, cut: [], packets: 0, lost: 0 };
}

function describeStats(name: string, s: Stats): string {
  const abs = s.burstErrMs.map(Math.abs);
  const max = Math.max(...abs);
  const mean = abs.reduce((a, b) => a + b, 0) / Math.max(1, abs.length);
  const off = s.offsetsMs.map(Math.abs);
  return (
    `${name}: ${s.bursts} bursts found (${s.burstsFullyLost} entirely lost, not sent to the WAV), onset error max ${max.toFixed(2)} ms, ` +
    `mean |err| ${mean.toFixed(2)} ms, range [${Math.min(...s.burstErrMs).toFixed(2)}, ${Math.max(...s.burstErrMs).toFixed(2)}] ms; ` +
    `per-SSRC offset max ${Math.max(...off).toFixed(3)} ms; worst leak margin ${s.minLeakDb.toFixed(1)} dB over ${s.windows} 200 ms windows, ${s.minWholeDb.toFixed(1)} dB over whole SSRC stretches; ` +
    `duration − RTP span: by send time [${Math.min(...s.durationErrMs).toFixed(1)}, ${Math.max(...s.durationErrMs).toFixed(1)}] ms, ` +
    `by capture time [${Math.min(...s.durationCapErrMs).toFixed(1)}, ${Math.max(...s.durationCapErrMs).toFixed(1)}] ms; ` +
    `${s.packets} packets, ${s.lost} lost (${s.edgeLosses} at a stream edge)` +
    (s.cut.length > 0 ? `; received audio cut off: ${s.cut.join('; ')}` : '')
  );
}

/** Checks one direction of one call; returns the direction's [first, last) audio in capture µs (nominal + offset). */
function checkDirection(
  s: ResolvedScenario,
  call: CallTruth,
  dir: Dir,
  d: DirectionTruth,
  meta: RecordingMetadata,
  chan: Int16Array,
  originUs: number,
  stats: Stats,
): { first: number; last: number } {
  const where = `call ${call.index} (${call.callId}) ${dir}`;
  const r = rebuildSlots(s, call, dir, d);
  const tone = new ToneSource(s.codec, d.frequencyHz, s.markerBursts);
  const table = s.codec === 'PCMU' ? ULAW_TABLE : ALAW_TABLE;
  const nominalPos = (tUs: number): number => (tUs - originUs) / US_PER_SAMPLE;

  // (c) Packet counts. A loss before a segment's first received packet or after its last is invisible.
  const ds: DirectionStats = meta[dir];
  let edge = 0;
  for (let seg = 0; seg < d.segments.length; seg++) {
    const mine = r.slots.filter((x) => x.seg === seg);
    const firstRx = mine.findIndex((x) => !x.lost);
    let lastRx = mine.length - 1;
    while (lastRx >= 0 && mine[lastRx]!.lost) lastRx--;
    edge += firstRx < 0 ? mine.length : firstRx + (mine.length - 1 - lastRx);
  }
  stats.edgeLosses += edge;
  stats.packets += d.packetsWritten;
  stats.lost += d.packetsLost;
  assert.equal(ds.packets, d.packetsWritten, `${where}: metadata packets`);
  assert.equal(ds.lost, d.packetsLost - edge, `${where}: metadata lost (truth ${d.packetsLost}, ${edge} at a stream edge)`);
  assert.equal(ds.expected, d.packetsSent - edge, `${where}: metadata expected`);
  assert.equal(ds.duplicates, 0, `${where}: duplicates`);
  assert.equal(ds.late, 0, `${where}: packets dropped as late`);
  assert.deepEqual([...ds.ssrcs].sort(), [...d.ssrcs].sort(), `${where}: SSRCs`);
  assert.deepEqual(ds.codecs, [`${s.codec}/8000`], `${where}: codecs`);
  assert.equal(ds.undecoded, 0, `${where}: undecoded`);

  // (e) Sample-exact placement. Per SSRC, find where the audio around its first received burst onset is (the
  // quiet→loud edge makes the match unique), then every received packet must be at its send time + that offset.
  const expected = new Int16Array(chan.length);
  const filled = new Uint8Array(chan.length);
  let headCut = 0;
  let tailCut = 0;
  const offsets: number[] = [];
  let first = Infinity;
  let last = -Infinity;
  for (let seg = 0; seg < d.segments.length; seg++) {
    const mine = r.slots.filter((x) => x.seg === seg);
    const ref = mine.find((x, i) => x.sample % BURST_PERIOD === 0 && !x.lost && i > 0 && !mine[i - 1]!.lost && mine[i - 1]!.k === x.k - 1);
    assert.ok(ref !== undefined, `${where}: SSRC ${d.segments[seg]!.ssrc} has no received burst onset to align on`);
    const refPcm = expectedPcm(tone, table, ref.sample - r.spp, 2 * r.spp);
    const est = Math.round(nominalPos(ref.t - r.ptimeUs));
    let off: number | undefined;
    for (let dd = 0; dd <= 800 && off === undefined; dd++) {
      for (const cand of dd === 0 ? [est] : [est - dd, est + dd]) {
        if (cand < 0 || cand + refPcm.length > chan.length) continue;
        let ok = true;
        for (let i = 0; i < refPcm.length && ok; i++) ok = chan[cand + i] === refPcm[i];
        if (ok) {
          off = cand - est;
          break;
        }
      }
    }
    assert.ok(off !== undefined, `${where}: the audio of SSRC ${d.segments[seg]!.ssrc} around seq ${ref.seq} is not in the WAV within ±100 ms of its send time`);
    offsets.push(off);
    stats.offsetsMs.push(((est + off - nominalPos(ref.t - r.ptimeUs)) * US_PER_SAMPLE) / 1000);
    for (const x of mine) {
      if (x.lost) continue;
      const pos = Math.round(nominalPos(x.t)) + off;
      first = Math.min(first, originUs + Math.max(0, pos) * US_PER_SAMPLE);
      last = Math.max(last, originUs + Math.min(chan.length, pos + r.spp) * US_PER_SAMPLE);
      const pcm = expectedPcm(tone, table, x.sample, r.spp);
      for (let i = 0; i < pcm.length; i++) {
        const p = pos + i;
        if (p < 0 || p >= chan.length) {
          if (p < 0) headCut++;
          else tailCut++;
          continue;
        }
        if (filled[p] === 0) {
          // The first SSRC's audio wins an overlap (its packets all came first).
          expected[p] = pcm[i]!;
          filled[p] = 1;
        }
      }
    }
  }
  // Received audio that falls before the WAV's first sample or after its last is not compared here (it cannot be):
  // counted and reported (BUG: a stream's first packet, when it arrives after its successor, is dropped; shown by
  // a test of its own in recording-scenarios.test.ts).
  if (headCut + tailCut > 0) stats.cut.push(`${where}: ${headCut} samples before the WAV start, ${tailCut} after its end`);
  let mismatches = 0;
  let firstBad = -1;
  for (let i = 0; i < chan.length; i++) {
    if (chan[i] !== expected[i]) {
      if (firstBad < 0) firstBad = i;
      mismatches++;
    }
  }
  if (mismatches > 0) {
    const t = originUs + firstBad * US_PER_SAMPLE;
    const slot = r.slots.find((x) => x.t <= t && t < x.t + r.ptimeUs + 200_000);
    assert.fail(
      `${where}: ${mismatches} samples differ from the sent audio at its send time + per-SSRC offset [${offsets.join(', ')}] ` +
        `(first at sample ${firstBad} = ${(firstBad / SAMPLE_RATE).toFixed(4)} s: WAV ${chan[firstBad]}, expected ${expected[firstBad]}${filled[firstBad] ? '' : ' (silence)'}; near seq ${slot?.seq})`,
    );
  }

  // (a) The tone, and no other, in slot-aligned 200 ms windows (10 consecutive numbered slots of one SSRC, at
  // least half received). Slot-aligned G.711 tones of 50 Hz multiples have exact spectral nulls at each other's
  // frequencies, so whatever is found there is real.
  const ownIdx = ALL_TONES.indexOf(d.frequencyHz);
  assert.ok(ownIdx >= 0);
  for (let i = 0; i + 10 <= r.slots.length; i += 10) {
    const group = r.slots.slice(i, i + 10);
    if (group[9]!.k - group[0]!.k !== 9 || group[9]!.seg !== group[0]!.seg) continue;
    // Not next to an SSRC change: the new SSRC is anchored afresh, so the two may overlap or leave a sliver between.
    const before = r.slots[i - 1];
    const after = r.slots[i + 10];
    if ((before !== undefined && before.seg !== group[0]!.seg) || (after !== undefined && after.seg !== group[0]!.seg)) continue;
    if (group.filter((x) => !x.lost).length < 5) continue;
    const pos = Math.round(nominalPos(group[0]!.t)) + offsets[group[0]!.seg]!;
    if (pos < 0 || pos + 10 * r.spp > chan.length) continue; // cut off (see `cut`)
    const win = chan.subarray(pos, pos + 10 * r.spp);
    const powers = ALL_TONES.map((hz) => goertzelPower(win, hz));
    const own = powers[ownIdx]!;
    const other = Math.max(...powers.filter((_, j) => j !== ownIdx));
    const margin = 10 * Math.log10(own / other);
    stats.windows++;
    stats.minLeakDb = Math.min(stats.minLeakDb, margin);
    assert.ok(margin >= LEAK_MARGIN_DB, `${where}: at ${((pos / SAMPLE_RATE) | 0).toFixed(1)} s another tone is only ${margin.toFixed(1)} dB below ${d.frequencyHz} Hz (${ALL_TONES[powers.indexOf(other)]} Hz)`);
  }
  // And over each SSRC's whole stretch of the channel (one SSRC's audio is phase-continuous; two SSRCs are anchored
  // apart, so their tones may add up in any phase): the right tone dominates, every other one is ≥ 30 dB down.
  for (let seg = 0; seg < d.segments.length; seg++) {
    const rx = r.slots.filter((x) => x.seg === seg && !x.lost);
    const from = Math.max(0, Math.round(nominalPos(rx[0]!.t)) + offsets[seg]!);
    const to = Math.min(chan.length, Math.round(nominalPos(rx[rx.length - 1]!.t)) + offsets[seg]! + r.spp);
    const stretch = chan.subarray(from, to);
    const powers = ALL_TONES.map((hz) => goertzelPower(stretch, hz));
    const own = powers[ownIdx]!;
    const other = Math.max(...powers.filter((_, j) => j !== ownIdx));
    const margin = 10 * Math.log10(own / other);
    stats.minWholeDb = Math.min(stats.minWholeDb, margin);
    assert.ok(margin >= LEAK_MARGIN_DB, `${where}: SSRC ${d.segments[seg]!.ssrc}: ${ALL_TONES[powers.indexOf(other)]} Hz is only ${margin.toFixed(1)} dB below ${d.frequencyHz} Hz`);
  }

  // (b) Marker bursts by the energy envelope. A burst's onset is its first received packet (the packets before it
  // in the burst were lost: silence, then loud).
  const found = burstOnsets(chan);
  const matched = new Set<number>();
  const burstSlots = Math.round(BURST_LEN / r.spp);
  for (const b of d.burstTimes) {
    const k0 = Math.round((b - r.start) / r.ptimeUs);
    let onset: number | undefined;
    for (let j = 0; j < burstSlots && onset === undefined; j++) {
      const x = r.byK.get(k0 + j);
      if (x !== undefined && !x.lost) onset = x.t;
    }
    if (onset === undefined) {
      stats.burstsFullyLost++;
      continue;
    }
    const want = nominalPos(onset);
    if (want + offsets[r.byK.get(k0)?.seg ?? 0]! < -1) {
      // Its audio starts before the WAV does: cut off (BUG, see recording-scenarios.test.ts: the first packet of a
      // stream whose first two packets arrive swapped is dropped), so it cannot be timed. What is left of it shows
      // as an onset at the very start of the WAV.
      stats.cut.push(`${where}: burst sent at ${(want / SAMPLE_RATE).toFixed(4)} s (WAV time) is cut by the WAV start`);
      const atStart = found.findIndex((p) => p === 0);
      if (atStart >= 0) matched.add(atStart);
      continue;
    }
    let best = -1;
    for (let i = 0; i < found.length; i++) if (best < 0 || Math.abs(found[i]! - want) < Math.abs(found[best]! - want)) best = i;
    const errMs = best < 0 ? Infinity : ((found[best]! - want) * US_PER_SAMPLE) / 1000;
    assert.ok(Math.abs(errMs) <= BURST_TOLERANCE_MS, `${where}: burst sent at ${((onset - originUs) / 1e6).toFixed(4)} s (WAV time) found ${best < 0 ? 'nowhere' : `${errMs.toFixed(2)} ms off`}`);
    stats.bursts++;
    stats.burstErrMs.push(errMs);
    matched.add(best);
  }
  // Loud audio may also begin where a burst was cut by a gap the sender made (hold, silence): the burst is partly
  // sent and not listed in the truth; it starts at the first packet after the gap.
  const loud = (x: Slot | undefined): boolean => x !== undefined && !x.lost && x.sample % BURST_PERIOD < BURST_LEN;
  const loudStarts = r.slots.filter((x) => loud(x) && !loud(r.byK.get(x.k - 1))).map((x) => nominalPos(x.t));
  const near = (p: number): boolean => loudStarts.some((q) => Math.abs(p - q) * US_PER_SAMPLE <= BURST_TOLERANCE_MS * 1000);
  const stray = found.filter((p, i) => !matched.has(i) && !near(p));
  assert.deepEqual(
    stray.map((p) => (p / SAMPLE_RATE).toFixed(3)),
    [],
    `${where}: bursts in the WAV where none was sent (seconds)`,
  );

  // Gaps the sender made (hold, silence suppression) are digital silence on this channel, with a margin for the
  // placement offset. (Implied by (e); kept explicit because it is a requirement of its own.)
  for (let i = 1; i < r.slots.length; i++) {
    const a = r.slots[i - 1]!;
    const b = r.slots[i]!;
    if (b.k === a.k + 1) continue;
    const from = Math.round(nominalPos(a.t + r.ptimeUs)) + 400;
    const to = Math.round(nominalPos(b.t)) - 400;
    for (let p = Math.max(0, from); p < Math.min(to, chan.length); p++) {
      if (chan[p] !== 0) assert.fail(`${where}: not silent at ${(p / SAMPLE_RATE).toFixed(3)} s, in the gap the sender made between seq ${a.seq} and ${b.seq}`);
    }
  }
  return { first, last };
}

async function recordAndCheck(name: string, opts: GeneratorOptions, tmp: string, extra?: (truth: GeneratedTruth, recs: RecordingMetadata[]) => void): Promise<Stats> {
  const file = path.join(tmp, `${name}.pcap`);
  const truth = await generateCalls(opts, file);
  const s = truth.scenario;
  const rec = await recordCapture(file);
  try {
    assert.equal(rec.recordings.length, truth.calls.length, 'one recording per call');
    assert.equal(rec.counters['core.media.unmatched'] ?? 0, 0, 'no RTP left unmatched');
    const stats = newStats();
    for (const call of truth.calls) {
      const meta = rec.recordings.find((m) => m.call.callId === call.callId);
      assert.ok(meta !== undefined, `call ${call.callId} has a recording`);
      assert.ok(meta.audio !== undefined, `call ${call.callId} has audio`);
      assert.equal(meta.audio.layout, 'stereo-caller-left');
      assert.equal(meta.audio.sampleRate, 8000);
      const wav = readWav(meta.audio.file);
      assert.equal(wav.sampleRate, 8000);
      assert.equal(wav.channels, 2);
      const originUs = Date.parse(meta.audio.start) * 1000;
      let first = Infinity;
      let last = -Infinity;
      for (const [i, dir] of DIRS.entries()) {
        const d = call.media[dir];
        assert.ok(d !== undefined, `call ${call.callId}: the truth has ${dir} media`);
        const span = checkDirection(s, call, dir, d, meta, channelOf(wav.samples, 2, i), originUs, stats);
        first = Math.min(first, span.first);
        last = Math.max(last, span.last);
      }
      // (d) Duration. The WAV runs from the first placed sample to the end of the last (exactly, to the metadata's
      // 1 ms), and is within 20 ms of the RTP span, measured as a receiver can: by capture time (first packet captured
      // to the last one's end) or by send time (the generator's nominal slots, jitter-free); like the corpus test, the
      // duration must lie within 20 ms of the range the two span. (Each SSRC is anchored on its least-delayed packet,
      // so the send-time span alone is off by the difference of two directions' jitter minima, up to the jitter.)
      const frames = wav.samples.length / 2;
      const wavSec = frames / SAMPLE_RATE;
      assert.ok(Math.abs(meta.audio.durationSec - wavSec) <= 0.001, `call ${call.callId}: metadata duration ${meta.audio.durationSec} s vs WAV ${wavSec} s`);
      const placedSec = (last - first) / 1e6;
      assert.ok(Math.abs(wavSec - placedSec) * 1000 <= 1, `call ${call.callId}: WAV ${wavSec} s vs its placed audio span ${placedSec.toFixed(4)} s`);
      let sendFirst = Infinity;
      let sendLast = -Infinity;
      let capFirst = Infinity;
      let capLast = -Infinity;
      for (const dir of DIRS) {
        const d = call.media[dir]!;
        const r = rebuildSlots(s, call, dir, d);
        for (const x of r.slots) {
          if (x.lost) continue;
          sendFirst = Math.min(sendFirst, x.t);
          sendLast = Math.max(sendLast, x.t + r.ptimeUs);
        }
        capFirst = Math.min(capFirst, d.firstTime);
        capLast = Math.max(capLast, d.lastTime + r.ptimeUs);
      }
      const sendSec = (sendLast - sendFirst) / 1e6;
      const capSec = (capLast - capFirst) / 1e6;
      const lo = Math.min(sendSec, capSec) - DURATION_TOLERANCE_MS / 1000;
      const hi = Math.max(sendSec, capSec) + DURATION_TOLERANCE_MS / 1000;
      stats.durationErrMs.push((wavSec - sendSec) * 1000);
      stats.durationCapErrMs.push((wavSec - capSec) * 1000);
      assert.ok(wavSec >= lo && wavSec <= hi, `call ${call.callId}: WAV ${wavSec} s vs RTP span ${sendSec.toFixed(4)} s (send times) / ${capSec.toFixed(4)} s (capture times)`);
    }
    extra?.(truth, rec.recordings);
    console.log(`      ${describeStats(name, stats)}`);
    return stats;
  } finally {
    fs.rmSync(rec.dir, { recursive: true, force: true });
    fs.rmSync(file, { force: true });
  }
}

describe('generated calls record accurately (tones, burst timing, counts, duration)', function () {
  this.timeout(120_000);
  let tmp = '';
  const all = newStats();
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-e2e-gen-'));
  });
  after(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (all.bursts > 0) console.log(`      ${describeStats('all runs', all)}`);
  });
  const merge = (s: Stats): void => {
    all.bursts += s.bursts;
    all.burstsFullyLost += s.burstsFullyLost;
    all.burstErrMs.push(...s.burstErrMs);
    all.offsetsMs.push(...s.offsetsMs);
    all.minLeakDb = Math.min(all.minLeakDb, s.minLeakDb);
    all.minWholeDb = Math.min(all.minWholeDb, s.minWholeDb);
    all.windows += s.windows;
    all.durationErrMs.push(...s.durationErrMs);
    all.durationCapErrMs.push(...s.durationCapErrMs);
    all.edgeLosses += s.edgeLosses;
    all.cut.push(...s.cut);
    all.packets += s.packets;
    all.lost += s.lost;
  };
  // Seeds are fixed, so every run is deterministic. The burst margin is thin (worst |error| 19.3 ms of 20): each SSRC
  // is placed at a constant offset from its send time, which is the minimum delay of its first ~3 packets (0..30 ms
  // of jitter) or, when one of those was reordered, up to a ptime early (the generator captures a reordered packet
  // before its send time). Both are shown by the BUG tests at the end; with other seeds these runs can fail by ~1 ms.
  const impaired = { lossRate: 0.05, reorderRate: 0.05, jitterMs: 30 } as const;

  it('8 concurrent PCMU calls × 20 s, 5% loss, 5% reordering, 30 ms jitter', async () => {
    const s = await recordAndCheck('pcmu', { calls: 8, durationSec: 20, codec: 'PCMU', seed: 1, ...impaired }, tmp);
    assert.ok(s.lost > 0 && s.bursts >= 8 * 2 * 19);
    merge(s);
  });

  it('8 concurrent PCMA calls × 20 s on dynamic payload type 97, same impairments', async () => {
    const s = await recordAndCheck('pcma-pt97', { calls: 8, durationSec: 20, codec: 'PCMA', payloadType: 97, seed: 202, ...impaired }, tmp);
    merge(s);
  });

  it('silence suppression (talk spurts with marker bits): bursts still on time, the gaps silent', async () => {
    merge(await recordAndCheck('silence', { calls: 4, durationSec: 12, silenceSuppression: true, seed: 303, ...impaired }, tmp));
  });

  it('SSRC change mid-call: both SSRCs recorded, bursts on time across the change', async () => {
    merge(
      await recordAndCheck('ssrc-change', { calls: 4, durationSec: 12, ssrcChange: true, seed: 404, ...impaired }, tmp, (truth, recs) => {
        for (const c of truth.calls) {
          const m = recs.find((x) => x.call.callId === c.callId)!;
          for (const dir of DIRS) assert.equal(m[dir].ssrcs.length, 2, `${c.callId} ${dir}: both SSRCs`);
        }
      }),
    );
  });

  it('hold: the held side is silent for the hold, bursts on time before and after', async () => {
    merge(
      await recordAndCheck('hold', { calls: 4, durationSec: 12, hold: true, seed: 505, ...impaired }, tmp, (truth, recs) => {
        for (const c of truth.calls) {
          const m = recs.find((x) => x.call.callId === c.callId)!;
          assert.ok(c.hold !== undefined);
          assert.equal(m.call.holds.length, 1, `${c.callId}: one hold in the metadata`);
          // The callee sends nothing from the hold's answer to the resume's answer: its channel is silent there.
          const wav = readWav(m.audio!.file);
          const callee = channelOf(wav.samples, 2, 1);
          const caller = channelOf(wav.samples, 2, 0);
          const origin = Date.parse(m.audio!.start) * 1000;
          const from = Math.ceil((c.hold.start + HOLD_ANSWER_DELAY_US + 50_000 - origin) / US_PER_SAMPLE);
          const to = Math.floor((c.hold.end + HOLD_ANSWER_DELAY_US - 50_000 - origin) / US_PER_SAMPLE);
          assert.ok(to - from > 3 * SAMPLE_RATE);
          assert.ok(callee.subarray(from, to).every((v) => v === 0), `${c.callId}: the held side is silent during hold`);
          // ...while the holding side (music on hold, here its tone) goes on.
          const callerHz = c.media.caller!.frequencyHz;
          assert.ok(goertzelPower(caller.subarray(from, to), callerHz) > 1000, `${c.callId}: the caller's audio continues during hold`);
        }
      }),
    );
  });
  // -------------------------------------------------------------------------------------------------------------
  // Known problems, each shown by a test of its own that fails until it is fixed (see the report / comments).

  it('regression (source-generator): no RTP packet is captured before the time it was sent', async () => {
    // media-stream.ts step(): a reordered pair is written "in the two slots' capture times", so the successor goes
    // out at its predecessor's slot, one ptime BEFORE its own send time. A recorder anchoring a stream on its
    // least-delayed packet then places the whole stream up to a ptime early (measured: -19.3 ms offsets, so marker
    // bursts come out ~20 ms early at reorderRate 0.05 even with no jitter). Fix: delay the predecessor instead
    // (write the successor at its own slot time and the predecessor just after it).
    const file = path.join(tmp, 'reorder-causality.pcap');
    const truth = await generateCalls({ calls: 2, durationSec: 2, reorderRate: 0.1, seed: 7 }, file);
    const slotsBySrc = new Map<string, Map<string, Slot>>();
    for (const call of truth.calls) {
      for (const dir of DIRS) {
        const d = call.media[dir]!;
        const r = rebuildSlots(truth.scenario, call, dir, d);
        const bySsrcSeq = new Map<string, Slot>();
        for (const x of r.slots) bySsrcSeq.set(`${d.segments[x.seg]!.ssrc}:${x.seq}`, x);
        slotsBySrc.set(`${d.src.ip}:${d.src.port}`, bySsrcSeq);
      }
    }
    const early: string[] = [];
    let rtp = 0;
    await readCapture(file, (f) => {
      const p = decodeFrame(f);
      if (isSkipReason(p) || p.proto !== 'udp') return;
      const slots = slotsBySrc.get(`${p.src}:${p.sport}`);
      const pkt = slots === undefined ? undefined : parseRtp(p.payload);
      if (slots === undefined || pkt === undefined) return;
      const slot = slots.get(`${pkt.ssrc}:${pkt.seq}`);
      assert.ok(slot !== undefined, `RTP ${pkt.ssrc}:${pkt.seq} from ${p.src}:${p.sport} is in the truth`);
      rtp++;
      if (p.ts < slot.t) early.push(`seq ${pkt.seq} captured ${((slot.t - p.ts) / 1000).toFixed(1)} ms before it was sent`);
    });
    fs.rmSync(file, { force: true });
    assert.ok(rtp > 0);
    assert.deepEqual(early.slice(0, 5), [], `${early.length} of ${rtp} packets are captured before their send time`);
  });

  it('regression (core/media/timeline.ts): with 30 ms jitter alone, every marker burst is within 20 ms of its send time', async () => {
    // A new stream is anchored on the least-delayed of the packets captured in its first SETTLE_US = 60 ms (about
    // three packets) and never re-anchored for less than half the reorder window (trackDrift: 100 ms). With jitter
    // uniform in 0..30 ms the minimum of three is above 20 ms for 1 stream in 27, and the whole stream is then placed
    // that much late for the rest of the call. Fix: keep lowering the anchor while nothing of the stream has been
    // emitted (or settle over most of the reorder window), e.g. in place1() move anchorPos down to a packet's implied
    // position when that is earlier and the stream's audio is not yet flushed.
    await recordAndCheck('jitter-only', { calls: 8, durationSec: 3, jitterMs: 30, seed: JITTER_SEED }, tmp);
  });
});

/**
 * Audits recordings of calls for failover tests: a call recorded by one recorder until it died and by the next one
 * after is two (or more) recordings, "segments", with the same Call-ID, possibly from several recorder processes
 * writing into the same or different folders. For each call this says what was recorded and where the holes are.
 *
 * Two measures, independent of each other:
 *  - timing: each segment spans [metadata.audio.start, + frames in its WAV / rate] on the capture clock; segments
 *    of a call are ordered by start, the union is the call's coverage, the largest hole between them its longest
 *    gap. Inside each segment, runs of digital silence (exact zero samples) in each channel are gaps too (a
 *    recorder writes zeros where no packet arrived; the driver's signal is never zero for more than a sample).
 *  - content (when the driver's manifest is given, test/peers/call-driver.ts): each channel's audible runs are
 *    located in the signal that side sent (FFT cross-correlation), so the audit knows exactly which sent samples
 *    every segment holds: the call's coverage per direction, its longest hole, what is missing at the head and
 *    tail, and how far the metadata's start time is from where the audio really belongs (timingErrorMs).
 *
 * Timing fields relied on (core/media/metadata.ts, written by core/media/call-recorder.ts):
 *  - metadata.audio.start: capture time of output sample 0 (the timeline's origin), ISO 8601 with milliseconds,
 *    so 1 ms precision. It is written at the first metadata refresh (media.metadataEverySec, default 60 s) or at
 *    the end. A recorder killed before its first refresh leaves no audio block; start-up recovery then fills in
 *    audio.start = call.start (the INVITE's capture time, or for a call joined mid-way the first packet's): NOT the
 *    first sample's time. Such starts are reported as imprecise (start.precise = false, start.from = 'call.start').
 *    Failover tests should set media.metadataEverySec to ~1 s so a killed segment has a precise start.
 *  - caller/callee.firstPacket (ms ISO, first RTP packet's capture time), used when audio.start is missing.
 *  - The duration comes from the WAV's frames, not metadata.audio.durationSec (stale in a killed recording).
 * Flags saying silence was shortened (maxSilenceSec) break start + duration; they are copied into the report.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CatalogueEntry } from '../core/contract';
import type { RecordingMetadata } from '../core/media/metadata';
import { LocalStore } from '../plugins/storage-local/store';
import { readWav, repairWav } from '../plugins/storage-local/wav';
import { RECOVERED_FLAG } from '../plugins/storage-local/recover';
import { crossCorrelation, fft } from './audio-compare';
import { sourceSignal, type CallManifest, type CallManifestEntry, type DirectionRecord, type Role } from './peers/call-driver';

export interface RecordingsFolder {
  /** storage-local's `dir`. */
  root: string;
  /** Its catalogue (default <root>/catalogue.sqlite). */
  catalogue?: string;
  /** Named in the report (default: the root). */
  label?: string;
}

export interface AuditOptions {
  folders: readonly RecordingsFolder[];
  /** The driver's merged manifest: the expected calls (lost ones are found) and their signals (content measure). */
  manifest?: CallManifest;
  /** Expected Call-IDs when there is no manifest. */
  expectedCallIds?: readonly string[];
  /** Only calls whose Call-ID passes, recorded or expected (other traffic in the same folders). Default: all. */
  include?: (callId: string) => boolean;
  /** Zero runs shorter than this are not silence (a µ-law zero crossing); default 2 ms. */
  minSilenceMs?: number;
  /** Silences at least this long are listed one by one; default 20 ms. */
  listSilenceMs?: number;
  /** How far from the metadata's placement the content search looks; default 3000 ms. */
  searchMs?: number;
  /** Least normalised correlation for a run to count as found in the sent signal; default 0.8. */
  minCorrelation?: number;
}

export interface Silence {
  /** From the segment's first sample. */
  atMs: number;
  ms: number;
}

export interface ChannelReport {
  channel: 0 | 1;
  /** First and last non-zero sample, ms from the segment's start (undefined: the channel is all zeros). */
  firstSoundMs?: number;
  lastSoundMs?: number;
  /** Longest run of zeros between the first and last sound (leading/trailing zeros are not in it). */
  longestSilenceMs: number;
  /** Interior silences of at least listSilenceMs. */
  silences: Silence[];
  /** Strongest frequency (Hz) in up to 1 s of the channel's audio, and its share of the energy (±3 bins). */
  toneHz?: number;
  toneShare: number;
  /** Content measure: which side's signal this channel holds ('caller' expected on 0), and where. */
  content?: ChannelContent;
}

export interface ChannelContent {
  /** The sent signal this channel matched (undefined: neither). */
  matched?: Role;
  /** Expected side for this channel (0 = caller, 1 = callee). */
  expected: Role;
  /** The expected side's tone was the channel's strongest frequency (within 5 Hz). */
  toneFound: boolean;
  /** Lowest correlation of the runs located. */
  minCorrelation: number;
  /** Sent-signal ranges this channel holds, ms from the side's first packet. */
  ranges: Array<[number, number]>;
  /** (content position − metadata position) of the first run, ms: how wrong the metadata's start is. */
  timingErrorMs?: number;
  /** Audible runs (≥ 20 ms) that could not be located. */
  unlocated: number;
  /** A run whose start and end were at different offsets (audio moved inside the recording), ms. */
  shiftMs: number;
}

export interface SegmentReport {
  recordingId: string;
  callId: string;
  folder: string;
  dir: string;
  status: string;
  flags: string[];
  /** Start on the capture clock: where it came from, and whether it is the first sample's own time. */
  start: { iso: string; ms: number; from: 'audio.start' | 'firstPacket' | 'call.start' | 'catalogue'; precise: boolean };
  /** Frames in the audio file / sample rate; metadata's durationSec beside it. */
  durationMs: number;
  metaDurationSec?: number;
  endMs: number;
  sampleRate?: number;
  channels: ChannelReport[];
  /** Why the audio could not be read (missing file, encrypted, …). */
  audioError?: string;
}

export interface DirectionCoverage {
  side: Role;
  /** Sent signal, ms. */
  sentMs: number;
  /** Sent audio found in some segment, ms, and the holes. */
  coveredMs: number;
  headMissingMs: number;
  tailMissingMs: number;
  longestHoleMs: number;
  holes: Array<[number, number]>;
}

export interface CallReport {
  callId: string;
  index?: number;
  /** No segment with readable audio (or no recording at all). */
  lost: boolean;
  segments: SegmentReport[];
  /** Timing measure on the capture clock (ms since the epoch). */
  firstAudioMs?: number;
  lastAudioMs?: number;
  spanMs: number;
  coveredMs: number;
  /** Longest hole between segments (0 when they touch or overlap). */
  longestSegmentGapMs: number;
  /** Overlaps of consecutive segments, ms (failover replays ~2 s). */
  overlapsMs: number[];
  /** Longest interior silence of any channel of any segment. */
  longestSilenceMs: number;
  /** max(longestSegmentGapMs, longestSilenceMs): conservative. */
  longestGapMs: number;
  /** Every segment's start is the first sample's capture time (see the header). */
  startsPrecise: boolean;
  /** Content measure per direction (with a manifest whose entry has both directions). */
  content?: { caller?: DirectionCoverage; callee?: DirectionCoverage; longestHoleMs: number };
  expected?: CallManifestEntry;
}

export interface FailoverAudit {
  calls: CallReport[];
  /** Expected calls without any usable recording. */
  lost: string[];
  /** Recordings of calls nobody expected (when expectations were given). */
  unexpected: string[];
  segments: number;
}

const SECOND_MS = 1000;

// ---------------------------------------------------------------------------------------------------------------
// Reading the recordings

interface RawSegment {
  entry: CatalogueEntry;
  meta?: RecordingMetadata;
  metaError?: string;
  folder: string;
}

function listFolder(f: RecordingsFolder): RawSegment[] {
  const label = f.label ?? f.root;
  const catalogue = f.catalogue ?? path.join(f.root, 'catalogue.sqlite');
  if (!fs.existsSync(catalogue)) return [];
  const store = new LocalStore({ root: f.root, catalogue, layout: 'date' });
  try {
    // Newest first, bounded by a limit: large enough for any test run.
    return store.list({ limit: 1_000_000 }).map((entry) => {
      try {
        const got = store.get(entry.id);
        return got === undefined ? { entry, folder: label, metaError: 'not in the catalogue any more' } : { entry, meta: got.metadata, folder: label };
      } catch (e) {
        // A recorder killed before its first metadata.json: the catalogue row is all there is.
        return { entry, folder: label, metaError: (e as Error).message };
      }
    });
  } finally {
    store.closeCatalogue();
  }
}

/** Interleaved 16-bit samples of a recording; a WAV still 'recording' (its writer was killed) is read to its end. */
function readAudio(file: string, unfinished: boolean): { samples: Int16Array; channels: number; sampleRate: number } {
  if (!unfinished) return readWav(file);
  // The header lags the data by up to a second: repair a copy (sizes from its length), not the recorder's file.
  const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-audit-')), 'audio.wav');
  try {
    fs.copyFileSync(file, tmp);
    repairWav(tmp);
    return readWav(tmp);
  } finally {
    fs.rmSync(path.dirname(tmp), { recursive: true, force: true });
  }
}

function isoMs(iso: string | undefined): number | undefined {
  if (iso === undefined) return undefined;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : undefined;
}

function segmentStart(raw: RawSegment): SegmentReport['start'] {
  const m = raw.meta;
  if (m !== undefined) {
    const audio = isoMs(m.audio?.start);
    // Recovery's fallback: audio.start copied from call.start (see the header).
    const fallback = m.flags.includes(RECOVERED_FLAG) && m.audio?.start === m.call.start;
    if (audio !== undefined && !fallback) return { iso: m.audio?.start as string, ms: audio, from: 'audio.start', precise: true };
    const firsts = [m.caller.firstPacket, m.callee.firstPacket].map(isoMs).filter((t): t is number => t !== undefined);
    if (firsts.length > 0) {
      const t = Math.min(...firsts);
      return { iso: new Date(t).toISOString(), ms: t, from: 'firstPacket', precise: true };
    }
    const c = isoMs(m.call.start) ?? 0;
    return { iso: m.call.start, ms: c, from: 'call.start', precise: false };
  }
  return { iso: raw.entry.start, ms: isoMs(raw.entry.start) ?? 0, from: 'catalogue', precise: false };
}

// ---------------------------------------------------------------------------------------------------------------
// Signal analysis

function channelOf(samples: Int16Array, channels: number, index: number): Int16Array {
  const n = Math.floor(samples.length / channels);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = samples[i * channels + index] ?? 0;
  return out;
}

/** Non-silent runs [start, end): separated by zero runs of at least `minZeros` samples. */
function soundRuns(x: Int16Array, minZeros: number): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  let i = 0;
  while (i < x.length) {
    while (i < x.length && x[i] === 0) i++;
    if (i >= x.length) break;
    const start = i;
    let end = i;
    // Extend over zero runs shorter than minZeros.
    while (i < x.length) {
      if (x[i] !== 0) {
        i++;
        end = i;
        continue;
      }
      let j = i;
      while (j < x.length && x[j] === 0) j++;
      if (j - i >= minZeros || j >= x.length) break;
      i = j;
    }
    runs.push([start, end]);
    i = end;
  }
  return runs;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Strongest frequency of up to 1 s of `x` from `from`, and the share of the energy within ±3 bins of it. */
function dominantTone(x: Int16Array, from: number, rate: number): { hz: number; share: number } | undefined {
  const n = Math.min(nextPow2(rate), 8192);
  if (x.length - from < n / 4) return undefined;
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  const len = Math.min(n, x.length - from);
  // Hann window: a tone's energy stays within a few bins.
  for (let i = 0; i < len; i++) re[i] = (x[from + i] ?? 0) * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (len - 1)));
  fft(re, im);
  const half = n / 2;
  const p = new Float64Array(half);
  let total = 0;
  let best = 1;
  for (let k = 1; k < half; k++) {
    p[k] = re[k]! * re[k]! + im[k]! * im[k]!;
    total += p[k]!;
    if (p[k]! > p[best]!) best = k;
  }
  if (total === 0) return undefined;
  let near = 0;
  for (let k = Math.max(1, best - 3); k <= Math.min(half - 1, best + 3); k++) near += p[k]!;
  // Parabolic interpolation of the peak on log power.
  const a = Math.log(p[best - 1]! + 1e-9);
  const b = Math.log(p[best]! + 1e-9);
  const c = Math.log(p[best + 1] ?? 1e-9);
  const den = a - 2 * b + c;
  const delta = den === 0 ? 0 : (0.5 * (a - c)) / den;
  return { hz: ((best + delta) * rate) / n, share: near / total };
}

/**
 * Where `probe` sits in `src`: the lag k (src[k + i] ≈ probe[i]) within [center - search, center + search] with
 * the largest normalised correlation, by FFT.
 */
function locate(probe: Float64Array, src: Float64Array, center: number, search: number): { k: number; r: number } | undefined {
  const lo = Math.max(0, Math.round(center) - search);
  const hi = Math.min(src.length - probe.length, Math.round(center) + search);
  if (hi < lo || probe.length === 0) return undefined;
  const win = src.subarray(lo, hi + probe.length);
  const { values, firstLag } = crossCorrelation(win, probe);
  let ep = 0;
  for (const v of probe) ep += v * v;
  if (ep === 0) return undefined;
  // Energy of each window of src under the probe, by prefix sums.
  const pre = new Float64Array(win.length + 1);
  for (let i = 0; i < win.length; i++) pre[i + 1] = pre[i]! + win[i]! * win[i]!;
  let best: { k: number; r: number } | undefined;
  for (let lag = 0; lag <= hi - lo; lag++) {
    const ew = pre[lag + probe.length]! - pre[lag]!;
    if (ew <= 0) continue;
    const r = values[lag - firstLag]! / Math.sqrt(ep * ew);
    if (best === undefined || r > best.r) best = { k: lo + lag, r };
  }
  return best;
}

const PROBE_MS = 200;
/** Runs shorter than this are not located (a frame or two cannot be told apart reliably). */
const MIN_LOCATE_MS = 20;

interface Located {
  ranges: Array<[number, number]>;
  minR: number;
  timingErrorSamples?: number;
  unlocated: number;
  shift: number;
}

/** Locates a channel's sound runs in the sent signal `src` (samples), starting from the metadata's placement. */
function locateRuns(x: Int16Array, runs: ReadonlyArray<[number, number]>, src: Float64Array, predicted0: number, rate: number, search: number, minR: number): Located {
  const probeLen = Math.round((PROBE_MS * rate) / SECOND_MS);
  const out: Located = { ranges: [], minR: 1, unlocated: 0, shift: 0 };
  let offset: number | undefined; // source index − segment index, once known
  for (const [s, e] of runs) {
    if (e - s < (MIN_LOCATE_MS * rate) / SECOND_MS) continue;
    const at = (from: number, len: number, center: number, range: number): { k: number; r: number } | undefined => {
      const probe = new Float64Array(len);
      for (let i = 0; i < len; i++) probe[i] = x[from + i] ?? 0;
      return locate(probe, src, center, range);
    };
    const len = Math.min(probeLen, e - s);
    // The first run is searched around the metadata's placement; later ones around the offset found so far.
    const head = at(s, len, offset === undefined ? predicted0 + s : s + offset, offset === undefined ? search : Math.max(search, probeLen));
    if (head === undefined || head.r < minR) {
      out.unlocated++;
      continue;
    }
    out.minR = Math.min(out.minR, head.r);
    const off = head.k - s;
    if (out.timingErrorSamples === undefined) out.timingErrorSamples = head.k - (predicted0 + s);
    offset = off;
    let offEnd = off;
    if (e - s > 2 * len) {
      const tail = at(e - len, len, e - len + off, probeLen);
      if (tail !== undefined && tail.r >= minR) {
        out.minR = Math.min(out.minR, tail.r);
        offEnd = tail.k - (e - len);
      }
    }
    if (offEnd === off) out.ranges.push([s + off, e + off]);
    else {
      // Audio moved inside the run: its halves at their own offsets (approximate, reported as a shift).
      out.shift = Math.max(out.shift, Math.abs(offEnd - off));
      const mid = Math.floor((s + e) / 2);
      out.ranges.push([s + off, mid + off], [mid + offEnd, e + offEnd]);
      offset = offEnd;
    }
  }
  return out;
}

/** Sorted union of ranges. */
function union(ranges: ReadonlyArray<[number, number]>): Array<[number, number]> {
  const sorted = [...ranges].filter(([a, b]) => b > a).sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The audit

interface SignalCache {
  get(d: DirectionRecord): Float64Array;
}

function signalCache(): SignalCache {
  const m = new Map<string, Float64Array>();
  return {
    get(d) {
      const key = `${d.seed}:${d.toneHz}:${d.packets}`;
      let v = m.get(key);
      if (v === undefined) {
        v = Float64Array.from(sourceSignal({ toneHz: d.toneHz, seed: d.seed }, d.packets * 160));
        m.set(key, v);
      }
      return v;
    },
  };
}

function analyseSegment(raw: RawSegment, o: Required<Pick<AuditOptions, 'minSilenceMs' | 'listSilenceMs' | 'searchMs' | 'minCorrelation'>>, expected: CallManifestEntry | undefined, signals: SignalCache): SegmentReport {
  const m = raw.meta;
  const start = segmentStart(raw);
  const dir = path.dirname(raw.entry.metadata);
  const rep: SegmentReport = {
    recordingId: raw.entry.id,
    callId: raw.entry.callId,
    folder: raw.folder,
    dir,
    status: m?.status ?? raw.entry.status,
    flags: m?.flags ?? (raw.metaError !== undefined ? [`metadata unreadable: ${raw.metaError}`] : []),
    start,
    durationMs: 0,
    endMs: start.ms,
    channels: [],
  };
  if (m?.audio?.durationSec !== undefined) rep.metaDurationSec = m.audio.durationSec;
  const file = m?.audio?.file ?? raw.entry.audio ?? path.join(dir, 'audio.wav');
  if (!fs.existsSync(file)) {
    rep.audioError = `no audio file (${file})`;
    return rep;
  }
  let audio: { samples: Int16Array; channels: number; sampleRate: number };
  try {
    audio = readAudio(file, rep.status === 'recording');
  } catch (e) {
    rep.audioError = (e as Error).message;
    return rep;
  }
  const rate = audio.sampleRate;
  rep.sampleRate = rate;
  const frames = Math.floor(audio.samples.length / audio.channels);
  rep.durationMs = (frames * SECOND_MS) / rate;
  rep.endMs = start.ms + rep.durationMs;
  const ms = (samples: number): number => (samples * SECOND_MS) / rate;
  const minZeros = Math.max(1, Math.round((o.minSilenceMs * rate) / SECOND_MS));
  for (let c = 0; c < audio.channels; c++) {
    const ch = c as 0 | 1;
    const x = channelOf(audio.samples, audio.channels, c);
    const runs = soundRuns(x, minZeros);
    const cr: ChannelReport = { channel: ch, longestSilenceMs: 0, silences: [], toneShare: 0 };
    const first = runs[0];
    const last = runs[runs.length - 1];
    if (first !== undefined && last !== undefined) {
      cr.firstSoundMs = ms(first[0]);
      cr.lastSoundMs = ms(last[1]);
      for (let i = 1; i < runs.length; i++) {
        const gap = ms(runs[i]![0] - runs[i - 1]![1]);
        cr.longestSilenceMs = Math.max(cr.longestSilenceMs, gap);
        if (gap >= o.listSilenceMs) cr.silences.push({ atMs: ms(runs[i - 1]![1]), ms: gap });
      }
      const longest = runs.reduce((a, b) => (b[1] - b[0] > a[1] - a[0] ? b : a));
      const tone = dominantTone(x.subarray(0, longest[1]), longest[0], rate);
      if (tone !== undefined) {
        cr.toneHz = Math.round(tone.hz * 10) / 10;
        cr.toneShare = Math.round(tone.share * 1000) / 1000;
      }
      if (expected !== undefined && audio.channels === 2 && rate === 8000) cr.content = channelContent(x, runs, ch, cr, start.ms, rate, expected, o, signals);
    }
    rep.channels.push(cr);
  }
  return rep;
}

function channelContent(x: Int16Array, runs: ReadonlyArray<[number, number]>, ch: 0 | 1, cr: ChannelReport, startMs: number, rate: number, e: CallManifestEntry, o: { searchMs: number; minCorrelation: number }, signals: SignalCache): ChannelContent {
  const expectedSide: Role = ch === 0 ? 'caller' : 'callee';
  const content: ChannelContent = { expected: expectedSide, toneFound: false, minCorrelation: 0, ranges: [], unlocated: 0, shiftMs: 0 };
  const dirOf = (side: Role): DirectionRecord | undefined => (side === 'caller' ? e.caller : e.callee);
  const want = dirOf(expectedSide);
  if (want !== undefined && cr.toneHz !== undefined) content.toneFound = Math.abs(cr.toneHz - want.toneHz) <= 5;
  const search = Math.round((o.searchMs * rate) / SECOND_MS);
  const tryside = (side: Role): { d: DirectionRecord; loc: Located } | undefined => {
    const d = dirOf(side);
    if (d === undefined || d.packets === 0) return undefined;
    // Segment sample 0 is at startMs on the capture clock; the side's sample 0 was due at gridStartUs.
    const predicted0 = ((startMs * 1000 - (d.gridStartUs || d.firstSentUs)) * rate) / 1e6;
    return { d, loc: locateRuns(x, runs, signals.get(d), predicted0, rate, search, o.minCorrelation) };
  };
  let got = tryside(expectedSide);
  let side = expectedSide;
  if (got === undefined || got.loc.ranges.length === 0) {
    // Swapped channels would be a finding of their own: look for the other side's signal too.
    const other: Role = expectedSide === 'caller' ? 'callee' : 'caller';
    const alt = tryside(other);
    if (alt !== undefined && alt.loc.ranges.length > 0) {
      got = alt;
      side = other;
    }
  }
  if (got === undefined) return content;
  const toMs = (k: number): number => Math.round(((k * SECOND_MS) / rate) * 1000) / 1000;
  if (got.loc.ranges.length > 0) content.matched = side;
  content.minCorrelation = got.loc.ranges.length > 0 ? Math.round(got.loc.minR * 10000) / 10000 : 0;
  content.ranges = got.loc.ranges.map(([a, b]) => [toMs(a), toMs(b)]);
  if (got.loc.timingErrorSamples !== undefined) content.timingErrorMs = toMs(got.loc.timingErrorSamples);
  content.unlocated = got.loc.unlocated;
  content.shiftMs = toMs(got.loc.shift);
  return content;
}

function directionCoverage(side: Role, d: DirectionRecord, segments: readonly SegmentReport[]): DirectionCoverage {
  const sentMs = d.packets * 20;
  const ranges: Array<[number, number]> = [];
  for (const s of segments) for (const c of s.channels) if (c.content?.matched === side) for (const [a, b] of c.content.ranges) ranges.push([Math.max(0, a), Math.min(sentMs, b)]);
  const u = union(ranges);
  const covered = u.reduce((t, [a, b]) => t + (b - a), 0);
  const holes: Array<[number, number]> = [];
  for (let i = 1; i < u.length; i++) holes.push([u[i - 1]![1], u[i]![0]]);
  const r = (v: number): number => Math.round(v * 1000) / 1000;
  return {
    side,
    sentMs,
    coveredMs: r(covered),
    headMissingMs: r(u.length > 0 ? u[0]![0] : sentMs),
    tailMissingMs: r(u.length > 0 ? sentMs - u[u.length - 1]![1] : sentMs),
    longestHoleMs: r(holes.reduce((t, [a, b]) => Math.max(t, b - a), 0)),
    holes: holes.map(([a, b]) => [r(a), r(b)]),
  };
}

function callReport(callId: string, raws: readonly RawSegment[], o: Required<Pick<AuditOptions, 'minSilenceMs' | 'listSilenceMs' | 'searchMs' | 'minCorrelation'>>, expected: CallManifestEntry | undefined, signals: SignalCache): CallReport {
  const segments = raws.map((r) => analyseSegment(r, o, expected, signals)).sort((a, b) => a.start.ms - b.start.ms || a.endMs - b.endMs);
  const withAudio = segments.filter((s) => s.audioError === undefined && s.durationMs > 0);
  const rep: CallReport = {
    callId,
    lost: withAudio.length === 0,
    segments,
    spanMs: 0,
    coveredMs: 0,
    longestSegmentGapMs: 0,
    overlapsMs: [],
    longestSilenceMs: 0,
    longestGapMs: 0,
    startsPrecise: segments.every((s) => s.start.precise),
  };
  if (expected !== undefined) {
    rep.expected = expected;
    rep.index = expected.index;
  }
  if (withAudio.length > 0) {
    rep.firstAudioMs = Math.min(...withAudio.map((s) => s.start.ms));
    rep.lastAudioMs = Math.max(...withAudio.map((s) => s.endMs));
    rep.spanMs = rep.lastAudioMs - rep.firstAudioMs;
    const u = union(withAudio.map((s) => [s.start.ms, s.endMs]));
    rep.coveredMs = u.reduce((t, [a, b]) => t + (b - a), 0);
    for (let i = 1; i < u.length; i++) rep.longestSegmentGapMs = Math.max(rep.longestSegmentGapMs, u[i]![0] - u[i - 1]![1]);
    let reach = withAudio[0]!.endMs;
    for (const s of withAudio.slice(1)) {
      if (s.start.ms < reach) rep.overlapsMs.push(Math.round((Math.min(reach, s.endMs) - s.start.ms) * 1000) / 1000);
      reach = Math.max(reach, s.endMs);
    }
    rep.longestSilenceMs = Math.max(0, ...withAudio.flatMap((s) => s.channels.map((c) => c.longestSilenceMs)));
    rep.longestGapMs = Math.max(rep.longestSegmentGapMs, rep.longestSilenceMs);
  }
  if (expected !== undefined && (expected.caller !== undefined || expected.callee !== undefined)) {
    const content: NonNullable<CallReport['content']> = { longestHoleMs: 0 };
    if (expected.caller !== undefined) content.caller = directionCoverage('caller', expected.caller, withAudio);
    if (expected.callee !== undefined) content.callee = directionCoverage('callee', expected.callee, withAudio);
    content.longestHoleMs = Math.max(content.caller?.longestHoleMs ?? 0, content.callee?.longestHoleMs ?? 0);
    rep.content = content;
  }
  return rep;
}

/** Reads every recording in the folders, groups them by Call-ID and measures each call (see the header). */
export function auditRecordings(opts: AuditOptions): FailoverAudit {
  const o = { minSilenceMs: opts.minSilenceMs ?? 2, listSilenceMs: opts.listSilenceMs ?? 20, searchMs: opts.searchMs ?? 3000, minCorrelation: opts.minCorrelation ?? 0.8 };
  const byCall = new Map<string, RawSegment[]>();
  for (const f of opts.folders) {
    for (const raw of listFolder(f)) {
      if (opts.include !== undefined && !opts.include(raw.entry.callId)) continue;
      const list = byCall.get(raw.entry.callId) ?? [];
      // Two recorders sharing one catalogue: the same recording is listed once per folder given; keep one.
      if (!list.some((r) => r.entry.id === raw.entry.id)) list.push(raw);
      byCall.set(raw.entry.callId, list);
    }
  }
  const expected = new Map<string, CallManifestEntry | undefined>();
  const wanted = (id: string): boolean => opts.include === undefined || opts.include(id);
  for (const e of opts.manifest?.calls ?? []) if (wanted(e.callId)) expected.set(e.callId, e);
  for (const id of opts.expectedCallIds ?? []) if (wanted(id) && !expected.has(id)) expected.set(id, undefined);
  const haveExpectations = expected.size > 0;
  const signals = signalCache();
  const calls: CallReport[] = [];
  for (const id of new Set([...expected.keys(), ...byCall.keys()])) calls.push(callReport(id, byCall.get(id) ?? [], o, expected.get(id), signals));
  calls.sort((a, b) => (a.index ?? Infinity) - (b.index ?? Infinity) || (a.firstAudioMs ?? 0) - (b.firstAudioMs ?? 0) || a.callId.localeCompare(b.callId));
  return {
    calls,
    lost: calls.filter((c) => c.lost && expected.has(c.callId)).map((c) => c.callId),
    unexpected: haveExpectations ? calls.filter((c) => !expected.has(c.callId)).map((c) => c.callId) : [],
    segments: calls.reduce((t, c) => t + c.segments.length, 0),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Reporting and assertions

const f1 = (v: number | undefined): string => (v === undefined ? '-' : v.toFixed(1));

/** One line per call and per segment, for test output. */
export function formatAudit(a: FailoverAudit): string {
  const lines: string[] = [`${a.calls.length} calls, ${a.segments} segments, lost: ${a.lost.length}${a.unexpected.length > 0 ? `, unexpected: ${a.unexpected.length}` : ''}`];
  for (const c of a.calls) {
    const cov = c.content;
    const contentText =
      cov === undefined || c.lost
        ? ''
        : ` | content: hole ${f1(cov.longestHoleMs)} ms` +
          (['caller', 'callee'] as const)
            .map((s) => {
              const d = cov[s];
              return d === undefined ? '' : `, ${s} ${f1(d.coveredMs / 1000)}/${f1(d.sentMs / 1000)} s (head -${f1(d.headMissingMs)} tail -${f1(d.tailMissingMs)} ms)`;
            })
            .join('');
    lines.push(
      `  ${c.index ?? '?'} ${c.callId}: ${c.lost ? 'LOST' : `${c.segments.length} seg, span ${f1(c.spanMs / 1000)} s, covered ${f1(c.coveredMs / 1000)} s, seg gap ${f1(c.longestSegmentGapMs)} ms, silence ${f1(c.longestSilenceMs)} ms${c.startsPrecise ? '' : ' (imprecise start)'}`}${contentText}`,
    );
    for (const s of c.segments) {
      const chans = s.channels
        .map((ch) => {
          const ct = ch.content;
          const what = ct === undefined ? '' : ` ${ct.matched ?? 'unmatched'}${ct.toneFound ? '' : ' (tone not found)'} r=${ct.minCorrelation.toFixed(3)} t.err=${f1(ct.timingErrorMs)} ms`;
          return `ch${ch.channel}: ${f1(ch.toneHz)} Hz (${(ch.toneShare * 100).toFixed(0)}%) silence ${f1(ch.longestSilenceMs)} ms${what}`;
        })
        .join('; ');
      lines.push(`      ${s.recordingId} [${s.folder}] ${s.status} start ${s.start.iso} (${s.start.from}) ${f1(s.durationMs / 1000)} s${s.audioError !== undefined ? ` audio error: ${s.audioError}` : ''}; ${chans}`);
    }
  }
  return lines.join('\n');
}

export interface AuditExpectations {
  /** Calls in the report (default: the manifest's count when there is one). */
  calls?: number;
  /** Segments per call: exactly n, or a range. */
  segments?: number | { min?: number; max?: number };
  /** Longest gap allowed: between segments, silence inside a channel, hole in the content; default 100 ms. */
  maxGapMs?: number;
  /** Longest interior silence allowed in a channel; default maxGapMs. */
  maxSilenceMs?: number;
  /** Sent audio missing before the first / after the last recorded sample (content measure); default 300 ms. */
  maxEdgeMissingMs?: number;
  /** Each channel with audio holds its side's signal (tone and correlation); default true. */
  requireSignals?: boolean;
  /** Least correlation of located audio; default 0.9. */
  minCorrelation?: number;
  /** |metadata start − content position| allowed; default 20 ms (only checked with precise starts). */
  maxTimingErrorMs?: number;
  /** Every segment's start is the first sample's capture time; default true. */
  requirePreciseStarts?: boolean;
  /** Lost calls allowed; default 0. */
  maxLost?: number;
}

/** Throws one assertion error listing every call that misses the expectations. */
export function assertFailoverAudit(a: FailoverAudit, x: AuditExpectations = {}): void {
  const maxGap = x.maxGapMs ?? 100;
  const maxSilence = x.maxSilenceMs ?? maxGap;
  const maxEdge = x.maxEdgeMissingMs ?? 300;
  const minR = x.minCorrelation ?? 0.9;
  const maxTiming = x.maxTimingErrorMs ?? 20;
  const problems: string[] = [];
  const expectedCalls = x.calls ?? a.calls.filter((c) => c.expected !== undefined).length;
  if (x.calls !== undefined && a.calls.length !== expectedCalls) problems.push(`${a.calls.length} calls in the recordings and expectations, expected ${expectedCalls}`);
  if (a.lost.length > (x.maxLost ?? 0)) problems.push(`lost calls (no recording): ${a.lost.join(', ')}`);
  if (a.unexpected.length > 0) problems.push(`recordings of unexpected calls: ${a.unexpected.join(', ')}`);
  for (const c of a.calls) {
    if (c.lost) continue;
    const p = (msg: string): void => {
      problems.push(`call ${c.index ?? '?'} ${c.callId}: ${msg}`);
    };
    const n = c.segments.length;
    if (typeof x.segments === 'number' && n !== x.segments) p(`${n} segments, expected ${x.segments}`);
    if (typeof x.segments === 'object' && (n < (x.segments.min ?? 0) || n > (x.segments.max ?? Infinity))) p(`${n} segments, expected ${x.segments.min ?? 0}..${x.segments.max ?? '∞'}`);
    if (c.longestSegmentGapMs > maxGap) p(`gap of ${f1(c.longestSegmentGapMs)} ms between segments`);
    if (c.longestSilenceMs > maxSilence) p(`silence of ${f1(c.longestSilenceMs)} ms inside a segment`);
    if ((x.requirePreciseStarts ?? true) && !c.startsPrecise) p(`a segment's start is not its first sample's time (${c.segments.map((s) => s.start.from).join(', ')}): set media.metadataEverySec low`);
    for (const s of c.segments) if (s.audioError !== undefined) p(`segment ${s.recordingId}: ${s.audioError}`);
    if (c.content !== undefined) {
      if (c.content.longestHoleMs > maxGap) p(`sent audio missing for ${f1(c.content.longestHoleMs)} ms (content)`);
      for (const side of ['caller', 'callee'] as const) {
        const d = c.content[side];
        if (d === undefined) continue;
        if (d.headMissingMs > maxEdge) p(`${side}: first ${f1(d.headMissingMs)} ms of what was sent not recorded`);
        if (d.tailMissingMs > maxEdge) p(`${side}: last ${f1(d.tailMissingMs)} ms of what was sent not recorded`);
      }
      if (x.requireSignals ?? true) {
        for (const s of c.segments) {
          for (const ch of s.channels) {
            const ct = ch.content;
            if (ch.firstSoundMs === undefined) continue; // a silent channel: gaps and coverage speak for it
            if (ct === undefined) p(`segment ${s.recordingId} ch${ch.channel}: not analysed (needs 8 kHz stereo)`);
            else {
              if (ct.matched !== ct.expected) p(`segment ${s.recordingId} ch${ch.channel}: holds ${ct.matched ?? 'neither side'}'s signal, expected the ${ct.expected}'s`);
              if (!ct.toneFound) p(`segment ${s.recordingId} ch${ch.channel}: strongest tone ${f1(ch.toneHz)} Hz is not the ${ct.expected}'s`);
              if (ct.matched !== undefined && ct.minCorrelation < minR) p(`segment ${s.recordingId} ch${ch.channel}: correlation ${ct.minCorrelation} < ${minR}`);
              if (ct.unlocated > 0) p(`segment ${s.recordingId} ch${ch.channel}: ${ct.unlocated} stretch(es) of audio not found in what was sent`);
              if (s.start.precise && ct.timingErrorMs !== undefined && Math.abs(ct.timingErrorMs) > maxTiming) p(`segment ${s.recordingId} ch${ch.channel}: metadata start is ${f1(ct.timingErrorMs)} ms off the audio's content`);
            }
          }
        }
      }
    }
  }
  assert.ok(problems.length === 0, `failover audit:\n  ${problems.join('\n  ')}\n${formatAudit(a)}`);
}

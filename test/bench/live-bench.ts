/**
 * The live row: forwarded RTP into `tapline serve` on loopback, beside `record` on the same packets.
 *
 * Input: a generated capture (cached in os.tmpdir(), 0.8 GB) of 1,730 G.711 calls of 20 s whose starts are spaced so
 * that, folded on its 23-second period and replayed pass after pass (live-tile.ts), ~1,505 calls are talking at any
 * time: ~150,400 RTP packets/s plus their SIP. Each pass is a fresh set of calls (Call-IDs rewritten per pass), so
 * serve sets up, records and finishes ~75 calls a second, and nothing holds the load in memory: the sender
 * (live-sender.ts, its own process) streams the file. SIP goes through TFWD with the RTP, so the calls are real calls
 * that serve records (source-forwarded + codec-g711 + storage-local into a temp folder on os.tmpdir()'s disk:
 * ~48 MB/s of WAV at full load, ~6 GB over the run, deleted afterwards).
 *
 * The run, from one serve process:
 *   1. ramp-up: the first pass, until every call of the steady state is in progress (~21 s);
 *   2. steady: 60 s at the capture's rate (≥ 150,000 packets/s), then 3 s more before the loss counters are read
 *      (they count the ramp-up too); /proc sampled every 2 s (RSS, CPU of all threads and of the main thread);
 *   3. overload: the rate it can take — the main thread's capacity, packets per main-thread CPU-second in step 2 —
 *      doubled, for 15 s (the calls' time runs faster: the sender's speed is raised);
 *   4. after: back at the calls' own pace, all of them, or — when serve lost packets in step 2 — a share of them
 *      worth 80% of what it took (the others, in progress ones too, are no longer sent); once the socket's queue has
 *      drained, until every call started from then on has ended; then the sender stops and serve gets SIGTERM (it
 *      finishes every recording still open).
 * Then every recording in the catalogue is checked against what was sent: calls that ended before the overload and
 * calls that started after it must each have a complete recording with every RTP packet, nothing lost and no audio
 * dropped by the storage queue.
 *
 * Reference in the same run: `record --pcap` on the same capture (the same packets, one pass), as packets per
 * CPU-second (minus the same command's CPU on a tiny capture: Node and module start-up), against serve's packets
 * per CPU-second in the steady minute.
 *
 * As root, net.core.rmem_max is raised to 64 MiB for the run (restored afterwards) and the listener asks for that
 * much receive buffer (~1 s of traffic at this rate on loopback).
 * TAPLINE_BENCH_CPU_PROF=1 (or a folder) runs serve under `node --cpu-prof` and prints its top functions by self and
 * by inclusive time. benchLive({ steadyFraction: 0.5, ... }) runs it with a share of the calls (see LiveBenchOptions).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { BenchNotAvailable, type BenchResult } from './types';
import { cliMain, inclusiveProfile, loadGenerator, recordCommand, summariseProfile, type RecordRun } from './recording-bench';
import { callSelected, instanceSsrc, parseInstanceCallId, scanTile, type TileSpec } from './live-tile';
import type { LiveSenderConfig, LiveSenderReport, SenderCommand, SenderMessage } from './live-sender';
import { freePort, metricSum, procSample, raiseRmemMax, ServeProcess, udpSocket, writeServeConfig, type ProcSample } from './live-serve';

type GeneratorOptions = import('../../plugins/source-generator/scenario').GeneratorOptions;

/**
 * 1,535 calls overlap from INVITE to BYE (0.4 s ringing + 20 s talk), i.e. 1,505 talking: 2 × 50 RTP packets/s each.
 * 1,730 calls spaced 13.29 ms apart make the 22.99 s period, longer than a call (20.41 s) plus 2.5 s.
 */
const SCENARIO = { calls: 1730, concurrency: 1535, durationSec: 20, ringMs: 400, codec: 'PCMU', seed: 11 } as const satisfies GeneratorOptions;
const TINY = { calls: 2, concurrency: 2, durationSec: 2, codec: 'PCMU', seed: 1 } as const satisfies GeneratorOptions;
const SIP_PORT = 5060;
/** A call instance must end this long before the next instance of the same call starts (same ports and SSRCs). */
const MIN_GAP_US = 2_000_000;

const STEADY_SEC = 60;
/** Still at the steady rate after the 60 s: drops of the last second reach the counters before they are read. */
const SETTLE_SEC = 3;
const OVERLOAD_SEC = 15;
/** Never asked of the sender: beyond this, one process on this machine cannot send anyway. */
const MAX_SPEED = 4;
const SAMPLE_MS = 2000;
/** After the overload, how long serve may take to recover: its socket's receive queue empty and /readyz 200. */
const DRAIN_MAX_SEC = 30;
/** After the overload, when serve lost packets at the steady rate: this share of what it took then. */
const POST_SHARE = 0.5;
/** Two of source-forwarded's stats sweeps (1 s): sequence gaps are counted lost at the second. */
const COUNTERS_SETTLE_MS = 2500;
/**
 * RSS of the last third of the steady minute may exceed the middle third's by at most this much. V8 grows its old
 * generation in steps of several MiB and the storage queue's audio varies with disk latency: a healthy run moves by
 * a few per cent. A leak of 1 KiB per call (75 calls end each second) adds ~1.5 MiB per third — below this; what it
 * catches is a leak of what a call holds while it runs (~100 KiB: +150 MiB per third), or a queue that grows.
 */
const FLAT_TOLERANCE_PCT = 5;

const RCVBUF = 64 * 1024 * 1024;
const KEY_ID = 1;
const SECRET_HEX = '6c6976652062656e63682c2074686972747920747769206279746573206b6579';
const MiB = 1024 * 1024;
const PREFIX = 'tapline-bench-live-';
/** Bumped when what is kept beside the cached capture (LiveCapture) changes. */
const CAPTURE_FORMAT = 2;

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function progress(msg: string): void {
  console.log(`  live: ${msg}`);
}

function now(): number {
  return performance.now() / 1000;
}

// ---------------------------------------------------------------------------------------------------------------
// The capture.

interface CallTruth {
  /** Call-ID without its first INSTANCE_DIGITS characters (what a rewritten Call-ID keeps). */
  suffix: string;
  /** INVITE and last frame, µs from the tile origin (the first call's INVITE). */
  start: number;
  end: number;
  caller: number;
  callee: number;
  /** The generated SSRCs of each direction (each instance carries instanceSsrc() of them). */
  callerSsrcs: number[];
  calleeSsrcs: number[];
}

interface LiveCapture {
  file: string;
  tile: TileSpec;
  frames: number;
  rtpPackets: number;
  sipMessages: number;
  calls: CallTruth[];
  /** Longest call, first to last frame, µs. */
  maxCallUs: number;
  generatedSec?: number;
}

async function generateLive(file: string): Promise<Omit<LiveCapture, 'file' | 'generatedSec'>> {
  const truth = await loadGenerator().generateCalls({ ...SCENARIO }, file);
  const first = truth.calls[0];
  if (first === undefined) throw new Error('the generator wrote no call');
  const t0 = first.start;
  const spacing = (SCENARIO.ringMs * 1000 + SCENARIO.durationSec * 1e6) / SCENARIO.concurrency;
  const periodUs = Math.round(SCENARIO.calls * spacing);
  const calls: CallTruth[] = [];
  let maxCallUs = 0;
  for (const c of truth.calls) {
    if (c.disposition !== 'answered') throw new Error(`call ${c.index} is ${c.disposition}: the live bench wants answered calls only`);
    calls[c.index] = {
      suffix: c.callId.slice(6),
      start: c.start - t0,
      end: c.end - t0,
      caller: c.media.caller?.packetsWritten ?? 0,
      callee: c.media.callee?.packetsWritten ?? 0,
      callerSsrcs: c.media.caller?.ssrcs ?? [],
      calleeSsrcs: c.media.callee?.ssrcs ?? [],
    };
    maxCallUs = Math.max(maxCallUs, c.end - c.start);
  }
  if (maxCallUs + MIN_GAP_US > periodUs) throw new Error(`calls last ${maxCallUs} µs: too long for the ${periodUs} µs period`);
  const scan = scanTile(file, t0, periodUs);
  if (scan.records !== truth.totals.frames) throw new Error(`scanned ${scan.records} records, the generator wrote ${truth.totals.frames}`);
  return {
    tile: { t0, periodUs, layer1Offset: scan.layer1Offset },
    frames: truth.totals.frames,
    rtpPackets: truth.totals.rtpPackets,
    sipMessages: truth.totals.sipMessages,
    calls,
    maxCallUs,
  };
}

/** Generated once into os.tmpdir() and reused while the scenario and the generator's and tile's sources stay the same. */
async function liveCapture(): Promise<LiveCapture> {
  const gen = loadGenerator();
  const h = createHash('sha256').update(JSON.stringify(SCENARIO));
  const dir = path.dirname(gen.file);
  for (const f of fs.readdirSync(dir).sort()) if (/\.(js|ts)$/.test(f) && !f.endsWith('.test.js')) h.update(f).update(fs.readFileSync(path.join(dir, f)));
  h.update(`format ${CAPTURE_FORMAT}`);
  const base = `${PREFIX}${h.digest('hex').slice(0, 16)}`;
  const file = path.join(os.tmpdir(), `${base}.pcap`);
  const meta = path.join(os.tmpdir(), `${base}.json`);
  if (fs.existsSync(file) && fs.existsSync(meta)) return { file, ...(JSON.parse(fs.readFileSync(meta, 'utf8')) as Omit<LiveCapture, 'file'>) };
  for (const f of fs.readdirSync(os.tmpdir())) {
    if (f.startsWith(PREFIX) && /\.(pcap|json)$/.test(f) && !f.includes('.partial-')) fs.rmSync(path.join(os.tmpdir(), f), { force: true });
  }
  const tmp = path.join(os.tmpdir(), `${base}.partial-${process.pid}.pcap`);
  const t0 = now();
  try {
    const cap = await generateLive(tmp);
    fs.writeFileSync(meta, JSON.stringify(cap));
    fs.renameSync(tmp, file);
    return { file, ...cap, generatedSec: now() - t0 };
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The sender process.

class Sender {
  private readonly waiting = new Map<string, (r: LiveSenderReport) => void>();
  private marks = 0;
  private stopped: ((r: LiveSenderReport) => void) | undefined;
  private failure: string | undefined;
  private readonly ready: Promise<void>;

  private constructor(readonly child: ChildProcess) {
    let onReady!: () => void;
    let onFail!: (e: Error) => void;
    this.ready = new Promise<void>((res, rej) => {
      onReady = res;
      onFail = rej;
    });
    child.on('message', (m: SenderMessage) => {
      if (m.kind === 'ready') onReady();
      else if (m.kind === 'mark') this.waiting.get(m.id)?.(m.report);
      else if (m.kind === 'stopped') this.stopped?.(m.report);
      else {
        this.failure = m.message;
        onFail(new Error(`live sender: ${m.message}`));
      }
    });
    child.on('exit', (code) => {
      if (code !== 0 && code !== null) onFail(new Error(`live sender exited with ${code}${this.failure === undefined ? '' : `: ${this.failure}`}`));
    });
  }

  static async start(cfg: LiveSenderConfig): Promise<Sender> {
    const child = fork(require.resolve('./live-sender'), [JSON.stringify(cfg)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: process.execArgv.filter((a) => a !== '--expose-gc'),
    });
    const s = new Sender(child);
    await s.ready;
    return s;
  }

  private send(c: SenderCommand): void {
    if (this.failure !== undefined) throw new Error(`live sender failed: ${this.failure}`);
    this.child.send(c);
  }

  load(speed: number, fraction = 1): void {
    this.send({ cmd: 'load', speed, fraction });
  }

  mark(): Promise<LiveSenderReport & { at: number }> {
    const id = String(++this.marks);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('live sender did not answer within 10 s')), 10_000);
      this.waiting.set(id, (r) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve({ ...r, at: now() });
      });
      this.send({ cmd: 'mark', id });
    });
  }

  stop(): Promise<LiveSenderReport & { at: number }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('live sender did not stop within 30 s')), 30_000);
      this.stopped = (r) => {
        clearTimeout(timer);
        resolve({ ...r, at: now() });
      };
      this.send({ cmd: 'stop' });
    });
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Counters read from /metrics.

interface Counters {
  at: number;
  packetsIn: number;
  kernelDrops: number;
  seqLost: number;
  queueDrops: number;
  otherDrops: number;
  callsStarted: number;
  callsEnded: number;
  callsActive: number;
  recordingsActive: number;
  recordingsStarted: number;
  recordingsFinished: number;
  unmatchedRtp: number;
  discarded: number;
  sipMessages: number;
  eventLoopLagP99: number;
  /** Storage operations done, and their summed time, by op (tapline_storage_write_seconds). */
  storage: Record<string, { count: number; sec: number }>;
  storageQueueBytes: number;
}

async function counters(serve: ServeProcess): Promise<Counters> {
  const t = await serve.metrics();
  const drops = metricSum(t, 'tapline_drops_total');
  const kernel = metricSum(t, 'tapline_drops_total', { stage: 'kernel' });
  const queue = metricSum(t, 'tapline_drops_total', { stage: 'queue' });
  return {
    at: now(),
    packetsIn: metricSum(t, 'tapline_packets_in_total', { source: 'tfwd' }),
    kernelDrops: kernel,
    seqLost: metricSum(t, 'tapline_forwarded_lost_total'),
    queueDrops: queue,
    otherDrops: drops - kernel - queue,
    callsStarted: metricSum(t, 'tapline_calls_started_total'),
    callsEnded: metricSum(t, 'tapline_calls_ended_total'),
    callsActive: metricSum(t, 'tapline_calls_active'),
    recordingsActive: metricSum(t, 'tapline_recordings_active'),
    recordingsStarted: metricSum(t, 'tapline_recordings_started_total'),
    recordingsFinished: metricSum(t, 'tapline_recordings_finished_total'),
    unmatchedRtp: metricSum(t, 'tapline_media_unmatched_packets_total'),
    discarded: metricSum(t, 'tapline_media_discarded_packets_total'),
    sipMessages: metricSum(t, 'tapline_sip_messages_total'),
    eventLoopLagP99: metricSum(t, 'tapline_nodejs_eventloop_lag_p99_seconds'),
    storage: Object.fromEntries(
      STORAGE_OPS.map((op) => [op, { count: metricSum(t, 'tapline_storage_write_seconds_count', { op }), sec: metricSum(t, 'tapline_storage_write_seconds_sum', { op }) }]),
    ),
    storageQueueBytes: metricSum(t, 'tapline_storage_queue_bytes'),
  };
}

const STORAGE_OPS = ['open', 'openAudio', 'audio', 'update', 'close'];

/** Storage operations between two readings: count × mean time, and the share of the wall time they took (one worker). */
function storageText(a: Counters | undefined, b: Counters): string {
  const wall = b.at - (a?.at ?? b.at - 1);
  let busy = 0;
  const parts: string[] = [];
  for (const op of STORAGE_OPS) {
    const n = (b.storage[op]?.count ?? 0) - (a?.storage[op]?.count ?? 0);
    const sec = (b.storage[op]?.sec ?? 0) - (a?.storage[op]?.sec ?? 0);
    busy += sec;
    if (n > 0) parts.push(`${op} ${n} × ${((sec / n) * 1000).toFixed(2)} ms`);
  }
  return `storage ops ${parts.join(', ')} (${((busy / wall) * 100).toFixed(0)}% of the time in storage calls; ${(b.storageQueueBytes / MiB).toFixed(1)} MiB queued at the end)`;
}

function lossText(a: Counters | undefined, b: Counters): string {
  const d = (k: 'seqLost' | 'kernelDrops' | 'queueDrops' | 'otherDrops'): number => b[k] - (a?.[k] ?? 0);
  return `TFWD sequence loss ${d('seqLost')} packets, kernel drops ${d('kernelDrops')} datagrams, storage queue drops ${d('queueDrops')}, other drops ${d('otherDrops')}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Checking the recordings against what was sent.

interface Marks {
  /** Global tile times, µs: packets before these had been sent when the phase began. */
  overloadStart: number;
  postStart: number;
  stop: number;
  /** Share of the calls sent until the end of the overload, and from then on (callSelected()). */
  steadyFraction: number;
  postFraction: number;
}

interface RecordingCheck {
  problems: string[];
  before: { calls: number; recorded: number; exact: number };
  overload: { calls: number; recorded: number; exact: number };
  after: { calls: number; recorded: number; exact: number };
  cut: { calls: number; recorded: number };
  recordings: number;
  unexpected: number;
}

interface RecRow {
  call_id: string;
  status: string;
  metadata: string;
}

interface MetaStats {
  caller?: { packets: number; lost: number; ssrcs: number[] };
  callee?: { packets: number; lost: number; ssrcs: number[] };
  flags?: string[];
}

/** The flag a recording gets when the storage queue dropped some of its audio (core/media/call-recorder.ts). */
const AUDIO_DROPPED = /audio were dropped/;

function sameSet(a: number[] | undefined, b: number[]): boolean {
  if (a === undefined || a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
}

function checkRecordings(recDir: string, cap: LiveCapture, marks: Marks): RecordingCheck {
  const P = cap.tile.periodUs;
  const bySuffix = new Map<string, number>();
  cap.calls.forEach((c, i) => bySuffix.set(c.suffix, i));
  const db = new Database(path.join(recDir, 'catalogue.sqlite'), { readonly: true, fileMustExist: true });
  let rows: RecRow[];
  try {
    rows = db.prepare<[], RecRow>('SELECT call_id, status, metadata FROM recordings').all();
  } finally {
    db.close();
  }
  const found = new Map<string, RecRow[]>();
  let unexpected = 0;
  for (const r of rows) {
    const p = parseInstanceCallId(r.call_id);
    const i = p === undefined ? undefined : bySuffix.get(p.suffix);
    if (p === undefined || i === undefined) {
      unexpected++;
      continue;
    }
    const k = `${p.instance}:${i}`;
    found.set(k, [...(found.get(k) ?? []), r]);
  }
  const out: RecordingCheck = {
    problems: [],
    before: { calls: 0, recorded: 0, exact: 0 },
    overload: { calls: 0, recorded: 0, exact: 0 },
    after: { calls: 0, recorded: 0, exact: 0 },
    cut: { calls: 0, recorded: 0 },
    recordings: rows.length,
    unexpected,
  };
  const missing: string[] = [];
  const inexact: string[] = [];
  let duplicates = 0;
  const lastInstance = Math.floor(marks.stop / P);
  for (let n = 0; n <= lastInstance; n++) {
    cap.calls.forEach((c, i) => {
      const gStart = n * P + c.start;
      const gEnd = n * P + c.end;
      if (gStart >= marks.stop) return;
      // Never sent: not among the share of the calls sent when it would have started.
      if (!callSelected(i, gStart >= marks.postStart ? marks.postFraction : marks.steadyFraction)) return;
      const recs = found.get(`${n}:${i}`) ?? [];
      if (recs.length > 1) duplicates++;
      const rec = recs[0];
      if (gEnd >= marks.stop) {
        out.cut.calls++;
        if (rec !== undefined) out.cut.recorded++;
        return;
      }
      // Before the overload: the call, and the start of its next instance (same addresses and ports), whose INVITE
      // the overload could lose so that its first packets find only this call's flows. After: started after it.
      const phase = (n + 1) * P + c.start < marks.overloadStart ? out.before : gStart >= marks.postStart ? out.after : out.overload;
      phase.calls++;
      if (rec === undefined) {
        if (phase !== out.overload) missing.push(`${n}:${i}`);
        return;
      }
      phase.recorded++;
      let meta: MetaStats;
      try {
        meta = JSON.parse(fs.readFileSync(path.resolve(recDir, rec.metadata), 'utf8')) as MetaStats;
      } catch {
        if (phase !== out.overload) inexact.push(`${n}:${i} (metadata not readable)`);
        return;
      }
      const dropped = (meta.flags ?? []).some((f) => AUDIO_DROPPED.test(f));
      const ssrcsOk = sameSet(meta.caller?.ssrcs, c.callerSsrcs.map((x) => instanceSsrc(x, n))) && sameSet(meta.callee?.ssrcs, c.calleeSsrcs.map((x) => instanceSsrc(x, n)));
      const exact =
        rec.status === 'complete' && meta.caller?.packets === c.caller && meta.callee?.packets === c.callee && meta.caller.lost === 0 && meta.callee.lost === 0 && ssrcsOk && !dropped;
      if (exact) phase.exact++;
      else if (phase !== out.overload) {
        inexact.push(
          `${n}:${i} (${rec.status}, packets ${meta.caller?.packets}/${meta.callee?.packets} of ${c.caller}/${c.callee}, lost ${meta.caller?.lost}/${meta.callee?.lost}` +
            `${ssrcsOk ? '' : ', SSRCs of another instance'}${dropped ? ', audio dropped by the storage queue' : ''})`,
        );
      }
    });
  }
  const few = (l: string[]): string => `${l.slice(0, 3).join(', ')}${l.length > 3 ? ', …' : ''}`;
  if (missing.length > 0) out.problems.push(`${missing.length} calls sent whole outside the overload have no recording (instance:call ${few(missing)})`);
  if (inexact.length > 0) out.problems.push(`${inexact.length} recordings of calls sent whole outside the overload are incomplete: ${few(inexact)}`);
  if (duplicates > 0) out.problems.push(`${duplicates} calls recorded more than once`);
  if (unexpected > 0) out.problems.push(`${unexpected} recordings of calls that were never sent`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The record reference.

interface RecordReference {
  packetsPerCpuSec?: number;
  cpuSec?: number;
  tinyCpuSec?: number;
  wallSec: number;
  text: string;
  problems: string[];
}

async function recordReference(cap: LiveCapture, work: string): Promise<RecordReference> {
  const tinyDir = path.join(work, 'tiny');
  fs.mkdirSync(tinyDir);
  const tinyPcap = path.join(tinyDir, 'tiny.pcap');
  await loadGenerator().generateCalls({ ...TINY }, tinyPcap);
  const tiny = await recordCommand(tinyPcap, tinyDir);
  fs.rmSync(tinyDir, { recursive: true, force: true });
  const bigDir = path.join(work, 'record');
  fs.mkdirSync(bigDir);
  let big: RecordRun;
  try {
    big = await recordCommand(cap.file, bigDir);
  } finally {
    fs.rmSync(bigDir, { recursive: true, force: true });
  }
  const problems: string[] = [];
  const recs = big.doc.recordings;
  const rtp = recs.reduce((a, r) => a + r.packets.caller + r.packets.callee, 0);
  const lost = recs.reduce((a, r) => a + r.lost.caller + r.lost.callee, 0);
  if (recs.length !== cap.calls.length) problems.push(`record made ${recs.length} recordings of ${cap.calls.length} calls`);
  if (rtp !== cap.rtpPackets) problems.push(`record recorded ${rtp} RTP packets, the capture has ${cap.rtpPackets}`);
  if (lost !== 0) problems.push(`record reports ${lost} packets lost`);
  const cpu = (r: RecordRun): number | undefined => (r.run.userSec === undefined || r.run.sysSec === undefined ? undefined : r.run.userSec + r.run.sysSec);
  const cpuBig = cpu(big);
  const cpuTiny = cpu(tiny) ?? 0;
  const out: RecordReference = { wallSec: big.run.sec, problems, text: '' };
  if (cpuBig !== undefined) {
    out.cpuSec = cpuBig;
    out.tinyCpuSec = cpuTiny;
    out.packetsPerCpuSec = cap.frames / Math.max(0.001, cpuBig - cpuTiny);
  }
  out.text =
    `record --pcap on the same capture (${cap.frames} packets: ${cap.rtpPackets} RTP, ${cap.sipMessages} SIP; ${cap.calls.length} calls): ${big.run.sec.toFixed(1)} s wall` +
    (cpuBig === undefined ? ', CPU time not measurable (no /usr/bin/time)' : `, ${cpuBig.toFixed(1)} CPU-s, minus ${cpuTiny.toFixed(2)} CPU-s for the same command on a tiny capture`) +
    (problems.length === 0 ? `; ${recs.length} recordings, every RTP packet recorded` : `; PROBLEMS: ${problems.join('; ')}`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------

/** RSS samples in MiB, with the steady minute in [ ] and the overload in { }. */
function rssSeries(samples: ProcSample[], steady: [number, number], overload: [number, number]): string {
  const out: string[] = [];
  const marks: Array<[number, string]> = [
    [steady[0], '['],
    [steady[1], ']'],
    [overload[0], '{'],
    [overload[1], '}'],
  ];
  for (const s of samples) {
    while (marks.length > 0 && (marks[0] as [number, string])[0] <= s.t) out.push((marks.shift() as [number, string])[1]);
    out.push((s.rssBytes / MiB).toFixed(0));
  }
  for (const [, m] of marks) out.push(m);
  return out.join(' ');
}

function mean(xs: number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

function profileDirFromEnv(): string | undefined {
  const v = process.env.TAPLINE_BENCH_CPU_PROF;
  if (v === undefined || v === '' || v === '0') return undefined;
  return v === '1' ? path.join(os.tmpdir(), `${PREFIX}prof`) : path.resolve(v);
}

/**
 * For trying the bench out, and for finding what serve does at a rate it can take: shorter phases (the rows then
 * say so in their names, and no target matches them), a share of the calls in the ramp-up and steady phases.
 */
export interface LiveBenchOptions {
  steadySec?: number;
  /** Share of the calls sent (callSelected()): the steady rate is this share of the capture's. */
  steadyFraction?: number;
  overloadSec?: number;
  /** Skip the record reference. */
  noReference?: boolean;
  /** Leave the work folder (config, log, recordings) in place and say where. */
  keep?: boolean;
}

export async function benchLive(opts: LiveBenchOptions = {}): Promise<BenchResult[]> {
  const steadySec = opts.steadySec ?? STEADY_SEC;
  const steadyFraction = Math.min(1, opts.steadyFraction ?? 1);
  const overloadSec = opts.overloadSec ?? OVERLOAD_SEC;
  if (process.platform !== 'linux') throw new BenchNotAvailable('the live bench reads /proc (Linux only)');
  const cli = cliMain();
  const cap = await liveCapture();
  const P = cap.tile.periodUs;
  const capRate = cap.frames / (P / 1e6);
  const loadRate = capRate * steadyFraction;
  const rtpRate = cap.rtpPackets / (P / 1e6);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `${PREFIX}run-`));
  const profileDir = profileDirFromEnv();
  const load0 = os.loadavg()[0] ?? 0;
  try {
    // The reference first: it also brings the capture into the page cache for the sender.
    let ref: RecordReference = { wallSec: 0, problems: [], text: 'not run' };
    if (opts.noReference !== true) {
      progress(`record --pcap on the capture (${cap.frames} packets)`);
      ref = await recordReference(cap, work);
    }

    const rmem = raiseRmemMax(RCVBUF);
    let rmemRestored = '';
    let serve: ServeProcess | undefined;
    let sender: Sender | undefined;
    const samples: ProcSample[] = [];
    let sampler: NodeJS.Timeout | undefined;
    try {
      const tfwdPort = await freePort('udp');
      const opsPort = await freePort('tcp');
      const config = writeServeConfig({ dir: work, tfwdPort, opsPort, keyId: KEY_ID, secret: `hex:${SECRET_HEX}`, recvBufferBytes: RCVBUF, stopTimeoutSec: 120 });
      if (profileDir !== undefined) fs.mkdirSync(profileDir, { recursive: true });
      serve = await ServeProcess.start(cli, config, opsPort, profileDir === undefined ? {} : { cpuProfDir: profileDir });
      const servePid = serve.pid;
      const rcvbuf = metricSum(await serve.metrics(), 'tapline_forwarded_rcvbuf_bytes');
      sender = await Sender.start({
        pcap: cap.file,
        tile: cap.tile,
        sipPort: SIP_PORT,
        host: '127.0.0.1',
        port: tfwdPort,
        key: `${KEY_ID}:hex:${SECRET_HEX}`,
        mtu: 1400,
        sensorId: 1,
        calls: cap.calls.length,
      });
      const sample = (): ProcSample | undefined => {
        const s = procSample(servePid, now());
        if (s !== undefined) samples.push(s);
        return s;
      };
      sampler = setInterval(sample, SAMPLE_MS);

      // 1. Ramp-up: until every call of the steady state is in progress.
      progress(`serve (pid ${servePid}) ready; ramp-up then ${steadySec} s at ${Math.round(loadRate)} packets/s`);
      const start = now();
      sender.load(1, steadyFraction);
      await sleep(cap.maxCallUs / 1000 + 1000);

      // 2. Steady.
      const s0 = await sender.mark();
      const c0 = await counters(serve);
      const p0 = sample();
      const steadyFrom = now();
      await sleep(steadySec * 1000);
      const s1 = await sender.mark();
      const p1 = sample();
      const c1a = await counters(serve);
      const steadyTo = now();
      await sleep(SETTLE_SEC * 1000);
      await sleep(COUNTERS_SETTLE_MS);
      const s1b = await sender.mark();
      const c1 = await counters(serve);
      if (p0 === undefined || p1 === undefined) throw new Error(`serve (pid ${servePid}) went away during the steady minute: ${serve.stderrTail()}`);

      const steadyPackets = s1.packets - s0.packets;
      const steadyWall = s1.wallSec - s0.wallSec;
      const sentRate = steadyPackets / steadyWall;
      const steadyLoss = c1.seqLost;
      // What serve took in over the minute (its counter moves once a second: within ~2% over 60 s).
      const received = c1a.packetsIn - c0.packetsIn;
      const cpuSec = p1.cpuSec - p0.cpuSec;
      const mainCpu = p1.mainCpuSec - p0.mainCpuSec;
      const mainWait = p1.mainWaitSec - p0.mainWaitSec;
      const servePerCpu = received / cpuSec;
      const capacity = received / mainCpu;
      const senderCpuShare = (s1.cpuSec - s0.cpuSec) / steadyWall;
      const steadySamples = samples.filter((s) => s.t >= steadyFrom - 0.5 && s.t <= steadyTo + 0.5);

      // 3. Overload: twice the rate the main thread can take.
      if (!(capacity > 0)) throw new Error(`serve took no packets in the steady minute (${received} in, main thread ${mainCpu.toFixed(2)} CPU-s)`);
      const targetRate = 2 * capacity;
      const speed = Math.min(MAX_SPEED, targetRate / loadRate);
      progress(`steady: ${Math.round(sentRate)} packets/s sent, ${steadyLoss} lost; overload at ${Math.round(targetRate)} packets/s for ${overloadSec} s`);
      const o0 = await sender.mark();
      sender.load(speed, steadyFraction);
      await sleep(overloadSec * 1000);
      const o1 = await sender.mark();
      // Then a rate it takes, at the calls' own pace: all of them, or (when it lost packets at the steady rate) a
      // share of the calls worth half the rate it took in the steady minute, so that it catches up.
      const postFraction = steadyLoss === 0 ? steadyFraction : Math.min(steadyFraction, (POST_SHARE * (received / steadyWall)) / capRate);
      sender.load(1, postFraction);
      const overRate = (o1.packets - o0.packets) / (o1.wallSec - o0.wallSec);
      const pOver = samples[samples.length - 1];
      // Until serve has caught up — its socket's queue drained (for a second) and /readyz 200 (the storage queue
      // back under half full) — at most DRAIN_MAX_SEC.
      let drainedAfter: number | undefined;
      let readyAfter: number | undefined;
      const q0 = now();
      let calm = 0;
      while (now() - q0 < DRAIN_MAX_SEC && (drainedAfter === undefined || readyAfter === undefined)) {
        const u = udpSocket(tfwdPort);
        if (u !== undefined && u.rxQueueBytes < 1 * MiB) {
          if (++calm >= 4) drainedAfter ??= now() - q0;
        } else calm = 0;
        if (readyAfter === undefined && (await serve.readyz()) === 200) readyAfter = now() - q0;
        await sleep(250);
      }
      await sleep(COUNTERS_SETTLE_MS);
      const c2 = await counters(serve);
      const health2 = await serve.healthz();
      const alive2 = serve.running;

      // 4. After: until every call started from here on has ended, and a few seconds more.
      progress(`overload: ${Math.round(overRate)} packets/s sent, ${c2.seqLost - c1.seqLost} lost; /healthz ${health2}; then ${(postFraction * 100).toFixed(0)}% of the calls until those started after it have ended`);
      const a0 = await sender.mark();
      await sleep(cap.maxCallUs / 1000 + 6000);
      const sStop = await sender.stop();
      const sendWall = now() - start;
      await sleep(COUNTERS_SETTLE_MS);
      const c3 = await counters(serve);
      const health3 = await serve.healthz();
      const alive3 = serve.running;
      const pEnd = sample();
      clearInterval(sampler);
      sampler = undefined;
      const udpEnd = udpSocket(tfwdPort);
      progress('SIGTERM to serve, then the recordings are checked');
      const stop = await serve.stop(150_000);
      rmemRestored = rmem.restore();

      // Recordings.
      const check = checkRecordings(path.join(work, 'recordings'), cap, { overloadStart: o0.g, postStart: a0.g, stop: sStop.g, steadyFraction, postFraction });
      let serveLogErrors = 0;
      try {
        for (const line of fs.readFileSync(path.join(work, 'serve.log'), 'utf8').split('\n')) if (/"level":(50|60)\b|"level":"(error|fatal)"/.test(line)) serveLogErrors++;
      } catch {
        // No log file: nothing logged.
      }

      // ---- Results.
      const load = `load average ${load0.toFixed(2)} at the start, ${(os.loadavg()[0] ?? 0).toFixed(2)} at the end, ${os.cpus().length} CPUs`;
      const scenario =
        `${SCENARIO.calls} ${SCENARIO.codec} calls of ${SCENARIO.durationSec} s folded on a ${(P / 1e6).toFixed(2)} s period: ~${Math.round(rtpRate / 100)} calls talking at once, ` +
        `${Math.round(capRate)} packets/s (${Math.round(rtpRate)} RTP + SIP), each pass a fresh set of calls (~${Math.round(SCENARIO.calls / (P / 1e6))} calls set up and finished per second); ` +
        (steadyFraction < 1 ? `ONLY ${(steadyFraction * 100).toFixed(0)}% of the calls sent (~${Math.round(loadRate)} packets/s); ` : '') +
        `TFWD MTU 1400 with HMAC-SHA256 from one sender process over loopback` +
        (cap.generatedSec === undefined ? ' (cached capture)' : ` (capture generated in ${cap.generatedSec.toFixed(1)} s)`);
      const rcv = `${rmem.note}; listener SO_RCVBUF ${rcvbuf} bytes (the kernel reports twice what it grants)`;
      const steadyText =
        `${steadyPackets} packets in ${steadyWall.toFixed(1)} s after a ${(s0.at - start).toFixed(1)} s ramp-up; serve CPU ${cpuSec.toFixed(1)} s of ${steadyWall.toFixed(1)} s (main thread ${mainCpu.toFixed(1)} s, ` +
        `waited ${mainWait.toFixed(1)} s for a CPU while runnable); sender ${(senderCpuShare * 100).toFixed(0)}% of a core, at most ${s1.behindMs.toFixed(0)} ms behind; ` +
        `event-loop lag p99 ${(c1.eventLoopLagP99 * 1000).toFixed(1)} ms`;
      const results: BenchResult[] = [];
      const row1: BenchResult = {
        name: `live: packets/s into serve for ${steadySec} s (TFWD, loopback)`,
        value: Math.round(sentRate),
        unit: 'packets/s',
        notes: `${scenario}. ${steadyText}; ${load}`,
      };
      results.push(row1);
      results.push({
        name: `live: packets lost at ${Math.round(loadRate / 1000)}k/s over ${steadySec} s (kernel drops, TFWD sequence)`,
        value: steadyLoss,
        unit: 'packets',
        notes:
          `from the start of the ramp-up to ${SETTLE_SEC} s after the minute: ${lossText(undefined, c1)} (on loopback the sequence loss is the kernel's drops, counted in packets); ` +
          `serve counted ${c1.packetsIn} packets in of ${s1b.packets} sent by then (its counter moves once a second); calls started ${c1.callsStarted}, ended ${c1.callsEnded}, in progress ${c1.callsActive}; ` +
          `recordings started ${c1.recordingsStarted}, finished ${c1.recordingsFinished}; unmatched RTP ${c1.unmatchedRtp}, media discarded ${c1.discarded}; ` +
          `in the steady window: ${storageText(c0, c1)}; ${rcv}`,
      });
      results.push({
        name: `live: audio chunks dropped by the storage queue at ${Math.round(loadRate / 1000)}k/s over ${steadySec} s`,
        value: c1.queueDrops,
        unit: 'chunks',
        notes:
          `tapline_drops_total{stage="queue"} from the start of the ramp-up to ${SETTLE_SEC} s after the minute (a dropped chunk is silence in its recording, which is flagged); ` +
          `in the steady window: ${storageText(c0, c1)}`,
      });
      const perCpu: BenchResult = {
        name: 'live: serve packets per CPU-second (steady minute)',
        value: Math.round(servePerCpu),
        unit: 'packets/s',
        notes: `${received} packets taken in (tapline_packets_in_total) ÷ ${cpuSec.toFixed(2)} CPU-s of serve (every thread, user + system, /proc/<pid>/stat) in the minute; reference: ${ref.text}`,
      };
      if (ref.packetsPerCpuSec !== undefined) {
        perCpu.reference = { name: 'record --pcap, same packets', value: Math.round(ref.packetsPerCpuSec), unit: 'packets/s' };
        perCpu.ratio = round(servePerCpu / ref.packetsPerCpuSec, 2);
      }
      results.push(perCpu);
      results.push({
        name: 'live: capacity of the main thread (packets per main-thread CPU-second)',
        value: Math.round(capacity),
        unit: 'packets/s',
        notes:
          `${received} packets ÷ ${mainCpu.toFixed(2)} CPU-s of serve's main (JavaScript) thread (/proc/<pid>/task/<pid>/schedstat) in the steady minute: the rate it could take with a whole core to itself` +
          `; it was busy ${((mainCpu / steadyWall) * 100).toFixed(0)}% of the minute at ${Math.round(sentRate)} packets/s`,
      });

      // Flat memory: last third against the middle third of the steady minute.
      const third = Math.floor(steadySamples.length / 3);
      const mid = steadySamples.slice(third, 2 * third).map((s) => s.rssBytes);
      const last = steadySamples.slice(2 * third).map((s) => s.rssBytes);
      const growth = ((mean(last) - mean(mid)) / mean(mid)) * 100;
      results.push({
        name: 'live: memory growth, last third vs middle third of the steady minute',
        value: round(growth, 1),
        unit: '%',
        notes:
          `mean RSS ${(mean(mid) / MiB).toFixed(0)} MiB (middle third) → ${(mean(last) / MiB).toFixed(0)} MiB (last third); tolerance ${FLAT_TOLERANCE_PCT}% ` +
          `(V8 grows in steps of MiBs; a leak of what a call holds while it runs, ~100 KiB × 75 calls/s, would add ~150 MiB a third); ` +
          `calls in progress ${c0.callsActive} → ${c1a.callsActive}, recordings active ${c0.recordingsActive} → ${c1a.recordingsActive} over the minute ` +
          `(a call whose BYE was lost stays in progress until dialogs.idleTimeoutSec); ` +
          `RSS every ${SAMPLE_MS / 1000} s, MiB, [ steady minute ] { overload }: ${rssSeries(samples, [steadyFrom, steadyTo], [o0.at, o1.at])}`,
      });

      // Overload.
      const overloadLoss = c2.seqLost - c1.seqLost;
      const overloadKernel = c2.kernelDrops - c1.kernelDrops;
      results.push({
        name: 'live: overload at 2× the capacity: packets lost and counted',
        value: overloadLoss,
        unit: 'packets',
        notes:
          `asked ${Math.round(targetRate)} packets/s (speed ${speed.toFixed(2)} × the steady rate${speed >= MAX_SPEED ? ', capped' : ''}), the sender reached ${Math.round(overRate)} packets/s for ${(o1.wallSec - o0.wallSec).toFixed(1)} s ` +
          `(at most ${o1.behindMs.toFixed(0)} ms behind its schedule); counted over the overload and the catch-up: ${lossText(c1, c2)} ` +
          `(${overloadKernel} kernel-dropped datagrams ≈ ${Math.round((overloadLoss / Math.max(1, overloadKernel)) * 10) / 10} packets each); ` +
          `after the overload the socket's receive queue drained ${drainedAfter === undefined ? `NOT within ${DRAIN_MAX_SEC} s` : `in ${drainedAfter.toFixed(1)} s`}, ` +
          `/readyz answered 200 ${readyAfter === undefined ? `NOT within ${DRAIN_MAX_SEC} s` : `after ${readyAfter.toFixed(1)} s`}; ` +
          `serve RSS ${pOver === undefined ? '?' : (pOver.rssBytes / MiB).toFixed(0)} MiB at its end, event-loop lag p99 ${(c2.eventLoopLagP99 * 1000).toFixed(0)} ms; ${storageText(c1, c2)}`,
      });
      const survived = alive2 && alive3 && health2 === 200 && health3 === 200 && check.after.calls > 0 && check.after.recorded === check.after.calls ? 1 : 0;
      results.push({
        name: 'live: overload survived (running, /healthz 200, later calls recorded)',
        value: survived,
        unit: 'yes=1',
        notes:
          `serve ${alive2 && alive3 ? 'kept running' : 'DIED'}; /healthz ${health2} after the overload, ${health3} at the end; ` +
          `calls started after the overload (${postFraction < 1 ? `${(postFraction * 100).toFixed(0)}% of them, ~${Math.round(postFraction * capRate)} packets/s` : 'all of them'}) and ended before the stop: ${check.after.recorded} of ${check.after.calls} recorded, ${check.after.exact} whole (every packet, no audio dropped); ` +
          `loss after the overload: ${lossText(c2, c3)}; calls sent during the overload: ${check.overload.recorded} of ${check.overload.calls} recorded, ${check.overload.exact} whole`,
      });
      const problems = [...check.problems];
      if (serveLogErrors > 0) problems.push(`${serveLogErrors} error lines in serve's log`);
      if (stop.code !== 0) problems.push(`serve exited with ${stop.signal ?? stop.code} on SIGTERM${stop.killed ? ' (killed after 150 s)' : ''}`);
      results.push({
        name: 'live: correctness problems',
        value: problems.length,
        unit: 'problems',
        notes:
          (problems.length === 0 ? 'none: ' : `${problems.join('; ')}. `) +
          `${check.recordings} recordings in the catalogue; calls ended (and their next instance started) before the overload: ${check.before.exact} of ${check.before.calls} recorded whole ` +
          `(complete, every RTP packet, their own SSRCs, 0 lost, no audio dropped by the storage queue); ` +
          `after it: ${check.after.exact} of ${check.after.calls}; ${check.cut.recorded} of ${check.cut.calls} calls in progress at the stop recorded (cut short); ` +
          `sender: ${sStop.packets} packets (${sStop.sipPackets} SIP) in ${sStop.datagrams} datagrams over ${sendWall.toFixed(0)} s, ${sStop.pass + 1} passes, ${sStop.cpuSec.toFixed(1)} CPU-s; ` +
          `serve counted ${c3.packetsIn} in; SIGTERM to exit ${stop.sec.toFixed(1)} s with ${c3.callsActive} calls in progress; RSS at the end ${pEnd === undefined ? '?' : (pEnd.rssBytes / MiB).toFixed(0)} MiB; ` +
          `socket at the end: ${udpEnd === undefined ? 'gone' : `${udpEnd.drops} kernel drops in all, ${udpEnd.rxQueueBytes} bytes queued`}; ${rmemRestored}`,
      });
      if (profileDir !== undefined) {
        const prof = fs.readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(profileDir, f));
        prof.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
        if (prof[0] !== undefined) {
          const lines = summariseProfile(prof[0], 25);
          const incl = inclusiveProfile(prof[0], 30);
          console.log([...lines, ...incl].join('\n'));
          results.push({ name: 'live: serve CPU profile (under --cpu-prof: slower)', value: 1, unit: 'profile', notes: [...lines.slice(0, 28), ...incl].join(' | ') });
        }
      }
      return results;
    } finally {
      if (sampler !== undefined) clearInterval(sampler);
      sender?.kill();
      serve?.kill();
      if (rmemRestored === '') rmem.restore();
    }
  } finally {
    if (opts.keep === true) progress(`work folder kept: ${work}`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  benchLive().then(
    (rs) => {
      for (const r of rs) console.log(JSON.stringify(r));
    },
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}

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
 *   1. ramp-up: the first pass, until every call of the steady state is in progress (~21 s), then 64 s more, so
 *      that the caches of ended calls (the dialog tracker's 64 s, the call recorder's last 1,000) are full;
 *   2. steady: 60 s at the capture's rate (≥ 150,000 packets/s), then 3 s more before the loss counters are read
 *      (they count the ramp-up too); /proc sampled every 2 s (RSS, CPU of all threads and of the main thread);
 *   3. overload: the rate it can take — the main thread's capacity, packets per main-thread CPU-second in step 2 —
 *      doubled, for 15 s (the calls' time runs faster: the sender's speed is raised);
 *   4. after: back at the calls' own pace, all of them, or — when serve lost packets in step 2 — a share of them
 *      worth half of what it took (the others, in progress ones too, are no longer sent); once serve has caught up
 *      (socket queue drained, /readyz 200; at most 20 s), until every call started from then on has ended; then the
 *      sender stops and serve gets SIGTERM (it finishes every recording still open).
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
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { BenchNotAvailable, type BenchResult } from './types';
import { cliMain, inclusiveProfile, loadGenerator, recordCommand, summariseProfile, type RecordRun } from './recording-bench';
import { LIVE_PREFIX, liveCapture, SCENARIO, SIP_PORT, type LiveCapture } from './live-capture';
import { checkRecordings } from './live-check';
import { LiveSender } from './live-sender';
import { lossText, procSample, raiseRmemMax, readCounters, serveConfig, statusOf, storageText, udpSocket, type ProcSample, type RmemChange } from './live-serve';
import { sumSamples } from '../prom-text';
import { freeTcpPort, freeUdpPort, startServe, type ServeProcess } from '../serve-process';

type GeneratorOptions = import('../../plugins/source-generator/scenario').GeneratorOptions;

/** The same record command on this capture gives its fixed cost (Node, modules, SQLite), subtracted from its CPU. */
const TINY = { calls: 2, concurrency: 2, durationSec: 2, codec: 'PCMU', seed: 1 } as const satisfies GeneratorOptions;

const STEADY_SEC = 60;
/**
 * After the ramp-up, this much more before the steady minute: the dialog tracker keeps each ended call 64 s (for late
 * retransmissions) and the call recorder its last 1,000 recordings, both filling from the first call's end; measured
 * before they are full, the minute would show them filling, not whether memory is flat.
 */
const WARM_SEC = 64;
/** Still at the steady rate after the 60 s: drops of the last second reach the counters before they are read. */
const SETTLE_SEC = 3;
const OVERLOAD_SEC = 15;
/** Never asked of the sender: beyond this, one process on this machine cannot send anyway. */
const MAX_SPEED = 4;
const SAMPLE_MS = 2000;
/** After the overload, how long serve may take to recover: its socket's receive queue empty and /readyz 200. */
const DRAIN_MAX_SEC = 20;
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
  return v === '1' ? path.join(os.tmpdir(), `${LIVE_PREFIX}prof`) : path.resolve(v);
}

/**
 * For trying the bench out, and for finding what serve does at a rate it can take: shorter phases (the rows then
 * say so in their names, and no target matches them), a share of the calls in the ramp-up and steady phases.
 */
export interface LiveBenchOptions {
  steadySec?: number;
  /** Seconds between the ramp-up and the steady minute (WARM_SEC). */
  warmSec?: number;
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
  cliMain(); // BenchNotAvailable before generating 0.8 GB when the CLI is not built
  const cap = await liveCapture();
  const P = cap.tile.periodUs;
  const capRate = cap.frames / (P / 1e6);
  const loadRate = capRate * steadyFraction;
  const rtpRate = cap.rtpPackets / (P / 1e6);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `${LIVE_PREFIX}run-`));
  const profileDir = profileDirFromEnv();
  const load0 = os.loadavg()[0] ?? 0;
  let serve: ServeProcess | undefined;
  let sender: LiveSender | undefined;
  let rmem: RmemChange | undefined;
  let rmemRestored = '';
  // Stopped from outside (the runner's SIGTERM makes this process exit): the children go, net.core.rmem_max and the
  // work folder are put back.
  const onExit = (): void => {
    sender?.kill();
    serve?.child.kill('SIGKILL');
    if (rmem !== undefined && rmemRestored === '') rmem.restore();
    if (opts.keep !== true) fs.rmSync(work, { recursive: true, force: true });
  };
  process.on('exit', onExit);
  try {
    // The reference first: it also brings the capture into the page cache for the sender.
    let ref: RecordReference = { wallSec: 0, problems: [], text: 'not run' };
    if (opts.noReference !== true) {
      progress(`record --pcap on the capture (${cap.frames} packets)`);
      ref = await recordReference(cap, work);
    }

    rmem = raiseRmemMax(RCVBUF);
    const samples: ProcSample[] = [];
    let sampler: NodeJS.Timeout | undefined;
    try {
      const tfwdPort = await freeUdpPort();
      const opsPort = await freeTcpPort();
      const config = serveConfig({ dir: work, tfwdPort, keyId: KEY_ID, secret: `hex:${SECRET_HEX}`, recvBufferBytes: RCVBUF, stopTimeoutSec: 120 });
      if (profileDir !== undefined) fs.mkdirSync(profileDir, { recursive: true });
      serve = await startServe(work, config, opsPort, profileDir === undefined ? {} : { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profileDir] });
      const servePid = serve.pid;
      const rcvbuf = sumSamples(await serve.metrics(), 'tapline_forwarded_rcvbuf_bytes');
      sender = await LiveSender.start({
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

      // 1. Ramp-up: until every call of the steady state is in progress, and the caches of ended calls are full.
      const warmSec = opts.warmSec ?? WARM_SEC;
      progress(`serve (pid ${servePid}) ready; ramp-up, ${warmSec} s more, then ${steadySec} s at ${Math.round(loadRate)} packets/s`);
      const start = now();
      sender.load(1, steadyFraction);
      await sleep(cap.maxCallUs / 1000 + 1000 + warmSec * 1000);

      // 2. Steady.
      const s0 = await sender.mark();
      const c0 = await readCounters(serve);
      const p0 = sample();
      const steadyFrom = now();
      await sleep(steadySec * 1000);
      const s1 = await sender.mark();
      const p1 = sample();
      const c1a = await readCounters(serve);
      const steadyTo = now();
      await sleep(SETTLE_SEC * 1000);
      await sleep(COUNTERS_SETTLE_MS);
      const s1b = await sender.mark();
      const c1 = await readCounters(serve);
      if (p0 === undefined || p1 === undefined) throw new Error(`serve (pid ${servePid}) went away during the steady minute: ${serve.output(10)}`);

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
        if (readyAfter === undefined && (await statusOf(serve, '/readyz')) === 200) readyAfter = now() - q0;
        await sleep(250);
      }
      await sleep(COUNTERS_SETTLE_MS);
      const c2 = await readCounters(serve);
      const health2 = await statusOf(serve, '/healthz');
      const alive2 = serve.alive();

      // 4. After: until every call started from here on has ended (and 2 s more).
      progress(`overload: ${Math.round(overRate)} packets/s sent, ${c2.seqLost - c1.seqLost} lost; /healthz ${health2}; then ${(postFraction * 100).toFixed(0)}% of the calls until those started after it have ended`);
      const a0 = await sender.mark();
      await sleep(cap.maxCallUs / 1000 + 2000);
      const sStop = await sender.stop();
      const sendWall = now() - start;
      await sleep(COUNTERS_SETTLE_MS);
      const c3 = await readCounters(serve);
      const health3 = await statusOf(serve, '/healthz');
      const alive3 = serve.alive();
      const pEnd = sample();
      clearInterval(sampler);
      sampler = undefined;
      const udpEnd = udpSocket(tfwdPort);
      progress('SIGTERM to serve, then the recordings are checked');
      const stop = await serve.stop('SIGTERM', 150_000);
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
        `${steadyPackets} packets in ${steadyWall.toFixed(1)} s after ${(s0.at - start).toFixed(1)} s of ramp-up and warm-up; serve CPU ${cpuSec.toFixed(1)} s of ${steadyWall.toFixed(1)} s (main thread ${mainCpu.toFixed(1)} s, ` +
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
          `calls in progress ${c0.callsActive} → ${c1a.callsActive}, recordings active ${c0.recordingsActive} → ${c1a.recordingsActive} over the minute, ` +
          `V8 heap used ${(c0.heapUsed / MiB).toFixed(0)} → ${(c1a.heapUsed / MiB).toFixed(0)} MiB of ${(c0.heapTotal / MiB).toFixed(0)} → ${(c1a.heapTotal / MiB).toFixed(0)} MiB reserved, ` +
          `external (Buffers) ${(c0.external / MiB).toFixed(0)} → ${(c1a.external / MiB).toFixed(0)} MiB ` +
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
          `loss after the overload: ${lossText(c2, c3)}; ${storageText(c2, c3)}; calls sent during the overload: ${check.overload.recorded} of ${check.overload.calls} recorded, ${check.overload.exact} whole`,
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
          `serve counted ${c3.packetsIn} in; SIGTERM to exit ${(stop.ms / 1000).toFixed(1)} s with ${c3.callsActive} calls in progress; RSS at the end ${pEnd === undefined ? '?' : (pEnd.rssBytes / MiB).toFixed(0)} MiB; ` +
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
      await serve?.kill();
      if (rmemRestored === '') rmem.restore();
    }
  } finally {
    process.off('exit', onExit);
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

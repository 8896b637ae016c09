/**
 * The fuzz loop: round-robin over the targets, each input timed (an input slower than `hangMs` is a hang: JS
 * cannot interrupt a synchronous parser, so slow inputs are found after the fact, and the whole run is bounded by
 * `seconds`), each thrown error judged by the target's `expected` (anything else is a crash), the heap sampled every
 * `heapEvery` inputs (above `maxHeapBytes` the run stops with a memory finding).
 *
 * Inputs come from each target's seeds (run once unmodified first), then mutations of a pool that starts as the
 * seeds and keeps every mutated input that reached an outcome label not seen before (the feedback a run can have
 * without coverage instrumentation). Each target has its own mutator seeded from the run's seed and its name, so
 * a target's input sequence does not depend on which other targets run.
 *
 * A finding is saved (input as .bin, plus a .txt with the target, hex, base64 and stack) under `findingsDir`
 * (os.tmpdir()/tapline-fuzz-findings by default) and reported through onFinding. Crashes are minimised first
 * (chunks removed while the same error still comes out of the same place).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as inspector from 'node:inspector';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { isTaplineError } from '../../core/errors';
import { Mutator, shortHex } from './mutate';
import { allTargets, type FuzzTarget } from './targets';

export type FindingKind = 'crash' | 'hang' | 'memory';

export interface Finding {
  kind: FindingKind;
  target: string;
  input: Buffer;
  /** `Name: message` of the error (crash), or what was slow / too big. */
  error: string;
  stack?: string;
  /** Time the input took (hang), ms. */
  ms?: number;
  /** Same signature, same bug: target, error name and the first project frame of its stack. */
  signature: string;
  /** Inputs before this one in the run. */
  iteration: number;
  /** The saved .txt, when saved. */
  file?: string;
}

export interface TargetStats {
  inputs: number;
  /** Time spent in run(), ms. */
  ms: number;
  crashes: number;
  hangs: number;
  slowestMs: number;
  /** Distinct outcome labels seen. */
  outcomes: number;
  /** Inputs in the mutation pool (seeds + kept). */
  pool: number;
  seeds: number;
}

export interface FuzzProgress {
  elapsedSec: number;
  total: number;
  /** Inputs per second (wall clock) since the previous progress report, all targets together. */
  rate: number;
  /**
   * Per target since the previous report: inputs per wall-clock second (equal for all: the targets take turns) and
   * its parser's own throughput, inputs per second of time spent in its run().
   */
  rates: Record<string, { wall: number; parser: number }>;
  crashes: number;
  hangs: number;
  heapUsedBytes: number;
}

export interface FuzzReport {
  seed: number;
  seconds: number;
  total: number;
  perTarget: Record<string, TargetStats>;
  /** Inputs that crashed / hung (all of them; findings keep a few per signature). */
  crashes: number;
  hangs: number;
  memory: number;
  findings: Finding[];
  heapStartBytes: number;
  heapPeakBytes: number;
  rssPeakBytes: number;
  stoppedBy: 'iterations' | 'time' | 'memory' | 'signal';
  findingsDir: string | undefined;
}

export interface FuzzOptions {
  targets?: FuzzTarget[];
  /** Stop after this many inputs in all (seeds included). */
  iterations?: number;
  /** Stop after this many seconds. At least one of iterations / seconds should be given. */
  seconds?: number;
  seed: number;
  onFinding?: (f: Finding) => void;
  onProgress?: (p: FuzzProgress) => void;
  /** Default 10. */
  progressEverySec?: number;
  /** Where findings are saved; false: not saved. Default os.tmpdir()/tapline-fuzz-findings. */
  findingsDir?: string | false;
  /** An input slower than this is a hang (default 1000 ms). */
  hangMs?: number;
  /** Heap used above this stops the run with a memory finding (default 512 MiB). */
  maxHeapBytes?: number;
  /** Inputs between heap samples (default 250). */
  heapEvery?: number;
  /** Minimise crashing inputs before reporting (default true). */
  minimize?: boolean;
  /** Findings kept (saved and reported) per signature (default 2). */
  keepPerSignature?: number;
  /**
   * An input still running after this many seconds (an endless loop: JS cannot interrupt it) is saved as a hang by
   * a watchdog thread, which then kills the process (exit status 137). Off by default; the CLI sets 60.
   */
  watchdogSec?: number;
  signal?: AbortSignal;
}

const MAX_POOL = 512;
/** Bytes of kept inputs per target (long-token inputs are up to 256 KiB each). */
const MAX_POOL_BYTES = 16 * 1024 * 1024;
const MAX_OUTCOMES = 4096;
/** Largest input the watchdog can save (the mutator's bound). */
const WATCHDOG_CAPACITY = 256 * 1024;

interface TargetState {
  target: FuzzTarget;
  mutator: Mutator;
  pool: Buffer[];
  poolBytes: number;
  seedCount: number;
  outcomes: Set<string>;
  stats: TargetStats;
  /** Inputs and run() time at the previous progress report. */
  lastInputs: number;
  lastMs: number;
}

function nameSeed(seed: number, name: string): number {
  return crypto.createHash('sha256').update(`${seed}:${name}`).digest().readUInt32LE(0);
}

/** First stack frame inside the project (not node_modules, not the fuzz harness itself): where the bug is. */
function firstProjectFrame(stack: string | undefined): string {
  if (stack === undefined) return '?';
  for (const line of stack.split('\n').slice(1)) {
    const m = /\(?([^()\s]+):(\d+):\d+\)?\s*$/.exec(line.trim());
    if (m === null) continue;
    const file = m[1] as string;
    if (file.includes('node_modules') || file.startsWith('node:') || file.includes(`${path.sep}test${path.sep}fuzz${path.sep}`)) continue;
    return `${path.basename(file)}:${m[2]}`;
  }
  const first = /\(?([^()\s]+):(\d+):\d+\)?\s*$/.exec((stack.split('\n')[1] ?? '').trim());
  return first === null ? '?' : `${path.basename(first[1] as string)}:${first[2]}`;
}

function describeError(e: unknown): { error: string; stack: string | undefined; name: string } {
  if (e instanceof Error) return { error: `${e.name}: ${e.message}`, stack: e.stack, name: e.name };
  return { error: `thrown non-Error: ${String(e)}`, stack: undefined, name: typeof e };
}

function crashSignature(target: string, e: unknown): string {
  const d = describeError(e);
  // Invariant messages carry numbers that vary per input: keep the words only.
  const what = d.name === 'InvariantError' ? d.error.replace(/\d+/g, 'N') : d.name;
  return `${target}|${what}|${firstProjectFrame(d.stack)}`;
}

/** Runs the target once; the thrown value, if any, and the time taken. */
function runOnce(t: FuzzTarget, input: Buffer): { outcome: string | undefined; thrown: unknown; threw: boolean; ms: number } {
  const t0 = performance.now();
  let outcome: string | void = undefined;
  let thrown: unknown;
  let threw = false;
  try {
    outcome = t.run(input);
  } catch (e) {
    thrown = e;
    threw = true;
  }
  return { outcome: typeof outcome === 'string' ? outcome : undefined, thrown, threw, ms: performance.now() - t0 };
}

/** Removes chunks of a crashing input while it still crashes with the same signature (bounded in tries and time). */
export function minimizeCrash(t: FuzzTarget, input: Buffer, signature: string, maxTries = 4000, maxMs = 15_000): Buffer {
  const start = performance.now();
  let best = input;
  let tries = 0;
  const stillCrashes = (b: Buffer): boolean => {
    tries++;
    const r = runOnce(t, b);
    return r.threw && !t.expected(r.thrown) && crashSignature(t.name, r.thrown) === signature;
  };
  for (let chunk = Math.max(1, best.length >> 1); chunk >= 1; chunk >>= 1) {
    for (let o = 0; o + chunk <= best.length; ) {
      if (tries >= maxTries || performance.now() - start > maxMs) return best;
      const cand = Buffer.concat([best.subarray(0, o), best.subarray(o + chunk)]);
      if (stillCrashes(cand)) best = cand;
      else o += chunk;
    }
  }
  return best;
}

let session: inspector.Session | undefined;
/** Hangs profiled per process: each profile costs the hang's time again. */
let profilesLeft = 40;

/** File name (and package, for dependencies) of a profile URL. */
function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length).split('/').slice(0, 1).concat(path.basename(url)).join(':');
  return path.basename(url).replace(/\.js$/, '.ts');
}

/**
 * Where a slow input spends its time: the input is run again under the V8 CPU profiler and the node with the most
 * samples named — a regular expression (with the function calling it), or a function and its hottest line.
 */
export function profileSlowInput(t: FuzzTarget, input: Buffer): { where: string; detail: string } {
  if (profilesLeft <= 0) return { where: '(not profiled)', detail: '' };
  profilesLeft--;
  if (session === undefined) {
    session = new inspector.Session();
    session.connect();
    session.post('Profiler.enable');
    session.post('Profiler.setSamplingInterval', { interval: 1000 });
  }
  let profile: inspector.Profiler.Profile | undefined;
  session.post('Profiler.start');
  try {
    t.run(input);
  } catch {
    // judged already
  }
  session.post('Profiler.stop', (err, r) => {
    if (err === null) profile = r.profile;
  });
  if (profile === undefined) return { where: '(profile unavailable)', detail: '' };
  const parent = new Map<number, inspector.Profiler.ProfileNode>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n);
  let best: inspector.Profiler.ProfileNode | undefined;
  let samples = 0;
  for (const n of profile.nodes) {
    samples += n.hitCount ?? 0;
    if (/^\((?:garbage collector|program|idle|root)\)$/.test(n.callFrame.functionName)) continue;
    if (best === undefined || (n.hitCount ?? 0) > (best.hitCount ?? 0)) best = n;
  }
  if (best === undefined) return { where: '(no samples)', detail: '' };
  const share = `${Math.round((100 * (best.hitCount ?? 0)) / Math.max(1, samples))}% of samples`;
  const fn = best.callFrame.functionName;
  if (fn.startsWith('RegExp: ')) {
    const caller = parent.get(best.id);
    const by = caller === undefined ? '?' : `${caller.callFrame.functionName || '(anonymous)'} (${shortUrl(caller.callFrame.url)})`;
    return { where: `RegExp /${fn.slice(8)}/ in ${by}`, detail: share };
  }
  const ticks = [...(best.positionTicks ?? [])].sort((a, b) => b.ticks - a.ticks)[0];
  const line = ticks !== undefined ? ticks.line : best.callFrame.lineNumber + 1;
  return { where: `${fn || '(anonymous)'} (${shortUrl(best.callFrame.url)})`, detail: `${share}, hottest line ${line} of the compiled .js` };
}

function saveFinding(dir: string, f: Finding, n: number): string {
  fs.mkdirSync(dir, { recursive: true });
  const tag = crypto.createHash('sha1').update(f.signature).digest('hex').slice(0, 8);
  const base = path.join(dir, `${f.target}-${f.kind}-${tag}-${n}`);
  fs.writeFileSync(`${base}.bin`, f.input);
  const text = [
    `target: ${f.target}`,
    `kind: ${f.kind}`,
    `signature: ${f.signature}`,
    `error: ${f.error}`,
    ...(f.ms !== undefined ? [`ms: ${f.ms.toFixed(1)}`] : []),
    `iteration: ${f.iteration}`,
    `bytes: ${f.input.length}`,
    `hex: ${f.input.toString('hex')}`,
    `base64: ${f.input.toString('base64')}`,
    'stack:',
    f.stack ?? '(none)',
    '',
  ].join('\n');
  fs.writeFileSync(`${base}.txt`, text);
  return `${base}.txt`;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The watchdog thread: saves the input that has been running for too long, then kills the process. */
const WATCHDOG_SOURCE = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const { sab, stuckMs, dir, names } = workerData;
const meta = new Int32Array(sab, 0, 4); // heartbeat, input length (-1: too big to keep), target index, running
const bytes = new Uint8Array(sab, 16);
let last = -1;
let since = Date.now();
setInterval(() => {
  const hb = Atomics.load(meta, 0);
  if (hb !== last || Atomics.load(meta, 3) === 0) { last = hb; since = Date.now(); return; }
  const ms = Date.now() - since;
  if (ms < stuckMs) return;
  const len = Atomics.load(meta, 1);
  const input = Buffer.from(len >= 0 ? bytes.subarray(0, len) : new Uint8Array(0));
  const target = names[Atomics.load(meta, 2)] || '?';
  let where = '(not saved: no findings folder)';
  if (dir) {
    fs.mkdirSync(dir, { recursive: true });
    const base = path.join(dir, target + '-hang-watchdog-' + Date.now());
    fs.writeFileSync(base + '.bin', input);
    fs.writeFileSync(base + '.txt', ['target: ' + target, 'kind: hang', 'signature: ' + target + '|hang|watchdog', 'error: input still running after ' + ms + ' ms (endless loop?): the watchdog stopped the process', 'bytes: ' + input.length, 'hex: ' + input.toString('hex'), 'base64: ' + input.toString('base64'), ''].join('\\n'));
    where = base + '.txt';
  }
  fs.writeSync(2, 'FINDING hang in ' + target + ': input of ' + (len >= 0 ? len : '?') + ' bytes still running after ' + ms + ' ms; saved in ' + where + '; killing the process\\n');
  process.kill(process.pid, 'SIGKILL');
}, 250);
`;

interface Watchdog {
  before(targetIndex: number, input: Buffer): void;
  after(): void;
  stop(): Promise<void>;
}

function startWatchdog(stuckSec: number, dir: string | undefined, names: string[]): Watchdog {
  const sab = new SharedArrayBuffer(16 + WATCHDOG_CAPACITY);
  const meta = new Int32Array(sab, 0, 4);
  const bytes = new Uint8Array(sab, 16);
  const worker = new Worker(WATCHDOG_SOURCE, { eval: true, workerData: { sab, stuckMs: stuckSec * 1000, dir, names } });
  worker.unref();
  return {
    before(targetIndex, input) {
      if (input.length <= WATCHDOG_CAPACITY) {
        bytes.set(input);
        Atomics.store(meta, 1, input.length);
      } else Atomics.store(meta, 1, -1);
      Atomics.store(meta, 2, targetIndex);
      Atomics.add(meta, 0, 1);
      Atomics.store(meta, 3, 1);
    },
    after() {
      Atomics.store(meta, 3, 0);
    },
    stop: async () => {
      await worker.terminate();
    },
  };
}

export async function fuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const targets = opts.targets ?? allTargets();
  if (targets.length === 0) throw new Error('fuzz: no targets');
  if (opts.iterations === undefined && opts.seconds === undefined) throw new Error('fuzz: give iterations or seconds');
  const hangMs = opts.hangMs ?? 1000;
  const maxHeap = opts.maxHeapBytes ?? 512 * 1024 * 1024;
  const heapEvery = Math.max(1, opts.heapEvery ?? 250);
  const progressEvery = (opts.progressEverySec ?? 10) * 1000;
  const keepPerSig = opts.keepPerSignature ?? 2;
  const findingsDir = opts.findingsDir === false ? undefined : (opts.findingsDir ?? path.join(os.tmpdir(), 'tapline-fuzz-findings'));
  const minimize = opts.minimize !== false;

  for (const t of targets) await t.prepare?.();
  const states: TargetState[] = targets.map((t) => {
    const pool = t.seeds().filter((b) => b.length <= (t.maxSize ?? 256 * 1024));
    if (pool.length === 0) pool.push(Buffer.alloc(0));
    return {
      target: t,
      mutator: new Mutator(nameSeed(opts.seed, t.name)),
      pool,
      poolBytes: pool.reduce((n, b) => n + b.length, 0),
      seedCount: pool.length,
      outcomes: new Set<string>(),
      stats: { inputs: 0, ms: 0, crashes: 0, hangs: 0, slowestMs: 0, outcomes: 0, pool: pool.length, seeds: pool.length },
      lastInputs: 0,
      lastMs: 0,
    };
  });

  const findings: Finding[] = [];
  const perSignature = new Map<string, number>();
  let crashes = 0;
  let hangs = 0;
  let memory = 0;
  let total = 0;
  const heapStart = process.memoryUsage().heapUsed;
  let heapPeak = heapStart;
  let rssPeak = process.memoryUsage().rss;
  let heapNow = heapStart;
  const t0 = performance.now();
  let lastProgress = t0;
  let lastYield = t0;
  let stoppedBy = 'iterations' as FuzzReport['stoppedBy'];

  const report = (f: Finding): void => {
    const n = (perSignature.get(f.signature) ?? 0) + 1;
    perSignature.set(f.signature, n);
    if (n > keepPerSig) return;
    if (findingsDir !== undefined) f.file = saveFinding(findingsDir, f, n);
    findings.push(f);
    opts.onFinding?.(f);
  };

  const watchdog = opts.watchdogSec !== undefined ? startWatchdog(opts.watchdogSec, findingsDir, targets.map((t) => t.name)) : undefined;
  const indexOf = new Map(states.map((s, i) => [s, i]));

  const judge = (s: TargetState, input: Buffer): void => {
    const t = s.target;
    watchdog?.before(indexOf.get(s) ?? 0, input);
    const r = runOnce(t, input);
    watchdog?.after();
    s.stats.inputs++;
    s.stats.ms += r.ms;
    if (r.ms > s.stats.slowestMs) s.stats.slowestMs = r.ms;
    total++;
    let outcome = r.outcome;
    if (r.threw) {
      if (t.expected(r.thrown)) {
        const e = r.thrown;
        outcome = `expected:${isTaplineError(e) ? `${e.code}:${String(e.details.reason ?? '')}` : describeError(e).name}`;
      } else {
        crashes++;
        s.stats.crashes++;
        const signature = crashSignature(t.name, r.thrown);
        const seen = perSignature.get(signature) ?? 0;
        const small = minimize && seen < keepPerSig ? minimizeCrash(t, input, signature) : input;
        const d = describeError(r.thrown);
        // Describe the error the minimised input gives (same signature, shorter message).
        const again = small === input ? r : runOnce(t, small);
        const dm = again.threw ? describeError(again.thrown) : d;
        report({ kind: 'crash', target: t.name, input: small, error: dm.error, stack: dm.stack, signature, iteration: total - 1 });
        return;
      }
    }
    if (r.ms > hangMs) {
      hangs++;
      s.stats.hangs++;
      const p = profileSlowInput(t, input);
      const signature = `${t.name}|hang|${p.where}`;
      report({ kind: 'hang', target: t.name, input, error: `input of ${input.length} bytes took ${r.ms.toFixed(0)} ms (limit ${hangMs} ms): ${p.where}${p.detail !== '' ? ` [${p.detail}]` : ''}`, ms: r.ms, signature, iteration: total - 1 });
    }
    if (outcome !== undefined && !s.outcomes.has(outcome) && s.outcomes.size < MAX_OUTCOMES) {
      s.outcomes.add(outcome);
      s.stats.outcomes = s.outcomes.size;
      if (s.stats.inputs > s.seedCount) {
        // A new outcome: keep the input as a seed (replacing a kept one when the pool is full, never an original seed).
        if (s.pool.length < MAX_POOL && s.poolBytes + input.length <= MAX_POOL_BYTES) s.pool.push(input);
        else if (s.pool.length > s.seedCount) {
          const i = s.seedCount + s.mutator.int(s.pool.length - s.seedCount);
          s.poolBytes -= (s.pool[i] as Buffer).length;
          s.pool[i] = input;
        } else return;
        s.poolBytes += input.length;
        s.stats.pool = s.pool.length;
      }
    }
  };

  const sampleHeap = (): boolean => {
    const m = process.memoryUsage();
    heapNow = m.heapUsed;
    if (m.heapUsed > heapPeak) heapPeak = m.heapUsed;
    if (m.rss > rssPeak) rssPeak = m.rss;
    return m.heapUsed > maxHeap;
  };

  const done = (): boolean => {
    if (opts.iterations !== undefined && total >= opts.iterations) {
      stoppedBy = 'iterations';
      return true;
    }
    if (opts.seconds !== undefined && performance.now() - t0 >= opts.seconds * 1000) {
      stoppedBy = 'time';
      return true;
    }
    if (opts.signal?.aborted === true) {
      stoppedBy = 'signal';
      return true;
    }
    return false;
  };

  const housekeeping = async (s: TargetState): Promise<boolean> => {
    if (total % heapEvery === 0 && sampleHeap()) {
      memory++;
      stoppedBy = 'memory';
      report({ kind: 'memory', target: s.target.name, input: Buffer.alloc(0), error: `heap used ${(heapNow / 2 ** 20).toFixed(0)} MiB exceeds ${(maxHeap / 2 ** 20).toFixed(0)} MiB`, signature: `${s.target.name}|memory`, iteration: total });
      return true;
    }
    const now = performance.now();
    if (opts.onProgress !== undefined && now - lastProgress >= progressEvery) {
      const rates: Record<string, { wall: number; parser: number }> = {};
      let n = 0;
      for (const st of states) {
        const di = st.stats.inputs - st.lastInputs;
        const dms = st.stats.ms - st.lastMs;
        n += di;
        rates[st.target.name] = { wall: (di * 1000) / (now - lastProgress), parser: dms > 0 ? (di * 1000) / dms : 0 };
        st.lastInputs = st.stats.inputs;
        st.lastMs = st.stats.ms;
      }
      const rate = (n * 1000) / (now - lastProgress);
      lastProgress = now;
      opts.onProgress({ elapsedSec: (now - t0) / 1000, total, rate, rates, crashes, hangs, heapUsedBytes: heapNow });
    }
    if (now - lastYield >= 200) {
      lastYield = now;
      await tick(); // let signals and timers in
    }
    return false;
  };

  // Seeds first, unmodified: a seed that crashes is a finding like any other.
  outer: for (const s of states) {
    for (let i = 0; i < s.seedCount; i++) {
      if (done()) break outer;
      judge(s, s.pool[i] as Buffer);
      if (await housekeeping(s)) break outer;
    }
  }
  if (stoppedBy !== 'memory' && !done()) {
    for (let k = 0; ; k++) {
      const s = states[k % states.length] as TargetState;
      const t = s.target;
      const m = s.mutator;
      const base = s.pool[m.int(s.pool.length)] as Buffer;
      const other = s.pool[m.int(s.pool.length)] as Buffer;
      const input = m.mutate(base, { text: t.text === true, dictionary: t.dictionary, maxSize: t.maxSize }, other);
      judge(s, input);
      if (await housekeeping(s)) break;
      if (done()) break;
    }
  }
  sampleHeap();
  await watchdog?.stop();

  const perTarget: Record<string, TargetStats> = {};
  for (const s of states) perTarget[s.target.name] = s.stats;
  return {
    seed: opts.seed,
    seconds: (performance.now() - t0) / 1000,
    total,
    perTarget,
    crashes,
    hangs,
    memory,
    findings,
    heapStartBytes: heapStart,
    heapPeakBytes: heapPeak,
    rssPeakBytes: rssPeak,
    stoppedBy,
    findingsDir,
  };
}

/** One line per finding, for logs and assertion messages. */
export function formatFinding(f: Finding): string {
  const where = f.stack !== undefined ? firstProjectFrame(f.stack) : '';
  return `${f.kind} in ${f.target}: ${f.error}${where !== '' ? ` at ${where}` : ''} — input ${shortHex(f.input)}${f.file !== undefined ? ` (${f.file})` : ''}`;
}

/** A table of the report: inputs and rate per target, totals, findings, heap. */
export function formatReport(r: FuzzReport): string {
  const lines: string[] = [];
  const names = Object.keys(r.perTarget);
  const w = Math.max(...names.map((n) => n.length), 6);
  lines.push(`${'target'.padEnd(w)}  ${'inputs'.padStart(9)}  ${'inputs/s'.padStart(8)}  ${'slowest'.padStart(9)}  ${'outcomes'.padStart(8)}  ${'pool'.padStart(5)}  crashes  hangs`);
  for (const n of names) {
    const s = r.perTarget[n] as TargetStats;
    const rate = s.ms > 0 ? (s.inputs * 1000) / s.ms : 0;
    lines.push(
      `${n.padEnd(w)}  ${String(s.inputs).padStart(9)}  ${rate.toFixed(0).padStart(8)}  ${`${s.slowestMs.toFixed(1)} ms`.padStart(9)}  ${String(s.outcomes).padStart(8)}  ${String(s.pool).padStart(5)}  ${String(s.crashes).padStart(7)}  ${String(s.hangs).padStart(5)}`,
    );
  }
  lines.push(
    `total ${r.total} inputs in ${r.seconds.toFixed(1)} s (${(r.total / Math.max(r.seconds, 1e-9)).toFixed(0)} inputs/s), seed ${r.seed}, stopped by ${r.stoppedBy}; ` +
      `crashes ${r.crashes}, hangs ${r.hangs}, memory ${r.memory}; heap ${(r.heapStartBytes / 2 ** 20).toFixed(0)} MiB at start, peak ${(r.heapPeakBytes / 2 ** 20).toFixed(0)} MiB; rss peak ${(r.rssPeakBytes / 2 ** 20).toFixed(0)} MiB`,
  );
  for (const f of r.findings) lines.push(`  ${formatFinding(f)}`);
  if (r.findings.length > 0 && r.findingsDir !== undefined) lines.push(`findings saved in ${r.findingsDir}`);
  return lines.join('\n');
}

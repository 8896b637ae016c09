/**
 * The benchmark runner (`npm run bench`): runs each bench in turn, each in its own child process (so one
 * bench's memory does not show in the next one's RSS, and a stuck bench can be stopped), prints a table with
 * the project's targets beside the results, and writes everything to out/bench/results.json.
 *
 *   node dist/test/bench/run.js [sip|pcap|pipeline|recording|srtp|forwarded|codecs|throughput|live|forward|siprec|catalogue|shared|web ...] [--pcap FILE]
 *   npx tsx test/bench/run.ts pipeline
 *
 * A bench whose module is missing (or that throws BenchNotAvailable) is printed as "not available": the
 * run goes on and still succeeds; a bench that throws or times out is printed as failed and sets exit code 1,
 * as does a result that misses a `fatal` target (a correctness check). Other missed targets are listed, not fatal.
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BenchResult } from './types';

interface BenchSpec {
  id: string;
  /** Module file next to this one, without extension (.js under dist, .ts under tsx). */
  module: string;
  fn: string;
  title: string;
  /** Overrides BENCH_TIMEOUT_MS for a bench that is long by design. */
  timeoutMs?: number;
}

const BENCHES: BenchSpec[] = [
  { id: 'sip', module: 'sip-bench', fn: 'benchSip', title: 'SIP parser' },
  { id: 'pcap', module: 'pcap-bench', fn: 'benchPcap', title: 'Capture reading' },
  { id: 'pipeline', module: 'pipeline-bench', fn: 'benchPipeline', title: 'Core pipeline, end to end' },
  { id: 'hep', module: 'hep-bench', fn: 'benchHep', title: 'HEP feed (decode, stream framing, source-hep over loopback)' },
  // ~80 s of recording + ~125 s of tshark on a 1.4 GB capture (+ ~10 s to generate it on a first run).
  { id: 'recording', module: 'recording-bench', fn: 'benchRecording', title: 'Recording, end to end (record CLI)', timeoutMs: 900_000 },
  // ~90-120 s of recording: clear, SRTP and SRTP on the TypeScript path (+ ~40 s to generate and protect its captures on a first run).
  { id: 'srtp', module: 'srtp-bench', fn: 'benchSrtp', title: 'SRTP and SILK, end to end (record command)', timeoutMs: 600_000 },
  { id: 'forwarded', module: 'forwarded-bench', fn: 'benchForwarded', title: 'Forwarded media (TFWD encode/decode, sender, source over loopback)' },
  // ~4 min: ~30-60 s of record (the reference) + ~200 s of serve under load (+ ~10 s to generate its 0.8 GB capture on a first run).
  // ~3-4 min: two generated captures (200 and 2,000 calls), tshark and record with 1 and 2 call workers on each.
  { id: 'throughput', module: 'throughput-bench', fn: 'benchThroughput', title: 'Throughput on every core (call workers, record command)', timeoutMs: 1_200_000 },
  // ~10 s: G.729 and Opus decode speed through the Codec contract, ffmpeg's decoders as the reference.
  { id: 'codecs', module: 'codec-packages-bench', fn: 'benchCodecPackages', title: 'Packaged codecs: G.729 and Opus decode speed per core' },
  { id: 'live', module: 'live-bench', fn: 'benchLive', title: 'Live: forwarded RTP into serve over loopback, beside record', timeoutMs: 600_000 },
  // ~1.5-2 min: tapline forward on a veth mirror port in a namespace of its own, its rate raised until it loses packets; tcpdump -w as the reference.
  { id: 'forward', module: 'forward-bench', fn: 'benchForward', title: 'Forwarder agent (tapline forward): packets/s on one core with 0 loss, CPU per packet beside tcpdump -w', timeoutMs: 420_000 },
  // ~50 s: 22 s of the service idle (the reference), then 100 SIPREC sessions of 20 s from SIPp.
  { id: 'siprec', module: 'siprec-bench', fn: 'benchSiprec', title: 'SIPREC: 100 recording sessions at once from SIPp', timeoutMs: 300_000 },
  // ~1-2 min: 1,000,000 recordings into a SQLite catalogue, then searches.
  { id: 'catalogue', module: 'catalogue-bench', fn: 'benchCatalogue', title: 'Catalogue at 1,000,000 recordings (SQLite)', timeoutMs: 600_000 },
  // ~3-5 min: PostgreSQL at 1,000,000 recordings (initdb here), then uploads to OpenStack Swift's S3 API.
  { id: 'shared', module: 'shared-storage-bench', fn: 'benchShared', title: 'Shared storage: PostgreSQL catalogue at 1,000,000 recordings, uploads to S3 (Swift)', timeoutMs: 900_000 },
  // ~1-2 min with the cached catalogue (out/bench/web-catalogue); a first run builds it (1,000,000 recordings) first.
  { id: 'web', module: 'web-bench', fn: 'benchWeb', title: 'Review app (tapline web): search at 1,000,000 recordings, time to first audio byte', timeoutMs: 900_000 },
];

/** A bench told to stop (SIGTERM) gets this long to clean up before its process group is killed. */
const STOP_GRACE_MS = 5000;

/** Each bench is meant to take < ~60 s on 2 cores; this only stops one that hangs (a first run also generates its input). */
const BENCH_TIMEOUT_MS = 240_000;

/** Targets from the project issues; add one per new issue. `matches` picks the results it applies to. */
interface Target {
  bench: string;
  matches: (r: BenchResult) => boolean;
  /** value >= min (throughput) or value <= max (time, memory). */
  min?: number;
  max?: number;
  unit: string;
  source: string;
  /** Missing it is a failure (exit code 1), not just a missed target: correctness checks. */
  fatal?: boolean;
}

const RECORD_UNITS = new Set(['packets/s', 'frames/s']);

export const TARGETS: Target[] = [
  {
    bench: 'throughput',
    matches: (r) => /^throughput \(.*\): packets per CPU-second over tshark's, 1 worker/.test(r.name),
    min: 2.5,
    unit: '× tshark',
    source: 'issue 18: RTP packets per CPU-second with one worker ≥ 2.5× tshark -q -z rtp,streams on the same file',
  },
  {
    bench: 'throughput',
    matches: (r) => /^throughput \(.*\): wall-clock speed-up, 2 workers/.test(r.name),
    min: 1.7,
    unit: '×',
    source: 'issue 18: wall-clock speed-up with 2 workers ≥ 1.7× one worker',
  },
  {
    bench: 'throughput',
    matches: (r) => /^throughput \(.*\): recordings that differ/.test(r.name),
    max: 0,
    unit: 'recordings',
    source: 'issue 18: recordings byte-identical whatever the number of workers',
    fatal: true,
  },
  {
    bench: 'throughput',
    matches: (r) => /^throughput \(2000 calls\): memory per active call/.test(r.name),
    max: 64,
    unit: 'KiB/call',
    source: 'issue 18: memory per active call ≤ 64 KiB at 2,000 calls',
  },
  {
    bench: 'sip',
    matches: (r) => r.unit === 'msg/s' && /lync/i.test(r.name) && /invite/i.test(r.name),
    min: 50_000,
    unit: 'msg/s',
    source: 'SIP parse on Lync-style INVITEs',
  },
  {
    bench: 'pcap',
    matches: (r) => /^pcap read\b/i.test(r.name) && RECORD_UNITS.has(r.unit),
    min: 1_000_000,
    unit: 'packets/s',
    source: 'pcap read',
  },
  {
    bench: 'recording',
    matches: (r) => /^record: RTP packets\/s/i.test(r.name) && RECORD_UNITS.has(r.unit),
    min: 150_000,
    unit: 'packets/s',
    source: 'RTP packets/s recorded end to end on one core (1,500 concurrent calls in real time)',
  },
  {
    bench: 'recording',
    matches: (r) => /^record: calls per core/i.test(r.name),
    min: 1_500,
    unit: 'calls',
    source: 'concurrent G.711 calls recorded in real time on one core',
  },
  {
    bench: 'recording',
    matches: (r) => /^record: memory per active call/i.test(r.name),
    max: 200,
    unit: 'KiB/call',
    source: 'memory per active call while recording',
  },
  {
    bench: 'recording',
    matches: (r) => /^record: correctness problems/i.test(r.name),
    max: 0,
    unit: 'problems',
    source: 'recordings, audio durations and RTP totals match the generator',
  },
  {
    bench: 'srtp',
    matches: (r) => /^G\.711 SRTP: cost over clear/i.test(r.name),
    max: 40,
    unit: '%',
    source: 'SRTP costs < 40% more than clear G.711 (same calls, end to end)',
  },
  {
    bench: 'srtp',
    matches: (r) => /^SILK decode: × real time per core, record/i.test(r.name),
    min: 100,
    unit: '× real time',
    source: 'SILK decode ≥ 100× real time per core (audio seconds ÷ recorder CPU seconds)',
  },
  {
    bench: 'codecs',
    matches: (r) => /^(G\.729|Opus) decode \(@tapline\/codec-(g729|opus)\): × real time per core/.test(r.name),
    min: 200,
    unit: '× real time',
    source: 'G.729 and Opus decode ≥ 200× real time per core (issue: codecs plain-SIP sites use)',
  },
  {
    bench: 'catalogue',
    matches: (r) => /^catalogue \(SQLite\): participant substring of 1M/.test(r.name),
    max: 100,
    unit: 'ms',
    source: 'issue 15: search latency at 1,000,000 rows (a search people wait for: well under a second)',
  },
  {
    bench: 'shared',
    matches: (r) => /^catalogue \(PostgreSQL\): participant substring of 1M/.test(r.name),
    max: 100,
    unit: 'ms',
    source: 'issue 15: search latency at 1,000,000 rows on PostgreSQL',
  },
  {
    bench: 'shared',
    matches: (r) => /^catalogue \(PostgreSQL\): user within a week of 1M, p95/.test(r.name),
    max: 200,
    unit: 'ms',
    source: 'issue 14: p95 under 200 ms for a user + time-range query on 1,000,000 recordings',
  },
  {
    bench: 'web',
    matches: (r) => /^web: user \+ time range of 1M through the API, p95/.test(r.name),
    max: 200,
    unit: 'ms',
    source: 'web app: p95 under 200 ms for a user + time-range search through GET /api/recordings on 1,000,000 recordings',
  },
  {
    bench: 'web',
    matches: (r) => /^web: search answers that differ from the catalogue/.test(r.name),
    max: 0,
    unit: 'queries',
    source: 'the API lists the same recordings, in the same order, as the catalogue search it wraps',
    fatal: true,
  },
  {
    bench: 'web',
    matches: (r) => /^web: audio answers wrong/.test(r.name),
    max: 0,
    unit: 'problems',
    source: 'audio served with the right status and length, the WAV byte for byte the stored file',
    fatal: true,
  },
  {
    bench: 'siprec',
    matches: (r) => /^SIPREC: correctness problems/.test(r.name),
    max: 0,
    unit: 'problems',
    source: 'issue 16: 100 concurrent recording sessions from SIPp, all recorded, 0 lost packets',
    fatal: true,
  },
  {
    bench: 'srtp',
    matches: (r) => /^correctness problems/i.test(r.name),
    max: 0,
    unit: 'problems',
    source: 'every call recorded, every RTP packet recorded and decrypted, no SRTP auth failure',
    fatal: true,
  },
  {
    bench: 'forwarded',
    matches: (r) => /^forward-sender: packets\/s paced to 300k\/s \(MTU 8900/.test(r.name),
    min: 290_000,
    unit: 'packets/s',
    source: 'the test sender sustains 300k packets/s from one process (paced, within 3%)',
  },
  {
    bench: 'forwarded',
    matches: (r) => /^source-forwarded: capacity of one thread/.test(r.name),
    min: 150_000,
    unit: 'packets/s',
    source: 'forwarded RTP received on one Node thread (the recorder must take ≥ 150,000 RTP packets/s)',
  },
  {
    bench: 'forwarded',
    matches: (r) => /^source-forwarded: packets lost at 150k\/s/.test(r.name),
    max: 0,
    unit: 'packets',
    source: 'nothing lost receiving 150k packets/s over loopback',
  },
  {
    bench: 'live',
    matches: (r) => /^live: packets\/s into serve for 60 s/.test(r.name),
    min: 150_000,
    unit: 'packets/s',
    source: 'forwarded RTP into serve at ≥ 150,000 packets/s for 60 s',
  },
  {
    bench: 'live',
    matches: (r) => /^live: packets lost at \d+k\/s over 60 s/.test(r.name),
    max: 0,
    unit: 'packets',
    source: '0 loss at 150k packets/s for 60 s: kernel drops and TFWD sequence loss',
  },
  {
    bench: 'live',
    matches: (r) => /^live: audio chunks dropped by the storage queue at \d+k\/s over 60 s/.test(r.name),
    max: 0,
    unit: 'chunks',
    source: '0 loss at 150k packets/s for 60 s: nothing dropped by the storage queue',
  },
  {
    bench: 'live',
    matches: (r) => /^live: memory growth, last third vs middle third/.test(r.name),
    max: 5,
    unit: '%',
    source: 'flat memory under steady load (RSS of the last third within 5% of the middle third)',
  },
  {
    bench: 'live',
    matches: (r) => /^live: overload at 2× the capacity: packets lost and counted/.test(r.name),
    min: 1,
    unit: 'packets',
    source: 'at twice the rate it can take, drops are counted',
  },
  {
    bench: 'live',
    matches: (r) => /^live: overload survived/.test(r.name),
    min: 1,
    unit: 'yes=1',
    source: 'after the overload serve keeps running (/healthz 200) and records the calls that follow',
    fatal: true,
  },
  {
    bench: 'live',
    matches: (r) => /^live: correctness problems/.test(r.name),
    max: 0,
    unit: 'problems',
    source: 'every call sent whole outside the overload recorded whole (every RTP packet, 0 lost)',
  },
];

type Status = 'ok' | 'not available' | 'failed';

interface TargetCheck {
  text: string;
  met: boolean;
  source: string;
  fatal?: boolean;
}

interface BenchRun {
  id: string;
  title: string;
  status: Status;
  reason?: string;
  seconds: number;
  results: Array<BenchResult & { target?: TargetCheck }>;
}

/** Messages between the child and the parent. */
type ChildMessage = { kind: 'results'; results: BenchResult[] } | { kind: 'unavailable'; reason: string } | { kind: 'failed'; reason: string };

// ---------------------------------------------------------------------------------------------------------------
// Child side: load one bench module, run it, report over IPC.

function moduleMissing(e: unknown, file: string): boolean {
  const err = e as { code?: string; message?: string };
  return err?.code === 'MODULE_NOT_FOUND' && typeof err.message === 'string' && err.message.includes(file);
}

async function runChild(id: string, pcapFile: string | undefined): Promise<ChildMessage> {
  const spec = BENCHES.find((b) => b.id === id);
  if (spec === undefined) return { kind: 'failed', reason: `unknown bench "${id}"` };
  const file = path.join(__dirname, spec.module);
  let mod: Record<string, unknown>;
  try {
    mod = require(file) as Record<string, unknown>;
  } catch (e) {
    if (moduleMissing(e, file)) return { kind: 'unavailable', reason: `${spec.module} not found` };
    return { kind: 'failed', reason: `loading ${spec.module}: ${(e as Error)?.stack ?? String(e)}` };
  }
  const fn = mod[spec.fn];
  if (typeof fn !== 'function') return { kind: 'unavailable', reason: `${spec.module} does not export ${spec.fn}()` };
  try {
    const out: unknown = await (id === 'pcap' && pcapFile !== undefined ? fn(pcapFile) : fn());
    if (!Array.isArray(out)) return { kind: 'failed', reason: `${spec.fn}() did not return an array` };
    return { kind: 'results', results: out as BenchResult[] };
  } catch (e) {
    if ((e as Error)?.name === 'BenchNotAvailable') return { kind: 'unavailable', reason: (e as Error).message };
    return { kind: 'failed', reason: (e as Error)?.stack ?? String(e) };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Parent side.

function runInChild(spec: BenchSpec, pcapFile: string | undefined): Promise<ChildMessage> {
  return new Promise((resolve) => {
    const args = ['--child', spec.id, ...(pcapFile === undefined ? [] : ['--pcap', pcapFile])];
    // --expose-gc lets a bench measure retained heap after a full collection. The child leads a process group of its
    // own, so a bench that is stopped takes the processes it started (servers, senders) with it.
    const child = fork(__filename, args, { execArgv: [...process.execArgv, '--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true });
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Nothing left in the group.
      }
    };
    let killer: NodeJS.Timeout | undefined;
    // SIGTERM first, so the bench can put back what it changed (its exit handlers run), then the whole group.
    const stopChild = (): void => {
      child.kill('SIGTERM');
      killer ??= setTimeout(killGroup, STOP_GRACE_MS);
    };
    // Out of the terminal's process group, the child no longer gets Ctrl-C: pass it on, then go as the signal says.
    let interrupted: NodeJS.Signals | undefined;
    const onSignal = (signal: NodeJS.Signals): void => {
      interrupted = signal;
      stopChild();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    let msg: ChildMessage | undefined;
    let timedOut = false;
    const timeoutMs = spec.timeoutMs ?? BENCH_TIMEOUT_MS;
    const timer = setTimeout(() => {
      timedOut = true;
      stopChild();
    }, timeoutMs);
    child.on('message', (m: ChildMessage) => {
      msg = m;
    });
    child.on('error', (e) => {
      msg ??= { kind: 'failed', reason: `could not start: ${e.message}` };
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killer);
      killGroup(); // whatever the bench left running
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (interrupted !== undefined) process.kill(process.pid, interrupted);
      if (timedOut) resolve({ kind: 'failed', reason: `timed out after ${timeoutMs / 1000} s` });
      else resolve(msg ?? { kind: 'failed', reason: `exited (${signal ?? code}) without results` });
    });
  });
}

function fmtNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return v.toLocaleString('en-US', { maximumFractionDigits: Math.abs(v) >= 100 ? 1 : 3 });
}

function sameUnit(a: string, b: string): boolean {
  return a === b || (RECORD_UNITS.has(a) && RECORD_UNITS.has(b));
}

function checkTarget(bench: string, r: BenchResult): TargetCheck | undefined {
  const t = TARGETS.find((x) => x.bench === bench && x.matches(r));
  if (t === undefined || !sameUnit(t.unit, r.unit)) return undefined;
  const fatal = t.fatal === true ? { fatal: true } : {};
  if (t.min !== undefined) return { text: `≥ ${fmtNumber(t.min)} ${t.unit}`, met: r.value >= t.min, source: t.source, ...fatal };
  if (t.max !== undefined) return { text: `≤ ${fmtNumber(t.max)} ${t.unit}`, met: r.value <= t.max, source: t.source, ...fatal };
  return undefined;
}

/** The ratio the bench gave, else ours/reference when the units agree. */
function ratioOf(r: BenchResult): number | undefined {
  if (r.ratio !== undefined) return r.ratio;
  if (r.reference === undefined || r.reference.value === 0 || !sameUnit(r.unit, r.reference.unit)) return undefined;
  return Math.round((r.value / r.reference.value) * 100) / 100;
}

function pad(s: string, n: number, right = false): string {
  const len = [...s].length;
  return len >= n ? s : right ? ' '.repeat(n - len) + s : s + ' '.repeat(n - len);
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (word === '') continue;
    if (line !== '' && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') out.push(line);
  return out;
}

function printTable(runs: BenchRun[]): void {
  const header = ['name', 'value', 'unit', 'reference', 'ref value', 'ours/ref', 'target', 'met'];
  const right = [false, true, false, false, true, true, false, false];
  const rows: Array<{ cells: string[]; notes?: string } | { section: string }> = [];
  for (const run of runs) {
    const head = `${run.title} [${run.id}] — ${run.status}${run.status === 'ok' ? ` (${run.seconds.toFixed(1)} s)` : ''}`;
    rows.push({ section: head });
    if (run.status !== 'ok') {
      rows.push({ cells: [`  ${run.status}: ${(run.reason ?? '').split('\n')[0] ?? ''}`, '', '', '', '', '', '', ''] });
      continue;
    }
    for (const r of run.results) {
      const ratio = ratioOf(r);
      const row: { cells: string[]; notes?: string } = {
        cells: [
          `  ${r.name}`,
          fmtNumber(r.value),
          r.unit,
          r.reference?.name ?? '—',
          r.reference === undefined ? '' : `${fmtNumber(r.reference.value)} ${r.reference.unit}`,
          ratio === undefined ? '' : `${ratio}x`,
          r.target?.text ?? '',
          r.target === undefined ? '' : r.target.met ? 'yes' : 'NO',
        ],
      };
      if (r.notes !== undefined) row.notes = r.notes;
      rows.push(row);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => ('cells' in r && r.cells[i] !== undefined && (i > 0 || r.cells[1] !== '') ? [...r.cells[i]].length : 0))));
  const total = widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1);
  const line = (cells: string[]): string => cells.map((c, i) => pad(c, widths[i] as number, right[i])).join('  ').trimEnd();
  console.log(line(header));
  console.log('-'.repeat(total));
  for (const r of rows) {
    if ('section' in r) {
      console.log(r.section);
      continue;
    }
    if (r.cells[1] === '') console.log(r.cells[0]);
    else console.log(line(r.cells));
    if (r.notes !== undefined) for (const l of wrap(r.notes, Math.max(60, total - 6))) console.log(`      ${l}`);
  }
}

/** The repository root (where package.json is), from dist/test/bench or test/bench. */
function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

function parseArgs(argv: string[]): { ids: string[]; pcap?: string; child?: string } {
  const ids: string[] = [];
  let pcap: string | undefined;
  let child: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--pcap') pcap = argv[++i];
    else if (a === '--child') child = argv[++i];
    else if (a === '-h' || a === '--help') {
      console.log(`usage: run [${BENCHES.map((b) => b.id).join('|')} ...] [--pcap FILE]`);
      process.exit(0);
    } else ids.push(a);
  }
  const out: { ids: string[]; pcap?: string; child?: string } = { ids };
  if (pcap !== undefined) out.pcap = path.resolve(pcap);
  if (child !== undefined) out.child = child;
  return out;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.child !== undefined) {
    // Stopped by the parent: exit, so that the bench's 'exit' handlers put back what it changed.
    process.once('SIGTERM', () => process.exit(143));
    const msg = await runChild(args.child, args.pcap);
    const send = process.send?.bind(process);
    if (send === undefined) console.log(JSON.stringify(msg, null, 2)); // run by hand, without the parent
    else await new Promise<void>((resolve) => send(msg, undefined, {}, () => resolve()));
    // A bench may leave handles open (timers, sockets): the child is done once the results are out.
    process.exit(0);
  }
  const unknown = args.ids.filter((id) => !BENCHES.some((b) => b.id === id));
  if (unknown.length > 0) {
    console.error(`unknown bench(es): ${unknown.join(', ')}; known: ${BENCHES.map((b) => b.id).join(', ')}`);
    return 2;
  }
  const selected = args.ids.length === 0 ? BENCHES : BENCHES.filter((b) => args.ids.includes(b.id));
  const startedAt = new Date();
  const loadAtStart = os.loadavg()[0] ?? 0;
  const runs: BenchRun[] = [];
  for (const spec of selected) {
    console.log(`▶ ${spec.title} [${spec.id}] ...`);
    const t0 = process.hrtime.bigint();
    const msg = await runInChild(spec, args.pcap);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const run: BenchRun = { id: spec.id, title: spec.title, status: 'ok', seconds, results: [] };
    if (msg.kind === 'results') {
      run.results = msg.results.map((r) => {
        const target = checkTarget(spec.id, r);
        const ratio = ratioOf(r);
        const out: BenchResult & { target?: TargetCheck } = { ...r };
        if (ratio !== undefined) out.ratio = ratio;
        if (target !== undefined) out.target = target;
        return out;
      });
      console.log(`  done in ${seconds.toFixed(1)} s`);
    } else {
      run.status = msg.kind === 'unavailable' ? 'not available' : 'failed';
      run.reason = msg.reason;
      console.log(`  ${run.status}: ${msg.reason}`);
    }
    runs.push(run);
  }

  const cpuCount = os.cpus().length;
  const loadAtEnd = os.loadavg()[0] ?? 0;
  console.log('');
  console.log(`node ${process.version}, ${cpuCount} CPUs, 1-min load average ${loadAtStart.toFixed(2)} at start, ${loadAtEnd.toFixed(2)} at end` +
    (Math.max(loadAtStart, loadAtEnd) > cpuCount ? ' (busy machine: numbers are low and noisy)' : ''));
  printTable(runs);

  const outFile = path.join(repoRoot(), 'out', 'bench', 'results.json');
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  const cpus = os.cpus();
  const report = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    host: { node: process.version, platform: `${os.platform()} ${os.release()} ${os.arch()}`, cpus: cpus.length, cpuModel: cpus[0]?.model ?? '', memoryMiB: Math.round(os.totalmem() / 1048576), loadAverage: { start: loadAtStart, end: loadAtEnd } },
    targets: TARGETS.map((t) => ({ bench: t.bench, what: t.source, min: t.min, max: t.max, unit: t.unit })),
    benches: runs,
  };
  fs.writeFileSync(outFile, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nresults written to ${path.relative(process.cwd(), outFile) || outFile}`);
  const missed = runs.flatMap((run) => run.results.filter((r) => r.target !== undefined && !r.target.met).map((r) => ({ run, r })));
  for (const { run, r } of missed) {
    const what = r.target?.fatal === true ? 'CORRECTNESS FAILURE' : 'target missed';
    console.log(`${what}: [${run.id}] ${r.name} = ${fmtNumber(r.value)} ${r.unit} (target ${r.target?.text ?? ''}: ${r.target?.source ?? ''})`);
  }
  if (missed.length > 0) console.log(`${missed.length} result(s) below target`);
  const fatal = missed.some(({ r }) => r.target?.fatal === true);
  return runs.some((r) => r.status === 'failed') || fatal ? 1 : 0;
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}

/**
 * The live bench's view of `tapline serve`: its config, the child process, its ops endpoint (/metrics, /healthz,
 * /readyz) and what /proc says about it (RSS, CPU of all threads and of the main thread, the main thread's wait for
 * a CPU, the listening socket's receive queue and kernel drops); and net.core.rmem_max, raised and put back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';

const CLK_TCK = 100; // USER_HZ: what /proc/<pid>/stat counts in on Linux (every architecture Node runs on).
const RMEM_MAX = '/proc/sys/net/core/rmem_max';
const MiB = 1024 * 1024;

/** A port the kernel says is free now (bound to port 0, read, closed). */
export async function freePort(kind: 'udp' | 'tcp'): Promise<number> {
  if (kind === 'udp') {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const port = s.address().port;
    await new Promise<void>((r) => s.close(() => r()));
    return port;
  }
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export interface RmemChange {
  before: number;
  after: number;
  /** What was done, for the report. */
  note: string;
  /** Puts the old value back unless someone else changed it meanwhile; says what it did. */
  restore(): string;
}

/**
 * Raises net.core.rmem_max to `bytes` (root only; writing /proc/sys is what `sysctl -w` does) so the listener gets
 * the receive buffer it asks for. Left alone when it is already that large or cannot be written.
 */
export function raiseRmemMax(bytes: number): RmemChange {
  let before: number;
  try {
    before = Number(fs.readFileSync(RMEM_MAX, 'utf8').trim());
  } catch (e) {
    return { before: NaN, after: NaN, note: `net.core.rmem_max not readable (${(e as Error).message}): left alone`, restore: () => 'nothing to restore' };
  }
  if (before >= bytes) return { before, after: before, note: `net.core.rmem_max already ${before} (≥ ${bytes}): left alone`, restore: () => 'nothing to restore' };
  try {
    fs.writeFileSync(RMEM_MAX, String(bytes));
  } catch (e) {
    return { before, after: before, note: `net.core.rmem_max stays ${before}: could not raise it (${(e as Error).message}; run as root): the socket's buffer is capped there`, restore: () => 'nothing to restore' };
  }
  return {
    before,
    after: bytes,
    note: `net.core.rmem_max raised from ${before} to ${bytes} for the run`,
    restore: () => {
      try {
        const now = Number(fs.readFileSync(RMEM_MAX, 'utf8').trim());
        if (now !== bytes) return `net.core.rmem_max is ${now} now (changed by someone else meanwhile): left alone`;
        fs.writeFileSync(RMEM_MAX, String(before));
        return `net.core.rmem_max restored to ${before}`;
      } catch (e) {
        return `net.core.rmem_max not restored: ${(e as Error).message}`;
      }
    },
  };
}

export interface ProcSample {
  /** Seconds on the bench's clock. */
  t: number;
  rssBytes: number;
  /** CPU seconds of every thread (user + system). */
  cpuSec: number;
  /** CPU seconds of the main (JavaScript) thread, and its time waiting for a CPU while runnable. */
  mainCpuSec: number;
  mainWaitSec: number;
}

/** One sample of `pid` from /proc, or undefined when it has gone. */
export function procSample(pid: number, t: number): ProcSample | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuSec = (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime, stime (fields 14, 15)
    const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    const sched = fs.readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(/\s+/);
    return { t, rssBytes: rss === null ? 0 : Number(rss[1]) * 1024, cpuSec, mainCpuSec: Number(sched[0]) / 1e9, mainWaitSec: Number(sched[1]) / 1e9 };
  } catch {
    return undefined;
  }
}

/** The IPv4 UDP socket bound to `port`: bytes waiting in its receive queue and the kernel's drop count. */
export function udpSocket(port: number): { rxQueueBytes: number; drops: number } | undefined {
  let text: string;
  try {
    text = fs.readFileSync('/proc/net/udp', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 13) continue;
    const local = f[1] as string;
    if (parseInt(local.slice(local.lastIndexOf(':') + 1), 16) !== port) continue;
    const rx = (f[4] as string).split(':')[1] ?? '0';
    return { rxQueueBytes: parseInt(rx, 16), drops: Number(f[12]) };
  }
  return undefined;
}

export function httpGet(url: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** Sum of every series of `metric` whose labels include `labels` (0 when there is none). */
export function metricSum(text: string, metric: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== metric) continue;
    const have = new Map<string, string>();
    for (const p of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have.set(p[1] as string, p[2] as string);
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(m[3]);
  }
  return sum;
}

export interface ServeConfig {
  dir: string;
  tfwdPort: number;
  opsPort: number;
  /** Key id and secret as `hex:…`. */
  keyId: number;
  secret: string;
  recvBufferBytes: number;
  stopTimeoutSec: number;
}

/** Writes <dir>/tapline.config.json: source-forwarded (TFWD on loopback, the key), codec-g711, storage-local. */
export function writeServeConfig(c: ServeConfig): string {
  const cfg = {
    plugins: [
      { use: 'source-forwarded', options: { tfwd: { host: '127.0.0.1', port: c.tfwdPort }, keys: { [String(c.keyId)]: c.secret }, recvBufferBytes: c.recvBufferBytes } },
      { use: 'codec-g711' },
      { use: 'storage-local', options: { dir: path.join(c.dir, 'recordings') } },
    ],
    service: { stopTimeoutSec: c.stopTimeoutSec, ops: { host: '127.0.0.1', port: c.opsPort } },
    log: { level: 'info', format: 'json', file: path.join(c.dir, 'serve.log') },
  };
  const file = path.join(c.dir, 'tapline.config.json');
  fs.writeFileSync(file, `${JSON.stringify(cfg, null, 2)}\n`);
  return file;
}

export class ServeProcess {
  private exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private stderr = '';
  private gone = false;

  private constructor(
    readonly child: ChildProcess,
    readonly opsPort: number,
  ) {
    this.child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString('utf8')).slice(-8000);
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.gone = true;
        resolve({ code, signal });
      });
    });
  }

  /** Starts `node [--cpu-prof…] main.js serve -c config` and waits for /readyz to answer 200. */
  static async start(cli: string, config: string, opsPort: number, opts: { cpuProfDir?: string; nodeArgs?: string[]; readyTimeoutMs?: number } = {}): Promise<ServeProcess> {
    const nodeArgs = [...(opts.cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir]), ...(opts.nodeArgs ?? [])];
    const child = spawn(process.execPath, [...nodeArgs, cli, 'serve', '-c', config], { cwd: path.dirname(config), stdio: ['ignore', 'ignore', 'pipe'] });
    const s = new ServeProcess(child, opsPort);
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
    for (;;) {
      if (s.gone) throw new Error(`serve exited while starting: ${s.stderrTail()}`);
      try {
        const r = await httpGet(`http://127.0.0.1:${opsPort}/readyz`, 1000);
        if (r.status === 200) return s;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) {
        s.kill();
        throw new Error(`serve not ready after ${opts.readyTimeoutMs ?? 30_000} ms: ${s.stderrTail()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get running(): boolean {
    return !this.gone;
  }

  stderrTail(): string {
    return this.stderr.trim().split('\n').slice(-5).join(' | ');
  }

  async metrics(): Promise<string> {
    const r = await httpGet(`http://127.0.0.1:${this.opsPort}/metrics`, 10_000);
    if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
    return r.body;
  }

  /** /healthz's status (0 when it does not answer). */
  async healthz(): Promise<number> {
    return this.status('/healthz');
  }

  /** /readyz's status: 503 while a source is down or the storage queue is more than half full. */
  async readyz(): Promise<number> {
    return this.status('/readyz');
  }

  private async status(route: string): Promise<number> {
    try {
      return (await httpGet(`http://127.0.0.1:${this.opsPort}${route}`, 5000)).status;
    } catch {
      return 0;
    }
  }

  /** SIGTERM (serve finishes every recording), then the exit; SIGKILL after `timeoutMs`. */
  async stop(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; sec: number; killed: boolean }> {
    const t0 = Date.now();
    if (this.gone) return { ...(await this.exited), sec: 0, killed: false };
    this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = await Promise.race([this.exited.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs)))]);
    clearTimeout(timer);
    if (killed) this.kill();
    const e = await this.exited;
    return { ...e, sec: (Date.now() - t0) / 1000, killed };
  }

  kill(): void {
    if (!this.gone) this.child.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Counters read from /metrics.

export interface Counters {
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

export async function readCounters(serve: ServeProcess): Promise<Counters> {
  const t = await serve.metrics();
  const drops = metricSum(t, 'tapline_drops_total');
  const kernel = metricSum(t, 'tapline_drops_total', { stage: 'kernel' });
  const queue = metricSum(t, 'tapline_drops_total', { stage: 'queue' });
  return {
    at: performance.now() / 1000,
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
export function storageText(a: Counters | undefined, b: Counters): string {
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

export function lossText(a: Counters | undefined, b: Counters): string {
  const d = (k: 'seqLost' | 'kernelDrops' | 'queueDrops' | 'otherDrops'): number => b[k] - (a?.[k] ?? 0);
  return `TFWD sequence loss ${d('seqLost')} packets, kernel drops ${d('kernelDrops')} datagrams, storage queue drops ${d('queueDrops')}, other drops ${d('otherDrops')}`;
}

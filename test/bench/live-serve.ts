/**
 * The live bench's view of `tapline serve` (the process itself is test/serve-process.ts): its config, the counters it
 * reads from /metrics, what /proc says about it (RSS, CPU of all threads and of the main thread, the main thread's
 * wait for a CPU, the listening socket's receive queue and kernel drops); and net.core.rmem_max, raised and put back.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { sumSamples } from '../prom-text';
import type { ServeProcess } from '../serve-process';

const CLK_TCK = 100; // USER_HZ: what /proc/<pid>/stat counts in on Linux (every architecture Node runs on).
const RMEM_MAX = '/proc/sys/net/core/rmem_max';
const MiB = 1024 * 1024;

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

export interface ServeConfig {
  dir: string;
  tfwdPort: number;
  /** Key id and secret as `hex:…`. */
  keyId: number;
  secret: string;
  recvBufferBytes: number;
  stopTimeoutSec: number;
}

/** The config: source-forwarded (TFWD on loopback, the key), codec-g711, storage-local into <dir>/recordings, logs in <dir>/serve.log. */
export function serveConfig(c: ServeConfig): Record<string, unknown> {
  return {
    plugins: [
      { use: 'source-forwarded', options: { tfwd: { host: '127.0.0.1', port: c.tfwdPort }, keys: { [String(c.keyId)]: c.secret }, recvBufferBytes: c.recvBufferBytes } },
      { use: 'codec-g711' },
      { use: 'storage-local', options: { dir: path.join(c.dir, 'recordings') } },
    ],
    service: { stopTimeoutSec: c.stopTimeoutSec, ops: { host: '127.0.0.1' } },
    log: { level: 'info', format: 'json', file: path.join(c.dir, 'serve.log') },
  };
}

/** An ops endpoint's status for `route` (0 when it does not answer). */
export async function statusOf(serve: ServeProcess, route: string): Promise<number> {
  try {
    return (await serve.get(route)).status;
  } catch {
    return 0;
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
  /** V8 heap in use and reserved, and memory outside it (Buffers' backing stores): prom-client's process metrics. */
  heapUsed: number;
  heapTotal: number;
  external: number;
}

export async function readCounters(serve: ServeProcess): Promise<Counters> {
  const t = await serve.metrics();
  const drops = sumSamples(t, 'tapline_drops_total');
  const kernel = sumSamples(t, 'tapline_drops_total', { stage: 'kernel' });
  const queue = sumSamples(t, 'tapline_drops_total', { stage: 'queue' });
  return {
    at: performance.now() / 1000,
    packetsIn: sumSamples(t, 'tapline_packets_in_total', { source: 'tfwd' }),
    kernelDrops: kernel,
    seqLost: sumSamples(t, 'tapline_forwarded_lost_total'),
    queueDrops: queue,
    otherDrops: drops - kernel - queue,
    callsStarted: sumSamples(t, 'tapline_calls_started_total'),
    callsEnded: sumSamples(t, 'tapline_calls_ended_total'),
    callsActive: sumSamples(t, 'tapline_calls_active'),
    recordingsActive: sumSamples(t, 'tapline_recordings_active'),
    recordingsStarted: sumSamples(t, 'tapline_recordings_started_total'),
    recordingsFinished: sumSamples(t, 'tapline_recordings_finished_total'),
    unmatchedRtp: sumSamples(t, 'tapline_media_unmatched_packets_total'),
    discarded: sumSamples(t, 'tapline_media_discarded_packets_total'),
    sipMessages: sumSamples(t, 'tapline_sip_messages_total'),
    eventLoopLagP99: sumSamples(t, 'tapline_nodejs_eventloop_lag_p99_seconds'),
    storage: Object.fromEntries(
      STORAGE_OPS.map((op) => [op, { count: sumSamples(t, 'tapline_storage_write_seconds_count', { op }), sec: sumSamples(t, 'tapline_storage_write_seconds_sum', { op }) }]),
    ),
    storageQueueBytes: sumSamples(t, 'tapline_storage_queue_bytes'),
    heapUsed: sumSamples(t, 'tapline_nodejs_heap_size_used_bytes'),
    heapTotal: sumSamples(t, 'tapline_nodejs_heap_size_total_bytes'),
    external: sumSamples(t, 'tapline_nodejs_external_memory_bytes'),
  };
}

const STORAGE_OPS = ['open', 'openAudio', 'audio', 'update', 'close'];

/** Storage operations between two readings: count × mean time, and their summed time over the wall time (the queue may run several at once). */
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
  return `storage ops ${parts.join(', ')} (their times add up to ${(busy / wall).toFixed(2)}× the wall time; ${(b.storageQueueBytes / MiB).toFixed(1)} MiB queued at the end)`;
}

export function lossText(a: Counters | undefined, b: Counters): string {
  const d = (k: 'seqLost' | 'kernelDrops' | 'queueDrops' | 'otherDrops'): number => b[k] - (a?.[k] ?? 0);
  return `TFWD sequence loss ${d('seqLost')} packets, kernel drops ${d('kernelDrops')} datagrams, storage queue drops ${d('queueDrops')}, other drops ${d('otherDrops')}`;
}

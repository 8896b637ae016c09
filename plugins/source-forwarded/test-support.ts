/** Test helpers for source-forwarded: a source started on ephemeral ports with a CollectingIngest, a UDP sender. */
import * as dgram from 'node:dgram';
import { CollectingIngest } from '../../core/testing/collecting-ingest';
import { validatePluginOptions } from '../../core/config/validate';
import { memoryLogger, type LogRecord } from '../../core/log';
import { PromMetrics } from '../../core/metrics';
import { resolveOptions, type SourceForwardedOptions } from './options';
import { ForwardedSource, type BoundListener } from './source';
import optionsSchema from './options.schema.json';

export interface Running {
  source: ForwardedSource;
  sink: CollectingIngest;
  metrics: PromMetrics;
  logs: LogRecord[];
  port(kind: BoundListener['kind']): number;
  /** Aborts the run and waits for it to resolve (sockets closed, gaps settled, metrics flushed). */
  stop(): Promise<{ frames: number }>;
}

/** Starts a source with the given options (schema defaults applied; ports default to 0 = ephemeral). */
export async function startSource(options: Record<string, unknown>, deps: { now?: () => number } = {}): Promise<Running> {
  const opts = structuredClone(options) as Record<string, Record<string, unknown>>;
  for (const k of ['tfwd', 'vxlan', 'tzsp']) opts[k] = { port: 0, host: '127.0.0.1', ...(opts[k] ?? {}) };
  const problems = validatePluginOptions(optionsSchema, opts, '/plugins/0/options', 'source-forwarded');
  if (problems.length > 0) throw new Error(`bad test options: ${JSON.stringify(problems)}`);
  const cfg = resolveOptions(opts as unknown as SourceForwardedOptions, process.cwd());
  const { log, records } = memoryLogger('debug');
  const metrics = new PromMetrics();
  const source = new ForwardedSource(cfg, { log, metrics, ...(deps.now !== undefined ? { now: deps.now } : {}) });
  const sink = new CollectingIngest();
  const ac = new AbortController();
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const run = source.run(sink, ac.signal, { ready });
  await Promise.race([isReady, run]);
  return {
    source,
    sink,
    metrics,
    logs: records,
    port: (kind) => {
      const l = source.bound().find((b) => b.kind === kind);
      if (l === undefined) throw new Error(`no ${kind} listener`);
      return l.port;
    },
    stop: async () => {
      ac.abort();
      return run;
    },
  };
}

/** Polls until `cond()` holds (or fails after `ms`). */
export async function waitFor(cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Sends datagrams to 127.0.0.1:port (or from/to the given addresses), a chunk at a time, resolving once all are sent. */
export async function sendDatagrams(datagrams: readonly Buffer[], port: number, opts: { from?: string; to?: string } = {}): Promise<void> {
  const to = opts.to ?? '127.0.0.1';
  const s = dgram.createSocket(to.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((r) => s.bind(0, opts.from, () => r()));
  let pending = 0;
  for (let i = 0; i < datagrams.length; i++) {
    pending++;
    s.send(datagrams[i] as Buffer, port, to, () => pending--);
    // Let the receiving side (same event loop) keep up: a short pause every few hundred datagrams.
    if (i % 200 === 199) await new Promise((r) => setTimeout(r, 2));
  }
  while (pending > 0) await new Promise((r) => setImmediate(r));
  await new Promise<void>((r) => s.close(() => r()));
}

/** Metric value from the Prometheus text, 0 when absent. */
export async function metricValue(metrics: PromMetrics, name: string, labels: Record<string, string | number> = {}): Promise<number> {
  const text = await metrics.text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const ls = m[3] ?? '';
    if (Object.entries(labels).every(([k, v]) => ls.includes(`${k}="${v}"`))) sum += Number(m[4]);
  }
  return sum;
}

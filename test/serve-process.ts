/**
 * `tapline serve` as a child process for end-to-end tests: the built CLI (dist/) with a config written to a temp
 * folder, ready when its ops endpoint says so; metrics read as Prometheus text; stopped by a signal (SIGTERM, or
 * SIGKILL for a crash).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { repoRoot } from './corpus';
import { startProc, sleep, type Proc } from './peers/proc';
import { sample, sumSamples } from './prom-text';

export interface ServeProcess {
  readonly proc: Proc;
  readonly opsUrl: string;
  readonly configFile: string;
  /** Prometheus text of /metrics. */
  metrics(): Promise<string>;
  /** One sample of /metrics (0 when absent). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** Sum of every sample of a metric whose labels include `labels`. */
  metricSum(name: string, labels?: Record<string, string>): Promise<number>;
  /** GET a path of the ops endpoint. */
  get(p: string): Promise<{ status: number; body: string }>;
  /** Sends `signal` and resolves with the exit code and how long it took to exit. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  /** JSON log lines so far. */
  logs(): Array<Record<string, unknown>>;
}

export const CLI = path.join(repoRoot, 'dist', 'core', 'cli', 'main.js');

/** Starts serve with `config` (written to dir/tapline.config.json) and waits until /readyz is 200. */
export async function startServe(dir: string, config: Record<string, unknown>, opsPort: number, opts: { netns?: string; name?: string } = {}): Promise<ServeProcess> {
  const configFile = path.join(dir, 'tapline.config.json');
  const cfg = { ...config, service: { ...((config.service as object | undefined) ?? {}), ops: { port: opsPort, ...(((config.service as { ops?: object } | undefined)?.ops) ?? {}) } } };
  fs.writeFileSync(configFile, JSON.stringify(cfg, null, 2));
  const name = opts.name ?? 'serve';
  const proc = startProc(name, process.execPath, [CLI, 'serve', '-c', configFile, '--log-format', 'json'], path.join(dir, `${name}.log`), { cwd: dir, ...(opts.netns !== undefined ? { netns: opts.netns } : {}) });
  const host = '127.0.0.1';
  const opsUrl = `http://${host}:${opsPort}`;
  // A connection per request (agent: false): no kept-alive socket for the server to close under us.
  const get = (p: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = http.get(opsUrl + p, { agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.setTimeout(10_000, () => req.destroy(new Error(`GET ${p}: no answer within 10 s`)));
    });
  const t0 = Date.now();
  for (;;) {
    if (proc.exited) throw new Error(`serve exited during start-up:\n${proc.tail(60)}`);
    if (Date.now() - t0 > 20_000) {
      await proc.stop(1000, 'SIGKILL');
      throw new Error(`serve not ready within 20 s:\n${proc.tail(60)}`);
    }
    try {
      if (opts.netns === undefined && (await get('/readyz')).status === 200) break;
      if (opts.netns !== undefined && proc.text.includes('"msg":"ready"')) break;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  const metrics = async (): Promise<string> => (await get('/metrics')).body;
  return {
    proc,
    opsUrl,
    configFile,
    metrics,
    metric: async (n, labels) => sample(await metrics(), n, labels) ?? 0,
    metricSum: async (n, labels = {}) => sumSamples(await metrics(), n, labels),
    get,
    stop: async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000) => {
      const started = Date.now();
      if (!proc.exited) proc.child.kill(signal);
      await Promise.race([proc.exit, sleep(timeoutMs)]);
      const ms = Date.now() - started;
      const code = proc.child.exitCode;
      const sig = proc.child.signalCode;
      await proc.stop(1000, 'SIGKILL');
      return { code, signal: sig, ms };
    },
    logs: () =>
      proc.text
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return {};
          }
        }),
  };
}


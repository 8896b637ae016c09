/**
 * A `tapline serve` child process for end-to-end tests: free ports found at run time, the process started from the
 * built CLI (inside a network namespace when asked), ready when its ops endpoint says so, /metrics read (with the
 * bearer token when one is set), its resident memory read from /proc, and its output kept (the last lines only) so
 * a failing test can show what it said.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { repoRoot } from './corpus';
import { sample, sumSamples } from './prom-text';

export const CLI = path.join(repoRoot, 'dist', 'core', 'cli', 'main.js');

/** A TCP port nobody listens on right now (bound and released: another process could take it, rarely does). */
export function freeTcpPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host, port: 0, exclusive: true }, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A UDP port nobody is bound to right now. */
export function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind({ address: host, port: 0, exclusive: true }, () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

/** `count` distinct free ports of one kind. */
export async function freePorts(kind: 'tcp' | 'udp', count: number, host = '127.0.0.1'): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < count) out.add(kind === 'tcp' ? await freeTcpPort(host) : await freeUdpPort(host));
  return [...out];
}

export interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One GET (or other method) to the ops endpoint; a connection refused or reset is a rejection. */
export function httpRequest(url: string, opts: { method?: string; token?: string; timeoutMs?: number } = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', agent: false, headers: opts.token !== undefined ? { authorization: `Bearer ${opts.token}` } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(opts.timeoutMs ?? 5000, () => req.destroy(new Error(`${url}: no answer within ${opts.timeoutMs ?? 5000} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
}

const KEEP_LINES = 400;

export class ServeProcess {
  private readonly lines: string[] = [];
  private partial = '';
  private exited: Promise<ExitResult>;
  private exitResult: ExitResult | undefined;
  private stopAt = 0;

  private constructor(
    readonly child: ChildProcess,
    readonly opsUrl: string,
    readonly token: string | undefined,
    readonly configFile: string,
  ) {
    const keep = (chunk: Buffer): void => {
      const text = this.partial + chunk.toString('utf8');
      const parts = text.split('\n');
      this.partial = parts.pop() ?? '';
      for (const l of parts) {
        this.lines.push(l);
        if (this.lines.length > KEEP_LINES) this.lines.shift();
      }
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitResult = { code, signal, ms: this.stopAt > 0 ? Date.now() - this.stopAt : -1 };
        resolve(this.exitResult);
      });
    });
  }

  /**
   * Starts `node dist/core/cli/main.js serve -c <config>` and waits until it is ready within `readyMs`: /readyz 200,
   * or (inside a network namespace, whose loopback this process cannot reach) its "ready" log line.
   */
  static async start(config: string, ops: { url: string; token?: string }, readyMs = 15_000, opts: { netns?: string; nodeArgs?: string[] } = {}): Promise<ServeProcess> {
    if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build`);
    // nodeArgs: options for node itself (--cpu-prof, --heapsnapshot-signal=...).
    const argv = [...(opts.nodeArgs ?? []), CLI, 'serve', '-c', config, '--log-format', 'json'];
    const [cmd, args] = opts.netns === undefined ? [process.execPath, argv] : ['ip', ['netns', 'exec', opts.netns, process.execPath, ...argv]];
    const child = spawn(cmd, args, { cwd: path.dirname(config), stdio: ['ignore', 'pipe', 'pipe'] });
    const p = new ServeProcess(child, ops.url, ops.token, config);
    const t0 = Date.now();
    let last = 'no answer yet';
    while (Date.now() - t0 < readyMs) {
      if (p.exitResult !== undefined) throw new Error(`serve exited (${JSON.stringify(p.exitResult)}) before it was ready:\n${p.output()}`);
      if (opts.netns !== undefined) {
        if (p.logRecords().some((r) => r.msg === 'ready')) return p;
      } else {
        try {
          const r = await httpRequest(`${ops.url}/readyz`, { ...(ops.token !== undefined ? { token: ops.token } : {}), timeoutMs: 1000 });
          if (r.status === 200) return p;
          last = `${r.status} ${r.body.trim()}`;
        } catch (e) {
          last = (e as Error).message;
        }
      }
      await sleep(50);
    }
    await p.kill();
    throw new Error(`serve was not ready within ${readyMs} ms (last /readyz: ${last}):\n${p.output()}`);
  }

  /** One sample of /metrics (0 when absent). */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    return sample(await this.metrics(), name, labels) ?? 0;
  }

  /** The sum of every sample of a metric whose labels include `labels`. */
  async metricSum(name: string, labels: Record<string, string> = {}): Promise<number> {
    return sumSamples(await this.metrics(), name, labels);
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** True while the process runs (it has not exited and the kernel knows its pid). */
  alive(): boolean {
    if (this.exitResult !== undefined) return false;
    try {
      process.kill(this.pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  /** The last lines the process wrote (stdout and stderr). */
  output(lines = 60): string {
    return [...this.lines.slice(-lines), this.partial].join('\n');
  }

  /** Lines of output that parse as JSON log records, for assertions on what was logged. */
  logRecords(): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = [];
    for (const l of this.lines) {
      if (!l.startsWith('{')) continue;
      try {
        out.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        // a line cut by the buffer: not a record
      }
    }
    return out;
  }

  get(route: string, opts: { token?: string | null; method?: string } = {}): Promise<HttpReply> {
    const token = opts.token === null ? undefined : (opts.token ?? this.token);
    return httpRequest(`${this.opsUrl}${route}`, { ...(token !== undefined ? { token } : {}), ...(opts.method !== undefined ? { method: opts.method } : {}) });
  }

  async metrics(): Promise<string> {
    const r = await this.get('/metrics');
    if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${r.body}`);
    return r.body;
  }

  /** VmRSS from /proc/<pid>/status, bytes. */
  rssBytes(): number {
    const status = fs.readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    if (m === null) throw new Error(`no VmRSS in /proc/${this.pid}/status`);
    return Number(m[1]) * 1024;
  }

  /** Sends `signal` and waits for the exit; SIGKILL after `timeoutMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<ExitResult & { killed: boolean }> {
    if (this.exitResult !== undefined) return { ...this.exitResult, killed: false };
    this.stopAt = Date.now();
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([this.exited, new Promise<undefined>((res) => (timer = setTimeout(() => res(undefined), timeoutMs)))]);
    clearTimeout(timer);
    if (r !== undefined) return { ...r, killed: false };
    await this.kill();
    return { ...(await this.exited), killed: true };
  }

  /** SIGKILL (cleanup after a failure); resolves once it is gone. */
  async kill(): Promise<void> {
    if (this.exitResult !== undefined) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` until it returns a value `ok` accepts; the last value is in the error otherwise. */
export async function until<T>(probe: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 5000, everyMs = 50): Promise<T> {
  const t0 = Date.now();
  let v = await probe();
  while (!ok(v)) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not reached within ${timeoutMs} ms (last: ${JSON.stringify(v)})`);
    await sleep(everyMs);
    v = await probe();
  }
  return v;
}

/** Writes `config` (with the ops endpoint on `opsPort`) to dir/tapline.config.json and starts serve with it. */
export async function startServe(dir: string, config: Record<string, unknown>, opsPort: number, opts: { netns?: string; token?: string; nodeArgs?: string[] } = {}): Promise<ServeProcess> {
  const configFile = path.join(dir, 'tapline.config.json');
  const service = (config.service as { ops?: object } | undefined) ?? {};
  const cfg = { ...config, service: { ...service, ops: { port: opsPort, ...(service.ops ?? {}) } } };
  fs.writeFileSync(configFile, JSON.stringify(cfg, null, 2));
  return ServeProcess.start(configFile, { url: `http://127.0.0.1:${opsPort}`, ...(opts.token !== undefined ? { token: opts.token } : {}) }, 20_000, {
    ...(opts.netns !== undefined ? { netns: opts.netns } : {}),
    ...(opts.nodeArgs !== undefined ? { nodeArgs: opts.nodeArgs } : {}),
  });
}

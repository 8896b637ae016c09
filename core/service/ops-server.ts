/**
 * The ops endpoint of `tapline serve` (node:http, no framework): GET /metrics (Prometheus text), /healthz (the
 * process answers; event-loop lag), /readyz (200 only when the service says it is ready, else 503 with reasons).
 *
 * It faces the network, so it is restricted before it is useful: loopback by default, an IP allow-list checked at
 * accept (a refused client gets no byte back), an optional bearer token compared in constant time, no request
 * bodies, bounded connections, and timeouts for clients that send slowly or never finish.
 */
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from '../contract';
import type { CounterMetric } from '../contracts/metrics';
import { ErrorCodes, TaplineError } from '../errors';
import { rateLimited } from '../log-rate-limit';
import { EventLoopLagMonitor, type EventLoopLag } from './event-loop-lag';
import { hashToken, resolveOpsOptions, type OpsOptions, type ResolvedOpsOptions } from './ops-options';

/** What the service reports for /readyz. */
export interface Readiness {
  ready: boolean;
  /** Why not (empty when ready): "source hep-udp is not listening", "storage queue 98% full". */
  reasons: string[];
}

/** Where /metrics comes from and where the endpoint counts its own requests (PromMetrics fits). */
export interface OpsMetrics {
  text(): Promise<string>;
  readonly contentType: string;
  counter(name: string, help: string, labelNames?: readonly string[]): CounterMetric;
}

export interface OpsServerDeps {
  metrics: OpsMetrics;
  /** Asked on every GET /readyz; may be async; a throw or a timeout is "not ready". */
  readiness: () => Readiness | Promise<Readiness>;
  log: Logger;
  /** Length of an event-loop lag window, ms (default 10 s; tests shorten it). */
  lagWindowMs?: number;
}

export type OpsRoute = '/metrics' | '/healthz' | '/readyz';
const ROUTES: ReadonlySet<string> = new Set<OpsRoute>(['/metrics', '/healthz', '/readyz']);

/** Why a client was turned away (the `reason` label of tapline_ops_refused_total). */
export type OpsRefusal = 'allow-list' | 'max-connections' | 'token' | 'body' | 'bad-request' | 'timeout';

const SECURITY_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' } as const;

export class OpsServer {
  private readonly server: http.Server;
  private readonly lag: EventLoopLagMonitor;
  private readonly requests: CounterMetric;
  private readonly refusedCounter: CounterMetric;
  private readonly startedAt = process.hrtime.bigint();
  private closing: Promise<void> | undefined;
  private bound: { host: string; port: number } | undefined;

  private constructor(
    private opts: ResolvedOpsOptions,
    private readonly deps: OpsServerDeps,
  ) {
    this.requests = deps.metrics.counter('tapline_ops_requests_total', 'Requests to the ops endpoint, by route (or "other") and status code', ['route', 'code']);
    this.refusedCounter = deps.metrics.counter('tapline_ops_refused_total', 'Ops endpoint clients turned away, by reason (allow-list, max-connections, token, body, bad-request, timeout)', ['reason']);
    this.lag = new EventLoopLagMonitor(deps.lagWindowMs ?? 10_000);
    this.server = http.createServer({
      headersTimeout: opts.headersTimeoutMs,
      requestTimeout: opts.requestTimeoutMs,
      keepAliveTimeout: opts.keepAliveTimeoutMs,
      // Node checks the two timeouts above only this often (default 30 s): check at a fraction of the bound.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(opts.headersTimeoutMs / 4))),
      maxHeaderSize: 8 * 1024,
      noDelay: true,
    });
    this.server.maxConnections = opts.maxConnections;
    this.server.maxRequestsPerSocket = 100;
    this.server.headersTimeout = opts.headersTimeoutMs;
    // Backstop for what the request timeouts do not cover: a client that stops reading its response keeps the
    // socket busy; after this long without any progress it is closed (beyond keep-alive, which closes idle ones).
    this.server.setTimeout(Math.max(opts.requestTimeoutMs, opts.keepAliveTimeoutMs + 1000), (sock: Socket) => {
      this.refused('timeout');
      sock.destroy();
    });
    this.server.on('connection', (sock: Socket) => {
      if (!this.opts.allow.allows(sock.remoteAddress)) {
        this.refused('allow-list', sock.remoteAddress);
        sock.destroy();
      }
    });
    this.server.on('drop', (d?: { remoteAddress?: string }) => this.refused('max-connections', d?.remoteAddress));
    this.server.on('clientError', (err: NodeJS.ErrnoException, sock: Socket) => this.onClientError(err, sock));
    this.server.on('request', (req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        rateLimited(this.deps.log, 'ops:handler').error('ops endpoint request failed', { err: e });
        if (!res.headersSent) this.send(req, res, 500, 'text/plain; charset=utf-8', 'internal error\n', 'other');
        else res.destroy();
      });
    });
  }

  /** Resolves the options (throws TAPLINE_ERR_OPS_CONFIG) and listens (throws TAPLINE_ERR_OPS_LISTEN). */
  static async listen(options: Partial<OpsOptions>, deps: OpsServerDeps, configDir?: string): Promise<OpsServer> {
    const opts = resolveOpsOptions(options, configDir);
    const s = new OpsServer(opts, deps);
    for (const w of opts.warnings) deps.log.warn(w);
    try {
      await new Promise<void>((resolve, reject) => {
        s.server.once('error', reject);
        s.server.listen({ host: opts.host, port: opts.port, exclusive: true }, () => {
          s.server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      s.lag.close();
      const err = e as NodeJS.ErrnoException;
      throw new TaplineError(ErrorCodes.OPS_LISTEN, `the ops endpoint cannot listen on ${opts.host}:${opts.port}: ${err.code ?? err.message}`, { host: opts.host, port: opts.port }, e);
    }
    const a = s.server.address();
    s.bound = typeof a === 'object' && a !== null ? { host: a.address, port: a.port } : { host: opts.host, port: opts.port };
    s.server.on('error', (e) => deps.log.error('ops endpoint error', { err: e }));
    deps.log.info('ops endpoint listening', { url: s.url, allow: opts.allow.entries, token: opts.tokenSource ?? 'none' });
    return s;
  }

  /** Where it listens, once listening. */
  get address(): { host: string; port: number } {
    if (this.bound === undefined) throw new Error('OpsServer: not listening');
    return this.bound;
  }

  get url(): string {
    const { host, port } = this.address;
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }

  /**
   * Re-reads the allow-list and token (SIGHUP). Listening address and timeouts are kept; returns true when they
   * differ from the new options (a restart applies them). Throws TAPLINE_ERR_OPS_CONFIG and keeps the old ones.
   */
  reload(options: Partial<OpsOptions>, configDir?: string): { restartNeeded: boolean } {
    const next = resolveOpsOptions(options, configDir);
    for (const w of next.warnings) this.deps.log.warn(w);
    const keys = ['host', 'port', 'headersTimeoutMs', 'requestTimeoutMs', 'keepAliveTimeoutMs', 'maxConnections', 'readinessTimeoutMs'] as const;
    const restartNeeded = keys.some((k) => next[k] !== this.opts[k]) || next.enabled !== this.opts.enabled;
    this.opts = { ...this.opts, allow: next.allow, tokenHash: next.tokenHash, tokenSource: next.tokenSource };
    return { restartNeeded };
  }

  /** Stops listening and closes every connection; idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.lag.close();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.closing;
  }

  // ---------------------------------------------------------------------------------------------------------

  private refused(reason: OpsRefusal, from?: string): void {
    this.refusedCounter.inc({ reason });
    rateLimited(this.deps.log, `ops:refused:${reason}`).warn('ops endpoint refused a client', { reason, from });
  }

  private onClientError(err: NodeJS.ErrnoException, sock: Socket): void {
    // Timeouts and malformed requests: answer when the socket still can, then close. ECONNRESET: nothing to say.
    const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (err.code !== 'ECONNRESET') this.refused(timeout ? 'timeout' : 'bad-request', sock.remoteAddress);
    if (sock.writable && !sock.destroyed && err.code !== 'ECONNRESET') {
      const status = timeout ? '408 Request Timeout' : err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      sock.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    }
    sock.destroy();
  }

  private authorized(req: http.IncomingMessage): boolean {
    const expected = this.opts.tokenHash;
    if (expected === undefined) return true;
    const h = req.headers.authorization;
    const m = h === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(h);
    // Hashing first makes both sides 32 bytes: timingSafeEqual needs equal lengths, and the length leaks nothing.
    const got = hashToken(m?.[1] ?? '');
    return timingSafeEqual(got, expected) && m !== null;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const pathname = (req.url ?? '').split('?', 1)[0] ?? '';
    const route = ROUTES.has(pathname) ? pathname : 'other';
    // No request bodies: a body announced (or chunked) is refused and the connection closed, unread.
    const len = req.headers['content-length'];
    if (req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0')) {
      this.refused('body', req.socket.remoteAddress);
      res.shouldKeepAlive = false;
      this.send(req, res, 413, 'text/plain; charset=utf-8', 'request bodies are not accepted\n', route);
      return;
    }
    if (!this.authorized(req)) {
      this.refused('token', req.socket.remoteAddress);
      res.setHeader('www-authenticate', 'Bearer realm="tapline-ops"');
      this.send(req, res, 401, 'text/plain; charset=utf-8', 'unauthorized\n', route);
      return;
    }
    if (route === 'other') {
      this.send(req, res, 404, 'text/plain; charset=utf-8', 'not found (routes: /metrics, /healthz, /readyz)\n', route);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      this.send(req, res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', route);
      return;
    }
    if (route === '/metrics') {
      let text: string;
      try {
        text = await this.deps.metrics.text();
      } catch (e) {
        rateLimited(this.deps.log, 'ops:metrics').error('collecting metrics failed', { err: e });
        this.send(req, res, 500, 'text/plain; charset=utf-8', 'collecting metrics failed\n', route);
        return;
      }
      this.send(req, res, 200, this.deps.metrics.contentType, text, route);
    } else if (route === '/healthz') {
      const body = { status: 'ok', pid: process.pid, uptimeSec: this.uptimeSec(), eventLoopLag: await this.lagNow() };
      this.send(req, res, 200, 'application/json', JSON.stringify(body) + '\n', route);
    } else {
      const r = await this.readiness();
      this.send(req, res, r.ready ? 200 : 503, 'application/json', JSON.stringify(r) + '\n', route);
    }
  }

  private uptimeSec(): number {
    return Math.round(Number(process.hrtime.bigint() - this.startedAt) / 1e6) / 1000;
  }

  /** The lag monitor's windows, plus how long a setImmediate takes right now (the loop's queue at this moment). */
  private async lagNow(): Promise<EventLoopLag & { nowMs: number }> {
    const t0 = process.hrtime.bigint();
    await new Promise<void>((r) => setImmediate(r));
    const nowMs = Math.round(Number(process.hrtime.bigint() - t0) / 1e4) / 100;
    return { ...this.lag.snapshot(), nowMs };
  }

  private async readiness(): Promise<Readiness> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Readiness>((resolve) => {
      timer = setTimeout(() => resolve({ ready: false, reasons: [`the readiness check did not answer within ${this.opts.readinessTimeoutMs} ms`] }), this.opts.readinessTimeoutMs);
    });
    try {
      const r = await Promise.race([Promise.resolve().then(() => this.deps.readiness()), timeout]);
      if (r.ready === true) return { ready: true, reasons: [] };
      const reasons = Array.isArray(r.reasons) ? r.reasons.map(String) : [];
      return { ready: false, reasons: reasons.length > 0 ? reasons : ['not ready (no reason given)'] };
    } catch (e) {
      return { ready: false, reasons: [`the readiness check failed: ${(e as Error).message}`] };
    } finally {
      clearTimeout(timer);
    }
  }

  private send(req: http.IncomingMessage, res: http.ServerResponse, status: number, type: string, body: string, route: string): void {
    const buf = Buffer.from(body, 'utf8');
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': buf.length });
    res.end(req.method === 'HEAD' ? undefined : buf);
    this.requests.inc({ route, code: status });
  }
}

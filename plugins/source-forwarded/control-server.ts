/**
 * The recorder's end of the forwarder control protocol (core/net/forward-control.ts): forwarders of this
 * recorder's deployments connect, prove they hold a TFWD key, and are told which calls' media this recorder
 * wants — the calls it records (rank 0) and those it stands in for (rank 1, 2) — as the lifecycle's callMedia
 * events say, and when each ends. Heartbeats let a forwarder see this recorder die within a second.
 *
 * Restricted twice: the allow-list (loopback by default) before a byte is read, then the keyed hello; anything else
 * (a bad MAC, a stale time, another deployment, a line over 1 MiB, silence) closes the connection and is counted.
 */
import * as net from 'node:net';
import type { LifecycleBus, Logger, Metrics } from '../../core/contract';
import type { AllowList } from '../../core/net/allow-list';
import {
  encodeControl,
  FORWARD_CONTROL_VERSION,
  HELLO_SKEW_MS,
  helloText,
  LineReader,
  macMatches,
  macOf,
  newNonce,
  parseControl,
  welcomeText,
  type InterestEntry,
} from '../../core/net/forward-control';
import type { TfwdKeyring } from '../../core/net/tfwd';

export interface ControlServerConfig {
  host: string;
  port: number;
  allow: AllowList;
  keys: TfwdKeyring;
  deployments?: ReadonlySet<number>;
  recorderId: number;
  heartbeatMs: number;
  /** A forwarder silent this long is dropped. */
  idleMs: number;
  maxConnections: number;
}

/** Calls remembered at most (a recorder records far fewer at once). */
const MAX_CALLS = 100_000;
const HELLO_TIMEOUT_MS = 5000;

interface Peer {
  sock: net.Socket;
  ready: boolean;
  last: number;
  deployment?: number;
}

export class ForwarderControlServer {
  private server: net.Server | undefined;
  private readonly peers = new Set<Peer>();
  private readonly interest = new Map<string, InterestEntry>();
  private timer: NodeJS.Timeout | undefined;
  private off: Array<() => void> = [];
  private readonly refused;
  private boundPort = 0;

  constructor(
    private readonly cfg: ControlServerConfig,
    private readonly deps: { log: Logger; metrics: Metrics; events: LifecycleBus },
  ) {
    this.refused = deps.metrics.counter('tapline_forward_control_refused_total', 'Forwarder control connections refused or closed, by reason', ['reason']);
    deps.metrics.gauge('tapline_forward_control_connections', 'Forwarders connected to the control listener (authenticated)', [], (g) => g.set([...this.peers].filter((p) => p.ready).length));
    deps.metrics.gauge('tapline_forward_interest_calls', 'Calls whose media this recorder asks forwarders for', [], (g) => g.set(this.interest.size));
  }

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    const e = this.deps.events;
    this.off.push(
      e.on('callMedia', (m) => {
        if (!this.interest.has(m.key) && this.interest.size >= MAX_CALLS) return;
        const entry: InterestEntry = { call: m.key, endpoints: m.endpoints, rank: m.rank };
        this.interest.set(m.key, entry);
        this.broadcast(encodeControl({ t: 'call', ...entry }));
      }),
      e.on('callEnded', (c) => {
        if (this.interest.delete(c.key)) this.broadcast(encodeControl({ t: 'end', call: c.key }));
      }),
    );
    const server = net.createServer((sock) => this.accept(sock));
    server.maxConnections = this.cfg.maxConnections;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.cfg.port, this.cfg.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.deps.log.error(`forwarder control listener: ${err.message}`));
    this.server = server;
    const a = server.address();
    this.boundPort = typeof a === 'object' && a !== null ? a.port : this.cfg.port;
    this.timer = setInterval(() => this.beat(), this.cfg.heartbeatMs);
    this.timer.unref();
    this.deps.log.info(`forwarder control listening on tcp ${this.cfg.host}:${this.boundPort} (recorder ${this.cfg.recorderId})`);
  }

  async stop(): Promise<void> {
    for (const f of this.off) f();
    this.off = [];
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    for (const p of this.peers) p.sock.destroy();
    this.peers.clear();
    const s = this.server;
    this.server = undefined;
    if (s !== undefined) await new Promise<void>((r) => s.close(() => r()));
  }

  private accept(sock: net.Socket): void {
    const ip = sock.remoteAddress ?? '';
    if (!this.cfg.allow.allows(ip)) {
      this.refused.inc({ reason: 'not-allowed' });
      sock.destroy();
      return;
    }
    sock.setNoDelay(true);
    const peer: Peer = { sock, ready: false, last: Date.now() };
    this.peers.add(peer);
    const close = (reason: string, tell?: string): void => {
      if (!this.peers.delete(peer)) return;
      this.refused.inc({ reason });
      if (tell !== undefined) sock.end(encodeControl({ t: 'refused', reason: tell }));
      else sock.destroy();
      setTimeout(() => sock.destroy(), 1000).unref();
    };
    const helloTimer = setTimeout(() => close('hello-timeout'), HELLO_TIMEOUT_MS);
    helloTimer.unref();
    const reader = new LineReader((line) => {
      peer.last = Date.now();
      const m = parseControl(line);
      if (m === undefined) return close('malformed', 'malformed message');
      if (peer.ready) return; // heartbeats (and anything later versions add)
      if (m.t !== 'hello') return close('no-hello', 'hello expected');
      clearTimeout(helloTimer);
      if (m.v !== FORWARD_CONTROL_VERSION) return close('version', `version ${m.v} not supported (${FORWARD_CONTROL_VERSION})`);
      if (this.cfg.deployments !== undefined && !this.cfg.deployments.has(m.deployment)) return close('other-deployment', `deployment ${m.deployment} is not this recorder's`);
      const key = this.cfg.keys.get(m.keyId);
      if (key === undefined) return close('unknown-key-id', `unknown key id ${m.keyId}`);
      if (Math.abs(Date.now() - m.time) > HELLO_SKEW_MS) return close('stale-hello', 'hello time too far from the recorder clock');
      if (!macMatches(key, helloText(m.deployment, m.sensor, m.time, m.nonce), m.mac)) return close('bad-mac', 'bad mac');
      peer.ready = true;
      peer.deployment = m.deployment;
      const nonce = newNonce();
      sock.write(encodeControl({ t: 'welcome', v: FORWARD_CONTROL_VERSION, recorder: this.cfg.recorderId, nonce, mac: macOf(key, welcomeText(m.deployment, m.sensor, this.cfg.recorderId, m.nonce, nonce)) }));
      sock.write(encodeControl({ t: 'interest', calls: [...this.interest.values()] }));
      this.deps.log.info(`forwarder ${ip} (deployment ${m.deployment}, sensor ${m.sensor}) connected to the control listener`);
    });
    sock.on('data', (chunk: Buffer) => {
      if (!reader.push(chunk)) close('oversize');
    });
    sock.on('error', () => close('error'));
    sock.on('close', () => {
      clearTimeout(helloTimer);
      this.peers.delete(peer);
    });
  }

  private broadcast(line: string): void {
    for (const p of this.peers) {
      if (!p.ready) continue;
      // A forwarder that cannot keep up is dropped (it reconnects and gets the interest whole) rather than buffered without end.
      if (p.sock.writableLength > 16 << 20) {
        this.peers.delete(p);
        this.refused.inc({ reason: 'slow' });
        p.sock.destroy();
      } else p.sock.write(line);
    }
  }

  private beat(): void {
    const now = Date.now();
    const hb = encodeControl({ t: 'hb' });
    for (const p of this.peers) {
      if (now - p.last > this.cfg.idleMs) {
        this.peers.delete(p);
        this.refused.inc({ reason: 'idle' });
        p.sock.destroy();
      } else if (p.ready) p.sock.write(hb);
    }
  }
}

/**
 * A hardened TCP/TLS listener for feeds (HEP over TCP/TLS, the net service's 8008 connection): everything a
 * hostile or broken peer can make it hold is bounded, and every refusal and close is counted with its reason.
 *
 *  - who: an IP allow-list (loopback only by default), and with TLS optionally client certificates from one CA
 *    (mutual TLS; a client without a valid certificate is refused, drop stage 'auth');
 *  - how many: connections in total and per peer IP; refused connections are closed at once;
 *  - how long: an idle timeout (no bytes at all), a message-completion timeout (a message started and not finished
 *    — slow-loris), a TLS handshake timeout; TCP keep-alive finds peers that vanished;
 *  - how much: a maximum message size (what the protocol handler holds), a maximum write backlog for replies.
 *
 * The protocol is a StreamHandler, one per connection, created once the peer is admitted (and authenticated).
 * stop() stops accepting, lets handlers report what is left, half-closes every connection and destroys what is
 * still open after a grace period.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Logger } from '../contract';
import type { DropStage } from '../contracts/ingest';
import { ErrorCodes, TaplineError } from '../errors';
import type { AllowList } from './allow-list';
import { unmapIpv4 } from './ip-parse';
import { rateLimited } from '../log-rate-limit';

export interface StreamTlsOptions {
  /** PEM certificate (chain) and private key of the server. */
  cert: string | Buffer;
  key: string | Buffer;
  /** PEM CA certificate(s) client certificates must chain to. Required with requestClientCert. */
  ca?: string | Buffer;
  /** Mutual TLS: refuse clients without a certificate issued by `ca`. */
  requestClientCert?: boolean;
  /** Lowest protocol version accepted (default TLSv1.2). */
  minVersion?: tls.SecureVersion;
}

/** What a protocol handler sees of its connection. */
export interface StreamConnection {
  readonly id: number;
  readonly transport: 'tcp' | 'tls';
  /** The peer's address (IPv4 peers of a dual-stack socket as plain IPv4). */
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** Subject CN of the client certificate (mutual TLS). */
  readonly peerName?: string;
  /** Sends bytes to the peer (a keep-alive pong). A peer that does not read them is closed ('write-backlog'). */
  write(data: Buffer | string): void;
  /** Closes the connection at once; `reason` is counted in the server's stats. The handler counts its own drop. */
  close(reason: string): void;
}

/** The protocol spoken on one connection. */
export interface StreamHandler {
  /** Bytes from the peer, in order. */
  data(chunk: Buffer): void;
  /** Bytes held of a message not yet complete (0 between messages): starts the message timer, checked against maxMessageBytes. */
  readonly buffered: number;
  /** Messages completed so far: the message timer restarts when a new one begins. */
  readonly messages: number;
  /** The peer half-closed or the server is stopping: report what is left (an incomplete message). */
  end?(reason: 'peer-closed' | 'stopped'): void;
  /** The connection is gone, for whatever reason: release what is kept about it. */
  closed?(reason: string): void;
}

export interface StreamServerOptions {
  /** For logs, e.g. 'source-hep tcp'. */
  name: string;
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  tls?: StreamTlsOptions;
  allow: AllowList;
  maxConnections: number;
  maxConnectionsPerIp: number;
  /** Close a connection that sent nothing for this long (0: never). */
  idleTimeoutMs: number;
  /** Close a connection whose message is started but not finished this long after its first byte. */
  messageTimeoutMs: number;
  /** TLS handshake deadline (default 10 s). */
  handshakeTimeoutMs?: number;
  maxMessageBytes: number;
  /** TCP keep-alive probe delay (0: off). */
  keepAliveMs: number;
  /** Unsent reply bytes tolerated before the peer is closed (default 64 KiB). */
  maxWriteBacklogBytes?: number;
  /** How long stop() waits for peers to close after the FIN (default 2 s). */
  closeGraceMs?: number;
  handler(conn: StreamConnection): StreamHandler;
  /** Refusals and limits, for IngestSink.drop. */
  onDrop(stage: DropStage, reason: string): void;
  /** Open connections after each change (a gauge). */
  onConnectionCount?(n: number): void;
  /**
   * An admitted connection is gone, with the reason stats().closed counts it under ('idle-timeout', 'peer-closed',
   * 'message-timeout', a handler's own reason...): for a per-reason counter, so closes that lose nothing (an idle
   * or half-open peer) are seen too. Connections refused at accept or in their TLS handshake are drops instead.
   */
  onClosed?(reason: string): void;
  log?: Logger;
}

export interface StreamServerStats {
  /** Open connections (admitted, including TLS handshakes in progress). */
  connections: number;
  /** Distinct peer IPs with open connections (the per-IP table's size). */
  peers: number;
  accepted: number;
  /** Connections turned away, by reason (allow-list, limits, TLS authentication). */
  refused: Record<string, number>;
  /** Admitted connections that ended, by reason. */
  closed: Record<string, number>;
  /** Bytes the handlers hold for incomplete messages, over all connections. */
  bufferedBytes: number;
}

/** Closes that lose data the peer sent: counted as drops too. */
const CLOSE_DROPS: Readonly<Record<string, DropStage>> = {
  'message-timeout': 'limit',
  'message-too-large': 'limit',
  'write-backlog': 'limit',
};

interface ConnState {
  conn: ConnectionImpl;
  raw: net.Socket;
  sock: net.Socket;
  ip: string;
  handler?: StreamHandler;
  ended: boolean;
  messageTimer?: NodeJS.Timeout;
  lastMessages: number;
  /** Why it closed, once decided: the first reason wins. */
  reason?: string;
  refused?: boolean;
}

class ConnectionImpl implements StreamConnection {
  peerName?: string;
  constructor(
    readonly id: number,
    readonly transport: 'tcp' | 'tls',
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly localAddress: string,
    readonly localPort: number,
    private readonly server: StreamServer,
    private readonly state: () => ConnState,
  ) {}

  write(data: Buffer | string): void {
    this.server.writeTo(this.state(), data);
  }

  close(reason: string): void {
    this.server.closeConn(this.state(), reason, false);
  }
}

const DEFAULT_HANDSHAKE_MS = 10_000;
const DEFAULT_BACKLOG = 64 * 1024;
const DEFAULT_GRACE_MS = 2_000;

/** Destroys the socket the handler reads and, under TLS, the TCP socket beneath it. */
function destroy(st: ConnState): void {
  st.sock.destroy();
  if (st.raw !== st.sock) st.raw.destroy();
}

/** A connection's name in the TLS server's events: the remote address and port (unique among open connections). */
function tlsKey(address: string | undefined, port: number | undefined): string {
  return `${address ?? ''}|${port ?? 0}`;
}

export class StreamServer {
  private server: net.Server | undefined;
  /**
   * TLS is a tls.Server that never listens: admitted sockets are injected into it (emit('connection')), so Node
   * itself verifies client certificates; the plain net.Server in front applies the allow-list and limits first.
   */
  private tlsServer: tls.Server | undefined;
  /** Connections in their TLS handshake, by "address|port" (how the TLS server's events name them). */
  private readonly handshaking = new Map<string, ConnState>();
  private readonly conns = new Set<ConnState>();
  private readonly perIp = new Map<string, number>();
  private accepted = 0;
  private readonly refused: Record<string, number> = {};
  private readonly closed: Record<string, number> = {};
  private nextId = 1;
  private stopping: Promise<void> | undefined;
  private readonly idleWaiters: Array<() => void> = [];

  constructor(private readonly opts: StreamServerOptions) {
    if (opts.tls?.requestClientCert === true && opts.tls.ca === undefined) {
      // Without a CA Node would accept any certificate from the public roots: not an authentication.
      throw new TaplineError(ErrorCodes.LISTENER_CONFIG, `${opts.name}: client certificates are required but no CA is given to check them against`);
    }
  }

  get transport(): 'tcp' | 'tls' {
    return this.opts.tls === undefined ? 'tcp' : 'tls';
  }

  /** The bound address (after start). */
  address(): net.AddressInfo | undefined {
    const a = this.server?.address();
    return a !== null && typeof a === 'object' ? a : undefined;
  }

  async start(): Promise<net.AddressInfo> {
    if (this.server !== undefined) throw new Error(`${this.opts.name}: already started`);
    const t = this.opts.tls;
    if (t !== undefined) {
      try {
        this.tlsServer = tls.createServer({
          cert: t.cert,
          key: t.key,
          ...(t.ca !== undefined ? { ca: t.ca } : {}),
          minVersion: t.minVersion ?? 'TLSv1.2',
          requestCert: t.requestClientCert === true,
          // Verified by Node, refused here: so the refusal is counted with its reason.
          rejectUnauthorized: false,
          handshakeTimeout: this.opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_MS,
        });
      } catch (e) {
        throw new TaplineError(ErrorCodes.LISTENER_CONFIG, `${this.opts.name}: TLS certificate or key unusable: ${(e as Error).message}`, {}, e);
      }
      this.tlsServer.on('secureConnection', (ts: tls.TLSSocket) => this.secured(ts));
      this.tlsServer.on('tlsClientError', (e: NodeJS.ErrnoException, ts: tls.TLSSocket) => {
        const st = this.handshaking.get(tlsKey(ts.remoteAddress, ts.remotePort));
        if (st === undefined) return; // already gone: its raw socket's close does the bookkeeping
        if (e.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') this.refuseLater(st, 'limit', 'tls-handshake-timeout');
        else this.refuseLater(st, 'auth', 'tls-handshake-failed', e.code ?? e.message);
      });
    }
    const server = net.createServer((s) => this.accept(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => {
        this.server = undefined;
        reject(new TaplineError(ErrorCodes.LISTENER_BIND, `${this.opts.name}: cannot listen on ${this.opts.host}:${this.opts.port}: ${e.code ?? e.message}`, { host: this.opts.host, port: this.opts.port }, e));
      };
      server.once('error', onError);
      server.listen({ host: this.opts.host, port: this.opts.port }, () => {
        server.off('error', onError);
        server.on('error', (e) => this.opts.log?.error(`${this.opts.name}: listener error`, { error: e.message }));
        resolve();
      });
    });
    return this.address() as net.AddressInfo;
  }

  stats(): StreamServerStats {
    let bufferedBytes = 0;
    for (const c of this.conns) bufferedBytes += c.handler?.buffered ?? 0;
    return { connections: this.conns.size, peers: this.perIp.size, accepted: this.accepted, refused: { ...this.refused }, closed: { ...this.closed }, bufferedBytes };
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  /** Stops accepting, ends every connection (handlers report incomplete messages), resolves once all are closed. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const server = this.server;
      if (server === undefined) return;
      const closedListener = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of [...this.conns]) this.closeConn(c, 'stopped');
      if (this.conns.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([this.allClosed(), new Promise<void>((r) => (timer = setTimeout(r, this.opts.closeGraceMs ?? DEFAULT_GRACE_MS)))]);
        clearTimeout(timer);
        for (const c of [...this.conns]) destroy(c);
        await this.allClosed();
      }
      await closedListener;
    })();
    return this.stopping;
  }

  private allClosed(): Promise<void> {
    if (this.conns.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private count(into: Record<string, number>, reason: string): void {
    into[reason] = (into[reason] ?? 0) + 1;
  }

  private refuseNow(raw: net.Socket, stage: DropStage, reason: string, ip: string): void {
    this.count(this.refused, reason);
    this.opts.onDrop(stage, reason);
    this.warnFlood(reason, `${this.opts.name}: refused a connection`, { reason, peer: ip });
    raw.on('error', () => undefined);
    raw.destroy();
  }

  private accept(raw: net.Socket): void {
    const ip = unmapIpv4(raw.remoteAddress ?? '');
    if (this.stopping !== undefined) return this.refuseNow(raw, 'limit', 'stopping', ip);
    if (!this.opts.allow.allows(ip)) return this.refuseNow(raw, 'auth', 'ip-not-allowed', ip);
    if (this.conns.size >= this.opts.maxConnections) return this.refuseNow(raw, 'limit', 'too-many-connections', ip);
    const perIp = this.perIp.get(ip) ?? 0;
    if (perIp >= this.opts.maxConnectionsPerIp) return this.refuseNow(raw, 'limit', 'too-many-connections-per-ip', ip);
    this.perIp.set(ip, perIp + 1);
    this.accepted++;

    let state: ConnState | undefined;
    const conn = new ConnectionImpl(this.nextId++, this.transport, ip, raw.remotePort ?? 0, unmapIpv4(raw.localAddress ?? ''), raw.localPort ?? 0, this, () => state as ConnState);
    const st: ConnState = { conn, raw, sock: raw, ip, ended: false, lastMessages: 0 };
    state = st;
    this.conns.add(st);
    this.opts.onConnectionCount?.(this.conns.size);

    raw.setNoDelay(true);
    if (this.opts.keepAliveMs > 0) raw.setKeepAlive(true, this.opts.keepAliveMs);
    raw.on('error', () => this.closeConn(st, 'socket-error'));
    raw.on('close', () => this.finalize(st));
    if (this.tlsServer === undefined) return this.admit(st, raw);
    this.handshaking.set(tlsKey(raw.remoteAddress, raw.remotePort), st);
    this.tlsServer.emit('connection', raw);
  }

  /** A TLS handshake completed (Node has verified the client certificate when one is requested). */
  private secured(ts: tls.TLSSocket): void {
    const key = tlsKey(ts.remoteAddress, ts.remotePort);
    const st = this.handshaking.get(key);
    if (st === undefined) return void ts.destroy();
    this.handshaking.delete(key);
    st.sock = ts;
    ts.on('error', () => this.closeConn(st, 'socket-error'));
    ts.on('close', () => this.finalize(st));
    if (st.reason !== undefined) return void ts.destroy();
    if (this.opts.tls?.requestClientCert === true) {
      const cert = ts.getPeerCertificate();
      if (!ts.authorized) {
        const missing = cert === null || cert === undefined || Object.keys(cert).length === 0;
        return this.refuseLater(st, 'auth', missing ? 'client-certificate-missing' : 'client-certificate-invalid', String(ts.authorizationError ?? ''));
      }
      const cn = cert.subject?.CN;
      if (typeof cn === 'string') st.conn.peerName = cn;
    }
    this.admit(st, ts);
  }

  /** An admitted connection that failed TLS: counted as refused (never handed to a handler). */
  private refuseLater(st: ConnState, stage: DropStage, reason: string, detail = ''): void {
    if (st.reason !== undefined) return;
    st.refused = true;
    st.reason = reason;
    this.count(this.refused, reason);
    this.opts.onDrop(stage, reason);
    this.warnFlood(reason, `${this.opts.name}: refused a connection`, { reason, peer: st.ip, ...(detail !== '' ? { detail } : {}) });
    this.clearTimers(st);
    destroy(st);
  }

  private admit(st: ConnState, sock: net.Socket): void {
    const handler = this.opts.handler(st.conn);
    st.handler = handler;
    // The idle timer watches the socket the handler reads (a TLS socket's activity is not the raw socket's).
    if (this.opts.idleTimeoutMs > 0) {
      sock.setTimeout(this.opts.idleTimeoutMs);
      sock.on('timeout', () => this.closeConn(st, 'idle-timeout'));
    }
    sock.on('data', (chunk: Buffer) => {
      if (st.reason !== undefined) return;
      handler.data(chunk);
      if (st.reason !== undefined) return;
      if (handler.buffered > this.opts.maxMessageBytes) return this.closeConn(st, 'message-too-large');
      this.messageTimer(st, handler);
    });
    sock.on('end', () => {
      if (st.reason !== undefined) return;
      if (!st.ended) {
        st.ended = true;
        handler.end?.('peer-closed');
      }
      this.closeConn(st, 'peer-closed');
    });
  }

  /** Runs from a message's first byte to its last; a message completed and another begun restarts it. */
  private messageTimer(st: ConnState, h: StreamHandler): void {
    if (h.buffered === 0) {
      clearTimeout(st.messageTimer);
      st.messageTimer = undefined;
    } else if (st.messageTimer === undefined || h.messages !== st.lastMessages) {
      clearTimeout(st.messageTimer);
      st.messageTimer = setTimeout(() => {
        if ((st.handler?.buffered ?? 0) > 0) this.closeConn(st, 'message-timeout');
      }, this.opts.messageTimeoutMs);
    }
    st.lastMessages = h.messages;
  }

  private clearTimers(st: ConnState): void {
    clearTimeout(st.messageTimer);
    st.messageTimer = undefined;
  }

  /** @internal Via StreamConnection.write. */
  writeTo(st: ConnState, data: Buffer | string): void {
    if (st.reason !== undefined) return;
    if (st.sock.writableLength > (this.opts.maxWriteBacklogBytes ?? DEFAULT_BACKLOG)) return this.closeConn(st, 'write-backlog');
    st.sock.write(data);
  }

  /**
   * @internal Via StreamConnection.close (the handler counted its own drop: byServer false), timers and socket
   * events. The first reason is the one counted.
   */
  closeConn(st: ConnState, reason: string, byServer = true): void {
    if (st.reason !== undefined) return;
    st.reason = reason;
    this.clearTimers(st);
    this.count(this.closed, reason);
    const stage = byServer ? CLOSE_DROPS[reason] : undefined;
    if (stage !== undefined) {
      this.opts.onDrop(stage, reason);
      this.warnFlood(reason, `${this.opts.name}: closed a connection`, { reason, peer: st.ip });
    }
    if ((reason === 'stopped' || reason === 'peer-closed') && st.handler !== undefined) {
      if (reason === 'stopped' && !st.ended) {
        st.ended = true;
        st.handler.end?.('stopped');
      }
      st.sock.end();
      // A peer that never closes its side is destroyed by stop() after the grace period; a closed one is done.
      if (reason === 'peer-closed') st.sock.destroy();
    } else {
      destroy(st);
    }
  }

  private finalize(st: ConnState): void {
    if (!this.conns.delete(st)) return;
    if (this.handshaking.get(tlsKey(st.raw.remoteAddress, st.raw.remotePort)) === st) this.handshaking.delete(tlsKey(st.raw.remoteAddress, st.raw.remotePort));
    if (st.reason === undefined) {
      st.reason = 'closed';
      this.count(this.closed, 'closed');
    }
    this.clearTimers(st);
    st.handler?.closed?.(st.reason);
    if (st.refused !== true) this.opts.onClosed?.(st.reason);
    const n = (this.perIp.get(st.ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(st.ip);
    else this.perIp.set(st.ip, n);
    this.opts.onConnectionCount?.(this.conns.size);
    if (this.conns.size === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** A peer's misbehaviour, at most one line per reason every 10 s (the rest are counted in the next line). */
  private warnFlood(reason: string, msg: string, fields: Record<string, unknown>): void {
    const log = this.opts.log;
    if (log !== undefined) rateLimited(log, `${this.opts.name}:${reason}`, { intervalMs: 10_000 }).warn(msg, fields);
  }
}
